"""Ingestion throughput and memory: ``ingest()`` on a generated 5,000,000-row CSV (seed-style column names).

Targets: >= 1,000,000 rows/s, and peak RSS <= 2.5x the in-memory size of the resulting frame. The CSV is made
with numpy (seeded) and written by pyarrow in a temporary directory; 0.1% of the rows carry a defect (bad price
text, missing user, bad date, negative quantity) so the reject path is timed too. Peak RSS is sampled in a thread
during ``ingest()`` only (the baseline before it is reported separately).

Run: ``.venv/bin/python benchmarks/ingest.py [--rows N] [--keep DIR]``; writes ``benchmarks/results/ingest.json``.
``--readers`` instead times the alternative CSV readers on the same file (``ingest_readers.json``). Like the
``segrec`` commands, it keeps freed memory for reuse (``--default-allocator``: glibc's defaults).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from rich.console import Console
from rich.table import Table

from segrec.cli._memory import keep_freed_memory
from segrec.data.read import ingest

RESULTS = Path(__file__).parent / "results" / "ingest.json"
DEFECT_RATE = 0.001


def make_csv(path: Path, rows: int, seed: int = 42) -> None:
    """A canonical-schema CSV with human column names, written in 1M-row slices to bound memory."""
    rng = np.random.default_rng(seed)
    categories = np.array(["Books", "Electronics", "Home", "Sports", "Toys", "Beauty", "Garden", "Food"])
    genders = np.array(["F", "M", "X"])
    cities = np.array(["London", "Paris", "Berlin", "Madrid", "Rome", "Lisbon", "Dublin", "Vienna"])
    start = np.datetime64("2023-01-01T00:00:00", "s")
    step = 1_000_000
    with pacsv.CSVWriter(path, _schema()) as writer:
        for lo in range(0, rows, step):
            n = min(step, rows - lo)
            users = rng.integers(1, 200_000, n)
            items = rng.integers(1, 20_000, n)
            price = np.round(rng.gamma(2.0, 15.0, n), 2)
            qty = rng.integers(1, 6, n)
            clicks = rng.integers(0, 60, n).astype(float)
            minutes = np.round(rng.gamma(2.0, 4.0, n), 1)
            dates = start + rng.integers(0, 365 * 24 * 3600, n).astype("timedelta64[s]")
            cols = {
                "User ID": np.char.add("U", users.astype(str)),
                "Product ID": np.char.add("P", items.astype(str)),
                "Product Name": np.char.add("Product ", items.astype(str)),
                "Category": categories[items % len(categories)],
                "Price": price.astype(str),
                "Purchase Date": np.datetime_as_string(dates, unit="s"),
                "Quantity": qty.astype(str),
                "Total Spending": np.round(price * qty, 2).astype(str),
                "Clicks": clicks.astype(str),
                "Time Spent": minutes.astype(str),
                "Abandoned Cart": np.where(rng.random(n) < 0.2, "True", "False"),
                "Engagement Score": np.round(clicks / np.maximum(minutes, 0.1), 3).astype(str),
                "Age": rng.integers(18, 80, n).astype(str),
                "Gender": genders[users % 3],
                "Location": cities[users % len(cities)],
                "Income": (rng.integers(15, 200, n) * 1000).astype(str),
            }
            _add_defects(cols, rng, n)
            writer.write_table(pa.table({k: pa.array(v, pa.string()) for k, v in cols.items()}))


def _schema() -> pa.Schema:
    names = ["User ID", "Product ID", "Product Name", "Category", "Price", "Purchase Date", "Quantity",
             "Total Spending", "Clicks", "Time Spent", "Abandoned Cart", "Engagement Score", "Age", "Gender",
             "Location", "Income"]
    return pa.schema([(n, pa.string()) for n in names])


def _add_defects(cols: dict[str, np.ndarray], rng: np.random.Generator, n: int) -> None:
    bad = np.flatnonzero(rng.random(n) < DEFECT_RATE)
    kinds = bad % 4
    cols["Price"] = cols["Price"].astype(object)
    cols["Price"][bad[kinds == 0]] = "n/a price"
    cols["User ID"] = cols["User ID"].astype(object)
    cols["User ID"][bad[kinds == 1]] = ""
    cols["Purchase Date"] = cols["Purchase Date"].astype(object)
    cols["Purchase Date"][bad[kinds == 2]] = "not a date"
    cols["Quantity"] = cols["Quantity"].astype(object)
    cols["Quantity"][bad[kinds == 3]] = "-1"


class PeakRSS:
    """Sample this process's resident set size every few milliseconds in a thread."""

    def __init__(self, every: float = 0.005) -> None:
        self.every, self.peak, self._stop = every, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def current() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.current())
            time.sleep(self.every)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.current())


def run(rows: int, keep: Path | None) -> dict[str, Any]:
    """Generate, ingest, measure; return the result record."""
    with tempfile.TemporaryDirectory() as tmp:
        path = (keep or Path(tmp)) / f"events_{rows}.csv"
        if not path.exists():  # in a child process, so its memory does not count here
            t0 = time.perf_counter()
            subprocess.run([sys.executable, __file__, "--rows", str(rows), "--generate", str(path)], check=True)
            print(f"generated {path} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.1f} s")
        baseline = PeakRSS.current()
        load = os.getloadavg()
        with PeakRSS() as rss:
            t0, cpu0 = time.perf_counter(), time.process_time()
            result = ingest(path)
            seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        frame_bytes = int(result.events.memory_usage(deep=True).sum())
        rows_per_s, over = result.report.rows_read / seconds, rss.peak / frame_bytes
        return {
            "floors": [
                {"figure": f"ingest, {result.report.rows_read:,}-row CSV, every check", "floor": ">= 1,000,000 rows/s",
                 "now": f"{rows_per_s:,.0f} rows/s ({cpu:.1f} CPU s)", "met": rows_per_s >= 1_000_000,
                 "load": round(load[0], 1)},
                {"figure": "ingest peak RSS / frame", "floor": "<= 2.5x", "now": f"{over:.2f}x", "met": over <= 2.5,
                 "load": round(load[0], 1)},
            ],
            "rows": result.report.rows_read,
            "rows_accepted": result.report.rows_accepted,
            "rows_rejected": result.report.rows_rejected,
            "csv_mb": round(path.stat().st_size / 1e6, 1),
            "seconds": round(seconds, 2),
            "rows_per_s": round(result.report.rows_read / seconds),
            "cpu_seconds": round(cpu, 2),
            "cpu_seconds_per_million_rows": round(cpu / result.report.rows_read * 1e6, 2),
            "rows_per_cpu_s": round(result.report.rows_read / cpu),
            "load_average_before": [round(x, 2) for x in load],
            "load_average_1min": round(os.getloadavg()[0], 2),
            "frame_mb": round(frame_bytes / 1e6, 1),
            "baseline_rss_mb": round(baseline / 1e6, 1),
            "peak_rss_mb": round(rss.peak / 1e6, 1),
            "peak_rss_over_frame": round(rss.peak / frame_bytes, 2),
            "peak_rss_growth_over_frame": round((rss.peak - baseline) / frame_bytes, 2),
            "targets": {"rows_per_s": 1_000_000, "peak_rss_over_frame": 2.5},
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        }


# Columns the benchmark never makes defective, so a typed parse of them cannot fail (see _add_defects).
_CLEAN_NUMBERS = ("Total Spending", "Clicks", "Time Spent", "Engagement Score", "Age", "Income")


def compare_readers(path: Path) -> list[dict[str, Any]]:
    """CPU and wall seconds of the readers segrec could use on ``path``: why pyarrow parses text.

    pyarrow with every column as text (what segrec does), pyarrow with the never-defective numeric columns
    typed, DuckDB's ``read_csv`` typed with ``store_rejects`` (bad lines kept aside) and with ``all_varchar``.
    """
    import duckdb

    names = _schema().names
    text = dict.fromkeys(names, pa.string())
    typed = {**text, **dict.fromkeys(_CLEAN_NUMBERS, pa.float64()), "Abandoned Cart": pa.bool_()}
    types = {n: "VARCHAR" for n in names} | {"Price": "DOUBLE", "Purchase Date": "TIMESTAMP", "Quantity": "BIGINT",
                                                "Abandoned Cart": "BOOLEAN"} | dict.fromkeys(_CLEAN_NUMBERS, "DOUBLE")
    columns = "{" + ", ".join(f"'{n}': '{t}'" for n, t in types.items()) + "}"
    where = str(path).replace("'", "''")

    def duck(sql: str) -> Any:
        with duckdb.connect() as con:
            con.execute("SET enable_progress_bar = false")
            return con.sql(sql).to_arrow_table()

    readers = {
        "pyarrow, text (segrec)": lambda: pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=text)),
        "pyarrow, clean numbers typed": lambda: pacsv.read_csv(
            path, convert_options=pacsv.ConvertOptions(column_types=typed)),
        "duckdb read_csv typed, store_rejects": lambda: duck(
            f"SELECT * FROM read_csv('{where}', header = true, columns = {columns}, store_rejects = true)"),
        "duckdb read_csv all_varchar": lambda: duck(f"SELECT * FROM read_csv('{where}', header = true, all_varchar = true)"),
    }
    out = []
    for name, read in readers.items():
        t0, cpu0 = time.perf_counter(), time.process_time()
        rows = read().num_rows
        out.append({"reader": name, "rows": rows, "seconds": round(time.perf_counter() - t0, 2),
                    "cpu_seconds": round(time.process_time() - cpu0, 2), "load_average_1min": round(os.getloadavg()[0], 2)})
    return out


def _summary(record: dict[str, Any]) -> Table:
    """One row: the figures the targets are about, each marked against its target."""
    targets = record["targets"]
    fast = record["rows_per_s"] >= targets["rows_per_s"]
    lean = record["peak_rss_over_frame"] <= targets["peak_rss_over_frame"]
    title = (
        f"segrec ingest ({record['machine']['cpus']} CPUs, load {record['load_average_1min']}); targets: "
        f">= {targets['rows_per_s']:,} rows/s, peak RSS <= {targets['peak_rss_over_frame']}x frame"
    )
    table = Table(title=title)
    for name in ("rows", "wall s", "rows/s", "CPU s", "CPU s / M rows", "peak RSS MB", "frame MB", "RSS / frame"):
        table.add_column(name, justify="right")
    table.add_row(
        f"{record['rows']:,}",
        f"{record['seconds']:.2f}",
        f"[{'green' if fast else 'red'}]{record['rows_per_s']:,}[/]",
        f"{record['cpu_seconds']:.2f}",
        f"{record['cpu_seconds_per_million_rows']:.2f}",
        f"{record['peak_rss_mb']:,.0f}",
        f"{record['frame_mb']:,.0f}",
        f"[{'green' if lean else 'red'}]{record['peak_rss_over_frame']:.2f}x[/]",
    )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--keep", type=Path, help="directory to keep (and reuse) the generated CSV in")
    parser.add_argument("--readers", action="store_true",
                        help="also time the alternative CSV readers on the same file (ingest_readers.json)")
    parser.add_argument("--generate", type=Path, help=argparse.SUPPRESS)  # internal: write the CSV and exit
    parser.add_argument("--default-allocator", action="store_true",
                        help="leave glibc's malloc as it is (the segrec CLI keeps freed memory for reuse; so does this)")
    args = parser.parse_args()
    if not args.default_allocator:
        keep_freed_memory()  # as the segrec CLI does for validate, run, train...
    if args.generate:
        make_csv(args.generate, args.rows)
        return
    if args.readers:
        with tempfile.TemporaryDirectory() as tmp:
            path = (args.keep or Path(tmp)) / f"events_{args.rows}.csv"
            if not path.exists():
                subprocess.run([sys.executable, __file__, "--rows", str(args.rows), "--generate", str(path)], check=True)
            readers = compare_readers(path)
        table = Table(title=f"CSV readers on {args.rows:,} rows (parse only, no checks)")
        for column in ("reader", "rows", "seconds", "cpu_seconds", "load_average_1min"):
            table.add_column(column, justify="left" if column == "reader" else "right")
        for row in readers:
            table.add_row(*[f"{v:,}" if isinstance(v, int) else str(v) for v in row.values()])
        Console(width=max(Console().width, 110)).print(table)
        (RESULTS.parent / "ingest_readers.json").write_text(json.dumps(readers, indent=2) + "\n")
        return
    record = run(args.rows, args.keep)
    console = Console(width=max(Console().width, 110))
    console.print(_summary(record))
    details = Table(title="details")
    details.add_column("measure")
    details.add_column("value", justify="right")
    for key, value in record.items():
        if not isinstance(value, dict | list):
            details.add_row(key, f"{value:,}" if isinstance(value, int) else str(value))
    console.print(details)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
