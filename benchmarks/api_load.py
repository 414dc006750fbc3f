"""Load test of the real-time API: ``segrec serve`` under uvicorn, driven by wrk, all on 127.0.0.1.

Targets on a 2-core machine (server and load generator together), over the demo bundle (a generated shop of
5,000 customers x 1,000 products, hybrid model, segmentation), ``GET /v1/users/{id}/recommendations?k=10`` at 32
concurrent connections, each request for another known customer (wrk's Lua script rotates through every id):

* pure GET (phase ``target_rate``, 1,000 requests/s offered): >= 1,000 requests/s at p99 <= 10 ms, no error;
* ``mixed``: GET offered at 500 requests/s while a second wrk posts ``POST /v1/events`` at 100 requests/s (one
  purchase of a random known customer each, unique event ids, 4 connections): GET p99 <= 15 ms, POST p99 <=
  25 ms, no error. The customers who bought then get folded answers (computed once per event by the server's
  fold-in process right after the acknowledgement, then cached), so this phase measures the check and the
  durable append of the POST path and the fold-in's share of the server's CPU beside the GETs.

Paced phases are offered at their rate: a 3-s run at the rate first measures the mean latency, which the
measured phase subtracts from the connections' think time (wrk waits for each answer before thinking; without
this, 32 connections "at 1,000 requests/s" offered 927/s at a 2.5 ms latency).

``--soak`` runs a 5-minute steady load instead, reloads the bundle through ``POST /admin/reload`` halfway, and
checks zero failed requests and a flat server RSS.

Run: ``.venv/bin/python benchmarks/api_load.py [--duration 30] [--workers 1] [--soak]``; needs wrk
(``apt-get install wrk`` on Debian/Ubuntu, ``brew install wrk`` on macOS; without it the script says so and
exits 0, so ``make bench`` skips it). Writes
``benchmarks/results/api_load.json`` (``api_load_soak.json`` with ``--soak``); the demo bundle is built once
into ``out/bench/api_bundle`` (``--rebuild`` to redo it). Every run is bounded in time and request count.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_BUNDLE = ROOT / "out" / "bench" / "api_bundle"
MAX_REQUESTS_PER_THREAD = 2_000_000
TARGET_RPS, TARGET_P99_MS = 1000.0, 10.0  # pure GET
MIXED_GET_P99_MS, MIXED_POST_P99_MS = 15.0, 25.0
console = Console()

WRK_SCRIPT = """
local counter, done_count, ids, k, max_requests = 0, 0, {}, "10", 0
local thread_no = 0
function setup(thread)
  thread:set("offset", thread_no)
  thread_no = thread_no + 1
end
function init(args)
  for line in io.lines(args[1]) do ids[#ids + 1] = line end
  k, max_requests = args[2], tonumber(args[3])
  counter = (offset or 0) * 7919
  math.randomseed(12345 + (offset or 0))
end
function request()
  counter = counter + 1
  return wrk.format("GET", "/v1/users/" .. ids[(counter % #ids) + 1] .. "/recommendations?k=" .. k)
end
function response(status, headers, body)
  done_count = done_count + 1
  if done_count >= max_requests then wrk.thread:stop() end
end
-- DELAY --
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK_JSON {"requests": %d, "duration_us": %d, "connect_errors": %d, ' ..
    '"read_errors": %d, "write_errors": %d, "status_errors": %d, "timeouts": %d, "p50_ms": %.3f, ' ..
    '"p90_ms": %.3f, "p95_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f, "mean_ms": %.3f}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, latency.mean / 1000))
end
"""


# The event poster: the GET script's thread numbering and summary, its own init and request.
POST_SCRIPT = WRK_SCRIPT[:WRK_SCRIPT.index("function init")].replace(
    'local counter, done_count, ids, k, max_requests = 0, 0, {}, "10", 0',
    'local counter, ids, products, run = 0, {}, {}, "r"') + """
function init(args)
  for line in io.lines(args[1]) do ids[#ids + 1] = line end
  for line in io.lines(args[2]) do products[#products + 1] = line end
  run = args[3]
  math.randomseed(777 + (offset or 0))
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end
function request()
  counter = counter + 1
  local body = string.format('{"events": [{"user_id": "%s", "product_id": "%s", "event_id": "%s-%d-%d"}]}',
    ids[math.random(#ids)], products[math.random(#products)], run, offset or 0, counter)
  return wrk.format(nil, "/v1/events", nil, body)
end
-- DELAY --
""" + WRK_SCRIPT[WRK_SCRIPT.index("function done"):]


# --- the demo bundle ------------------------------------------------------------------------------------------
def build_bundle(path: Path, customers: int, products: int, seed: int, model_name: str = "hybrid") -> None:
    """Generate the shop, segment it, train the hybrid and save the bundle (once; a few tens of seconds)."""
    import pandas as pd

    from segrec.bundle import save_bundle
    from segrec.columns import Columns
    from segrec.data.generate import generate_shop
    from segrec.features.customers import customer_features
    from segrec.recommend import Dataset
    from segrec.recommend.registry import model_from_config
    from segrec.segment.profiles import segment_profiles
    from segrec.segment.segmenter import Segmenter

    began = time.perf_counter()
    events = generate_shop(customers=customers, products=products, seed=seed).events
    features = customer_features(events)
    segmenter = Segmenter(n_clusters=5, random_state=seed).fit(features)
    profiles = segment_profiles(features, segmenter.labels_, events)
    segments = pd.Series(segmenter.labels_, index=features.index.astype(str), name=Columns.Segment)
    dataset = Dataset.from_events(events, segments=segments)
    model = model_from_config(model_name).fit(dataset)
    save_bundle(path, recommender=model, segmenter=segmenter, segments=segments, profiles=profiles,
                params={"customers": customers, "products": products, "seed": seed, "model": model_name})
    console.print(f"built {path} in {time.perf_counter() - began:.1f} s")


# --- the server -----------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def server(bundle: Path, port: int, workers: int, token: str, log: Path,
           events: Path | None = None) -> Iterator[subprocess.Popen]:
    """``segrec serve`` in a subprocess; yields once /ready answers, stops it (SIGTERM, then SIGKILL) after."""
    env = {**os.environ, "SEGREC_ADMIN_TOKEN": token, **({"SEGREC_EVENTS": str(events)} if events else {})}
    command = [sys.executable, "-c", "from segrec.cli import main; main()", "serve", str(bundle),
               "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), "--log-level", "warning"]
    with open(log, "wb") as sink:
        proc = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
        try:
            try:
                wait_ready(f"http://127.0.0.1:{port}/ready", proc, timeout=600)  # a loaded host: minutes
            except SystemExit:
                console.print(log.read_text(errors="replace")[-3000:], markup=False)
                raise
            settle(proc.pid)  # its fold-in process may still be loading after /ready
            yield proc
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def wait_ready(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with code {proc.returncode}; see its log")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        time.sleep(0.2)
    raise SystemExit(f"the server did not become ready within {timeout:.0f} s")


def settle(pid: int, timeout: float = 120.0) -> None:
    """Wait until the server and its children are idle (under 5% of a core over half a second), so no phase
    measures the start-up's tail."""
    deadline = time.monotonic() + timeout
    before = cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = cpu_seconds(pid)
        if now - before < 0.025:
            return
        before = now


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (uvicorn workers), from /proc."""
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
    return pids


def rss_mb(pid: int) -> float:
    """Resident memory of the server and its workers, MB."""
    total = 0
    for p in process_tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


def cpu_seconds(pid: int) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in process_tree(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def reload(port: int, token: str) -> tuple[int, float]:
    """POST /admin/reload; returns (status, seconds)."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/admin/reload", method="POST",
                                     headers={"Authorization": f"Bearer {token}"})
    began = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    return status, time.perf_counter() - began


# --- the load generator ---------------------------------------------------------------------------------------
def run_wrk(port: int, ids_file: Path, seconds: float, connections: int, threads: int, k: int,
            rate: float | None = None, post_products: Path | None = None, latency_ms: float = 0.0) -> dict[str, float]:
    """One bounded wrk run; ``rate`` (requests/s) paces the connections with wrk's ``delay()`` (random
    exponential think times with mean ``connections / rate - latency_ms``: a connection waits for its answer
    before thinking, so without subtracting the latency the offered load falls short of ``rate``, by 7% at
    2.5 ms). With ``post_products`` the requests are ``POST /v1/events`` of one purchase each instead of GETs."""
    # exponential think times: the connections' requests form a Poisson stream instead of synchronised bursts
    think = max(1000.0 * connections / rate - latency_ms, 0.1) if rate is not None else 0.0
    delay = "" if rate is None else f"function delay() return -{think:.3f} * math.log(1 - math.random()) end"
    script_text = WRK_SCRIPT if post_products is None else POST_SCRIPT
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(script_text.replace("-- DELAY --", delay))
    extra = ([str(k), str(MAX_REQUESTS_PER_THREAD)] if post_products is None
             else [str(post_products), secrets.token_hex(4)])
    try:
        command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "5s",
                   "-s", script.name, f"http://127.0.0.1:{port}", "--", str(ids_file), *extra]
        out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    finally:
        os.unlink(script.name)
    line = next(x for x in out.splitlines() if x.startswith("WRK_JSON "))
    stats = json.loads(line.removeprefix("WRK_JSON "))
    stats["seconds"] = stats.pop("duration_us") / 1e6
    stats["rps"] = stats["requests"] / stats["seconds"]
    stats["errors"] = sum(stats[key] for key in ("connect_errors", "read_errors", "write_errors",
                                                   "status_errors", "timeouts"))
    return stats


# --- runs -----------------------------------------------------------------------------------------------------
def load_test(args: argparse.Namespace, port: int, proc: subprocess.Popen, ids: Path, products: Path) -> dict:
    """Three bounded phases: saturation (unpaced; latency there is mostly queueing: ~32 / throughput), the
    target rate (32 connections paced to offer ``--rate`` requests/s in total), and the mixed phase (GETs offered
    at ``--mixed-rate`` while a second wrk posts events at ``--events-rate``)."""
    run_wrk(port, ids, args.warmup, args.connections, args.threads, args.k)
    phases = {}
    for phase, rate in (("saturation", None), ("target_rate", args.rate)):
        latency = 0.0 if rate is None else calibrate(port, ids, args, rate)
        cpu_before = cpu_seconds(proc.pid)
        stats = run_wrk(port, ids, args.duration, args.connections, args.threads, args.k, rate=rate,
                        latency_ms=latency)
        stats["server_cpu_ms_per_request"] = 1000 * (cpu_seconds(proc.pid) - cpu_before) / max(stats["requests"], 1)
        stats["server_rss_mb"] = rss_mb(proc.pid)
        stats["offered_rps"] = rate
        phases[phase] = stats
    posts: dict = {}
    get_latency = calibrate(port, ids, args, args.mixed_rate)
    post_latency = calibrate(port, ids, args, args.events_rate, products)
    poster = threading.Thread(target=lambda: posts.update(run_wrk(
        port, ids, args.duration, args.post_connections, 1, args.k, rate=args.events_rate, post_products=products,
        latency_ms=post_latency)))
    cpu_before = cpu_seconds(proc.pid)
    poster.start()
    gets = run_wrk(port, ids, args.duration, args.connections, args.threads, args.k, rate=args.mixed_rate,
                   latency_ms=get_latency)
    poster.join()
    cpu = cpu_seconds(proc.pid) - cpu_before
    gets.update(offered_rps=args.mixed_rate, server_rss_mb=rss_mb(proc.pid),
                server_cpu_ms_per_request=1000 * cpu / max(gets["requests"] + posts["requests"], 1))
    posts.update(offered_rps=args.events_rate)
    phases["mixed_get"], phases["mixed_post"] = gets, posts
    at_rate = phases["target_rate"]
    phases["meets_target"] = bool(at_rate["rps"] >= TARGET_RPS * 0.98 and at_rate["p99_ms"] <= TARGET_P99_MS
                                  and at_rate["errors"] == 0 and phases["saturation"]["errors"] == 0)
    phases["meets_mixed_target"] = bool(gets["p99_ms"] <= MIXED_GET_P99_MS and posts["p99_ms"] <= MIXED_POST_P99_MS
                                        and gets["errors"] == 0 and posts["errors"] == 0
                                        and gets["rps"] >= args.mixed_rate * 0.95
                                        and posts["rps"] >= args.events_rate * 0.95)
    return phases


def calibrate(port: int, ids: Path, args: argparse.Namespace, rate: float, post_products: Path | None = None) -> float:
    """Mean latency (ms) of a 3-s paced run at ``rate`` (GETs, or event POSTs with ``post_products``, on their
    phase's connections): the phase after it subtracts it from the think time, so the requests are offered at
    ``rate`` (what wrk2's constant-throughput mode does; plain wrk has no clock)."""
    connections, threads = (args.connections, args.threads) if post_products is None else (args.post_connections, 1)
    return run_wrk(port, ids, 3, connections, threads, args.k, rate=rate, post_products=post_products)["mean_ms"]


def soak_test(args: argparse.Namespace, port: int, proc: subprocess.Popen, ids: Path, token: str) -> dict:
    run_wrk(port, ids, args.warmup, args.connections, args.threads, args.k)
    samples: list[tuple[float, float]] = []
    result: dict = {}
    began = time.monotonic()

    def drive() -> None:
        result.update(run_wrk(port, ids, args.soak_seconds, args.connections, args.threads, args.k,
                              rate=args.soak_rate))

    def hot_reload() -> None:
        at = time.monotonic() - began
        status, seconds = reload(port, token)
        result["reload"] = {"status": status, "started_at_s": round(at, 1), "seconds": round(seconds, 2)}

    load = threading.Thread(target=drive)
    reloader = threading.Thread(target=hot_reload)
    load.start()
    while load.is_alive() and time.monotonic() - began < args.soak_seconds + 120:
        samples.append((round(time.monotonic() - began, 1), round(rss_mb(proc.pid), 1)))
        if not reloader.is_alive() and "reload" not in result and time.monotonic() - began >= args.soak_seconds / 2:
            reloader.start()
        load.join(timeout=5)
    load.join()
    reloader.join(timeout=120)
    start_rss, end_rss = samples[1][1] if len(samples) > 1 else samples[0][1], samples[-1][1]  # [0]: warm-up
    result.update(rss_start_mb=start_rss, rss_end_mb=end_rss, rss_max_mb=max(s[1] for s in samples),
                  rss_samples=samples)
    result["memory_flat"] = bool(end_rss <= start_rss * 1.05)  # a reload may keep a few allocator pages
    result["passed"] = bool(result["errors"] == 0 and result.get("reload", {}).get("status") == 200
                            and result["memory_flat"])
    return result


_ROWS = ("offered_rps", "requests", "seconds", "rps", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms", "errors",
         "server_cpu_ms_per_request", "server_rss_mb", "rss_start_mb", "rss_end_mb", "rss_max_mb", "reload",
         "memory_flat", "passed")


def report(columns: dict[str, dict], title: str) -> None:
    """One column per phase."""
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    for name in columns:
        table.add_column(name, justify="right")
    for key in _ROWS:
        if any(key in stats for stats in columns.values()):
            table.add_row(key, *(_cell(stats.get(key)) for stats in columns.values()))
    console.print(table)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    return f"{value:,.2f}" if isinstance(value, float) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE)
    parser.add_argument("--rebuild", action="store_true", help="rebuild the demo bundle")
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--model", default="hybrid", help="registered model to train for a rebuilt bundle")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1 leaves more CPU to the server)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of each measured phase")
    parser.add_argument("--rate", type=float, default=1000.0, help="GET requests/s offered in the target phase")
    parser.add_argument("--mixed-rate", type=float, default=500.0, help="GET requests/s offered in the mixed phase")
    parser.add_argument("--events-rate", type=float, default=100.0, help="event POSTs/s in the mixed phase")
    parser.add_argument("--post-connections", type=int, default=4, help="wrk connections posting events")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--soak", action="store_true", help="5-minute soak with a hot reload halfway")
    parser.add_argument("--soak-seconds", type=float, default=300.0)
    parser.add_argument("--soak-rate", type=float, default=300.0, help="paced requests/s during the soak")
    args = parser.parse_args()
    if shutil.which("wrk") is None:  # a skip, not a failure: `make bench` goes on without this benchmark
        print("skipping the API load benchmark: wrk (the HTTP load generator) is not installed.\n"
              "Install it with `sudo apt-get install wrk` (Debian/Ubuntu) or `brew install wrk` (macOS), then run "
              "`.venv/bin/python benchmarks/api_load.py` again.", file=sys.stderr)
        return
    if args.rebuild or not (args.bundle / "manifest.json").is_file():
        build_bundle(args.bundle, args.customers, args.products, args.seed, args.model)

    from segrec.bundle import load_bundle

    bundle = load_bundle(args.bundle)
    port, token = free_port(), secrets.token_hex(16)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        ids = Path(tmp) / "users.txt"
        ids.write_text("\n".join(str(u) for u in bundle.dataset.users.external_ids) + "\n")
        products = Path(tmp) / "products.txt"
        products.write_text("\n".join(str(p) for p in bundle.dataset.items.external_ids) + "\n")
        store = Path(tmp) / "events.duckdb"  # a fresh event store per run (the bundle's directory stays clean)
        with server(args.bundle, port, args.workers, token, Path(tmp) / "server.log", store) as proc:
            if args.soak:
                stats = soak_test(args, port, proc, ids, token)
            else:
                stats = load_test(args, port, proc, ids, products)
    stats["config"] = {key: (str(value) if isinstance(value, Path) else value) for key, value in vars(args).items()}
    stats["config"].update(users=bundle.dataset.n_users, items=bundle.dataset.n_items,
                           model=type(bundle.recommender).__name__)
    stats["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                        "loadavg_before": [round(x, 2) for x in load_before],
                        "loadavg_after": [round(x, 2) for x in os.getloadavg()]}
    stats["command"] = " ".join(["python", "benchmarks/api_load.py", *sys.argv[1:]])
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / ("api_load_soak.json" if args.soak else "api_load.json")
    out.write_text(json.dumps(stats, indent=2) + "\n")
    if args.soak:
        report({"soak": stats}, "API soak: GET recommendations with a hot reload halfway")
    else:
        report({"saturation": stats["saturation"], "at target rate": stats["target_rate"],
                "mixed: GET": stats["mixed_get"], "mixed: POST events": stats["mixed_post"]},
               f"API load: GET recommendations k={args.k}, {args.connections} connections")
        console.print(f"pure GET target (>= {TARGET_RPS:.0f} req/s, p99 <= {TARGET_P99_MS:.0f} ms, no error): "
                      f"{'met' if stats['meets_target'] else 'NOT met'}")
        console.print(f"mixed target (GET p99 <= {MIXED_GET_P99_MS:.0f} ms, POST p99 <= {MIXED_POST_P99_MS:.0f} ms, "
                      f"no error): {'met' if stats['meets_mixed_target'] else 'NOT met'}")
        console.print(f"load average at the end: {os.getloadavg()[0]:.2f} (2-core machine shared with others)")
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
