"""The API through FastAPI's TestClient: every endpoint, its error codes, cold start, reload and metrics."""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from segrec.bundle import Bundle, load_bundle, save_bundle
from segrec.columns import Columns
from segrec.recommend.registry import model_from_config
from segrec.service import Served, Settings, create_app
from segrec.service.deps import get_served
from segrec.service.routers.recommend import cached_answer, live_answers
from segrec.service.schemas import CustomerAttributes, SegmentFeatures

if TYPE_CHECKING:
    from bundle_helpers import Trained

pytest_plugins = ["bundle_helpers"]  # the trained and bundle_path fixtures

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def client(bundle_path: Path) -> Iterator[TestClient]:
    app = create_app(Settings(bundle=bundle_path, admin_token=TOKEN, max_body_bytes=4096))
    with TestClient(app) as test_client:  # runs the lifespan: the bundle is loaded there
        yield test_client


@pytest.fixture
def user(trained: Trained) -> str:
    return str(trained.recommender.dataset_.users.external_ids[0])


@pytest.fixture
def product(trained: Trained) -> str:
    return str(trained.recommender.dataset_.items.external_ids[0])


# --- operations -------------------------------------------------------------------------------------------------
def test_health_and_ready(client: TestClient, bundle_path: Path) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready").json()
    assert ready["status"] == "ready" and ready["bundle"]["path"] == str(bundle_path)
    assert ready["bundle"]["format_version"] == 1 and len(ready["bundle"]["data_fingerprint"]) == 16


def test_not_ready_without_a_bundle() -> None:
    with TestClient(create_app(Settings(bundle=None))) as bare:
        assert bare.get("/health").status_code == 200
        response = bare.get("/ready")
        assert response.status_code == 503 and response.json() == {"detail": "no bundle loaded yet"}
        assert bare.get("/v1/users/u/recommendations").status_code == 503


def test_openapi_docs_are_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/users/{user_id}/recommendations", "/v1/recommendations", "/v1/products/{product_id}/similar",
            "/v1/users/{user_id}/segment", "/v1/segments", "/v1/segments/assign", "/admin/reload"} <= set(paths)


# --- recommendations --------------------------------------------------------------------------------------------
def test_known_user_gets_the_models_recommendations(client: TestClient, trained: Trained, user: str) -> None:
    body = client.get(f"/v1/users/{user}/recommendations", params={"k": 7}).json()
    expected = trained.recommender.recommend([user], 7)
    assert body["user_id"] == user and body["cold_start"] is False and body["mode"] == "discover"
    assert [i["product_id"] for i in body["items"]] == expected[Columns.Item].tolist()
    assert [i["rank"] for i in body["items"]] == list(range(1, 8))
    assert all(i["product_name"] and i["reason"] for i in body["items"])


def test_discover_hides_purchases_and_buy_again_may_not(client: TestClient, trained: Trained) -> None:
    dataset = trained.recommender.dataset_
    heavy = int(dataset.purchases.getnnz(axis=1).argmax())
    user = str(dataset.users.external_ids[heavy])
    bought = set(dataset.items.to_external(dataset.purchases[heavy].indices))
    discover = client.get(f"/v1/users/{user}/recommendations", params={"k": 20}).json()["items"]
    again = client.get(f"/v1/users/{user}/recommendations", params={"k": 20, "mode": "buy-again"}).json()
    assert not bought & {i["product_id"] for i in discover}
    assert again["mode"] == "buy-again"
    expected = trained.recommender.recommend([user], 20, filter_seen=False)[Columns.Item].tolist()
    assert [i["product_id"] for i in again["items"]] == expected


def test_unknown_user_gets_cold_start(client: TestClient) -> None:
    response = client.get("/v1/users/not-a-customer/recommendations", params={"k": 5})
    assert response.status_code == 200
    body = response.json()
    assert body["cold_start"] is True and body["user_id"] == "not-a-customer" and len(body["items"]) == 5


@pytest.mark.parametrize("params", [{"k": 0}, {"k": 101}, {"k": "ten"}, {"k": 2.5}, {"mode": "later"}])
def test_invalid_query_parameters_are_422(client: TestClient, user: str, params: dict) -> None:
    response = client.get(f"/v1/users/{user}/recommendations", params=params)
    assert response.status_code == 422 and isinstance(response.json()["detail"], list)


def test_batch_keeps_order_and_flags_unknown_users(client: TestClient, trained: Trained) -> None:
    users = [str(u) for u in trained.recommender.dataset_.users.external_ids[:3]]
    body = client.post("/v1/recommendations", json={"user_ids": [users[2], "ghost", users[0]], "k": 4}).json()
    results = body["results"]
    assert [r["user_id"] for r in results] == [users[2], "ghost", users[0]]
    assert [r["cold_start"] for r in results] == [False, True, False]
    expected = trained.recommender.recommend([users[2]], 4)[Columns.Item].tolist()
    assert [i["product_id"] for i in results[0]["items"]] == expected


@pytest.mark.parametrize("body", [
    {"user_ids": []},
    {"user_ids": ["u"] * 1001},
    {"user_ids": ["u"], "k": 1000},
    {"user_ids": "u1"},
    {"user_ids": ["u"], "unexpected": 1},
    {"customer": {"age": 130}},
    {"customer": {"income": -1}},
    {"customer": {"age": "old"}},
    {"product_ids": []},
    {"product_ids": ["p"] * 51},
    [1, 2],
])
def test_invalid_bodies_are_422(client: TestClient, body: object) -> None:
    response = client.post("/v1/recommendations", json=body)
    assert response.status_code == 422, response.text


def test_invalid_json_is_422(client: TestClient) -> None:
    response = client.post("/v1/recommendations", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422


def test_cold_start_from_attributes_and_products(client: TestClient, product: str) -> None:
    body = {"customer": {"age": 34, "gender": "F", "location": "Lyon", "income": 42000}, "product_ids": [product],
            "k": 6}
    result = client.post("/v1/recommendations", json=body).json()["results"]
    assert len(result) == 1 and result[0]["cold_start"] is True and result[0]["user_id"] is None
    assert len(result[0]["items"]) == 6
    anonymous = client.post("/v1/recommendations", json={}).json()["results"][0]
    assert anonymous["cold_start"] is True and len(anonymous["items"]) == 10


def test_cold_start_ignores_unknown_products_and_says_so(client: TestClient, product: str) -> None:
    response = client.post("/v1/recommendations", json={"product_ids": ["no-such-product", product], "k": 3})
    result = response.json()["results"][0]
    assert response.status_code == 200 and len(result["items"]) == 3
    assert result["notes"] == ["ignored unknown product id(s): no-such-product"]


def test_cached_answers_equal_the_live_model(client: TestClient, trained: Trained) -> None:
    """Every known user, both modes: the top-K computed at load gives exactly the model's recommend()."""
    served = client.app.state.holder.current
    assert served.top["discover"].k == 20
    users = [str(u) for u in trained.recommender.dataset_.users.external_ids]
    for mode in ("discover", "buy-again"):
        for k in (1, 10, 20):
            cached = [cached_answer(served, u, k, mode) for u in users]
            assert [a.model_dump() for a in cached] == [a.model_dump() for a in live_answers(served, users, k, mode)]
    assert cached_answer(served, users[0], 21, "discover") is None  # above K: computed live
    deep = client.get(f"/v1/users/{users[0]}/recommendations", params={"k": 40}).json()["items"]
    assert [i["product_id"] for i in deep] == trained.recommender.recommend([users[0]], 40)[Columns.Item].tolist()


# --- products ---------------------------------------------------------------------------------------------------
def test_similar_products(client: TestClient, product: str) -> None:
    body = client.get(f"/v1/products/{product}/similar", params={"k": 5}).json()
    assert body["product_id"] == product and len(body["items"]) == 5
    assert product not in {i["product_id"] for i in body["items"]}


def test_unknown_product_is_404(client: TestClient) -> None:
    response = client.get("/v1/products/nope/similar")
    assert response.status_code == 404 and "nope" in response.json()["detail"]


# --- segments ---------------------------------------------------------------------------------------------------
def test_user_segment(client: TestClient, trained: Trained) -> None:
    row = trained.segments.iloc[0]
    body = client.get(f"/v1/users/{row[Columns.User]}/segment").json()
    assert body["segment"] == row[Columns.Segment] and body["segment_name"] == row[Columns.SegmentName]
    assert body["action"]
    assert client.get("/v1/users/ghost/segment").status_code == 404


def test_segment_profiles(client: TestClient, trained: Trained) -> None:
    segments = client.get("/v1/segments").json()["segments"]
    assert [s["segment"] for s in segments] == list(range(4))
    assert [s["segment_name"] for s in segments] == trained.profiles[Columns.SegmentName].tolist()
    assert segments[0]["size"] > 0 and "mean_total_spending" in segments[0]["features"]


def test_assign_segment_matches_the_segmenter(client: TestClient, trained: Trained) -> None:
    features = trained.segmenter.preprocessor_.features_
    customer = {name: 10.0 for name in features}
    body = client.post("/v1/segments/assign", json=customer).json()
    import pandas as pd

    assert body["segment"] == int(trained.segmenter.predict(pd.DataFrame([customer]))[0])
    assert body["imputed"] == [] and body["segment_name"]
    partial = client.post("/v1/segments/assign", json={"age": 30}).json()
    assert set(partial["imputed"]) == set(features) - {"age"}


@pytest.mark.parametrize("body", [{"age": -1}, {"total_spending": -5}, {"abandoned_cart_rate": 2},
                                  {"favourite_colour": "red"}, {"frequency": "often"}])
def test_assign_segment_rejects_bad_features(client: TestClient, body: dict) -> None:
    assert client.post("/v1/segments/assign", json=body).status_code == 422


def test_api_field_names_are_canonical_columns() -> None:
    columns = {v for k, v in vars(Columns).items() if not k.startswith("_") and isinstance(v, str)}
    assert set(SegmentFeatures.model_fields) <= columns
    assert set(CustomerAttributes.model_fields) <= columns


def test_bundle_without_segmentation_answers_404(client: TestClient, trained: Trained) -> None:
    """Dependency override: serve a bundle that has no segments, profiles or segmenter."""
    bare = Served.build(Bundle({"format_version": 1}, trained.recommender.dataset_, trained.recommender))
    app = client.app
    app.dependency_overrides[get_served] = lambda: bare
    try:
        for method, url, kwargs in [("get", "/v1/users/u/segment", {}), ("get", "/v1/segments", {}),
                                    ("post", "/v1/segments/assign", {"json": {}})]:
            response = client.request(method.upper(), url, **kwargs)
            assert response.status_code == 404 and "no segment" in response.json()["detail"]
    finally:
        app.dependency_overrides.clear()


# --- protocol-level errors --------------------------------------------------------------------------------------
def test_oversized_body_is_413_by_content_length(client: TestClient) -> None:
    response = client.post("/v1/recommendations", json={"user_ids": ["x" * 100] * 100})
    assert response.status_code == 413 and "larger than 4096 bytes" in response.json()["detail"]


def test_oversized_streamed_body_is_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"user_ids": ['
        for _ in range(100):
            yield b'"' + b"x" * 100 + b'",'
        yield b'"y"]}'

    response = client.post("/v1/recommendations", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413 and response.json()["detail"].startswith("request body larger")


def test_unknown_route_and_wrong_method(client: TestClient) -> None:
    assert client.get("/v2/nothing").status_code == 404
    response = client.get("/v1/recommendations")
    assert response.status_code == 405 and response.json() == {"detail": "Method Not Allowed"}


# --- reload -----------------------------------------------------------------------------------------------------
def test_reload_requires_the_token(client: TestClient) -> None:
    assert client.post("/admin/reload").status_code == 401
    assert client.post("/admin/reload", headers={"Authorization": "Basic abc"}).status_code == 401
    response = client.post("/admin/reload", headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 403 and response.json() == {"detail": "invalid admin token"}


def test_reload_disabled_without_a_configured_token(bundle_path: Path) -> None:
    with TestClient(create_app(Settings(bundle=bundle_path, admin_token=None))) as plain:
        response = plain.post("/admin/reload", headers=AUTH)
        assert response.status_code == 403 and "reload disabled" in response.json()["detail"]


def test_reload_swaps_in_a_new_bundle(client: TestClient, trained: Trained, tmp_path: Path,
                                      bundle_path: Path) -> None:
    other = save_bundle(tmp_path / "other", recommender=trained.recommender)  # no segmentation in this one
    try:
        response = client.post("/admin/reload", headers=AUTH, json={"path": str(other)})
        assert response.status_code == 200 and response.json()["bundle"]["path"] == str(other)
        served = client.app.state.holder.current
        assert gc.get_freeze_count() > 0  # the served bundle is out of the full collections' walk
        assert not any(o is served for o in gc.get_objects())
        assert client.get("/ready").json()["bundle"]["path"] == str(other)
        assert client.get("/v1/segments").status_code == 404
    finally:
        assert client.post("/admin/reload", headers=AUTH, json={"path": str(bundle_path)}).status_code == 200
    assert client.get("/v1/segments").status_code == 200


@pytest.mark.parametrize("damage", ["missing", "corrupt", "newer"])
def test_bad_bundle_is_refused_and_the_old_one_keeps_serving(client: TestClient, bundle_path: Path,
                                                             tmp_path: Path, damage: str) -> None:
    bad = Path(shutil.copytree(bundle_path, tmp_path / "bad"))
    if damage == "missing":
        shutil.rmtree(bad)
    elif damage == "corrupt":
        (bad / "model.npz").write_bytes(b"garbage")
    else:
        manifest = json.loads((bad / "manifest.json").read_text())
        (bad / "manifest.json").write_text(json.dumps({**manifest, "format_version": 99}))
    before = client.get("/ready").json()["bundle"]
    response = client.post("/admin/reload", headers=AUTH, json={"path": str(bad)})
    assert response.status_code == 409 and "bundle refused" in response.json()["detail"]
    assert client.get("/ready").json()["bundle"] == before


def test_no_request_fails_during_reloads(client: TestClient, trained: Trained) -> None:
    users = [str(u) for u in trained.recommender.dataset_.users.external_ids[:50]]
    statuses: list[int] = []
    stop = threading.Event()

    def hammer() -> None:
        i = 0
        while not stop.is_set() and i < 2000:
            statuses.append(client.get(f"/v1/users/{users[i % 50]}/recommendations").status_code)
            i += 1

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(3):
            assert client.post("/admin/reload", headers=AUTH).status_code == 200
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert statuses and set(statuses) == {200}


def test_background_reload_keeps_old_bundle_on_failure(client: TestClient, tmp_path: Path) -> None:
    holder = client.app.state.holder
    before = holder.current
    holder.reload_in_background(tmp_path / "missing").result(timeout=30)
    assert holder.current is before
    holder.reload_in_background().result(timeout=30)
    assert holder.current is not before and holder.current.info.path == before.info.path


def test_requests_hold_the_bundle_they_started_with(bundle_path: Path) -> None:
    first = Served.build(load_bundle(bundle_path))
    app = create_app(Settings(bundle=None), served=first)
    holder = app.state.holder
    second = Served.build(load_bundle(bundle_path))
    seen = []

    async def capture() -> Served:  # the dependency runs once per request, before the endpoint
        served = holder.current
        holder.swap(second)  # a reload lands mid-request
        seen.append(served)
        return served

    app.dependency_overrides[get_served] = capture
    with TestClient(app) as local:
        assert local.get("/ready").json()["bundle"]["loaded_at"] == first.info.loaded_at
    assert seen == [first] and holder.current is second


# --- observability ----------------------------------------------------------------------------------------------
def test_metrics_in_prometheus_format(client: TestClient, user: str) -> None:
    client.get(f"/v1/users/{user}/recommendations")
    client.get("/v1/products/nope/similar")
    client.get("/random/path/abc")
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    samples = families["segrec_http_requests"].samples
    labels = {(s.labels["route"], s.labels["status"]) for s in samples if s.name.endswith("_total")}
    assert ("/v1/users/{user_id}/recommendations", "200") in labels
    assert ("/v1/products/{product_id}/similar", "404") in labels
    assert ("unmatched", "404") in labels and not any("abc" in route for route, _ in labels)
    buckets = [s for s in families["segrec_http_request_duration_seconds"].samples if s.name.endswith("_bucket")]
    assert buckets and {s.labels["le"] for s in buckets} >= {"0.025", "+Inf"}


def test_access_log_is_one_json_line_per_request(client: TestClient, user: str,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="segrec.access"):
        response = client.get(f"/v1/users/{user}/recommendations", headers={"X-Request-ID": "abc-123"})
        client.get("/v1/products/nope/similar")
    assert response.headers["x-request-id"] == "abc-123"
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "segrec.access"]
    assert [line["status"] for line in lines] == [200, 404]
    assert lines[0]["request_id"] == "abc-123" and len(lines[1]["request_id"]) == 32
    assert lines[0]["path"] == f"/v1/users/{user}/recommendations" and lines[0]["duration_ms"] > 0
    assert set(lines[0]) == {"method", "path", "route", "status", "duration_ms", "request_id"}


def test_a_model_without_similar_products_or_cold_start_answers_404_not_500(trained: Trained, product: str,
                                                                           tmp_path: Path) -> None:
    """An EASE (or Spark-trained ALS) bundle has neither: the endpoints say so in JSON instead of failing."""
    ease = save_bundle(tmp_path / "ease", recommender=model_from_config("ease").fit(trained.recommender.dataset_))
    with TestClient(create_app(Settings(bundle=ease)), raise_server_exceptions=False) as ease_client:
        similar = ease_client.get(f"/v1/products/{product}/similar")
        cold = ease_client.post("/v1/recommendations", json={"customer": {"age": 30}, "k": 5})
    assert similar.status_code == 404 and "EASERecommender" in similar.json()["detail"]
    assert cold.status_code == 404 and "cold start" in cold.json()["detail"]


# --- under uvicorn --------------------------------------------------------------------------------------------
def test_sighup_reloads_under_uvicorn(trained: Trained, tmp_path: Path) -> None:
    """A real server process: SIGHUP swaps in a freshly loaded bundle while it keeps answering."""
    bundle_path = save_bundle(tmp_path / "ease", recommender=model_from_config("ease").fit(trained.recommender.dataset_))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "SEGREC_BUNDLE": str(bundle_path)}
    command = [sys.executable, "-m", "uvicorn", "--factory", "segrec.service.main:create_app",
               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    log = tmp_path / "server.log"
    with open(log, "wb") as sink:
        proc = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        first = _poll_ready(port, proc, lambda info: True)
        proc.send_signal(signal.SIGHUP)
        second = _poll_ready(port, proc, lambda info: info["loaded_at"] != first["loaded_at"])
        assert second["data_fingerprint"] == first["data_fingerprint"] and proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert proc.returncode in (0, -signal.SIGTERM), log.read_text()  # uvicorn re-raises SIGTERM after shutdown


def _poll_ready(port: int, proc: subprocess.Popen, done: Callable[[dict], bool], timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited"
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as response:
                info = json.loads(response.read())["bundle"]
                if done(info):
                    return info
        time.sleep(0.1)
    raise AssertionError("the server did not report the expected bundle in time")


def test_serve_refuses_a_bad_bundle_with_exit_code_1(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from segrec.cli import app as cli

    result = CliRunner().invoke(cli, ["serve", str(tmp_path / "missing"), "--port", "1"])
    assert result.exit_code == 1 and "no bundle at" in result.output
