"""The cached-recommendations fast path gives the bytes FastAPI's endpoint gives, and hands it the rest."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from fastapi.testclient import TestClient

from segrec.service import Settings, create_app
from segrec.service.fastpath import CachedRecommendations

if TYPE_CHECKING:
    from bundle_helpers import Trained

pytest_plugins = ["bundle_helpers"]


@pytest.fixture
def client(bundle_path: Path, tmp_path: Path) -> Iterator[TestClient]:
    bundle = Path(shutil.copytree(bundle_path, tmp_path / "shop" / "model"))  # its own events.duckdb
    with TestClient(create_app(Settings(bundle=bundle, access_log=False))) as test_client:
        yield test_client


def _both(client: TestClient, url: str, monkeypatch: pytest.MonkeyPatch) -> tuple[tuple, tuple, int]:
    """(status, headers, body) from the app as it is, then with the fast path off; and how many it answered."""
    answered = []
    real = CachedRecommendations._answer

    def counting(self: CachedRecommendations, scope: dict) -> bytes | None:
        body = real(self, scope)
        answered.append(body is not None)
        return body

    def strip(response: httpx.Response) -> tuple:
        headers = {k: v for k, v in response.headers.items() if k != "x-request-id"}
        return response.status_code, headers, response.content

    with monkeypatch.context() as patch:
        patch.setattr(CachedRecommendations, "_answer", counting)
        fast = strip(client.get(url))
    with monkeypatch.context() as patch:
        patch.setattr(CachedRecommendations, "_answer", lambda self, scope: None)
        slow = strip(client.get(url))
    return fast, slow, sum(answered)


def test_cached_answers_are_the_endpoints_bytes(client: TestClient, trained: Trained,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    users = [str(u) for u in trained.recommender.dataset_.users.external_ids[:5]]
    urls = [f"/v1/users/{u}/recommendations{q}" for u in users
            for q in ("", "?k=3", "?k=20&mode=buy-again", "?mode=discover&k=7")]
    urls += ["/v1/users/somebody-new/recommendations?k=5"]  # the precomputed cold start
    for url in urls:
        fast, slow, answered = _both(client, url, monkeypatch)
        assert answered == 1, url
        assert fast == slow, url


@pytest.mark.parametrize("query", ["?k=0", "?k=abc", "?k=%2B5", "?k=100000", "?k=5&k=6", "?mode=later",
                                   "?k=10&exclude=P0001", "?max_price=5", "?k=40", "?foo=1"])
def test_everything_else_is_left_to_fastapi(client: TestClient, trained: Trained, query: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Errors, rules, unknown parameters and a k above the cache go through the endpoint, unchanged."""
    user = str(trained.recommender.dataset_.users.external_ids[0])
    fast, slow, answered = _both(client, f"/v1/users/{user}/recommendations{query}", monkeypatch)
    assert answered == 0
    assert fast == slow


def test_a_folded_answer_is_served_from_its_cache_only_once_computed(client: TestClient, trained: Trained,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    user = str(trained.recommender.dataset_.users.external_ids[7])
    product = str(trained.recommender.dataset_.items.external_ids[3])
    assert client.post("/v1/events", json={"events": [{"user_id": user, "product_id": product}]}).status_code == 200
    delta = client.app.state.holder.current.live.users[user]
    deadline = time.monotonic() + 30
    while "discover" not in delta.answers:  # the event writer folds it in after the acknowledgement
        assert time.monotonic() < deadline
        time.sleep(0.02)
    fast, slow, answered = _both(client, f"/v1/users/{user}/recommendations", monkeypatch)
    assert answered == 1 and fast == slow
    assert b'"personalised_from_events":true' in fast[2]
    _, _, answered = _both(client, f"/v1/users/{user}/recommendations?mode=buy-again", monkeypatch)
    assert answered == 0  # not folded yet in that mode: the endpoint computes it in its thread pool
