"""Recommendation quality: every model on the generated shop and on UCI Online Retail, both modes.

Protocol: temporal split at the start of the last two months (2024-11-01 for the generated shop,
2011-11-01 for Online Retail), k = 10, models fitted once and scored in "discover" mode (training purchases
excluded from ranking and from test items) and in "buy-again" mode (nothing excluded); K-Means segments
(5, training customers only) for segment popularity and the hybrid; the original project's in-sample
P@5 / AUC next to the held-out figures. On the generated shop, also segment popularity by each customer's true
persona (the generator's latent class). Online Retail is skipped when ``../shared/data`` is absent.

Run: ``.venv/bin/python benchmarks/quality.py [--datasets shop,online-retail] [--models a,b] [--no-docs]``;
writes ``benchmarks/results/quality.json`` and the "## Recommendation quality" section of ``docs/benchmarks.md``.
With a subset of ``--datasets``, the other data sets' results and subsections are kept as they were.
Target: all models on Online Retail in both modes in <= 3 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console

from segrec.columns import Columns
from segrec.evaluation import (
    default_cutoff,
    evaluate_modes,
    fit_segments,
    intra_list_diversity,
    item_text_vectors,
    markdown_table,
    rich_table,
    temporal_split,
    topk_metrics,
)
from segrec.evaluation.runner import _truth
from segrec.recommend import Dataset, HybridRecommender
from segrec.recommend.registry import MODES

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "quality.json"
DOCS = ROOT / "docs" / "benchmarks.md"
ONLINE_RETAIL = ROOT.parent / "shared" / "data" / "online_retail.parquet"
SECTION = "## Recommendation quality"
K = 10
MMR_LAMBDAS = (1.0, 0.95, 0.9, 0.8)
console = Console(width=180)


def shop_events() -> tuple[pd.DataFrame, str, pd.Series]:
    """Events, label and each customer's true persona."""
    from segrec.datasets import generate_shop

    shop = generate_shop(customers=5000, products=1000, months=12, seed=42)
    persona = shop.truth.set_index(Columns.User)[Columns.Persona]
    return shop.events, "generated shop (5,000 customers, 1,000 products, 12 months, seed 42)", persona


def online_retail_events() -> tuple[pd.DataFrame, str, None]:
    """Through segrec's own adapter when present, else the documented filter in pandas."""
    try:
        from segrec.io import ingest

        events = ingest(ONLINE_RETAIL, format="online-retail").events
    except (ImportError, KeyError) as exc:
        console.print(f"[yellow]segrec's online-retail adapter is unavailable ({exc}); using the pandas filter[/]")
        raw = pd.read_parquet(ONLINE_RETAIL)
        keep = (raw["CustomerID"].notna() & ~raw["InvoiceNo"].str.startswith("C") & (raw["Quantity"] > 0)
                & (raw["UnitPrice"] > 0))
        raw = raw[keep]
        events = pd.DataFrame({
            Columns.User: raw["CustomerID"].astype(int).astype(str), Columns.Item: raw["StockCode"],
            Columns.ItemName: raw["Description"], Columns.Date: raw["InvoiceDate"], Columns.Order: raw["InvoiceNo"],
            Columns.Quantity: raw["Quantity"], Columns.Price: raw["UnitPrice"],
        })
    return events, "UCI Online Retail (2010-12-01 to 2011-12-09)", None


DATASETS = {"shop": shop_events, "online-retail": online_retail_events}


def run_one(name: str, models: list[str] | None) -> dict:
    began = time.perf_counter()
    events, label, persona = DATASETS[name]()
    loaded = time.perf_counter()
    split = temporal_split(events, default_cutoff(events, months=2))
    segments = fit_segments(split.train, n_clusters=5)
    done: list[str] = []
    results = evaluate_modes(split.train, split.test, models, K, MODES, segments, split_description=split.description,
                             in_sample=True, callback=lambda stage, model: done.append(f"{stage} {model}"))
    seconds = time.perf_counter() - loaded
    mmr, tuning = mmr_tradeoff(split.train, split.test, segments) if models is None or "hybrid" in models else ([], None)
    for mode, result in results.items():
        console.print(rich_table(result, title=f"{label}: {mode}, cut {split.description['cutoff']}, k={K}"))
    console.print(f"{label}: load {loaded - began:.1f} s, split + segments + all models in both modes {seconds:.1f} s")
    oracle = persona_oracle(split.train, split.test, persona) if persona is not None else None
    return {"label": label, "load_seconds": loaded - began, "evaluation_seconds": seconds,
            "modes": {mode: result.to_dict() for mode, result in results.items()}, "mmr": mmr, "hybrid_tuning": tuning,
            "persona_oracle": oracle, "markdown": {mode: markdown_table(result) for mode, result in results.items()}}


def persona_oracle(train: pd.DataFrame, test: pd.DataFrame, persona: pd.Series) -> dict[str, dict[str, float]]:
    """Segment popularity with each training customer's true persona as the segment: the best a model can do
    that knows the persona and nothing about the individual (metrics per mode)."""
    users = pd.Index(train[Columns.User].unique())
    segments = pd.Series(pd.Categorical(persona.loc[users]).codes, index=users.astype(str), name=Columns.Segment)
    results = evaluate_modes(train, test, ["segment_popularity"], K, MODES, segments)
    out = {mode: result.to_dict()["models"][0]["metrics"] for mode, result in results.items()}
    console.print("segment popularity by true persona, P@10: "
                  + ", ".join(f"{mode} {m[f'precision@{K}']:.4f}" for mode, m in out.items()))
    return out


def mmr_tradeoff(train: pd.DataFrame, test: pd.DataFrame, segments: pd.Series) -> tuple[list[dict], dict]:
    """The hybrid's discover P@10, NDCG@10 and intra-list diversity for each MMR lambda (one fit, re-ranked),
    and that fit's blend weights and tuning report (validation objectives, whether the ranker was kept)."""
    dataset = Dataset.from_events(train, segments=segments)
    truth = _truth(dataset, test, "discover")  # the harness's own test matrix: the same users and items
    users = truth.users
    model = HybridRecommender().fit(dataset)
    vectors = item_text_vectors(dataset.catalogue)
    out = []
    for lam in MMR_LAMBDAS:
        model.mmr_lambda = lam
        top, _ = model.recommend_idx(users, K)
        metrics = topk_metrics(top, truth.relevant)
        out.append({"mmr_lambda": lam, f"precision@{K}": float(np.mean(metrics[f"precision@{K}"])),
                    f"ndcg@{K}": float(np.mean(metrics[f"ndcg@{K}"])),
                    "diversity": float(np.nanmean(intra_list_diversity(top, vectors)))})
    console.print(f"hybrid MMR trade-off: {out}; blend weights {model.weights_}; tuning {model.tuning_}")
    return out, {"weights": model.weights_, **model.tuning_}


def write_docs(report: dict, names: list[str]) -> None:
    """Replace the "Recommendation quality" section of docs/benchmarks.md, keeping other sections.

    When only some data sets ran (``names`` is a subset of :data:`DATASETS`), only their subsections are
    replaced, each saying the command that produced it; the section's introduction and the other data sets'
    subsections are kept.
    """
    text = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n\n"
    if set(names) != set(DATASETS) and text.find(SECTION) >= 0:
        for name in names:
            run = report["datasets"][name]
            lines = _subsection(name, run, produced_by=report)
            text = _replace_block(text, f"### {run['label']}", "\n".join(lines), ends=("\n### ", "\n## "))
    else:
        body = [SECTION, "", f"Produced by `{report['command']}` on {report['machine']} ({report['date']}).", "",
                *INTRODUCTION]
        for name, run in report["datasets"].items():
            body += _subsection(name, run)
        text = _replace_block(text, SECTION, "\n".join(body), ends=("\n## ",))
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    DOCS.write_text(text.rstrip("\n") + "\n")


INTRODUCTION = [
    "Protocol: temporal split at the start of the last two months; test rows whose customer or product is",
    "unknown in training are dropped (counted in `benchmarks/results/quality.json`); k = 10; metrics are",
    "averaged over users with at least one test item. **discover**: products bought in training are excluded",
    "from the ranking and from the user's test items; **buy-again**: nothing is excluded. Precision is",
    "hits / k (LightFM's definition, not implicit's hits / min(k, #test)); NDCG has binary gains; AUC is",
    "LightFM's `auc_score`; novelty is the mean self-information in bits. Bold: best of the column.",
    "Every model runs with its registry defaults on both data sets (no per-data-set tuning); ALS's",
    "(alpha 1, regularization 0.05) were chosen on a validation cut inside Online Retail's training period",
    "(2011-10-01).",
    "The hybrid has no per-data-set settings either: it tunes its blend weights at fit time on the last 10%",
    "of its own training period (see `segrec.recommend.hybrid`), so it ends with different blends on the two",
    "shops, and fits its second-stage ranker (discover mode) on the same slice.", ""]


def _replace_block(text: str, heading: str, block: str, ends: tuple[str, ...]) -> str:
    """``text`` with the block starting at ``heading`` (up to the first of ``ends``) replaced; appended if absent."""
    start = text.find(heading)
    if start < 0:
        return text.rstrip("\n") + "\n\n" + block
    found = [i for i in (text.find(end, start + len(heading)) for end in ends) if i >= 0]
    return text[:start] + block + ("\n" + text[min(found) + 1:] if found else "")


def _subsection(name: str, run: dict, produced_by: dict | None = None) -> list[str]:
    """The markdown of one data set's results."""
    split = run["modes"]["discover"]["split"]
    body = [f"### {run['label']}", ""]
    if produced_by is not None:
        body += [f"Produced by `{produced_by['command']}` on {produced_by['machine']} ({produced_by['date']}).", ""]
    body += [f"Cut {split['cutoff']}: {split['train_rows']:,} training rows, {split['test_rows']:,} test rows "
             f"({split['dropped_cold_rows']:,} cold rows dropped); evaluated users: "
             + ", ".join(f"{m} {n:,}" for m, n in split["evaluated_users"].items())
             + f". Load {run['load_seconds']:.1f} s; split, segments and all models in both modes "
             f"{run['evaluation_seconds']:.1f} s.", ""]
    if name == "shop":
        body += shop_notes(run)
    for mode, table in run["markdown"].items():
        body += [f"#### {mode}", "", table, ""]
    if run.get("mmr"):
        body += [f"Hybrid, MMR re-ranking (discover; default lambda {HybridRecommender().mmr_lambda}; a fit of its own,",
                 "and LightFM's multi-threaded training moves P@10 by ~0.001 between fits):", "",
                 f"| lambda | P@{K} | NDCG@{K} | diversity |", "|---:|---:|---:|---:|",
                 *(f"| {r['mmr_lambda']} | {r[f'precision@{K}']:.4f} | {r[f'ndcg@{K}']:.4f} | {r['diversity']:.4f} |"
                   for r in run["mmr"]), ""]
    if name == "online-retail":
        body += [*anchor_lines(run), ONLINE_RETAIL_CREDIT, ""]
    return body


def shop_notes(run: dict) -> list[str]:
    """What the generated shop is, the persona oracle and the hybrid's ratio to popularity (measured)."""
    p = f"precision@{K}"
    by_model = {mode: {m["name"]: m["metrics"][p] for m in result["models"]} for mode, result in run["modes"].items()}
    lines = ["Customers come from five latent personas and, within a persona, have a taste of their own: a",
             "category mix drawn around the persona's and a favourite among six shop-wide product styles named in",
             "the descriptions (`segrec.datasets.generate_shop`, `category_concentration=8`,",
             "`style_concentration=0.5`). Before commit 419deff every customer of a persona bought from the",
             "persona's distribution, so segment popularity by true persona (0.111 discover P@10) was a ceiling for",
             "any model and the hybrid reached 0.1051 against popularity's 0.0609 (1.73x)."]
    if run.get("persona_oracle"):
        oracle = {mode: metrics[p] for mode, metrics in run["persona_oracle"].items()}
        lines += ["Now segment popularity by each customer's true persona (the best a model can do that knows the",
                  f"persona and nothing about the individual) reaches P@{K} {oracle['discover']:.4f} in discover mode "
                  f"and {oracle['buy-again']:.4f} in buy-again."]
    ratios = [f"{mode} {models['hybrid'] / models['popularity']:.2f}x" for mode, models in by_model.items()
              if {"hybrid", "popularity"} <= models.keys()]
    if ratios:
        met = "discover" in by_model and by_model["discover"].get("hybrid", 0) >= 2 * by_model["discover"].get("popularity", 1)
        lines.append(f"Hybrid P@{K} / popularity P@{K}: " + ", ".join(ratios)
                     + f" (issue 4 asks for 2x in discover mode: {'met' if met else 'not met'}).")
    lines += ["ALS's defaults overfit this sparser shop: at its own validation cut (2024-10-01) regularization 10",
              "lifts ALS's P@10 from 0.019 to 0.049 (popularity: 0.031).", ""]
    return lines


#: P@10 measured on this machine before (../shared/NOTES.md): temporal 2011-11-01, training items excluded.
ANCHORS = {"popularity": 0.033, "lightfm_original": 0.052, "als": 0.065, "ease": 0.079}


def anchor_lines(run: dict) -> list[str]:
    """Our P@10 next to the anchors, also rescaled to the anchors' protocol.

    The anchors kept repeat purchases among the test items and so averaged over every user with a test row
    (buy-again's user count); such a product can never be a discover hit, so those users add zeros. Since
    precision divides by k, rescaling by the ratio of user counts reproduces that protocol exactly.
    """
    users = run["modes"]["discover"]["split"]["evaluated_users"]
    ratio = users["discover"] / users["buy-again"]
    lines = ["Against the anchors (P@10, discover):", "", "| model | ours | ours, anchors' protocol | anchor |",
             "|---|---:|---:|---:|"]
    for model in run["modes"]["discover"]["models"]:
        if model["name"] in ANCHORS:
            p = model["metrics"][f"precision@{K}"]
            lines.append(f"| {model['name']} | {p:.4f} | {p * ratio:.4f} | {ANCHORS[model['name']]:.3f} |")
    return [*lines, "", f"The anchors' protocol keeps repeat purchases among the test items, so it averages over "
            f"{users['buy-again']:,} users instead of {users['discover']:,}; rescaled P@10 = ours x "
            f"{users['discover']:,} / {users['buy-again']:,}.", ""]


ONLINE_RETAIL_CREDIT = ("Data: UCI Machine Learning Repository, \"Online Retail\" (Daqing Chen, 2015), "
                        "doi:10.24432/C5BW33, licensed CC BY 4.0.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="shop,online-retail")
    parser.add_argument("--models", default=None, help="comma-separated; default: every model for each mode")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    args = parser.parse_args()
    names = [d for d in args.datasets.split(",") if d]
    if "online-retail" in names and not ONLINE_RETAIL.exists():
        console.print(f"skipping online-retail: {ONLINE_RETAIL} not found")
        names.remove("online-retail")
    models = args.models.split(",") if args.models else None
    report = {
        "command": "python benchmarks/quality.py " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "python benchmarks/quality.py",
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
        "datasets": {name: run_one(name, models) for name in names},
    }
    write_results(report)
    if not args.no_docs:
        write_docs(report, names)
        console.print(f"wrote {DOCS}")


def write_results(report: dict) -> None:
    """Write the JSON results; data sets that did not run keep their previous entry (with its own provenance)."""
    provenance = {key: report[key] for key in ("command", "machine", "date")}
    ran = {n: {**provenance, **{k: v for k, v in r.items() if k != "markdown"}} for n, r in report["datasets"].items()}
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    kept = {n: {**{k: previous.get(k) for k in provenance}, **r}  # older files kept provenance at the top only
            for n, r in previous.get("datasets", {}).items() if n not in ran}
    datasets = {n: ran.get(n) or kept[n] for n in DATASETS if n in ran or n in kept}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({**provenance, "datasets": datasets}, indent=2) + "\n")
    console.print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
