"""Every registered recommender through the shared contract (tests/contract.py): fit -> recommend -> save ->
load -> identical answers, parameters as data, capability flags that match what the model can do."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from contract import check_contract
from recommend_helpers import FAST_CF, fast_hybrid, small_events
from segrec.columns import Columns as C
from segrec.exceptions import InputError
from segrec.features import Dataset
from segrec.recommend import registry
from segrec.recommend.base import Recommender

#: Small settings so the suite stays fast; every other parameter is the model's default.
FAST = {"lightfm": FAST_CF, "lightfm_original": {"epochs": 3, "no_components": 4},
        "als": {"factors": 8, "iterations": 3, "num_threads": 1}, "ease": {"regularization": 10.0}}


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    events = small_events(customers=120, products=40, seed=9)
    users = pd.Series(sorted(events[C.User].astype(str).unique()))
    segments = pd.Series([f"s{i % 3}" for i in range(len(users))], index=users)
    return Dataset.from_events(events, segments=segments)


def _model(name: str) -> Recommender:
    return fast_hybrid() if name == "hybrid" else registry.MODELS[name](**FAST.get(name, {}))


@pytest.mark.parametrize("name", registry.available_models())
def test_every_registered_model_keeps_the_contract(name: str, dataset: Dataset, tmp_path: Path) -> None:
    check_contract(_model(name), dataset, tmp_path / name)


def test_every_registered_model_is_covered() -> None:
    assert set(registry.available_models()) == set(registry.MODELS)


@pytest.mark.parametrize(("name", "param", "bad"), [
    ("lightfm", "epochs", 0), ("lightfm", "no_components", 1.5), ("content", "k_neighbours", 0),
    ("content", "profile_min_df", 0.0), ("ease", "regularization", float("nan")), ("buy_again", "half_life_days", 0),
    ("segment_popularity", "min_segment_users", 0)])
def test_parameter_rules_are_checked_by_fit(name: str, param: str, bad: object, dataset: Dataset) -> None:
    model = registry.MODELS[name](**{param: bad})
    with pytest.raises(InputError, match=rf"{type(model).__name__}: invalid {param}="):
        model.fit(dataset)


def test_capability_flags_follow_the_methods() -> None:
    flags = {name: (cls.recommends_cold_users, cls.finds_similar_products) for name, cls in registry.MODELS.items()}
    assert flags["hybrid"] == (True, True)
    assert flags["content"] == (False, True)
    assert flags["als"] == flags["popularity"] == (False, False)


def test_segrec_recommend_serves_a_bundle_without_names_or_cold_start(dataset: Dataset, tmp_path: Path) -> None:
    """An ALS bundle (what the Spark engine trains) is served by `segrec recommend` as the API serves it: known
    customers get the model's list; an unknown one gets an error saying the model has no cold start."""
    import json

    from typer.testing import CliRunner

    from segrec.bundle import save_bundle
    from segrec.cli import app

    model = registry.MODELS["als"](**FAST["als"]).fit(dataset)
    save_bundle(tmp_path / "bundle", recommender=model)
    user = str(dataset.users.external_ids[3])
    said = CliRunner().invoke(app, ["recommend", str(tmp_path), "--user", user, "-k", "4", "--json"])
    assert said.exit_code == 0, said.output
    got = [r[C.Item] for r in json.loads(said.output)["recommendations"]]
    assert got == model.recommend([user], 4)[C.Item].tolist()
    said = CliRunner().invoke(app, ["recommend", str(tmp_path), "--user", "nobody", "-k", "4"])
    assert said.exit_code == 2 and "no cold start" in " ".join(said.output.split())
