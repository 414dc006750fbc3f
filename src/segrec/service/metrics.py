"""Prometheus metrics of one app instance (its own registry, so tests can build many apps).

Requests are labelled by route *template* (``/v1/users/{user_id}/recommendations``), never by the raw path, so
the number of series stays bounded whatever clients send. With ``--workers N`` every worker keeps its own
counters; scrape each worker or run one worker per container.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

# Seconds; dense below 25 ms, where the latency target is.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """Request counts by route and status, a latency histogram, bundle reloads and the served bundle."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "segrec_http_requests", "HTTP requests by method, route template and status",
            ("method", "route", "status"), registry=self.registry,
        )
        self.latency = Histogram(
            "segrec_http_request_duration_seconds", "Time to answer a request, by method and route template",
            ("method", "route"), buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.reloads = Counter(
            "segrec_bundle_reloads", "Bundle reload attempts by outcome", ("outcome",), registry=self.registry,
        )
        self.bundle_loaded = Gauge(
            "segrec_bundle_loaded_timestamp_seconds", "When the served bundle was swapped in",
            registry=self.registry,
        )
        self.events = Counter("segrec_events_stored", "Events stored by POST /v1/events, by type", ("type",),
                              registry=self.registry)
        self.event_duplicates = Counter("segrec_events_duplicate", "Events skipped: their event_id was stored",
                                        registry=self.registry)
        self.event_unknown_products = Counter(
            "segrec_events_unknown_products", "Events of products the served bundle does not know (stored)",
            registry=self.registry)
        self.events_rejected = Counter("segrec_events_rejected", "Event rows refused by the ingestion checks",
                                       ("reason",), registry=self.registry)
        self.event_store_errors = Counter("segrec_event_store_errors", "Event store calls that failed",
                                          registry=self.registry)
        self.folds = Counter("segrec_events_folded", "Customers whose new events were folded in ahead of their "
                             "next request, by where (the fold-in process, or a thread of the server)", ("where",),
                             registry=self.registry)
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:  # labels() costs a lock and a tuple hash per call: resolve each series once
            children = self._children[key] = (self.requests.labels(method, route, str(status)),
                                              self.latency.labels(method, route))
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition format."""
        return generate_latest(self.registry)
