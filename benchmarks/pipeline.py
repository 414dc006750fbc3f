"""``segrec run`` end to end on UCI Online Retail, as a user runs it, with each stage's seconds and peak memory.

Runs ``segrec run ../shared/data/online_retail.parquet --format online-retail --out DIR`` in a child process
(wall and CPU seconds of the whole command, imports included) and reads the stages ``run.json`` records.
Floor (issue 16): <= 60 s end to end. Skips, saying why, when the data file is absent. Writes
``benchmarks/results/pipeline.json``.

``--shop CUSTOMERSxPRODUCTS`` (e.g. ``14000x12000``) instead runs ``segrec run`` on a generated shop of that
shape (12 months, seed 42; made before the clock starts): a catalogue of 10k+ products, where the evaluation's
dense models cost most. It has no floor and writes ``benchmarks/results/pipeline_shop.json``.

Run: ``.venv/bin/python benchmarks/pipeline.py [--data PATH | --shop 14000x12000] [--keep DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "pipeline.json"
SHOP_RESULTS = RESULTS.with_name("pipeline_shop.json")
DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "online_retail.parquet"
FLOOR_SECONDS = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--shop", help="a generated shop of CUSTOMERSxPRODUCTS instead, e.g. 14000x12000")
    parser.add_argument("--keep", type=Path, help="write the run's outputs here (default: a temporary directory)")
    args = parser.parse_args()
    if args.shop is None and not args.data.exists():
        print(f"skipped: {args.data} not found (the shared Online Retail file)")
        return
    segrec = Path(sys.executable).with_name("segrec")
    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or Path(tmp) / "run"
        command = [str(segrec), "run", str(args.data), "--format", "online-retail", "--out", str(out)]
        if args.shop is not None:
            customers, products = (int(n) for n in args.shop.lower().split("x"))
            args.data = Path(tmp) / f"shop_{customers}x{products}.parquet"
            subprocess.run([str(segrec), "generate", "--out", str(args.data), "--customers", str(customers),
                            "--products", str(products)], check=True, stdout=subprocess.DEVNULL)
            command = [str(segrec), "run", str(args.data), "--out", str(out)]
        load = os.getloadavg()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - began
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        stages = json.loads((out / "run.json").read_text())["stages"]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    record = {
        "data": str(args.data), "seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1),
        "peak_rss_mb": round(after.ru_maxrss / 1024, 1), "stages": stages,
        "load_average_before": [round(x, 2) for x in load], "load_average_after": round(os.getloadavg()[0], 2),
        "cpu_count": os.cpu_count(),
        "floors": [] if args.shop else [
            {"figure": "segrec run, Online Retail, end to end", "floor": f"<= {FLOOR_SECONDS:.0f} s",
             "now": f"{seconds:.1f} s ({cpu:.1f} CPU s)", "met": seconds <= FLOOR_SECONDS, "load": round(load[0], 1)}],
    }
    floor = "" if args.shop else f"; floor {FLOOR_SECONDS:.0f} s"
    print(f"segrec run on {args.data.name}: {seconds:.1f} s wall, {cpu:.1f} CPU s, peak {record['peak_rss_mb']:,.0f}"
          f" MB (load {load[0]:.1f} -> {record['load_average_after']:.1f}{floor})")
    for name, figures in stages.items():
        print(f"  {name:<10}{figures['seconds']:>8.1f} s {figures['cpu_seconds']:>8.1f} CPU s "
              f"{figures['peak_rss_mb']:>8,.0f} MB peak")
    results = SHOP_RESULTS if args.shop else RESULTS
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {results}")


if __name__ == "__main__":
    main()
