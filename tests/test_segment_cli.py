"""``segrec segment`` end to end on a small generated shop: exit codes and every file it writes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from segrec.cli import app
from segrec.columns import Columns as C
from segrec.data.generate import generate_shop
from segrec.segment.segmenter import Segmenter


@pytest.fixture(scope="module")
def shop_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("shop") / "events.parquet"
    generate_shop(customers=400, products=60, months=6, seed=3).events.to_parquet(path)
    return str(path)


def test_segment_writes_tables_report_model_and_plots(shop_file: str, tmp_path) -> None:
    out = tmp_path / "seg"
    result = CliRunner().invoke(app, ["segment", shop_file, "--out", str(out), "--seed", "1", "--k", "4"])
    assert result.exit_code == 0, result.output
    assert "why k=4" in result.output
    expected = {"segments.parquet", "segments.csv", "segmentation.json", "segmenter", "k_selection.png",
                "projection.png", "profile_heatmap.png", "sizes_revenue.png"}
    assert expected <= {p.name for p in out.iterdir()}
    segments = pd.read_parquet(out / "segments.parquet")
    assert segments.columns[:5].tolist() == [C.User, C.Segment, C.SegmentName, C.RFMScore, C.RFMGroup]
    assert len(segments) == 400 and segments[C.Segment].nunique() == 4
    assert pd.read_csv(out / "segments.csv").shape == segments.shape
    report = json.loads((out / "segmentation.json").read_text())
    assert report["chosen_k"] == 4 and "set by the caller" in report["why"]
    assert [m["k"] for m in report["k_sweep"]["metrics"]] == list(range(2, 11))
    assert {"mean", "min", "runs"} <= set(report["stability"]["seeds"]) and len(report["profiles"]) == 4
    assert report["features_used"] == [C.Spending, C.Frequency, C.Age, C.Income, C.Recency]
    features = segments.set_index(C.User)
    reloaded = Segmenter.load(out / "segmenter")
    np.testing.assert_array_equal(reloaded.predict(features), segments[C.Segment].to_numpy())
    assert (out / "k_selection.png").read_bytes()[:4] == b"\x89PNG"


def test_feature_list_and_bad_input_exit_codes(shop_file: str, tmp_path) -> None:
    out = tmp_path / "seg"
    ok = CliRunner().invoke(app, ["segment", shop_file, "--out", str(out), "--features", "total_spending,frequency"])
    assert ok.exit_code == 0, ok.output
    assert json.loads((out / "segmentation.json").read_text())["features_used"] == [C.Spending, C.Frequency]
    bad = CliRunner().invoke(app, ["segment", shop_file, "--out", str(out), "--features", "shoe_size"])
    assert bad.exit_code == 2 and "shoe_size" in bad.output
    missing = CliRunner().invoke(app, ["segment", str(tmp_path / "nope.parquet"), "--out", str(out)])
    assert missing.exit_code == 2


def test_map_option_renames_source_columns(shop_file: str, tmp_path) -> None:
    renamed = tmp_path / "renamed.csv"
    pd.read_parquet(shop_file).rename(columns={C.User: "Customer"}).to_csv(renamed, index=False)
    out = tmp_path / "seg"
    result = CliRunner().invoke(app, ["segment", str(renamed), "--out", str(out), "--k", "4", "--map",
                                      "Customer=user_id"])
    assert result.exit_code == 0, result.output
    assert pd.read_parquet(out / "segments.parquet")[C.User].nunique() == 400


def test_engine_help_names_the_extra() -> None:
    """Rich markup used to swallow "[spark]", so the help said `pip install segrec`."""
    result = CliRunner().invoke(app, ["segment", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "pip install segrec[spark]" in result.output
