"""The hybrid's quality across seeds: the quality benchmark's protocol, the hybrid fitted with several
``random_state`` values (LightFM's initialisation and sampling, the tuning sample, the ranker's halves).

Run: ``.venv/bin/python benchmarks/hybrid_seeds.py [--datasets shop,online-retail] [--seeds 42,1,7] [--no-docs]``;
writes ``benchmarks/results/hybrid_seeds.json`` and the "## Hybrid across seeds" section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time

from quality import DATASETS, DOCS, ONLINE_RETAIL, ROOT, _replace_block, console

from segrec.evaluation import default_cutoff, evaluate_modes, fit_segments, temporal_split

RESULTS = ROOT / "benchmarks" / "results" / "hybrid_seeds.json"
SECTION = "## Hybrid across seeds"
K = 10
MODES = ("discover", "buy-again")


def run(name: str, seeds: list[int]) -> list[dict]:
    events, label, _ = DATASETS[name]()
    split = temporal_split(events, default_cutoff(events, months=2))
    segments = fit_segments(split.train, n_clusters=5)
    rows = []
    for spec in [{"name": "popularity"}] + [{"name": "hybrid", "params": {"random_state": s}} for s in seeds]:
        cpu = time.process_time()
        results = evaluate_modes(split.train, split.test, [spec], K, MODES, segments)
        model = {mode: r.to_dict()["models"][0] for mode, r in results.items()}
        rows.append({"dataset": name, "label": label, "model": spec["name"], "seed": spec.get("params", {}).get("random_state"),
                     "fit_seconds": model["discover"]["fit_seconds"], "cpu_seconds": time.process_time() - cpu,
                     "load_average": os.getloadavg()[0],
                     **{f"{mode} {m}@{K}": model[mode]["metrics"][f"{m}@{K}"] for mode in MODES for m in ("precision", "ndcg")}})
        console.print(rows[-1])
    return rows


def markdown(rows: list[dict], command: str) -> str:
    lines = [SECTION, "", f"Produced by `{command}` ({time.strftime('%Y-%m-%d')}).", "",
             "The quality benchmark's split, segments and metrics; each hybrid fitted with its own `random_state`.",
             "CPU s: the whole evaluation of that model (fit, both modes' scoring and AUC ranks) in this process;",
             "load: the machine's 1-minute load average just after (2 cores, shared).", ""]
    for name in dict.fromkeys(r["dataset"] for r in rows):
        sub = [r for r in rows if r["dataset"] == name]
        base = next(r for r in sub if r["model"] == "popularity")[f"discover precision@{K}"]
        lines += [f"**{sub[0]['label']}**", "",
                  f"| model | seed | discover P@{K} | x popularity | discover NDCG@{K} | buy-again P@{K} | fit s | CPU s | load |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in sub:
            p = r[f"discover precision@{K}"]
            lines.append(f"| {r['model']} | {r['seed'] if r['seed'] is not None else ''} | {p:.4f} | {p / base:.2f}x "
                         f"| {r[f'discover ndcg@{K}']:.4f} | {r[f'buy-again precision@{K}']:.4f} | {r['fit_seconds']:.1f} "
                         f"| {r['cpu_seconds']:.1f} | {r['load_average']:.1f} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="shop,online-retail")
    parser.add_argument("--seeds", default="42,1,7")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    names = [d for d in args.datasets.split(",") if d and (d != "online-retail" or ONLINE_RETAIL.exists())]
    seeds = [int(s) for s in args.seeds.split(",")]
    command = "python benchmarks/hybrid_seeds.py " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "python benchmarks/hybrid_seeds.py"
    rows = [row for name in names for row in run(name, seeds)]
    RESULTS.write_text(json.dumps({"command": command, "date": time.strftime("%Y-%m-%d"), "rows": rows}, indent=2) + "\n")
    if not args.no_docs:
        DOCS.write_text(_replace_block(DOCS.read_text(), SECTION, markdown(rows, command), ends=("\n## ",)).rstrip("\n") + "\n")
        console.print(f"wrote {RESULTS} and {DOCS}")


if __name__ == "__main__":
    main()
