"""Events in real time: POST /v1/events (checks, idempotency, limits), the next answer reflects them (fold-in),
business rules on every recommendation endpoint, the availability list, and the event store itself."""

from __future__ import annotations

import datetime
import gc
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from segrec.columns import Columns
from segrec.events import check_events, open_store
from segrec.events._journal import SeenIds
from segrec.exceptions import InputError
from segrec.recommend.foldin import FoldIn
from segrec.service import Settings, create_app

if TYPE_CHECKING:
    from bundle_helpers import Trained

pytest_plugins = ["bundle_helpers"]

C = Columns
TOKEN = "events-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def bundle_copy(bundle_path: Path, tmp_path: Path) -> Path:
    """A private copy of the bundle, so each test has its own events.duckdb beside it."""
    return Path(shutil.copytree(bundle_path, tmp_path / "shop" / "model"))


@pytest.fixture
def client(bundle_copy: Path) -> Iterator[TestClient]:
    app = create_app(Settings(bundle=bundle_copy, admin_token=TOKEN, access_log=False))
    with TestClient(app) as test_client:
        yield test_client


def _ids(body: dict) -> list[str]:
    return [i["product_id"] for i in body["items"]]


def _post(client: TestClient, *events: dict) -> dict:
    response = client.post("/v1/events", json={"events": list(events)})
    assert response.status_code == 200, response.text
    return response.json()


# --- the fold-in is the served model -------------------------------------------------------------------------
@pytest.mark.parametrize("discover", [True, False])
def test_fold_in_without_new_events_equals_the_model(trained: Trained, discover: bool) -> None:
    model = trained.recommender
    engine = FoldIn(model)
    users = np.arange(model.dataset_.n_users)
    items, scores, reasons = engine.recommend(engine.histories([(int(u), []) for u in users]), 10, discover=discover)
    expected = model.recommend(model.dataset_.users.external_ids, 10, filter_seen=discover)
    for row, user in enumerate(model.dataset_.users.external_ids):
        part = expected[expected[C.User] == user]
        kept = items[row] >= 0
        assert list(model.dataset_.items.to_external(items[row][kept])) == part[C.Item].tolist()
        assert reasons[row] == part[C.Reason].tolist()
        np.testing.assert_allclose(scores[row][kept], part[C.Score].to_numpy(), rtol=1e-4, atol=1e-5)


# --- POST /v1/events ---------------------------------------------------------------------------------------------
def test_events_are_stored_idempotently_and_listed_newest_first(client: TestClient, trained: Trained) -> None:
    user = str(trained.recommender.dataset_.users.external_ids[3])
    products = [str(p) for p in trained.recommender.dataset_.items.external_ids[:3]]
    first = _post(client, {"user_id": user, "product_id": products[0], "timestamp": "2026-01-02T10:00:00",
                           "quantity": 2, "price": 3.5, "order_id": "O1", "event_id": "e1"},
                  {"user_id": user, "product_id": products[1], "event_type": "view", "event_id": "e2"})
    assert first == {"accepted": 2, "duplicates": 0, "unknown_products": 0}
    again = _post(client, {"user_id": user, "product_id": products[0], "event_id": "e1"},
                  {"user_id": user, "product_id": products[2], "event_type": "cart", "event_id": "e3"},
                  {"user_id": user, "product_id": products[2], "event_type": "cart", "event_id": "e3"})
    assert again == {"accepted": 1, "duplicates": 2, "unknown_products": 0}
    listed = client.get(f"/v1/users/{user}/events", params={"limit": 2}).json()["events"]
    assert [e["event_id"] for e in listed] == ["e3", "e2"]
    older = client.get(f"/v1/users/{user}/events").json()["events"][-1]
    assert older["timestamp"] == "2026-01-02T10:00:00" and older["quantity"] == 2 and older["price"] == 3.5
    assert older["product_name"] and older["order_id"] == "O1" and older["event_type"] == "purchase"
    assert client.get("/v1/users/nobody/events").json() == {"user_id": "nobody", "events": []}


def test_bad_events_are_refused_whole_with_the_ingestion_reasons(client: TestClient, trained: Trained) -> None:
    product = str(trained.recommender.dataset_.items.external_ids[0])
    good = {"user_id": "u-ok", "product_id": product}
    response = client.post("/v1/events", json={"events": [
        good, {"user_id": "  ", "product_id": product}, {"user_id": "u", "product_id": product, "price": -1},
        {"user_id": "u", "product_id": product, "quantity": 2.5}, {"user_id": "u", "product_id": product, "quantity": 0},
        {"user_id": "u", "product_id": product, "timestamp": "yesterday"},
        {"user_id": "u", "product_id": product, "quantity": 9.2e18},
        {"user_id": "u", "product_id": product, "timestamp": "01/01/1000 10:00"}]})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert [(d["loc"][2], d["loc"][3], d["type"]) for d in detail] == [
        (1, "user_id", "missing_user_id"), (2, "price", "negative_price"),
        (3, "quantity", "unparsable_number:quantity"), (4, "quantity", "nonpositive_quantity"),
        (5, "timestamp", "unparsable_date"), (6, "quantity", "unparsable_number:quantity"),
        (7, "timestamp", "unparsable_date")]
    assert client.get("/v1/users/u-ok/events").json()["events"] == []  # nothing of the request was stored
    for body in ({"events": []}, {"events": [{"user_id": "u"}]}, {"events": [{**good, "event_type": "click"}]},
                 {"events": [{**good, "colour": "red"}]}, {"events": [{**good, "quantity": "2"}]}):
        assert client.post("/v1/events", json=body).status_code == 422, body


def test_dates_parse_as_in_file_ingestion() -> None:
    rows, problems = check_events([{"user_id": "17850.0", "product_id": " P1 ", "timestamp": "01/02/2024 10:30"},
                                   {"user_id": "a", "product_id": "P1", "timestamp": "2024-02-01T10:30:00Z"}])
    assert problems == [] and rows[0][C.User] == "17850" and rows[0][C.Item] == "P1"
    assert rows[0][C.Date].isoformat() == "2024-01-02T10:30:00" and rows[1][C.Date].isoformat() == "2024-02-01T10:30:00"
    assert rows[0][C.Quantity] == 1 and rows[0][C.Price] is None


def test_too_many_events_are_413_and_unknown_products_are_counted(client: TestClient) -> None:
    many = {"events": [{"user_id": "u", "product_id": "p"}] * 1001}
    # 1,001 short events stay under the default 256 KiB body limit: the event count answers the 413
    response = client.post("/v1/events", json=many)
    assert response.status_code == 413 and "at most 1,000" in response.json()["detail"]
    assert _post(client, {"user_id": "u", "product_id": "brand-new-product"})["unknown_products"] == 1
    body = client.get("/v1/users/u/recommendations").json()  # a view of an unknown product only: cold start
    assert body["cold_start"] is True and len(body["items"]) == 10
    metrics = client.get("/metrics").text
    assert "segrec_events_unknown_products_total 1.0" in metrics
    assert 'segrec_events_stored_total{type="purchase"} 1.0' in metrics


# --- the next answer reflects them ---------------------------------------------------------------------------------
def test_a_purchase_leaves_discover_and_the_answer_is_folded(client: TestClient, trained: Trained) -> None:
    user = str(trained.recommender.dataset_.users.external_ids[5])
    before = client.get(f"/v1/users/{user}/recommendations", params={"k": 10}).json()
    assert before["personalised_from_events"] is False
    bought = _ids(before)[:2]
    _post(client, *({"user_id": user, "product_id": p} for p in bought))
    after = client.get(f"/v1/users/{user}/recommendations", params={"k": 10}).json()
    assert after["personalised_from_events"] is True and after["cold_start"] is False
    assert len(after["items"]) == 10 and not set(bought) & set(_ids(after))
    again = client.get(f"/v1/users/{user}/recommendations", params={"k": 10, "mode": "buy-again"}).json()
    assert again["personalised_from_events"] is True and len(again["items"]) == 10
    reasons = {i["product_id"]: i["reason"] for i in again["items"]}
    assert all(reasons[p] == "you bought this before" for p in bought if p in reasons)
    deep = client.get(f"/v1/users/{user}/recommendations", params={"k": 40}).json()
    assert _ids(deep)[:10] == _ids(after) and len(deep["items"]) == 40
    batch = client.post("/v1/recommendations", json={"user_ids": [user], "k": 10}).json()["results"][0]
    assert _ids(batch) == _ids(after) and batch["personalised_from_events"] is True


@pytest.mark.parametrize("where", ["thread", "process"])
def test_stored_events_are_folded_in_ahead_of_the_next_request(bundle_copy: Path, trained: Trained,
                                                               where: str) -> None:
    """The writer folds a batch's customers in one call after acknowledging it, in the fold-in process or in a
    thread of the server; each cached answer equals the customer's own fold-in in the server, and the next GET
    is answered from that cache."""
    settings = Settings(bundle=bundle_copy, access_log=False, fold_process=where == "process")
    with TestClient(create_app(settings)) as client:
        _folded_ahead(client, trained, where)
        if where == "process":
            child = client.app.state.folder._process
            assert child.poll() is None
    if where == "process":
        assert child.poll() is not None  # stopped with the app (by itself, or killed after 2 s on a busy host)


def _folded_ahead(client: TestClient, trained: Trained, where: str) -> None:
    from segrec.service.routers.recommend import FOLDED_K, _fold

    users = [str(u) for u in trained.recommender.dataset_.users.external_ids[10:13]] + ["walk-in"]
    products = [str(p) for p in trained.recommender.dataset_.items.external_ids[:4]]
    if where == "process":  # the first events start the process; until it has loaded, the server folds in itself
        deadline = time.monotonic() + 60
        while not client.app.state.folder.ready:
            assert time.monotonic() < deadline, "the fold-in process did not start"
            _post(client, {"user_id": "warm-up", "product_id": products[0]})
            time.sleep(0.2)
    _post(client, *({"user_id": u, "product_id": p} for u, p in zip(users, products, strict=True)),
          {"user_id": users[0], "product_id": products[3], "quantity": 2})
    served = client.app.state.holder.current
    deadline = time.monotonic() + 30
    while not all("discover" in served.live.users[u].answers for u in users):
        assert time.monotonic() < deadline, "the writer did not fold the batch in"
        time.sleep(0.02)
    gc.collect()
    for user in users:
        delta = served.live.users[user]
        version, cached = delta.answers["discover"]
        assert version == delta.version
        assert not any(gc.is_tracked(part) for part in cached)  # arrays and texts: nothing for a collection to walk
        width = max(FOLDED_K, served.precompute_k)
        alone = _fold(served, user, delta, width, "discover", None)
        assert cached.items.tolist() == alone.items.tolist() and cached.reasons == alone.reasons
        np.testing.assert_allclose(cached.scores, alone.scores, rtol=1e-5, atol=1e-6)
        body = client.get(f"/v1/users/{user}/recommendations", params={"k": 10}).json()
        assert body["personalised_from_events"] is True
        assert _ids(body) == [served.item_ids[i] for i in cached.items[:10]]
        assert [i["reason"] for i in body["items"]] == list(cached.reasons[:10])
    folded = {line.split('"')[1]: float(line.split()[-1]) for line in client.get("/metrics").text.splitlines()
              if line.startswith("segrec_events_folded_total{")}
    assert folded.get(where, 0) >= len(users), folded


def test_a_cached_ranking_keeps_its_valid_prefix_and_applies_rules() -> None:
    """A fold-in is cached as arrays (``Ranking``) up to its first padding or non-finite score; its response
    items are ranked 1..k, with rules skipping what they exclude, and None when fewer than k pass them."""
    from types import SimpleNamespace

    from segrec.service.live import Ranking, ranking_items

    served = SimpleNamespace(item_ids=[f"P{i}" for i in range(6)], item_names=[f"N{i}" for i in range(6)])
    ranking = Ranking.of([4, 2, 5, 0, -1, 3], [0.9, 0.8, 0.7, 0.6, 0.5, 0.4], list("abcdef"))
    assert ranking.items.tolist() == [4, 2, 5, 0] and ranking.reasons == tuple("abcd")
    assert Ranking.of([1, 2], [0.3, -np.inf], ["x", "y"]).items.tolist() == [1]
    plain = ranking_items(served, ranking, None, 3)
    assert [(i.rank, i.product_id, i.product_name, i.score, i.reason) for i in plain] == [
        (1, "P4", "N4", 0.9, "a"), (2, "P2", "N2", 0.8, "b"), (3, "P5", "N5", 0.7, "c")]
    allowed = np.array([True, True, False, True, True, True])  # P2 ruled out
    ruled = ranking_items(served, ranking, allowed, 3)
    assert [(i.rank, i.product_id, i.reason) for i in ruled] == [(1, "P4", "a"), (2, "P5", "c"), (3, "P0", "d")]
    assert ranking_items(served, ranking, allowed, 4) is None  # three pass
    assert len(ranking_items(served, ranking, None, 10)) == 4  # without rules: what there is


def test_the_fold_in_process_ranks_as_the_server_and_stops_for_good_on_a_bad_bundle(
        bundle_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The child's rankings are the server's own (same items, reasons and scores through JSON); a child that
    dies while serving is replaced (after ``RETRY_SECONDS``, 0 here); a child whose bundle is not the one served
    (here: another manifest) is stopped once and not restarted for that bundle."""
    from segrec.bundle import load_bundle
    from segrec.recommend.foldin import NewPurchase
    from segrec.service import folder as folder_module
    from segrec.service.folder import FoldProcess

    bundle = load_bundle(bundle_copy)
    engine = FoldIn(bundle.recommender)
    rows = [(3, [NewPurchase(5, 1, 2.0, 7.5, 0.0)]), (-1, [NewPurchase(1, 2, 3.0, 9.0, 2.5), NewPurchase(8, 1, 1.0, 0.0, 0.0)]),
            (7, [])]
    folder = FoldProcess(timeout=30)
    try:
        deadline = time.monotonic() + 60
        while (ranked := folder.rank(bundle.path, bundle.manifest, rows, 12)) is None:
            assert time.monotonic() < deadline and folder.key is not None, "the fold-in process did not answer"
            time.sleep(0.1)
        items, scores, reasons = engine.recommend(engine.histories(rows), 12, discover=True)
        assert [row[0] for row in ranked] == items.tolist() and [row[2] for row in ranked] == reasons
        niceness = os.getpriority(os.PRIO_PROCESS, folder._process.pid) - os.getpriority(os.PRIO_PROCESS, 0)
        assert niceness == min(folder_module.NICENESS, 19 - os.getpriority(os.PRIO_PROCESS, 0))  # requests first
        np.testing.assert_allclose([row[1] for row in ranked], scores, rtol=1e-5, atol=1e-6)  # (BLAS threads)

        monkeypatch.setattr(folder_module, "RETRY_SECONDS", 0.0)
        dead = folder._process
        dead.kill()
        dead.wait(timeout=10)
        assert folder.rank(bundle.path, bundle.manifest, rows, 12) is None and folder._process is None
        deadline = time.monotonic() + 60
        while (again := folder.rank(bundle.path, bundle.manifest, rows, 12)) is None:
            assert time.monotonic() < deadline and folder._process is not None, "the dead child was not replaced"
            time.sleep(0.1)
        assert folder._process.pid != dead.pid and again == ranked

        first = folder._process
        other = {**bundle.manifest, "created_at": "another bundle"}
        assert folder.rank(bundle.path, other, rows, 12) is None  # another bundle: a new child for it
        assert first.poll() is not None  # stopped (close() waits for it, then kills it)
        child = folder._process
        deadline = time.monotonic() + 60
        while folder._process is not None:
            assert folder.rank(bundle.path, other, rows, 12) is None
            assert time.monotonic() < deadline, "the mismatched child was not stopped"
            time.sleep(0.1)
        assert child.poll() is not None and folder._process is None
        assert folder.rank(bundle.path, other, rows, 12) is None and folder._process is None  # not restarted
    finally:
        folder.close()


def test_a_workers_own_events_are_applied_without_reading_them_back(bundle_copy: Path, trained: Trained,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """After its commit a worker applies the events it stored; it reads the store only when another writer
    committed in between (a gap in the seqs), and then gets that writer's events too, before any poll."""
    settings = Settings(bundle=bundle_copy, access_log=False, events_poll_seconds=60)  # no poll during the test
    with TestClient(create_app(settings)) as client:
        _check_own_events_applied(client, trained, monkeypatch)


def _check_own_events_applied(client: TestClient, trained: Trained, monkeypatch: pytest.MonkeyPatch) -> None:
    feed, served = client.app.state.feed, client.app.state.holder.current
    users = [str(u) for u in trained.recommender.dataset_.users.external_ids[20:23]]
    products = [str(p) for p in trained.recommender.dataset_.items.external_ids[:3]]
    reads = []
    changes = feed.store.changes
    monkeypatch.setattr(feed.store, "changes", lambda after, *a: reads.append(after) or changes(after, *a))
    _post(client, {"user_id": users[0], "product_id": products[0], "event_id": "own-1"},
          {"user_id": users[0], "product_id": products[1], "quantity": 3})
    assert reads == [] and served.live.users[users[0]].purchases[products[1]][1] == 3.0
    assert served.live.last_seq == served.live.mark + 2
    _post(client, {"user_id": users[0], "product_id": products[0], "event_id": "own-1"})  # a duplicate only
    assert reads == [] and served.live.users[users[0]].events == 2
    other = feed.store.append([{C.User: users[1], C.Item: products[2], "event_type": "purchase",
                                C.Date: datetime.datetime(2024, 3, 1), C.Quantity: 1, C.Price: 2.0, C.Order: None}])
    _post(client, {"user_id": users[2], "product_id": products[0]})
    assert reads == [served.live.mark + 2]
    assert products[2] in served.live.users[users[1]].purchases and products[0] in served.live.users[users[2]].purchases
    assert served.live.last_seq == other.seqs[0] + 1


def test_an_unknown_customer_with_events_is_personalised(client: TestClient, trained: Trained) -> None:
    dataset = trained.recommender.dataset_
    cold = client.get("/v1/users/newcomer/recommendations").json()
    assert cold["cold_start"] is True
    category = dataset.catalogue[C.Category].value_counts().index[0]
    picks = dataset.catalogue.loc[dataset.catalogue[C.Category] == category, C.Item].astype(str).tolist()[:4]
    _post(client, *({"user_id": "newcomer", "product_id": p} for p in picks))
    body = client.get("/v1/users/newcomer/recommendations").json()
    assert body["cold_start"] is False and body["personalised_from_events"] is True
    assert len(body["items"]) == 10 and not set(picks) & set(_ids(body)) and _ids(body) != _ids(cold)
    _post(client, {"user_id": "browser", "product_id": picks[0], "event_type": "view"})
    viewed = client.get("/v1/users/browser/recommendations").json()
    assert viewed["personalised_from_events"] is True and picks[0] not in _ids(viewed)


# --- business rules ----------------------------------------------------------------------------------------------
def test_rules_filter_every_endpoint_and_still_fill_k(client: TestClient, trained: Trained) -> None:
    dataset = trained.recommender.dataset_
    catalogue = dataset.catalogue
    user = str(dataset.users.external_ids[7])
    plain = _ids(client.get(f"/v1/users/{user}/recommendations").json())
    excluded = client.get(f"/v1/users/{user}/recommendations", params={"exclude": plain[:3]}).json()
    assert _ids(excluded)[:7] == plain[3:] and len(excluded["items"]) == 10 and [i["rank"] for i in excluded["items"]] == list(range(1, 11))
    category = catalogue[C.Category].value_counts().index[-1]  # the smallest category: beyond the cached top-K
    members = set(catalogue.loc[catalogue[C.Category] == category, C.Item].astype(str))
    bought = set(dataset.items.to_external(dataset.purchases[7].indices))
    k = min(10, len(members - bought))
    only = client.get(f"/v1/users/{user}/recommendations", params={"categories": category, "k": k}).json()
    assert len(only["items"]) == k and set(_ids(only)) <= members - bought
    price = float(catalogue[C.Price].median())
    cheap = client.get(f"/v1/users/{user}/recommendations", params={"max_price": price, "k": 20}).json()
    prices = dict(zip(catalogue[C.Item].astype(str), catalogue[C.Price], strict=True))
    assert len(cheap["items"]) == 20 and all(prices[p] <= price for p in _ids(cheap))
    dear = client.post("/v1/recommendations", json={"user_ids": [user, "ghost"], "k": 5, "min_price": price,
                                                    "exclude_categories": [category]}).json()["results"]
    for result in dear:
        assert len(result["items"]) == 5 and all(prices[p] >= price and p not in members for p in _ids(result))
    anonymous = client.post("/v1/recommendations", json={"k": 6, "exclude": plain, "categories": [category]}).json()
    assert set(_ids(anonymous["results"][0])) <= members
    similar = client.get(f"/v1/products/{plain[0]}/similar", params={"k": 5, "exclude": plain[1:3]}).json()
    assert not set(plain[1:3]) & set(_ids(similar))
    assert client.get(f"/v1/users/{user}/recommendations", params={"min_price": -1}).status_code == 422


def test_availability_is_enforced_persisted_and_survives_reload(client: TestClient, trained: Trained,
                                                                bundle_copy: Path) -> None:
    user = str(trained.recommender.dataset_.users.external_ids[9])
    plain = _ids(client.get(f"/v1/users/{user}/recommendations").json())
    assert client.put("/admin/availability", json={"unavailable": plain[:2]}).status_code == 401
    state = client.put("/admin/availability", json={"unavailable": [*plain[:2], "gone"]}, headers=AUTH).json()
    assert state == {"unavailable": sorted([*plain[:2], "gone"]), "unknown": ["gone"]}
    answer = _ids(client.get(f"/v1/users/{user}/recommendations").json())
    assert len(answer) == 10 and not set(plain[:2]) & set(answer)
    cold = client.post("/v1/recommendations", json={"k": 20}).json()["results"][0]
    assert not set(plain[:2]) & set(_ids(cold))
    assert client.post("/admin/reload", headers=AUTH).status_code == 200
    assert not set(plain[:2]) & set(_ids(client.get(f"/v1/users/{user}/recommendations").json()))
    with TestClient(create_app(Settings(bundle=bundle_copy, access_log=False))) as restarted:  # a new process would
        assert not set(plain[:2]) & set(_ids(restarted.get(f"/v1/users/{user}/recommendations").json()))


# --- the stores ------------------------------------------------------------------------------------------------
def _exercise(store_location: str | Path) -> None:
    rows, _ = check_events([{"user_id": "u1", "product_id": "p1", "event_type": "purchase", "event_id": "a",
                             "price": 2.0, "quantity": 3},
                            {"user_id": "u1", "product_id": "p2", "event_type": "view"}])
    with open_store(store_location) as store:
        first = store.append(rows)
        assert first.inserted == 2 and first.duplicates == 0
        assert store.append(rows[:1]).duplicates == 1
        changes = store.changes(0)
        assert [e[C.Item] for e in changes.events] == ["p1", "p2"] and changes.last_seq == first.seqs[-1]
        assert store.changes(first.seqs[0]).events[0][C.EventType] == "view"
        assert [e[C.Item] for e in store.user_events("u1", 5)] == ["p2", "p1"]
        version = store.set_unavailable(["b", "a", "a"])
        assert store.unavailable() == ["a", "b"] and store.changes(10**9).availability_version == version
        nothing = store.changes(first.seqs[-1])  # a poll with nothing new still sees the availability version
        assert (nothing.events, nothing.last_seq, nothing.availability_version) == ([], first.seqs[-1], version)
    with open_store(store_location) as reopened:
        assert len(reopened.changes(0).events) == 2 and reopened.unavailable() == ["a", "b"]
        assert reopened.changes(first.seqs[-1]).availability_version == version
        later = reopened.append(check_events([{"user_id": "u2", "product_id": "p3", "event_type": "cart"}])[0])
        assert [e[C.Seq] for e in reopened.changes(first.seqs[-1]).events] == later.seqs


def test_duckdb_store(tmp_path: Path) -> None:
    _exercise(tmp_path / "events.duckdb")


@pytest.mark.parametrize("size", [1, 3, 8, 9, 40])
def test_an_append_of_any_size_stores_the_same_rows(tmp_path: Path, size: int) -> None:
    """A few events go in as statement parameters, more as an Arrow table: same rows, types and duplicates."""
    raw = [{"user_id": f"u{n % 3}", "product_id": f"p{n}", "event_type": ("purchase", "view", "cart")[n % 3],
            "event_id": None if n % 4 == 3 else f"e{n % max(size - 1, 1)}", "timestamp": f"2026-01-0{1 + n % 9}",
            "quantity": 1 + n % 5, "price": None if n % 2 else 0.5 * n, "order_id": None if n % 3 else f"o{n}"}
           for n in range(size)]
    rows, _ = check_events(raw)
    with open_store(tmp_path / "events.duckdb") as store:
        store.append(rows[:1])  # stored before: a duplicate when its id comes again
        result = store.append(rows)
        events = store.changes(0).events
    ids = [r["event_id"] for r in rows]
    first = {i: n for n, i in reversed(list(enumerate(ids))) if i is not None}
    expected = [r for n, r in enumerate(rows) if r["event_id"] is None or (first[r["event_id"]] == n and n > 0)]
    assert result.inserted == len(expected) and result.duplicates == size - len(expected)
    assert result.seqs == [e[C.Seq] for e in events[1:]] and result.stored_ids == [
        r["event_id"] for r in expected if r["event_id"] is not None]
    names = (C.EventId, C.User, C.Item, C.EventType, C.Date, C.Quantity, C.Price, C.Order)
    assert [tuple(e[n] for n in names) for e in events[1:]] == [tuple(r[n] for n in names) for r in expected]
    assert all(type(e[C.Quantity]) is int and isinstance(e[C.Date], datetime.datetime) for e in events)


_CRASH = """
import os, sys
import segrec.events._duckdb as duck
from segrec.events import check_events, open_store
from segrec.events._journal import SeenIds
from segrec.exceptions import InputError
duck.FLUSH_SECONDS = 3600  # nothing reaches the table before the crash
store = open_store(sys.argv[1])
for n in range(3):
    rows, _ = check_events([{"user_id": "u", "product_id": f"p{n}", "event_type": "purchase", "quantity": n + 1,
                             "event_id": None if n == 2 else f"e{n}", "timestamp": "2026-01-02 03:04:05"}])
    store.append(rows)
os._exit(0)  # no close: what was acknowledged is in the journal only
"""


def test_acknowledged_events_in_the_journal_survive_a_crash(tmp_path: Path) -> None:
    """An append is acknowledged once journalled; a process that dies before the table commit loses nothing,
    a write the crash cut short (never acknowledged) is left out, and retries are still told apart."""
    import subprocess
    import sys

    location = tmp_path / "events.duckdb"
    subprocess.run([sys.executable, "-c", _CRASH, str(location)], check=True, timeout=120)
    journals = sorted(tmp_path.glob("events.duckdb.journal-*"))
    assert sum(len(p.read_bytes().splitlines()) for p in journals) == 3
    with journals[0].open("ab") as f:
        f.write(b'[{"seq":4,"event_id":"torn","user_id":"u"')  # the crash came mid-write: no end of line
    with open_store(location) as store:
        events = store.changes(0).events
        assert [(e[C.Seq], e[C.EventId], e[C.Item], e[C.Quantity]) for e in events] == [
            (1, "e0", "p0", 1), (2, "e1", "p1", 2), (3, None, "p2", 3)]
        assert events[0][C.Date] == datetime.datetime(2026, 1, 2, 3, 4, 5)
        assert all(p.stat().st_size == 0 for p in journals)  # replayed into the table, then emptied
        retry, _ = check_events([{"user_id": "u", "product_id": "p0", "event_type": "purchase", "event_id": "e0"},
                                 {"user_id": "u", "product_id": "p9", "event_type": "view", "event_id": "torn"}])
        again = store.append(retry)
        assert (again.inserted, again.duplicates, again.seqs, again.stored_ids) == (1, 1, [4], ["torn"])


def test_a_damaged_journal_stops_the_open_and_names_the_line(tmp_path: Path) -> None:
    location = tmp_path / "events.duckdb"
    open_store(location).close()
    (tmp_path / "events.duckdb.journal-1").write_bytes(b'[{"seq": 1, "user\n[]\n')
    with pytest.raises(InputError, match=r"journal-1 is damaged at line 1"):
        open_store(location)
    (tmp_path / "events.duckdb.journal-1").unlink()
    with open_store(location) as store:  # the file was left usable
        assert store.changes(0).events == []


@pytest.mark.parametrize("colliding", [False, True])
def test_a_retry_is_a_duplicate_wherever_its_first_copy_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           colliding: bool) -> None:
    """Journalled or committed, a stored id is a duplicate; an id that only shares a hash with one (forced here:
    every id a "maybe") is looked up in the table and stored."""
    if colliding:
        monkeypatch.setattr(SeenIds, "maybe", lambda self, ids: list(ids))
    rows, _ = check_events([{"user_id": "u", "product_id": f"p{n}", "event_type": "view", "event_id": f"e{n}"}
                            for n in range(12)])
    with open_store(tmp_path / "events.duckdb") as store:
        assert store.append(rows[:1]).inserted == 1
        assert (store.append(rows[:2]).duplicates, store._owner.pending[-1][C.EventId]) == (1, "e1")
        store._owner.flush()
        assert not store._owner.pending and store.append(rows[:2]).duplicates == 2
        many = store.append(rows)  # more ids than one statement takes as parameters
        assert (many.inserted, many.duplicates, many.stored_ids) == (10, 2, [f"e{n}" for n in range(2, 12)])
        assert [e[C.EventId] for e in store.changes(0).events] == [f"e{n}" for n in range(12)]
        assert [e[C.Seq] for e in store.changes(0).events] == list(range(1, 13))


def test_a_journal_that_cannot_be_written_stores_nothing_and_says_retry(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from segrec.events import StoreUnavailable, _journal

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    rows, _ = check_events([{"user_id": "u", "product_id": "p", "event_type": "view", "event_id": "e"}])
    with open_store(tmp_path / "events.duckdb") as store:
        with monkeypatch.context() as patch:
            patch.setattr(_journal.os, "fdatasync", full)
            with pytest.raises(StoreUnavailable, match="cannot write its journal"):
                store.append(rows)
        assert all(p.stat().st_size == 0 for p in tmp_path.glob("events.duckdb.journal-*"))  # no half line left
        assert store.append(rows).seqs == [1] and store.append(rows).duplicates == 1


def test_seen_ids_say_maybe_to_every_id_until_the_stored_ones_are_loaded() -> None:
    seen = SeenIds()
    seen.add(["new"])
    seen.merge()  # not before the load: it would be overwritten
    assert seen.maybe(["a", "b", "new"]) == ["a", "b", "new"]
    seen.load(SeenIds.hashes([["a"], [], ["c"]]))
    assert seen.maybe(["a", "b", "c", "new"]) == ["a", "c", "new"]


@given(stored=st.sets(st.text(max_size=6), max_size=40), added=st.lists(st.text(max_size=6), max_size=40),
       others=st.lists(st.text(max_size=6), max_size=40), merge_at=st.integers(1, 8))
def test_seen_ids_never_miss_an_id_and_flag_others_only_on_a_shared_hash(
        stored: set[str], added: list[str], others: list[str], merge_at: int) -> None:
    seen = SeenIds()
    seen.load(SeenIds.hashes([stored]))
    seen.MERGE_AT = merge_at
    for event_id in added:
        seen.add([event_id])
        seen.merge()
    known = stored | set(added)
    assert seen.maybe(list(known)) == list(known)
    hashes = {hash(i) for i in known}
    assert seen.maybe(others) == [o for o in others if o in known or hash(o) in hashes]


@pytest.mark.postgres
def test_postgres_store(postgres_url: str) -> None:
    _exercise(postgres_url)


@pytest.mark.postgres
def test_the_api_on_postgres(postgres_url: str, bundle_copy: Path, trained: Trained) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:  # the store test of this session may have left rows
        conn.execute(sa.text("DROP TABLE IF EXISTS segrec_events, segrec_unavailable, segrec_store_meta"))
    engine.dispose()
    user = str(trained.recommender.dataset_.users.external_ids[11])
    settings = Settings(bundle=bundle_copy, events=postgres_url, access_log=False)
    with TestClient(create_app(settings)) as pg:
        bought = _ids(pg.get(f"/v1/users/{user}/recommendations").json())[:1]
        assert _post(pg, {"user_id": user, "product_id": bought[0], "event_id": "pg-1"})["accepted"] == 1
        after = pg.get(f"/v1/users/{user}/recommendations").json()
        assert after["personalised_from_events"] and bought[0] not in _ids(after)
    assert not (bundle_copy.parent / "events.duckdb").exists()
    with TestClient(create_app(settings)) as again:
        assert again.get(f"/v1/users/{user}/recommendations").json()["personalised_from_events"] is True


def test_duckdb_store_is_shared_through_its_owner_and_taken_over(tmp_path: Path) -> None:
    """A second opener of the file (another worker, segrec train) goes through the process that holds it, and
    takes the file over when that one closes."""
    rows, _ = check_events([{"user_id": "u", "product_id": "p", "event_type": "purchase", "event_id": "x",
                             "timestamp": "2026-01-01 10:00:00"}])
    owner = open_store(tmp_path / "events.duckdb")
    client = open_store(tmp_path / "events.duckdb")
    assert owner.is_owner and not client.is_owner
    assert client.append(rows).inserted == 1 and client.append(rows).duplicates == 1
    assert owner.changes(0).events[0][C.Date].isoformat() == "2026-01-01T10:00:00"
    client.export(tmp_path / "export.parquet")
    owner.close()
    assert [e[C.EventId] for e in client.user_events("u", 5)] == ["x"] and client.is_owner
    client.close()
