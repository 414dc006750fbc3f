"""`segrec run`: the whole pipeline from one CSV to a report, end to end on a tiny generated shop."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from segrec.bundle import load_bundle, verify_bundle
from segrec.cli import app
from segrec.columns import Columns as C
from segrec.data.generate import generate_shop

ARGS = ["--segments-k", "3", "-k", "5", "--seed", "3"]


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("shop") / "orders.csv"
    events = generate_shop(customers=250, products=100, months=6, seed=5).events
    events.loc[events.index[:3], C.Quantity] = 0  # three bad rows: rejected, reported, not lost
    events.to_csv(path, index=False)
    return path


def _run(source: Path, out: Path) -> str:
    result = CliRunner().invoke(app, ["run", str(source), "--out", str(out), *ARGS])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def first_run(source: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One run of ``source`` (its directory and what it said): checked below, then compared with a second run."""
    out = tmp_path_factory.mktemp("run") / "out"
    return out, _run(source, out)


def test_run_writes_every_stage_and_a_report_that_reruns_it(source: Path, first_run: tuple[Path, str]) -> None:
    out, said = first_run
    for name in ("events.parquet", "validation.json", "rejects.csv", "segments.csv", "segmentation.json",
                 "evaluation.json", "recommendations.parquet", "report.html", "run.json"):
        assert (out / name).exists(), name
    validation = json.loads((out / "validation.json").read_text())
    assert validation["rows_rejected"] == 3 and validation["rejected_by_reason"] == {"nonpositive_quantity": 3}
    assert pd.read_csv(out / "rejects.csv")[C.SourceRow].tolist() == [0, 1, 2]
    assert json.loads((out / "segmentation.json").read_text())["chosen_k"] == 3
    recs = pd.read_parquet(out / "recommendations.parquet")
    assert recs.groupby(C.User).size().max() == 5
    verify_bundle(out / "bundle")
    served = load_bundle(out / "bundle").recommender.recommend(recs[C.User].unique()[:20], 5)
    assert served[C.Item].tolist() == recs[recs[C.User].isin(served[C.User].unique())][C.Item].tolist()

    text = unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", (out / "report.html").read_text())))
    command = f"segrec run {source} --segments-k 3 -k 5 --seed 3 --out {out}"
    assert command in text

    stages = json.loads((out / "run.json").read_text())["stages"]  # where the time and memory went
    assert list(stages) == ["validate", "segment", "evaluate", "train", "report"]
    for name, figures in stages.items():
        assert figures["seconds"] >= 0 and figures["cpu_seconds"] >= 0 and figures["peak_rss_mb"] > 50, name
        assert re.search(rf"{name}\s+[0-9.]+ s\s+[0-9.]+ CPU s\s+[0-9,]+ MB peak", said), name
    assert stages["train"]["seconds"] > 0
    assert "Time and memory of this run" in text
    for name in ("validate", "segment", "evaluate", "train"):  # the report is written before its own time is
        assert re.search(rf"{name} {stages[name]['seconds']:.1f} {stages[name]['cpu_seconds']:.1f} ", text), name


def test_same_seed_same_segments_and_recommendations(source: Path, first_run: tuple[Path, str],
                                                     tmp_path: Path) -> None:
    first, second = first_run[0], tmp_path / "b"
    _run(source, second)
    for name in ("recommendations.parquet",):
        pd.testing.assert_frame_equal(pd.read_parquet(first / name), pd.read_parquet(second / name))
    pd.testing.assert_frame_equal(pd.read_csv(first / "segments.csv"), pd.read_csv(second / "segments.csv"))


def test_too_few_customers_writes_what_it_can_and_says_what_it_skipped(tmp_path: Path) -> None:
    source = tmp_path / "three.csv"
    source.write_text("user_id,product_id,purchase_date,price\nA,p1,2024-01-01,3.5\nB,p2,2024-01-02,4\n"
                      "C,p1,2024-01-03,5\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(source), "--out", str(out)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "skipped segment: 3 customers found; segmentation needs at least 4" in said
    assert "skipped evaluate:" in said and "no segments" in said
    for name in ("validation.json", "events.parquet", "recommendations.parquet", "report.html"):
        assert (out / name).exists(), name
    assert not (out / "segments.parquet").exists()
    verify_bundle(out / "bundle")
    assert set(json.loads((out / "run.json").read_text())["skipped"]) == {"segment", "evaluate"}
    text = unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", (out / "report.html").read_text())))
    assert "Segmentation was skipped: 3 customers found" in text
    assert pd.read_parquet(out / "recommendations.parquet")[C.User].nunique() == 3

    result = CliRunner().invoke(app, ["segment", str(source), "--out", str(tmp_path / "seg")])
    assert result.exit_code == 2
    assert "3 customers found; segmentation needs at least 4" in " ".join(result.output.split())
