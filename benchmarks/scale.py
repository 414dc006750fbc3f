"""Scale benchmark: local engine vs Spark engine (local[2]) on generated shops of 1M, 10M and 30M events.

For each size and engine, per stage (features, segmentation at a fixed k, recommender fit), each in a fresh
subprocess so the peak memory is the stage's own:

* ``seconds``: wall time of the stage alone (its inputs -- the events, and the features for segmentation --
  are built first and timed separately as ``load_seconds`` / ``prep_seconds``);
* ``cpu_seconds``: user + system CPU of the stage alone, Python process plus (Spark) the JVM, read from
  ``/proc/<jvm>/stat``; on a shared machine this is the comparable figure, wall time depends on the load;
* ``peak_rss_mib``: the peak resident memory of the whole stage process (``VmHWM``), events included; for
  Spark the Python driver's plus the JVM's (an upper bound: the two peaks need not coincide; the JVM grows
  its heap lazily up to ``spark.driver.memory``, so its RSS is what the GC let it take, not the minimum it
  needs); ``jvm_heap_peak_mib`` is the JVM's peak heap in use (sum of the heap pools' peak usage);
* ``status``: ``ok``, ``timeout`` (killed after ``--timeout-minutes``; recorded, not dropped), ``memory``
  (killed when the shared machine's ``MemAvailable`` fell below ``--min-free-gib``) or ``error``;
  ``min_mem_available_gib`` is the least free memory seen while the stage ran.

Results merge into ``benchmarks/results/scale.json`` (a row per events x engine x stage, replaced when re-run)
with the machine's cores, memory, load average before/after each stage, and the git commit.

    .venv/bin/python benchmarks/scale.py --sizes 1000000 10000000 [--engines local spark] [--timeout-minutes 25]

``generate_shop`` scales customers, products and months with the target; the events are generated once per
size into ``benchmarks/results/.cache/`` (Parquet, microsecond timestamps: Spark cannot read pandas' default
nanosecond ones) and every stage reads them from there.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = HERE / "results" / ".cache"
OUT = HERE / "results" / "scale.json"
EVENTS_PER_CUSTOMER = 20  # measured on generate_shop(months=12): ~20 lines per customer
CHUNK_EVENTS = 10_000_000
STAGES = ("features", "segmentation", "recommender")
SPARK_DRIVER_MEMORY = "12g"  # local[2]: the driver is the executor
TICK = os.sysconf("SC_CLK_TCK")


def shop_path(events: int) -> Path:
    """The cached shop of ~``events`` purchase lines (generated on first use, in a subprocess so this process
    stays small), and a ``.json`` beside it."""
    path = CACHE / f"shop_{events}.parquet"
    if not path.exists():
        code = f"import sys; sys.path.insert(0, {str(HERE)!r}); import scale; scale._generate({events})"
        subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    return path


def _generate(events: int) -> None:
    """``generate_shop`` in chunks of at most :data:`CHUNK_EVENTS` lines (the generator holds ~1 GiB per
    million lines at its peak, so 30M in one call would not fit in 24 GiB). Chunk ``i`` is a shop of its own
    (seed 42 + i) over the same product ids; its customer and order ids get a ``k{i}-`` prefix and its
    product names, categories and descriptions are replaced by chunk 0's, so the catalogue is one."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from segrec.columns import Columns as C
    from segrec.data.generate import generate_shop

    path = CACHE / f"shop_{events}.parquet"
    CACHE.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    customers = max(events // EVENTS_PER_CUSTOMER, 1000)
    products = min(20_000, max(1000, customers // 50))
    chunks = -(-events // CHUNK_EVENTS)
    rows, writer, catalogue = 0, None, None
    for i in range(chunks):
        part = generate_shop(customers=customers // chunks, products=products, months=12, seed=42 + i).events
        if chunks > 1:
            for column in (C.User, C.Order):
                part[column] = (f"k{i}-" + part[column].astype(object)).astype("string")
            if catalogue is None:
                catalogue = part.drop_duplicates(C.Item).set_index(C.Item)[[C.ItemName, C.Category, C.Description]]
            else:
                for column in catalogue.columns:
                    mapped = part[C.Item].map(catalogue[column])
                    part[column] = mapped.fillna(part[column]).astype("string")
        table = pa.Table.from_pandas(part, preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(path.with_suffix(".tmp"), table.schema, coerce_timestamps="us",
                                      allow_truncated_timestamps=True)
        writer.write_table(table.cast(writer.schema))
        rows += len(part)
        del part, table
    assert writer is not None
    writer.close()
    path.with_suffix(".tmp").rename(path)
    info = {"rows": rows, "customers": customers // chunks * chunks, "products": products, "months": 12,
            "chunks": chunks, "generate_seconds": round(time.perf_counter() - began, 1),
            "parquet_mib": round(path.stat().st_size / 2**20, 1), "generate_peak_rss_mib": round(_proc_status("self", "VmHWM"), 1)}
    path.with_suffix(".json").write_text(json.dumps(info) + "\n")


def shop_info(path: Path) -> dict[str, Any]:
    meta = path.with_suffix(".json")
    return json.loads(meta.read_text()) if meta.exists() else {}


# --- measuring a process -------------------------------------------------------------------------------------

def _proc_status(pid: int | str, key: str) -> float:
    """A ``/proc/<pid>/status`` memory line (VmHWM, VmRSS) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _stage(engine: str, stage: str, path: str) -> None:
    """Run one stage in this (fresh) process; print one JSON line."""
    out: dict[str, Any] = {}
    began = time.perf_counter()
    if engine == "local":
        import pandas as pd

        events = pd.read_parquet(path)
        out["load_seconds"] = round(time.perf_counter() - began, 2)
        out["rss_after_load_mib"] = round(_proc_status("self", "VmRSS"), 1)
        from segrec.features.customers import customer_features
        from segrec.features.interactions import Dataset
        from segrec.recommend.baselines import ALSRecommender
        from segrec.segment.segmenter import Segmenter

        if stage == "segmentation":
            t = time.perf_counter()
            X = customer_features(events)
            out["prep_seconds"] = round(time.perf_counter() - t, 2)
        cpu0, t0 = _self_cpu(), time.perf_counter()
        if stage == "features":
            X = customer_features(events)
            out["customers"] = len(X)
        elif stage == "segmentation":
            Segmenter(n_clusters=5, random_state=42).fit(X)
        else:
            dataset = Dataset.from_events(events)
            out["dataset_seconds"] = round(time.perf_counter() - t0, 2)  # included in seconds
            out["pairs"] = int(dataset.interactions.nnz)
            ALSRecommender().fit(dataset)
        out["seconds"] = round(time.perf_counter() - t0, 2)
        out["cpu_seconds"] = round(_self_cpu() - cpu0, 2)
        out["peak_rss_mib"] = round(_proc_status("self", "VmHWM"), 1)
    else:
        from segrec.engines import get_engine
        from segrec.engines.spark.segmentation import fit_segments, preprocess

        eng = get_engine("spark", master="local[2]", conf={"spark.driver.memory": SPARK_DRIVER_MEMORY,
                                                           "spark.ui.enabled": "false"})
        sc = eng.spark.sparkContext
        jvm_pid = sc._gateway.proc.pid
        out["jvm_comm"] = Path(f"/proc/{jvm_pid}/comm").read_text().strip()
        events = eng.load(path)  # cached and counted: the one read of the source
        out["load_seconds"] = round(time.perf_counter() - began, 2)  # session start + the read into the cache
        if stage == "segmentation":
            t = time.perf_counter()
            features = eng.features(events).frame.cache()
            features.count()
            out["prep_seconds"] = round(time.perf_counter() - t, 2)
        meter = SessionMeter(jvm_pid, sc)
        cpu0, t0 = meter.cpu(), time.perf_counter()
        if stage == "features":
            features = eng.features(events).frame.cache()
            out["customers"] = features.count()
        elif stage == "segmentation":
            fit_segments(preprocess(features), 5)
        else:  # what segrec train --engine spark does: index, ALS, bundle export, recommendations file
            target = CACHE / f"spark_train_{os.getpid()}"
            try:
                result = eng.train(events, target, k=10, on_stage=meter.mark)
                out["steps"] = meter.steps
                out["pairs"] = int(result["recommender"].dataset_.purchases.nnz)
                out["dataset_seconds"] = meter.steps["index"]["seconds"]  # included in seconds
            finally:
                subprocess.run(["rm", "-rf", str(target)], check=False)
        out["seconds"] = round(time.perf_counter() - t0, 2)
        out["cpu_seconds"] = round(meter.cpu() - cpu0, 2)
        jvm = sc._jvm.java.lang.management.ManagementFactory
        heap = sum(p.getPeakUsage().getUsed() for p in jvm.getMemoryPoolMXBeans() if str(p.getType()) == "Heap memory")
        out["jvm_heap_peak_mib"] = round(heap / 2**20, 1)
        out["jvm_peak_rss_mib"] = round(_proc_status(jvm_pid, "VmHWM"), 1)
        out["driver_peak_rss_mib"] = round(_proc_status("self", "VmHWM"), 1)
        out["peak_rss_mib"] = round(out["jvm_peak_rss_mib"] + out["driver_peak_rss_mib"], 1)
        if out.get("steps"):  # each step reset the peaks: the stage's are the steps' largest
            out["peak_rss_mib"] = max(x["peak_rss_mib"] for x in out["steps"].values())
            out["jvm_heap_peak_mib"] = max(x["jvm_heap_peak_mib"] for x in out["steps"].values())
        eng.stop()
    out["status"] = "ok"
    print(json.dumps(out), flush=True)


class SessionMeter:
    """CPU and memory of this process' whole session: the Python driver, the JVM and the Python workers the
    JVM starts (pandas UDFs score there), per named step (``mark(name)`` starts a step and ends the last).

    CPU: utime + stime of every live process of the session plus what they reaped (cutime + cstime).
    Memory: each step resets the processes' peak RSS (``/proc/<pid>/clear_refs`` 5) and the JVM's heap pool
    peaks, and records at its end the sum of the processes' ``VmHWM`` (an upper bound: the peaks need not
    coincide) and the JVM's peak heap in use.
    """

    def __init__(self, jvm_pid: int, sc: Any) -> None:
        self.jvm_pid, self.sc = jvm_pid, sc
        self.steps: dict[str, dict[str, float]] = {}
        self._current: tuple[str, float, float] | None = None

    def pids(self) -> list[int]:
        session = os.getsid(0)
        out = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.getsid(int(entry.name)) == session:
                        out.append(int(entry.name))
                except (ProcessLookupError, PermissionError):
                    pass
        return out

    def cpu(self) -> float:
        total = 0.0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            total += sum(int(x) for x in fields[11:15]) / TICK
        return total

    def _reset_peaks(self) -> None:
        for pid in self.pids():
            try:
                Path(f"/proc/{pid}/clear_refs").write_text("5")
            except OSError:
                pass
        for pool in self.sc._jvm.java.lang.management.ManagementFactory.getMemoryPoolMXBeans():
            pool.resetPeakUsage()

    def _peaks(self) -> tuple[float, float]:
        rss = 0.0
        for pid in self.pids():
            try:
                rss += _proc_status(pid, "VmHWM")
            except (FileNotFoundError, ProcessLookupError):
                pass
        pools = self.sc._jvm.java.lang.management.ManagementFactory.getMemoryPoolMXBeans()
        heap = sum(p.getPeakUsage().getUsed() for p in pools if str(p.getType()) == "Heap memory")
        return rss, heap / 2**20

    def mark(self, name: str) -> None:
        now, cpu = time.perf_counter(), self.cpu()
        if self._current is not None:
            step, t, c = self._current
            rss, heap = self._peaks()
            self.steps[step] = {"seconds": round(now - t, 2), "cpu_seconds": round(cpu - c, 2),
                                "peak_rss_mib": round(rss, 1), "jvm_heap_peak_mib": round(heap, 1)}
            # each finished step at once on stderr: a stage stopped later still reports the steps it measured
            print(json.dumps({"step": step, **self.steps[step]}), file=sys.stderr, flush=True)
        self._reset_peaks()
        self._current = None if name == "done" else (name, now, cpu)
        if name != "done":
            print(json.dumps({"step_started": name}), file=sys.stderr, flush=True)


def _mem_available_gib() -> float:
    line = next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemAvailable"))
    return int(line.split()[1]) / 2**20


def run_stage(engine: str, stage: str, path: Path, timeout: float, min_free_gib: float = 2.0) -> dict[str, Any]:
    """One stage in a fresh process group (the JVM included), killed after ``timeout`` seconds or when the
    machine's available memory falls below ``min_free_gib``."""
    code = (f"import sys; sys.path.insert(0, {str(HERE)!r}); import scale; "
            f"scale._stage({engine!r}, {stage!r}, {str(path)!r})")
    load0 = os.getloadavg()
    began = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, cwd=ROOT)
    row: dict[str, Any] = {}
    least = _mem_available_gib()
    while True:  # poll: the deadline, and the machine's free memory (it is shared: stop before the OOM killer)
        try:
            stdout, stderr = proc.communicate(timeout=1.0)
            break
        except subprocess.TimeoutExpired:
            least = min(least, _mem_available_gib())
            if time.perf_counter() - began > timeout:
                row = {"status": "timeout", "error": f"killed after {timeout / 60:g} min"}
            elif least < min_free_gib:
                row = {"status": "memory", "error": f"killed: the machine's MemAvailable fell below {min_free_gib:g} GiB"}
            if row:
                try:  # the stage process' own memory when it was stopped
                    row["rss_at_kill_mib"] = round(_proc_status(proc.pid, "VmRSS"), 1)
                    row["peak_rss_at_kill_mib"] = round(_proc_status(proc.pid, "VmHWM"), 1)  # no JVM
                except (FileNotFoundError, ProcessLookupError):
                    pass
                os.killpg(proc.pid, signal.SIGKILL)
                _, stderr = proc.communicate()
                steps = [json.loads(line) for line in stderr.splitlines() if line.startswith('{"step')]
                row["steps"] = {x.pop("step"): x for x in steps if "step" in x}  # measured before the stop
                row["stopped_in_step"] = next((x["step_started"] for x in reversed(steps) if "step_started" in x),
                                              None)
                break
    if not row:
        lines = [line for line in stdout.strip().splitlines() if line.startswith("{")]
        if proc.returncode == 0 and lines:
            row = json.loads(lines[-1])
        else:
            tail = [line for line in stderr.strip().splitlines() if line.strip()]
            why = f"signal {-proc.returncode} (SIGKILL: out of memory?)" if proc.returncode < 0 else f"exit {proc.returncode}"
            row = {"status": "error", "error": f"{why}: {tail[-1][:300] if tail else ''}"}
    try:  # a JVM left behind by a killed stage
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    row["process_seconds"] = round(time.perf_counter() - began, 1)
    row["min_mem_available_gib"] = round(least, 1)
    row["loadavg_before"] = [round(x, 2) for x in load0]
    row["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    return row


def machine() -> dict[str, Any]:
    mem = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))

    def out(*cmd: str) -> str:
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
            return (done.stdout + done.stderr).strip()
        except OSError:
            return ""

    import pyspark

    return {"cores": os.cpu_count(), "mem_gib": round(int(mem.split()[1]) / 2**20, 1),
            "shared": "yes: other agents ran on the same 2 cores during the runs", "python": platform.python_version(),
            "pyspark": pyspark.__version__, "java": out("java", "-version").splitlines()[0],
            "git_commit": out("git", "rev-parse", "HEAD"), "git_dirty": bool(out("git", "status", "--porcelain",
                                                                               "--", "src"))}


def _fmt(value: Any, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}" if isinstance(value, float | int) else str(value)


def print_table(results: list[dict[str, Any]]) -> None:
    header = ("events", "engine", "stage", "status", "wall s", "cpu s", "prep s", "peak RSS MiB", "JVM heap MiB",
              "load 1m")
    rows = [(f"{r['events']:,}", r["engine"], r["stage"], r.get("status", "?"), _fmt(r.get("seconds")),
             _fmt(r.get("cpu_seconds")), _fmt(r.get("prep_seconds")), _fmt(r.get("peak_rss_mib"), 0),
             _fmt(r.get("jvm_heap_peak_mib"), 0), _fmt(r.get("loadavg_before", [None])[0], 2)) for r in results]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    for r in results:
        if r.get("status") != "ok":
            print(f"{r['events']:,} {r['engine']} {r['stage']}: {r.get('error')}")


def growth(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Growth exponents between measured points only: for each engine, stage (and Spark recommender step), every
    pair of consecutive sizes that both finished (``ok``): ``log(cpu ratio) / log(rows ratio)`` (1 = linear),
    and the same for wall seconds, with the two points' commits (``same_commit`` false: the code may have changed
    between them). Nothing is extrapolated: a size that timed out or was stopped gives no exponent."""
    import itertools
    import math

    def points(rows: list[dict[str, Any]], step: str | None) -> list[tuple[int, float, float, dict]]:
        out = []
        for r in rows:
            figures = r if step is None else r.get("steps", {}).get(step)
            rows_measured = r.get("shop", {}).get("rows") or r["events"]
            if r.get("status") == "ok" and figures and figures.get("cpu_seconds") and figures.get("seconds"):
                out.append((rows_measured, figures["cpu_seconds"], figures["seconds"], r))
        return sorted(out, key=lambda p: p[0])

    table = []
    for engine, stage in sorted({(r["engine"], r["stage"]) for r in results}):
        rows = [r for r in results if (r["engine"], r["stage"]) == (engine, stage)]
        steps = sorted({s for r in rows for s in r.get("steps", {})})
        for step in [None, *steps]:
            measured = points(rows, step)
            # consecutive sizes measured by the same code, then consecutive sizes whose code differs (flagged)
            same = [pair for commit in dict.fromkeys(p[3].get("git_commit") for p in measured)
                    for pair in itertools.pairwise([p for p in measured if p[3].get("git_commit") == commit])]
            mixed = [pair for pair in itertools.pairwise(measured)
                     if pair[0][3].get("git_commit") != pair[1][3].get("git_commit")]
            for (n0, cpu0, wall0, r0), (n1, cpu1, wall1, r1) in same + mixed:
                log_rows = math.log(n1 / n0)
                commits = [r0.get("git_commit"), r1.get("git_commit")]
                table.append({"engine": engine, "stage": stage, "step": step or "all", "git_commits": commits,
                              "same_commit": commits[0] == commits[1],
                              "from_events": r0["events"], "to_events": r1["events"], "from_rows": n0, "to_rows": n1,
                              "cpu_seconds": [cpu0, cpu1], "seconds": [wall0, wall1],
                              "cpu_exponent": round(math.log(cpu1 / cpu0) / log_rows, 2),
                              "wall_exponent": round(math.log(wall1 / wall0) / log_rows, 2)})
    return table


def print_growth(table: list[dict[str, Any]]) -> None:
    if not table:
        print("no growth exponent: fewer than two finished sizes")
        return
    print("growth between measured sizes (exponent of CPU seconds; 1 = linear):")
    for g in table:
        print(f"  {g['engine']} {g['stage']} {g['step']}: {g['from_events']:,} -> {g['to_events']:,} events "
              f"(x{g['to_rows'] / g['from_rows']:.2f} rows): CPU {g['cpu_seconds'][0]:,.0f} -> "
              f"{g['cpu_seconds'][1]:,.0f} s, exponent {g['cpu_exponent']} (wall {g['wall_exponent']})"
              + ("" if g["same_commit"] else f", commits {' and '.join(c[:7] for c in g['git_commits'])}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--engines", nargs="+", default=["local", "spark"], choices=["local", "spark"])
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    parser.add_argument("--timeout-minutes", type=float, default=25.0, help="per stage; a timeout is recorded")
    parser.add_argument("--min-free-gib", type=float, default=2.0,
                        help="kill a stage when the machine's MemAvailable falls below this (recorded as 'memory')")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--growth-only", action="store_true",
                        help="run nothing: recompute the growth exponents of the results in --out")
    args = parser.parse_args()

    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    results = previous.get("results", [])
    if args.growth_only:
        previous["growth"] = growth(results)
        args.out.write_text(json.dumps(previous, indent=2) + "\n")
        print_growth(previous["growth"])
        return
    run = {"started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "argv": sys.argv[1:],
           "machine": machine(), "loadavg_start": [round(x, 2) for x in os.getloadavg()]}
    for size in args.sizes:
        path = shop_path(size)
        for engine in args.engines:
            for stage in args.stages:
                row = {"events": size, "engine": engine, "stage": stage, "shop": shop_info(path),
                       **run_stage(engine, stage, path, args.timeout_minutes * 60, args.min_free_gib),
                       "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                       "git_commit": run["machine"]["git_commit"]}
                results = [r for r in results if (r["events"], r["engine"], r["stage"]) != (size, engine, stage)]
                results.append(row)
                results.sort(key=lambda r: (r["events"], r["engine"], STAGES.index(r["stage"])))
                print(json.dumps(row), flush=True)
                run["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
                args.out.write_text(json.dumps({"runs": [*previous.get("runs", []), run], "results": results,
                                                "growth": growth(results)}, indent=2) + "\n")
    print_table(results)
    print_growth(growth(results))


if __name__ == "__main__":
    main()
