"""`segrec train` then `segrec recommend`, end to end on a tiny generated shop."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
import typer
import uvicorn
from typer.testing import CliRunner

from recommend_helpers import small_events
from segrec.columns import Columns as C


def _app() -> typer.Typer:
    try:
        from segrec.cli import app
    except Exception:  # another command module may still be missing while the tree is being built
        from segrec.cli import recommend, train

        app = typer.Typer()
        train.register(app)
        recommend.register(app)
    return app


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("train")
    events = small_events(customers=80, products=30)
    source = root / "events.parquet"
    events.to_parquet(source, index=False)
    users = sorted(events[C.User].unique())
    pd.DataFrame({C.User: users, C.Segment: [i % 3 for i in range(len(users))]}).to_parquet(root / "seg.parquet")
    result = CliRunner().invoke(_app(), ["train", str(source), "--out", str(root / "out"),
                                         "--segments", str(root / "seg.parquet"), "--seed", "3", "-k", "5"])
    assert result.exit_code == 0, result.output
    return root / "out"


def test_train_writes_model_and_recommendations(trained: Path) -> None:
    assert (trained / "model" / "manifest.json").is_file()
    recs = pd.read_parquet(trained / "recommendations.parquet")
    assert list(recs.columns) == list(C.Recommendations)
    assert (recs.groupby(C.User).size() <= 5).all() and recs[C.User].nunique() == 80


@pytest.mark.parametrize("mode", ["discover", "buy-again"])
def test_recommend_json_matches_the_file(trained: Path, mode: str) -> None:
    recs = pd.read_parquet(trained / "recommendations.parquet")
    user = recs[C.User].iloc[0]
    result = CliRunner().invoke(_app(), ["recommend", str(trained), "--user", user, "-k", "5", "--mode", mode,
                                         "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["known"] is True and len(payload["recommendations"]) == 5
    if mode == "discover":
        assert [r[C.Item] for r in payload["recommendations"]] == recs.loc[recs[C.User] == user, C.Item].tolist()


def test_recommend_table_and_unknown_user(trained: Path) -> None:
    result = CliRunner().invoke(_app(), ["recommend", str(trained), "--user", "nobody", "-k", "3"])
    assert result.exit_code == 0, result.output
    assert "cold start" in result.output


def test_recommend_missing_model_is_an_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(_app(), ["recommend", str(tmp_path / "none"), "--user", "x"])
    assert result.exit_code in (1, 2)


@pytest.mark.parametrize("where", ["out", "bundle", "run-out"])
def test_every_bundle_command_accepts_the_same_directories(trained: Path, tmp_path: Path, where: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """train's --out, the bundle itself and run's --out (bundle in bundle/) work for serve and recommend."""
    if where == "out":
        given = trained
    elif where == "bundle":
        given = trained / "model"
    else:
        given = tmp_path / "run"
        shutil.copytree(trained / "model", given / "bundle")
    started: list[str] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: started.append(kwargs["port"]))
    monkeypatch.setenv("SEGREC_BUNDLE", "")
    result = CliRunner().invoke(_app(), ["serve", str(given), "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert started == [8123]
    assert Path(os.environ["SEGREC_BUNDLE"]).joinpath("manifest.json").is_file()
    result = CliRunner().invoke(_app(), ["recommend", str(given), "--user", "nobody", "-k", "2", "--json"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("command", [["serve"], ["recommend", "--user", "x"]])
def test_a_directory_without_a_bundle_names_the_command_that_builds_one(tmp_path: Path, command: list[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for given, what in ((tmp_path / "none", "does not exist"), (empty, "holds no bundle")):
        result = CliRunner().invoke(_app(), [command[0], str(given), *command[1:]])
        assert result.exit_code == 1, result.output
        message = " ".join(result.output.split())
        assert what in message and "segrec train SOURCE --out" in message, message
        assert "save_bundle" not in message
