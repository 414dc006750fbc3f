"""``segrec evaluate`` end to end, and the ``evaluate()`` function behind it."""

from __future__ import annotations

import importlib
import json
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

import segrec
from segrec.data.generate import generate_shop
from segrec.evaluation import evaluate, temporal_split

FAST_MODELS = "popularity,segment_popularity,ease"


@pytest.fixture(scope="module")
def shop() -> pd.DataFrame:
    return generate_shop(customers=300, products=80, months=4, seed=3).events


@pytest.fixture
def app() -> Iterator[typer.Typer]:
    """The real app; while another command module is missing, a fresh app with only ``evaluate``."""
    try:
        from segrec.cli import app as real

        yield real
        return
    except ImportError:
        pass
    saved = {name: mod for name, mod in sys.modules.items() if name.startswith("segrec.cli")}
    stub = types.ModuleType("segrec.cli")
    stub.__path__ = [str(Path(segrec.__file__).parent / "cli")]
    sys.modules["segrec.cli"] = stub
    try:
        fresh = typer.Typer()
        importlib.import_module("segrec.cli.evaluate").register(fresh)
        fresh.command("version")(lambda: None)  # two commands, so "evaluate" stays a subcommand
        yield fresh
    finally:
        for name in [n for n in sys.modules if n.startswith("segrec.cli")]:
            del sys.modules[name]
        sys.modules.update(saved)


def _invoke(app: typer.Typer, *args: str) -> object:
    return CliRunner().invoke(app, ["evaluate", *args])


def test_cli_writes_json_of_the_documented_shape(app: typer.Typer, shop: pd.DataFrame, tmp_path: Path) -> None:
    source = tmp_path / "shop.parquet"
    shop.to_parquet(source)
    out = tmp_path / "eval.json"
    result = _invoke(app, str(source), "--models", FAST_MODELS, "--k", "5", "--json", str(out), "--in-sample")
    assert result.exit_code == 0, result.output
    assert "in-sample, not an estimate of future performance" in result.output
    payload = json.loads(out.read_text())
    assert {"split", "default_model", "k", "mode", "models"} <= set(payload)
    assert payload["default_model"] == "hybrid" and payload["k"] == 5 and payload["mode"] == "discover"
    assert payload["split"]["method"] == "temporal" and payload["split"]["cutoff"] == "2024-03-01"
    assert len(payload["data"]["source_file_sha256"]) == 64 and "numpy" in payload["versions"]
    assert [m["name"] for m in payload["models"]] == FAST_MODELS.split(",")
    expected = {"precision@5", "recall@5", "ndcg@5", "map@5", "hit_rate@5", "mrr", "auc", "coverage", "diversity",
                "novelty"}
    for model in payload["models"]:
        assert set(model["metrics"]) == expected
        assert model["fit_seconds"] >= 0 and model["score_seconds"] >= 0
        assert set(model["in_sample"]) == {"precision@5", "auc"}
        assert all(0 <= model["metrics"][m] <= 1 for m in expected - {"novelty"})


@pytest.mark.parametrize("split_args", [["--split", "random", "--test-fraction", "0.3"], ["--split", "last-n"]])
def test_cli_other_splits_and_buy_again(app: typer.Typer, shop: pd.DataFrame, tmp_path: Path,
                                        split_args: list[str]) -> None:
    source = tmp_path / "shop.parquet"
    shop.to_parquet(source)
    out = tmp_path / "eval.json"
    result = _invoke(app, str(source), *split_args, "--mode", "buy-again", "--models", "popularity,buy_again",
                     "--segments", "0", "--json", str(out))
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert payload["mode"] == "buy-again" and payload["split"]["method"] == split_args[1]


def test_cli_bring_your_own_split(app: typer.Typer, shop: pd.DataFrame, tmp_path: Path) -> None:
    split = temporal_split(shop, "2024-03-15")
    split.train.to_parquet(tmp_path / "train.parquet")
    split.test.to_parquet(tmp_path / "test.parquet")
    out = tmp_path / "eval.json"
    result = _invoke(app, "--train", str(tmp_path / "train.parquet"), "--test", str(tmp_path / "test.parquet"),
                     "--models", "popularity", "--json", str(out))
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert payload["split"]["method"] == "explicit" and "train_file_sha256" in payload["data"]


@pytest.mark.parametrize("args", [["--split", "sideways"], ["--models", "nope"], ["--train", "x.csv"], []])
def test_cli_bad_input_exits_with_2(app: typer.Typer, shop: pd.DataFrame, tmp_path: Path, args: list[str]) -> None:
    source = tmp_path / "shop.parquet"
    shop.to_parquet(source)
    positional = [] if not args or args[0] == "--train" else [str(source)]
    result = _invoke(app, *positional, *args)
    assert result.exit_code == 2, result.output


def test_evaluate_function_defaults(shop: pd.DataFrame) -> None:
    split = temporal_split(shop, "2024-03-15")
    result = evaluate(split.train, split.test, models=["popularity", {"name": "ease", "params": {"regularization": 50.0}}],
                      k=5)
    assert [m.name for m in result.models] == ["popularity", "ease"]
    assert result.models[1].params == {"regularization": 50.0}
    assert result.split["evaluated_users"]["discover"] > 0
    assert result.to_dict()["models"][0]["metrics"]["precision@5"] >= 0


def test_models_fitted_beside_the_others_give_the_same_results(shop: pd.DataFrame,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """LightFM's fits run on a side thread while the other models are fitted: the results (metrics, their
    order) are those of fitting one model after the other, and every progress event is still sent."""
    import threading

    from segrec.evaluation import evaluate_modes
    from segrec.recommend.collaborative import LightFMRecommender

    split = temporal_split(shop, "2024-03-15")
    models = ["popularity", {"name": "lightfm", "params": {"epochs": 3, "early_stopping": False}}, "ease",
              "lightfm_original", "content"]
    threads: list[str] = []
    real_fit = LightFMRecommender._fit

    def recording_fit(self: LightFMRecommender, dataset: object) -> None:
        threads.append(threading.current_thread().name)
        real_fit(self, dataset)

    monkeypatch.setattr(LightFMRecommender, "_fit", recording_fit)

    def run() -> tuple[dict, list]:
        events: list = []
        results = evaluate_modes(split.train, split.test, models, 5, callback=lambda *e: events.append(e))
        return {mode: [(m.name, m.metrics) for m in r.models] for mode, r in results.items()}, events

    beside, events = run()
    assert len(threads) == 2 and all(name.startswith("segrec-eval-fit") for name in threads)
    monkeypatch.setattr(LightFMRecommender, "fit_releases_gil", False)
    one_by_one, ordered_events = run()
    assert threads[2:] == [threading.current_thread().name] * 2
    assert beside == one_by_one
    assert [name for name, _ in beside["discover"]] == ["popularity", "lightfm", "ease", "lightfm_original", "content"]
    assert sorted(events) == sorted(ordered_events)
