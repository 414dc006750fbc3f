"""Property-based test of the API against its own OpenAPI schema (schemathesis): whatever a client sends
within (or just outside) the documented schema, the server answers with a documented status and body, never
a 5xx.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from bundle_helpers import save_trained, train_small
from segrec.bundle import load_bundle
from segrec.events import open_store
from segrec.service import Served, Settings, create_app
from segrec.service.live import EventsFeed

schemathesis = pytest.importorskip("schemathesis")

# The schema is read at collection time; the bundle is swapped in by the fixture below (no lifespan needed).
app = create_app(Settings(bundle=None, admin_token="schema-test-token", access_log=False))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture(scope="module", autouse=True)
def served_bundle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    path = save_trained(train_small(customers=200, products=60), tmp_path_factory.mktemp("schema") / "bundle")
    store = open_store(Path(path).parent / "events.duckdb")  # what the lifespan opens beside the bundle
    app.state.holder.store = store
    app.state.feed = EventsFeed(store, app.state.holder, 0.1)
    app.state.holder.swap(Served.build(load_bundle(Path(path)), precompute_k=20, store=store))  # as served
    yield
    store.close()


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_api_conforms_to_its_schema(case: schemathesis.Case) -> None:
    # POST /v1/events checks each event with the file-ingestion rules (dates in the files' formats, a whole
    # quantity > 0, a price >= 0, ids not blank after trimming), which JSON Schema cannot say: a schema-valid
    # event may be refused with 422, documented on the route with the reason per row
    excluded = [schemathesis.checks.positive_data_acceptance] if case.path == "/v1/events" else []
    # a list in a query string is the parameter repeated: "?categories=false" is the list ["false"], so a
    # "not an array" negative example cannot be told from a valid one
    if set(case.query or {}) & {"exclude", "categories", "exclude_categories"}:
        excluded.append(schemathesis.checks.negative_data_rejection)
    case.call_and_validate(excluded_checks=excluded)
