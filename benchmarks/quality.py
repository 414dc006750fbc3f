"""Recommendation quality as a matrix: every model on every data set and split, both modes, in one run.

A default model is only as good as its worst shop: one tuned to one protocol can win there and collapse on the
next (issue 12). So every cell below runs every baseline that ``segrec.evaluation.evaluate_modes`` fits by default
next to the hybrid, in discover and buy-again mode, at k = 10, and the summary asks of each cell and mode whether
the hybrid reaches 99% of the best baseline's P@10.

Cells (``DATA:SPLIT``):

- ``online-retail:{temporal,random,last-n}``: UCI Online Retail through segrec's ``online-retail`` adapter; temporal
  cut at :func:`segrec.evaluation.default_cutoff` (2011-11-01), a per-user random hold-out of 20% of each customer's
  products (seed 42), each customer's last order (n = 1). Skipped, with a note, when ``../shared/data`` lacks it.
- ``shop:{temporal,random}``: ``segrec.data.generate.generate_shop`` (5,000 customers, 1,000 products, 12 months,
  seed 42), cut 2024-11-01 / the same random hold-out.
- ``online-retail-flat:random``, ``shop-flat:random``: the same purchase lines as a shop with only user, product
  and quantity has them, read through segrec's ingestion with one date for every line (the data's last day):
  names, descriptions, categories, prices and orders are gone, ingestion fills its placeholders. With equal dates
  only a random split means anything (a temporal cut or "last order" has nothing to cut on), so flat cells use it.

Segments for segment popularity and the hybrid: :func:`segrec.evaluation.fit_segments` (5 clusters) on each cell's
training events only. Floors checked (issue 12): in every cell and mode the hybrid's P@10 >= 0.99 x the best
baseline's; discover P@10 of Online Retail random >= 0.19 and temporal >= 0.118; the generated shop's temporal
discover P@10 >= 2x popularity's; Online Retail hybrid fit <= 20 s. The shop's temporal cell also reports segment
popularity by each customer's true persona and the hybrid's MMR trade-off (one more hybrid fit, ~10 s).

Run: ``.venv/bin/python benchmarks/quality.py [--cells online-retail:random,shop] [--models a,b] [--no-docs]``
(``--cells`` takes ``DATA:SPLIT`` or a whole ``DATA``). Writes ``benchmarks/results/quality.json`` (cells that did
not run keep their previous entry, each cell with its own command, date and commit) and, from it, the
"## Recommendation quality" section of ``docs/benchmarks.md``. The whole matrix took 23 minutes on 2 cores shared at
load average ~9 (per-cell seconds are printed and recorded with the load).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shlex
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from segrec.columns import Columns
from segrec.data.read import ingest
from segrec.evaluation import (
    EvaluationResult,
    ModelResult,
    Split,
    default_cutoff,
    evaluate_modes,
    fit_segments,
    intra_list_diversity,
    item_text_vectors,
    last_n_split,
    markdown_table,
    random_split,
    rich_table,
    temporal_split,
    topk_metrics,
)
from segrec.recommend import Dataset, HybridRecommender
from segrec.recommend.hybrid.tuning import describe_tuning
from segrec.recommend.registry import MODES, models_for_mode

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "quality.json"
DOCS = ROOT / "docs" / "benchmarks.md"
ONLINE_RETAIL = ROOT.parent / "shared" / "data" / "online_retail.parquet"
SECTION = "## Recommendation quality"
K = 10
P = f"precision@{K}"
MMR_LAMBDAS = (1.0, 0.95, 0.9, 0.8)
TEST_FRACTION, SEED, LAST_N = 0.2, 42, 1
#: The hybrid passes a cell when its P@10 is at least this share of the best baseline's (issue 12: at most 1% below).
RELATIVE_FLOOR = 0.99
#: Discover-mode floors of issue 12, (cell -> (kind, value)): "at least" a P@10, or "x popularity".
ABSOLUTE_FLOORS = {"online-retail:random": ("at least", 0.19), "online-retail:temporal": ("at least", 0.118),
                   "shop:temporal": ("x popularity", 2.0)}
FIT_FLOOR_SECONDS = {"online-retail": 20.0}  # hybrid fit time, Online Retail cells (flat included)
TUNING_MODES = {"discover": "discover", "buy-again": "buy_again"}  # evaluation mode -> key of the hybrid's tuning_
console = Console(width=200)


# ---------------------------------------------------------------- data sets

def shop_events() -> tuple[pd.DataFrame, str, pd.Series]:
    """Events, label and each customer's true persona."""
    from segrec.data.generate import generate_shop

    shop = generate_shop(customers=5000, products=1000, months=12, seed=42)
    persona = shop.truth.set_index(Columns.User)[Columns.Persona]
    return shop.events, "generated shop (5,000 customers, 1,000 products, 12 months, seed 42)", persona


def online_retail_events() -> tuple[pd.DataFrame, str, None]:
    return ingest(ONLINE_RETAIL, format="online-retail").events, "UCI Online Retail (2010-12-01 to 2011-12-09)", None


def flatten(events: pd.DataFrame) -> pd.DataFrame:
    """The purchase lines as a shop with only user, product and quantity has them, read through ingestion.

    One date for every line (the data's last day; ingestion requires a date); names, descriptions, categories,
    prices, orders and demographics are dropped, so ingestion fills its placeholders (name = product id,
    category "unknown"). Lines are kept, not summed per (user, product): a line count is what such a log holds.
    """
    day = str(pd.Timestamp(events[Columns.Date].max()).date())
    return ingest(events[[Columns.User, Columns.Item, Columns.Quantity]].assign(**{Columns.Date: day})).events


DATASETS: dict[str, Callable[[], tuple[pd.DataFrame, str, pd.Series | None]]] = {
    "online-retail": online_retail_events, "shop": shop_events}
SPLITS: dict[str, Callable[[pd.DataFrame], Split]] = {
    "temporal": lambda events: temporal_split(events, default_cutoff(events)),
    "random": lambda events: random_split(events, test_fraction=TEST_FRACTION, seed=SEED),
    "last-n": lambda events: last_n_split(events, n=LAST_N),
}
CELLS = ("online-retail:temporal", "online-retail:random", "online-retail:last-n", "online-retail-flat:random",
         "shop:temporal", "shop:random", "shop-flat:random")


def base_data(cell: str) -> str:
    return cell.split(":")[0].removesuffix("-flat")


# ---------------------------------------------------------------- running a cell

def run_cell(cell: str, loaded: dict[str, Any], models: list[str] | None, progress: Progress) -> dict[str, Any]:
    """Split, segment, evaluate every model in both modes; the cell's JSON entry (tables printed on the way)."""
    data, split_name = cell.split(":")
    events, label, persona = loaded[base_data(cell)]
    flat = data.endswith("-flat")
    began = time.perf_counter()
    if flat:
        events = flatten(events)
        label = f"{label}, flat (user, product, quantity only; one date)"
    split = SPLITS[split_name](events)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        segments = fit_segments(split.train, n_clusters=5)
    notes = sorted({str(w.message).splitlines()[0] for w in caught})
    n_fits = len(models) if models else len({n for mode in MODES for n in models_for_mode(mode)})
    task = progress.add_task(f"{cell}: fitting", total=n_fits)

    def callback(stage: str, name: str) -> None:
        if stage == "done":
            progress.advance(task)
        else:
            progress.update(task, description=f"{cell}: {stage} {name}")

    results = evaluate_modes(split.train, split.test, models, K, MODES, segments,
                             split_description=split.description, callback=callback)
    evaluated = time.perf_counter() - began
    progress.update(task, description=f"{cell}: evaluated in {evaluated:.0f} s")
    for mode, result in results.items():
        progress.console.print(rich_table(result, title=f"{cell} ({label}): {mode}, k={K}"))
    hybrid = next((m for m in results["discover"].models if m.name == "hybrid"), None)
    entry: dict[str, Any] = {
        "data": data, "split": split_name, "label": label, "evaluation_seconds": evaluated, "flat": flat,
        "segments": {"n_segments": int(segments.nunique()), "warnings": notes},
        "modes": {mode: result.to_dict() for mode, result in results.items()},
        "hybrid": None if hybrid is None else {"fit_seconds": hybrid.fit_seconds,
                                               "tuning": getattr(hybrid, "tuning", None)},
    }
    if persona is not None and not flat:
        entry["persona_oracle"] = persona_oracle(split, persona, progress.console)
    if cell == "shop:temporal" and (models is None or "hybrid" in models):
        entry["mmr"] = mmr_tradeoff(split, segments, progress.console)
    entry["seconds"] = time.perf_counter() - began
    progress.console.print(f"[bold]{cell}[/]: {entry['seconds']:.1f} s in all, of which {evaluated:.1f} s split, "
                           "segments and every model in both modes"
                           + (f" (hybrid fit {hybrid.fit_seconds:.1f} s)" if hybrid else ""))
    return entry


def persona_oracle(split: Split, persona: pd.Series, out: Console) -> dict[str, dict[str, float | None]]:
    """Segment popularity with each training customer's true persona as the segment: the best a model can do
    that knows the persona and nothing about the individual (metrics per mode)."""
    users = pd.Index(split.train[Columns.User].unique())
    segments = pd.Series(pd.Categorical(persona.loc[users]).codes, index=users.astype(str), name=Columns.Segment)
    results = evaluate_modes(split.train, split.test, ["segment_popularity"], K, MODES, segments)
    oracle = {mode: result.models[0].metrics for mode, result in results.items()}
    out.print("segment popularity by true persona, P@10: " + ", ".join(f"{m} {v[P]:.4f}" for m, v in oracle.items()))
    return oracle


def mmr_tradeoff(split: Split, segments: pd.Series, out: Console) -> list[dict[str, float | None]]:
    """The hybrid's discover P@10, NDCG@10 and intra-list diversity for each MMR lambda (one fit, re-ranked)."""
    from segrec.evaluation.runner import _truth  # the harness's own test matrix: the same users and items

    dataset = Dataset.from_events(split.train, segments=segments)
    truth = _truth(dataset, split.test, "discover")
    # validated like the evaluation's own fit (which passes the split's protocol), on the same lines
    model = HybridRecommender(validation=split.description["method"]).fit(dataset, events=split.train)
    vectors = item_text_vectors(dataset.catalogue)
    rows = []
    for lam in MMR_LAMBDAS:
        model.mmr_lambda = lam
        top, _ = model.recommend_idx(truth.users, K)
        metrics = topk_metrics(top, truth.relevant)
        diversity = intra_list_diversity(top, vectors)
        rows.append({"mmr_lambda": lam, P: float(np.mean(metrics[P])), f"ndcg@{K}": float(np.mean(metrics[f"ndcg@{K}"])),
                     "diversity": None if np.isnan(diversity).all() else float(np.nanmean(diversity))})
    out.print(f"hybrid MMR trade-off (discover): {rows}")
    return rows


# ---------------------------------------------------------------- the summary

def summary_rows(cell: str, entry: dict[str, Any]) -> list[dict[str, Any]]:
    """Per mode: the hybrid against the best baseline of the cell, and the floors that apply."""
    rows = []
    for mode, result in entry["modes"].items():
        scores = {m["name"]: m["metrics"].get(P) for m in result["models"]}
        hybrid = scores.pop("hybrid", None)
        best = max((n for n, v in scores.items() if v is not None), key=lambda n: scores[n], default=None)
        best_p = scores.get(best) if best else None
        ratio = hybrid / best_p if hybrid is not None and best_p else None
        row = {"cell": cell, "mode": mode, "hybrid": hybrid, "best_baseline": best, "best_baseline_p": best_p,
               "ratio": ratio, "relative_floor_met": None if ratio is None else bool(ratio >= RELATIVE_FLOOR),
               "absolute_floor": None, "absolute_floor_met": None,
               "hybrid_fit_seconds": (entry.get("hybrid") or {}).get("fit_seconds"), "fit_floor_met": None,
               "cell_seconds": entry["seconds"]}
        kind, value = ABSOLUTE_FLOORS.get(cell, (None, None))
        if kind and mode == "discover" and hybrid is not None:
            if kind == "at least":
                row["absolute_floor"], row["absolute_floor_met"] = f">= {value}", bool(hybrid >= value)
            elif scores.get("popularity"):
                row["absolute_floor"] = f">= {value:g}x popularity ({hybrid / scores['popularity']:.2f}x)"
                row["absolute_floor_met"] = bool(hybrid >= value * scores["popularity"])
        limit = FIT_FLOOR_SECONDS.get(base_data(cell))
        if limit is not None and row["hybrid_fit_seconds"] is not None:
            row["fit_floor_met"] = bool(row["hybrid_fit_seconds"] <= limit)
        rows.append(row)
    return rows


SUMMARY_HEADERS = ["cell", "mode", f"hybrid P@{K}", "best baseline", f"its P@{K}", "hybrid / best",
                   f">= {RELATIVE_FLOOR:g}x best", "absolute floor (discover)", "hybrid fit s", "cell s"]


def summary_cells(row: dict[str, Any]) -> list[str]:
    def num(value: float | None, digits: int = 4) -> str:
        return "n/a" if value is None else f"{value:.{digits}f}"

    def met(flag: bool | None) -> str:
        return "n/a" if flag is None else ("yes" if flag else "NO")

    absolute = "–" if row["absolute_floor"] is None else f"{row['absolute_floor']}: {met(row['absolute_floor_met'])}"
    fit = num(row["hybrid_fit_seconds"], 1)
    if row["fit_floor_met"] is not None:
        fit += f" ({'<=' if row['fit_floor_met'] else '>'} {FIT_FLOOR_SECONDS[base_data(row['cell'])]:g} s)"
    return [row["cell"], row["mode"], num(row["hybrid"]), row["best_baseline"] or "n/a", num(row["best_baseline_p"]),
            num(row["ratio"], 3), met(row["relative_floor_met"]), absolute, fit, f"{row['cell_seconds']:.0f}"]


def _failed(cell: str) -> bool:
    """A summary cell that reports a missed floor (shown in bold)."""
    return "NO" in cell.replace(":", " ").split() or "(> " in cell


def summary_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title=f"hybrid against the best baseline of each cell, P@{K}", title_justify="left")
    for i, header in enumerate(SUMMARY_HEADERS):
        table.add_column(header, justify="left" if i < 2 or i == 3 else "right")
    for row in rows:
        cells = summary_cells(row)
        table.add_row(*(f"[bold red]{c}[/]" if _failed(c) else c for c in cells))
    return table


def summary_markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(SUMMARY_HEADERS) + " |", "|" + "|".join(["---"] * 2 + ["---:", "---"] + ["---:"] * 6) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(f"**{c}**" if _failed(c) else c for c in summary_cells(row)) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------- JSON and docs

def provenance(argv: list[str]) -> dict[str, Any]:
    commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True,
                            text=True, check=False).stdout.strip() or "unknown"
    return {"command": "python benchmarks/quality.py" + (" " + shlex.join(argv) if argv else ""),
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                       f"Python {platform.python_version()}",
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": commit,
            "load_average": [round(x, 2) for x in os.getloadavg()]}


def write_results(ran: dict[str, dict[str, Any]], run: dict[str, Any], skipped: dict[str, str]) -> dict[str, Any]:
    """Merge this run's cells into quality.json; cells that did not run keep their previous entry."""
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    cells = {**previous.get("cells", {}), **{c: {"run": run, **e} for c, e in ran.items()}}
    cells = {c: cells[c] for c in CELLS if c in cells}
    report = {"latest_run": run, "k": K, "skipped": skipped, "cells": cells,
              "summary": [row for c, e in cells.items() for row in summary_rows(c, e)]}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"wrote {RESULTS}")
    return report


def write_docs(report: dict[str, Any]) -> None:
    """Replace the "Recommendation quality" section of docs/benchmarks.md with the matrix in ``report``."""
    runs = list({json.dumps(e["run"], sort_keys=True): e["run"] for e in report["cells"].values()}.values())
    body = [SECTION, ""]
    for run in runs:
        which = [c for c, e in report["cells"].items() if e["run"] == run]
        body.append(f"Produced by `{run['command']}` on {run['machine']} ({run['date']}, commit {run['commit']}, "
                    f"load average {' / '.join(map(str, run['load_average']))} at the start"
                    + (f", {' / '.join(map(str, run['load_average_end']))} at the end" if run.get("load_average_end") else "")
                    + ")"
                    + ("" if len(runs) == 1 else f": cells {', '.join(which)}") + ".")
    body += ["", *INTRODUCTION, "", "### Summary", "", summary_markdown(report["summary"]), "", *floor_notes(report)]
    for cell, entry in report["cells"].items():
        body += cell_section(cell, entry)
    if any(base_data(c) == "online-retail" for c in report["cells"]):
        body += [ONLINE_RETAIL_CREDIT, ""]
    text = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n\n"
    DOCS.write_text(_replace_block(text, SECTION, "\n".join(body), ends=("\n## ",)).rstrip("\n") + "\n")
    console.print(f"wrote {DOCS}")


INTRODUCTION = [
    "An evaluation matrix (issue 12): every model that `segrec.evaluation.evaluate_modes` fits by default, on",
    "every data set and split below, in both modes, in one run. Test rows whose customer or product is unknown",
    "in training are dropped (counted per cell); k = 10; metrics are averaged over users with at least one test",
    "item. **discover**: products bought in training are excluded from the ranking and from the user's test",
    "items; **buy-again**: nothing is excluded. Precision is hits / k (LightFM's definition, not implicit's",
    "hits / min(k, #test)); NDCG has binary gains; AUC is LightFM's `auc_score`; novelty is the mean",
    "self-information in bits; diversity is n/a (JSON null) where products have no text. Bold: best of the column.",
    "Splits: **temporal** at `default_cutoff` (the start of the last two months); **random** holds out 20% of each",
    "customer's distinct products (seed 42), so a customer's test products are never their training products",
    "and buy-again mode there can only be won by recommending something new; **last-n** holds out each",
    "customer's last order. **flat**: the same purchase lines with only user, product and quantity, read through",
    "segrec's ingestion with one date for all (so only the random split applies, and segments see only",
    "quantities and line counts). Segments: K-Means (5) on each cell's training customers. Every model runs",
    "with its registry defaults, the same in every cell; the hybrid tunes itself on a validation slice of its own",
    "training data, drawn the way the cell's test set was (the evaluation passes the split's protocol; each cell",
    "names it), and nothing is chosen on test data.",
    "The in-sample figures of the original project's protocol are left out of the matrix",
    "(`segrec evaluate --in-sample` gives them).",
]


def floor_notes(report: dict[str, Any]) -> list[str]:
    rows = [r for r in report["summary"] if r["relative_floor_met"] is not None]
    failed = [f"{r['cell']} {r['mode']}" for r in rows if not r["relative_floor_met"]]
    lines = [f"Floors (issue 12): in every cell and mode hybrid P@10 >= {RELATIVE_FLOOR:g}x the best baseline's; in "
             "discover mode Online Retail random >= 0.19, temporal >= 0.118 and the generated shop's temporal >= 2x "
             f"popularity; Online Retail hybrid fit <= {FIT_FLOOR_SECONDS['online-retail']:g} s (on a shared host "
             "the fit time moves with the load). "
             + (f"The relative floor is met in {len(rows) - len(failed)} of {len(rows)} cell-modes"
                + (f"; not in: {', '.join(failed)}." if failed else ".") if rows else "")]
    if report["skipped"]:
        lines.append("Skipped: " + "; ".join(f"{c} ({why})" for c, why in report["skipped"].items()) + ".")
    return [*lines, ""]


def cell_section(cell: str, entry: dict[str, Any]) -> list[str]:
    """The markdown of one cell: split, tables per mode, the hybrid's tuning and the cell's extras."""
    split = entry["modes"]["discover"]["split"]
    params = ", ".join(f"{k} {split[k]}" for k in ("cutoff", "test_fraction", "seed", "n") if k in split)
    lines = [f"### {cell}: {entry['label']}", "",
             f"Split {split['method']} ({params}): {split['train_rows']:,} training rows, {split['test_rows']:,} test "
             f"rows ({split['dropped_cold_rows']:,} cold rows dropped); evaluated users: "
             + ", ".join(f"{m} {n:,}" for m, n in split["evaluated_users"].items())
             + f"; {entry['segments']['n_segments']} segment(s). Split, segments and all models in both modes "
             f"{entry['evaluation_seconds']:.1f} s ({entry['seconds']:.1f} s with this cell's extras)."]
    if entry["segments"]["warnings"]:
        lines.append("Segmentation warned: " + "; ".join(entry["segments"]["warnings"]) + ".")
    if split.get("validation"):
        lines.append(f"The hybrid's validation: {split['validation'].get('protocol')} "
                     f"({split['validation'].get('reason')}).")
    tuning = (entry.get("hybrid") or {}).get("tuning")
    if tuning:  # the full validation table is in quality.json
        why = (split.get("validation") or {}).get("reason")
        lines += [f"The hybrid, {mode}: {describe_tuning(tuning, key, why)}" for mode, key in TUNING_MODES.items()]
    lines.append("")
    for mode, result in entry["modes"].items():
        lines += [f"#### {mode}", "", markdown_table(result_from_dict(result)), ""]
    if entry.get("persona_oracle"):
        oracle = {m: v[P] for m, v in entry["persona_oracle"].items()}
        lines += [PERSONAS + f" reaches P@{K} {oracle['discover']:.4f} in discover mode and {oracle['buy-again']:.4f} "
                  "in buy-again.", ""]
    if entry.get("mmr"):
        lines += [f"Hybrid, MMR re-ranking (discover; default lambda {HybridRecommender().mmr_lambda}; a fit of its "
                  "own, and LightFM's multi-threaded training moves P@10 by ~0.001 between fits):", "",
                  f"| lambda | P@{K} | NDCG@{K} | diversity |", "|---:|---:|---:|---:|",
                  *(f"| {r['mmr_lambda']} | {r[P]:.4f} | {r[f'ndcg@{K}']:.4f} | "
                    + ("n/a" if r["diversity"] is None else f"{r['diversity']:.4f}") + " |" for r in entry["mmr"]), ""]
    if cell == "online-retail:temporal":
        lines += anchor_lines(entry)
    return lines


PERSONAS = ("Customers of the generated shop come from five latent personas and, within a persona, have a taste "
            "of their own (a category mix around the persona's, a favourite among six product styles named in the "
            "descriptions; `segrec.data.generate.generate_shop`). Segment popularity by each customer's true persona (the "
            "best a model can do that knows the persona and nothing about the individual)")


def result_from_dict(result: dict[str, Any]) -> EvaluationResult:
    """An :class:`EvaluationResult` back from its JSON, for :func:`markdown_table` (unknown keys ignored)."""
    known = {f.name for f in dataclasses.fields(ModelResult)}
    models = [ModelResult(**{k: v for k, v in m.items() if k in known}) for m in result["models"]]
    return EvaluationResult(result["split"], result["k"], result["mode"], models)


def _replace_block(text: str, heading: str, block: str, ends: tuple[str, ...]) -> str:
    """``text`` with the block starting at ``heading`` (up to the first of ``ends``) replaced; appended if absent."""
    start = text.find(heading)
    if start < 0:
        return text.rstrip("\n") + "\n\n" + block
    found = [i for i in (text.find(end, start + len(heading)) for end in ends) if i >= 0]
    return text[:start] + block + ("\n" + text[min(found) + 1:] if found else "")


#: P@10 measured on this machine before (../shared/NOTES.md): temporal 2011-11-01, training items excluded.
ANCHORS = {"popularity": 0.033, "lightfm_original": 0.052, "als": 0.065, "ease": 0.079}


def anchor_lines(entry: dict[str, Any]) -> list[str]:
    """Our P@10 next to the anchors, also rescaled to the anchors' protocol.

    The anchors kept repeat purchases among the test items and so averaged over every user with a test row
    (buy-again's user count); such a product can never be a discover hit, so those users add zeros. Since
    precision divides by k, rescaling by the ratio of user counts reproduces that protocol exactly.
    """
    users = entry["modes"]["discover"]["split"]["evaluated_users"]
    ratio = users["discover"] / users["buy-again"]
    lines = ["Against the anchors (P@10, discover):", "", "| model | ours | ours, anchors' protocol | anchor |",
             "|---|---:|---:|---:|"]
    for model in entry["modes"]["discover"]["models"]:
        if model["name"] in ANCHORS:
            p = model["metrics"][P]
            lines.append(f"| {model['name']} | {p:.4f} | {p * ratio:.4f} | {ANCHORS[model['name']]:.3f} |")
    return [*lines, "", f"The anchors' protocol keeps repeat purchases among the test items, so it averages over "
            f"{users['buy-again']:,} users instead of {users['discover']:,}; rescaled P@10 = ours x "
            f"{users['discover']:,} / {users['buy-again']:,}.", ""]


ONLINE_RETAIL_CREDIT = ("Data: UCI Machine Learning Repository, \"Online Retail\" (Daqing Chen, 2015), "
                        "doi:10.24432/C5BW33, licensed CC BY 4.0.")


# ---------------------------------------------------------------- command line

def parse_cells(spec: str | None, parser: argparse.ArgumentParser) -> list[str]:
    """``DATA:SPLIT`` or ``DATA`` entries, in matrix order."""
    if not spec:
        return list(CELLS)
    wanted = set()
    for item in (s.strip() for s in spec.split(",") if s.strip()):
        match = [c for c in CELLS if c == item or c.split(":")[0] == item]
        if not match:
            parser.error(f"unknown cell {item!r}; choose among {', '.join(CELLS)} (or a data set alone)")
        wanted.update(match)
    return [c for c in CELLS if c in wanted]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default=None, help=f"comma-separated DATA:SPLIT or DATA; default: all of {', '.join(CELLS)}")
    parser.add_argument("--models", default=None, help="comma-separated; default: every model evaluate_modes fits")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    args = parser.parse_args()
    cells = parse_cells(args.cells, parser)
    models = [m for m in args.models.split(",") if m] if args.models else None
    skipped = {}
    if not ONLINE_RETAIL.exists():
        for cell in [c for c in cells if base_data(c) == "online-retail"]:
            skipped[cell] = f"{ONLINE_RETAIL} not found"
            cells.remove(cell)
        if skipped:
            console.print(f"[yellow]skipping {', '.join(skipped)}: {ONLINE_RETAIL} not found[/]")
    run = provenance(sys.argv[1:])
    began = time.perf_counter()
    ran: dict[str, dict[str, Any]] = {}
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        overall = progress.add_task("matrix", total=len(cells))
        loaded: dict[str, Any] = {}
        for cell in cells:
            data = base_data(cell)
            if data not in loaded:
                progress.update(overall, description=f"matrix: loading {data}")
                loaded[data] = DATASETS[data]()
            progress.update(overall, description=f"matrix: {cell}")
            ran[cell] = run_cell(cell, loaded, models, progress)
            progress.advance(overall)
    run["seconds"] = time.perf_counter() - began
    run["load_average_end"] = [round(x, 2) for x in os.getloadavg()]  # fit times move with the host's load
    report = write_results(ran, run, skipped)
    console.print(summary_table([r for r in report["summary"] if r["cell"] in ran]))
    console.print("per-cell seconds: " + ", ".join(f"{c} {e['seconds']:.0f}" for c, e in ran.items())
                  + f"; total {run['seconds']:.0f} s (load average at start {run['load_average']})")
    if not args.no_docs:
        write_docs(report)


if __name__ == "__main__":
    main()
