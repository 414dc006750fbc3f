"""Events end to end: the retrain loop (events -> segrec train --events -> reload), nothing lost when the server
is killed (SIGKILL) or when several uvicorn workers write at once."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from process_helpers import free_port, stop_group
from segrec.cli import app as cli
from segrec.columns import Columns
from segrec.events import open_store
from segrec.service import Settings, create_app

if TYPE_CHECKING:
    from bundle_helpers import Trained

pytest_plugins = ["bundle_helpers"]

C = Columns
TOKEN = "loop-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _ids(body: dict) -> list[str]:
    return [i["product_id"] for i in body["items"]]


def test_events_retrain_reload_loop(trained: Trained, bundle_path: Path, tmp_path: Path) -> None:
    """Events posted while serving; `segrec train SOURCE --events STORE --out DIR` (reading the store through the
    serving process, which holds the DuckDB file); POST /admin/reload; the new bundle knows the new customer."""
    out = tmp_path / "shop"
    shutil.copytree(bundle_path, out / "model")
    source = tmp_path / "shop.parquet"
    trained.events.to_parquet(source, index=False)
    products = [str(p) for p in trained.recommender.dataset_.items.external_ids[:6]]
    app = create_app(Settings(bundle=out / "model", admin_token=TOKEN, access_log=False))
    with TestClient(app) as client:
        events = [{"user_id": "loop-customer", "product_id": p, "event_id": f"loop-{i}", "price": 5.0}
                  for i, p in enumerate(products[:4])]
        events.append({"user_id": "loop-customer", "product_id": products[4], "event_type": "view"})
        assert client.post("/v1/events", json={"events": events}).status_code == 200
        assert client.get("/v1/users/loop-customer/recommendations").json()["personalised_from_events"] is True
        result = CliRunner().invoke(cli, ["train", str(source), "--events", str(out / "events.duckdb"),
                                          "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert "4 purchases of 5 events" in result.output
        manifest = json.loads((out / "model" / "manifest.json").read_text())
        assert manifest["params"]["events"]["through_seq"] == 5
        assert client.post("/admin/reload", headers=AUTH).status_code == 200
        served = app.state.holder.current
        assert "loop-customer" in served.user_index and served.live.users == {}
        body = client.get("/v1/users/loop-customer/recommendations").json()
        assert body["cold_start"] is False and body["personalised_from_events"] is False  # in the bundle now
        assert not set(products[:4]) & set(_ids(body))
        catalogue = served.bundle.dataset.catalogue.set_index(C.Item)
        assert catalogue.loc[products[0], C.ItemName] != products[0]  # names from the source, not bare ids
        client.post("/v1/events", json={"events": [{"user_id": "loop-customer", "product_id": products[5]}]})
        after = client.get("/v1/users/loop-customer/recommendations").json()
        assert after["personalised_from_events"] is True and products[5] not in _ids(after)


# --- real server processes -----------------------------------------------------------------------------------
@contextlib.contextmanager
def _server(bundle: Path, log: Path, workers: int = 1, **env: str) -> Iterator[tuple[subprocess.Popen, str]]:
    port = free_port()
    command = [sys.executable, "-c", "from segrec.cli import main; main()", "serve", str(bundle),
               "--port", str(port), "--workers", str(workers), "--log-level", "warning"]
    with open(log, "ab") as sink:
        proc = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT,
                                env={**os.environ, "SEGREC_ACCESS_LOG": "false", **env}, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, log.read_text()
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(url + "/ready", timeout=2):
                    break
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        yield proc, url
    finally:
        stop_group(proc)


def _request(url: str, method: str = "GET", body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_acknowledged_events_survive_sigkill(trained: Trained, bundle_path: Path, tmp_path: Path) -> None:
    bundle = Path(shutil.copytree(bundle_path, tmp_path / "shop" / "model"))
    products = [str(p) for p in trained.recommender.dataset_.items.external_ids[:20]]
    user = str(trained.recommender.dataset_.users.external_ids[2])
    log = tmp_path / "server.log"
    acknowledged = []
    with _server(bundle, log, SEGREC_FOLD_PROCESS="true") as (proc, url):
        for i in range(20):
            batch = [{"user_id": f"kill-{i}", "product_id": products[i], "event_id": f"k{i}"},
                     {"user_id": user, "product_id": products[i], "event_type": "view", "event_id": f"v{i}"}]
            status, body = _request(url + "/v1/events", "POST", {"events": batch})
            assert status == 200 and body["accepted"] == 2
            acknowledged += [e["event_id"] for e in batch]
        folder = _fold_child(proc.pid)  # started with the bundle; more events until it has folded some in
        deadline = time.monotonic() + 60
        while 'segrec_events_folded_total{where="process"}' not in _metrics(url):
            assert time.monotonic() < deadline, "the fold-in process folded nothing in"
            event = {"user_id": "warm-up", "product_id": products[0], "event_id": f"w{len(acknowledged)}"}
            assert _request(url + "/v1/events", "POST", {"events": [event]})[0] == 200
            acknowledged.append(event["event_id"])
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)  # the server alone: no shutdown, no checkpoint
        proc.wait(timeout=10)
        deadline = time.monotonic() + 30
        while _alive(folder):  # its socket closed with the server: it stops by itself
            assert time.monotonic() < deadline, "the fold-in process outlived its server"
            time.sleep(0.1)
    with _server(bundle, log) as (_, url):
        stored = _request(url + f"/v1/users/{user}/events?limit=100")[1]["events"]
        assert sorted(e["event_id"] for e in stored) == sorted(f"v{i}" for i in range(20))
        for i in range(20):
            body = _request(url + f"/v1/users/kill-{i}/recommendations")[1]
            assert body["personalised_from_events"] is True and products[i] not in _ids(body)
        status, again = _request(url + "/v1/events", "POST", {"events": [
            {"user_id": "kill-0", "product_id": products[0], "event_id": "k0"}]})
        assert status == 200 and again["duplicates"] == 1
    with open_store(bundle.parent / "events.duckdb") as store:
        assert sorted(e[C.EventId] for e in store.changes(0).events) == sorted(acknowledged)


def _fold_child(pid: int) -> int:
    """The server's fold-in process (waits for it to start)."""
    deadline = time.monotonic() + 60
    while True:
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                with contextlib.suppress(OSError):
                    if b"child_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                        return int(child)
        assert time.monotonic() < deadline, "the server started no fold-in process"
        time.sleep(0.1)


def _metrics(url: str) -> str:
    with urllib.request.urlopen(url + "/metrics", timeout=30) as response:
        return response.read().decode()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_several_workers_write_concurrently_and_lose_nothing(trained: Trained, bundle_path: Path,
                                                              tmp_path: Path) -> None:
    """Three uvicorn workers share the DuckDB store (one holds the file, the others write through it); eight
    clients post at once, each request retried once with the same ids: every event is stored exactly once."""
    bundle = Path(shutil.copytree(bundle_path, tmp_path / "shop" / "model"))
    products = [str(p) for p in trained.recommender.dataset_.items.external_ids[:30]]

    def client(number: int, url: str) -> int:
        sent = 0
        for i in range(15):
            batch = [{"user_id": f"w{number}", "product_id": products[(i + j) % 30], "event_id": f"{number}-{i}-{j}"}
                     for j in range(3)]
            for _ in range(2):  # a client that did not trust the first answer sends it again
                status, _ = _request(url + "/v1/events", "POST", {"events": batch})
                assert status == 200
            sent += len(batch)
        return sent

    with _server(bundle, tmp_path / "server.log", workers=3) as (_, url):
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            sent = sum(pool.map(client, range(8), [url] * 8))
        time.sleep(0.5)  # every worker reads the others' events within SEGREC_EVENTS_POLL_SECONDS (0.1 s)
        for number in range(8):
            body = _request(url + f"/v1/users/w{number}/recommendations")[1]
            assert body["personalised_from_events"] is True
    with open_store(bundle.parent / "events.duckdb") as store:
        ids = [e[C.EventId] for e in store.changes(0, limit=10_000).events]
    assert sent == 8 * 15 * 3 and len(ids) == sent and len(set(ids)) == sent


@pytest.mark.postgres
def test_several_processes_write_to_postgres(postgres_url: str, tmp_path: Path) -> None:
    """Four processes append 50 batches each to the PostgreSQL store at once: seqs unique, nothing lost."""
    script = tmp_path / "writer.py"
    script.write_text(
        "import sys\nfrom segrec.events import check_events, open_store\n"
        "store = open_store(sys.argv[1])\n"
        "for i in range(50):\n"
        "    rows, _ = check_events([{'user_id': 'p' + sys.argv[2], 'product_id': str(i), 'event_type': 'purchase',"
        " 'event_id': sys.argv[2] + '-' + str(i)}])\n"
        "    store.append(rows)\n"
        "store.close()\n")
    import sqlalchemy as sa

    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS segrec_events, segrec_unavailable, segrec_store_meta"))
    engine.dispose()
    with open_store(postgres_url):  # create the tables once
        pass
    procs = [subprocess.Popen([sys.executable, str(script), postgres_url, str(n)]) for n in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    with open_store(postgres_url) as store:
        events = store.changes(0, limit=10_000).events
    assert len(events) == 200 and len({e[C.Seq] for e in events}) == 200
    assert len({e[C.EventId] for e in events}) == 200
