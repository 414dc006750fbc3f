"""benchmarks/quality.py's verdicts: which baseline is best, which floors apply and whether they are met."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "quality.py"


@pytest.fixture(scope="module")
def quality() -> ModuleType:
    spec = importlib.util.spec_from_file_location("quality_benchmark", PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and annotations resolve through sys.modules
    spec.loader.exec_module(module)
    return module


def _entry(scores: dict[str, dict[str, float | None]], fit: float = 12.0) -> dict[str, Any]:
    """A cell's JSON entry with only what the summary reads: P@10 per model and mode, the hybrid's fit time."""
    def result(mode: str) -> dict[str, Any]:
        models = [{"name": n, "params": {}, "metrics": {"precision@10": p, "diversity": None}, "fit_seconds": fit,
                   "score_seconds": 0.1} for n, p in scores[mode].items()]
        split = {"method": "random", "evaluated_users": {"discover": 3, "buy-again": 3}}
        return {"split": split, "k": 10, "mode": mode, "models": models}

    return {"modes": {mode: result(mode) for mode in scores}, "hybrid": {"fit_seconds": fit, "tuning": None},
            "seconds": 30.0}


def test_the_best_baseline_excludes_the_hybrid_and_the_floor_is_99_percent(quality: ModuleType) -> None:
    entry = _entry({"discover": {"popularity": 0.05, "ease": 0.2, "hybrid": 0.198},
                    "buy-again": {"ease": 0.3, "buy_again": 0.4, "hybrid": 0.39}})
    discover, buy_again = quality.summary_rows("shop:random", entry)
    assert (discover["best_baseline"], discover["best_baseline_p"]) == ("ease", 0.2)
    assert discover["ratio"] == pytest.approx(0.99) and discover["relative_floor_met"]
    assert buy_again["best_baseline"] == "buy_again" and not buy_again["relative_floor_met"]  # 0.975x
    assert discover["absolute_floor"] is None and discover["fit_floor_met"] is None  # no floor for this cell


def test_absolute_floors_apply_in_discover_mode_only(quality: ModuleType) -> None:
    entry = _entry({"discover": {"ease": 0.18, "hybrid": 0.189}, "buy-again": {"ease": 0.1, "hybrid": 0.1}}, fit=21)
    discover, buy_again = quality.summary_rows("online-retail:random", entry)
    assert discover["absolute_floor"] == ">= 0.19" and discover["absolute_floor_met"] is False
    assert buy_again["absolute_floor"] is None
    assert discover["fit_floor_met"] is False  # Online Retail: hybrid fit <= 20 s
    shop = quality.summary_rows("shop:temporal", _entry({"discover": {"popularity": 0.04, "hybrid": 0.081},
                                                         "buy-again": {"popularity": 0.1, "hybrid": 0.1}}))
    assert shop[0]["absolute_floor_met"] is True and "2.02x" in shop[0]["absolute_floor"]


def test_without_a_hybrid_the_verdicts_are_n_a_not_failures(quality: ModuleType) -> None:
    rows = quality.summary_rows("online-retail:temporal", _entry({"discover": {"ease": 0.08},
                                                                  "buy-again": {"ease": 0.2}}))
    assert all(r["relative_floor_met"] is None and r["absolute_floor_met"] is None for r in rows)
    assert "**" not in quality.summary_markdown(rows) and "n/a" in quality.summary_markdown(rows)


def test_a_missed_floor_is_bold_in_markdown(quality: ModuleType) -> None:
    entry = _entry({"discover": {"ease": 0.2, "hybrid": 0.1}, "buy-again": {"ease": 0.2, "hybrid": 0.2}}, fit=25)
    table = quality.summary_markdown(quality.summary_rows("online-retail:temporal", entry))
    assert "| **NO** |" in table and "**>= 0.118: NO**" in table and "**25.0 (> 20 s)**" in table


def test_cells_are_chosen_by_name_or_data_set_in_matrix_order(quality: ModuleType) -> None:
    parser = argparse.ArgumentParser()
    assert quality.parse_cells("shop:random,online-retail:temporal", parser) == ["online-retail:temporal",
                                                                                  "shop:random"]
    assert quality.parse_cells("shop", parser) == ["shop:temporal", "shop:random"]
    assert quality.parse_cells(None, parser) == list(quality.CELLS)
    with pytest.raises(SystemExit):
        quality.parse_cells("shop:last-n", parser)


def test_tables_come_back_from_the_json_with_n_a(quality: ModuleType) -> None:
    entry = _entry({"discover": {"ease": 0.2, "hybrid": 0.21}, "buy-again": {"ease": 0.2, "hybrid": 0.2}})
    table = quality.markdown_table(quality.result_from_dict(entry["modes"]["discover"]))
    assert "| n/a |" in table and "0.2100" in table


def test_the_docs_section_is_replaced_and_the_rest_kept(quality: ModuleType) -> None:
    text = "# Benchmarks\n\nintro\n\n## Recommendation quality\n\nold\n\n### old cell\n\n## Ingestion\n\nkept\n"
    out = quality._replace_block(text, quality.SECTION, "## Recommendation quality\n\nnew\n", ends=("\n## ",))
    assert "old" not in out and "new" in out and out.endswith("## Ingestion\n\nkept\n") and "intro" in out
