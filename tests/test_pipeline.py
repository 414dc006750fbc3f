"""``segrec.run`` is the documented Python API of ``segrec run``: the same files, byte for byte where the content
does not record a time, on a small generated shop; and the pipeline takes any object that follows the engine
contract."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import segrec
from segrec.cli import app
from segrec.columns import Columns as C
from segrec.data.generate import generate_shop
from segrec.engines import LocalEngine
from segrec.pipeline import STAGES, Engine, RunResult
from segrec.run_dir import RunFiles

#: Files whose bytes hold no clock reading: equal for the same data, options and seed.
SAME_BYTES = (RunFiles.SegmentsCsv, RunFiles.Rejects, RunFiles.Events, RunFiles.Segments)
TIMED = ("seconds", "fit_seconds", "score_seconds", "cpu_seconds", "peak_rss_mb", "created_at", "rows_per_second")


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("shop") / "orders.csv"
    events = generate_shop(customers=200, products=80, months=6, seed=11).events
    events.loc[events.index[:2], C.Price] = -1.0  # two bad rows: rejected the same way by both doors
    events.to_csv(path, index=False)
    return path


def _untimed(value: object) -> object:
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if k not in TIMED}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def test_segrec_run_writes_what_the_cli_writes(source: Path, tmp_path: Path) -> None:
    by_cli, by_api = tmp_path / "cli", tmp_path / "api"
    said = CliRunner().invoke(app, ["run", str(source), "--out", str(by_cli), "--segments-k", "3", "-k", "5",
                                    "--seed", "7"])
    assert said.exit_code == 0, said.output
    result = segrec.run(str(source), out=by_api, segments_k=3, k=5, seed=7)

    assert isinstance(result, RunResult) and result.report == by_api / RunFiles.Report
    assert list(result.stages) == list(STAGES) and result.skipped == {}
    for name in SAME_BYTES:
        assert (by_cli / name).read_bytes() == (by_api / name).read_bytes(), name
    pd.testing.assert_frame_equal(pd.read_parquet(by_cli / RunFiles.Recommendations),
                                  pd.read_parquet(by_api / RunFiles.Recommendations))
    for name in (RunFiles.Evaluation, RunFiles.Segmentation, RunFiles.Validation):
        cli_json, api_json = (json.loads((d / name).read_text()) for d in (by_cli, by_api))
        assert _untimed(cli_json) == _untimed(api_json), name
    assert (json.loads((by_cli / RunFiles.Options).read_text())["options"]
            == json.loads((by_api / RunFiles.Options).read_text())["options"])
    cli_manifest, api_manifest = (json.loads((d / RunFiles.Bundle / RunFiles.Manifest).read_text())
                                  for d in (by_cli, by_api))
    assert cli_manifest["data_fingerprint"] == api_manifest["data_fingerprint"]
    assert _untimed(cli_manifest["evaluation"]) == _untimed(api_manifest["evaluation"])
    assert {n: m["sha256"] for n, m in cli_manifest["files"].items()} == {
        n: m["sha256"] for n, m in api_manifest["files"].items()}
    written = json.loads((by_api / RunFiles.Evaluation).read_text())
    assert [m["name"] for m in result.evaluation["models"]] == [m["name"] for m in written["models"]]
    assert result.validation["rows_rejected"] == 2


def test_the_pipeline_runs_any_engine_that_keeps_the_contract(source: Path, tmp_path: Path) -> None:
    """An engine is anything with the contract's methods: here the local one, wrapped to record the calls."""
    calls: list[str] = []

    class Recording:
        def __init__(self) -> None:
            self.inner = LocalEngine()
            self.name, self.rejects_name = "local", self.inner.rejects_name

        def __getattr__(self, name: str) -> object:
            method = getattr(self.inner, name)
            return lambda *args, **kwargs: calls.append(name) or method(*args, **kwargs)

    engine = Recording()
    assert isinstance(engine.inner, Engine)
    result = segrec.run(str(source), out=tmp_path / "out", engine=engine, segments_k=2, k=3, skip_evaluation=True)
    assert calls == ["read", "keep_events", "segment", "train", "release"]
    assert (tmp_path / "out" / RunFiles.Report).is_file() and "evaluate" not in result.stages
