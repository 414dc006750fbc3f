"""Shared by the report and browser tests: a tiny pipeline run, a live uvicorn server and a headless Chromium.

:func:`pipeline_run` builds, once per test session, what ``segrec run`` writes into its directory (ingestion
report, segmentation outputs and plots, evaluation, recommendations, bundle) from a small generated shop,
through the same functions the pipeline calls. :class:`LiveServer` serves a bundle with a real uvicorn on a
free loopback port. :func:`launch_chromium` starts Debian's Chromium through Playwright, or skips the test
with the reason when either is missing.
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from bundle_helpers import MODEL
from segrec.bundle import load_bundle, save_bundle
from segrec.columns import Columns
from segrec.data.generate import generate_shop
from segrec.data.read import ingest
from segrec.engines.local.segment import run_segmentation
from segrec.evaluation import evaluate, temporal_split
from segrec.recommend import Dataset
from segrec.recommend.registry import model_from_config

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "out" / "test-artifacts"
C = Columns


@dataclass(frozen=True)
class PipelineRun:
    out: Path
    bundle: Path
    events: pd.DataFrame


_RUNS: dict[str, PipelineRun] = {}


def pipeline_run(tmp_path_factory: pytest.TempPathFactory) -> PipelineRun:
    """The tiny run directory, built on first use and shared by every test of the session."""
    if "run" not in _RUNS:
        _RUNS["run"] = _build_run(tmp_path_factory.mktemp("pipeline") / "run")
    return _RUNS["run"]


def _build_run(out: Path) -> PipelineRun:
    shop = generate_shop(customers=300, products=120, months=6, seed=1)
    ingested = ingest(shop.events)
    events = ingested.events
    out.mkdir(parents=True)
    (out / "validation.json").write_text(ingested.report.to_json(), encoding="utf-8")
    seg = run_segmentation(events, out, seed=1, ks=range(2, 7), n_init=3)
    segment_of = seg.segments.set_index(C.User)[C.Segment]
    split = temporal_split(events, events[C.Date].min() + (events[C.Date].max() - events[C.Date].min()) * 0.8)
    result = evaluate(split.train, split.test, models=["popularity", MODEL], segments=segment_of,
                      split_description=split.description)
    report = result.to_dict()
    report["default_model"] = MODEL["name"]
    (out / "evaluation.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    model = model_from_config(MODEL).fit(Dataset.from_events(events, segments=segment_of))
    model.recommend(segment_of.index.astype(str), 10).to_parquet(out / "recommendations.parquet", index=False)
    bundle = save_bundle(out / "bundle", recommender=model, segmenter=seg.model,
                         segments=seg.segments, profiles=seg.profiles,  # the whole table, as segrec run saves it
                         evaluation=report, params={"seed": 1})
    return PipelineRun(out, bundle, events)


def copy_run(run: PipelineRun, target: Path, *, drop: tuple[str, ...] = ()) -> Path:
    """A copy of the run directory without the files (or directories) named in ``drop``."""
    shutil.copytree(run.out, target, ignore=shutil.ignore_patterns(*drop))
    return target


# ------------------------------------------------------------------------------------------------- server
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """The API app with ``bundle`` loaded, served by uvicorn in a background thread; ``settings`` override the
    :class:`~segrec.service.Settings` (e.g. ``events=`` a private event store)."""

    def __init__(self, bundle: Path, **settings: Any) -> None:
        import uvicorn

        from segrec.service import Served, Settings, create_app

        app = create_app(Settings(bundle=bundle, access_log=False, **settings), served=Served.build(load_bundle(bundle)))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn-test", daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start on {self.url}")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def get(self, path: str, **params: Any) -> Any:
        import httpx

        response = httpx.get(self.url + path, params=params, timeout=10)
        response.raise_for_status()
        return response.json()


# ------------------------------------------------------------------------------------------------ browser
@contextmanager
def launch_chromium() -> Iterator[Any]:
    """A headless Chromium browser (Playwright, Debian's binary); skips with the reason when unavailable."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed: pip install -e '.[dev]'")
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium (.ci/run does it)")
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        except Error as exc:
            pytest.skip(f"Chromium at {CHROMIUM} does not start: {str(exc).splitlines()[0]}")
        try:
            yield browser
        finally:
            browser.close()


def artifact(name: str) -> Path:
    """Where a test saves a screenshot (out/test-artifacts/), printed so the run log shows it."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    print(f"artifact: {path}")
    return path


# ---------------------------------------------------------------------------------------------- page checks
BLOCKING_IMPACTS = ("serious", "critical")


def axe_violations(page: Any) -> list[str]:
    """axe-core's serious and critical violations on ``page`` as it is now, one line each (rule, impact,
    first element, summary). axe-core comes bundled with axe-playwright-python: nothing is downloaded."""
    try:
        from axe_playwright_python.sync_playwright import Axe
    except ImportError:
        pytest.skip("axe-playwright-python is not installed: pip install -e '.[dev]'")
    found = Axe().run(page).response["violations"]
    return [f"{v['id']} ({v['impact']}) at {v['nodes'][0]['target']}: {v['help']}"
            for v in found if v.get("impact") in BLOCKING_IMPACTS]


def sideways_overflow(page: Any) -> tuple[int, int]:
    """(document scroll width, viewport width): a page that fits has the first <= the second."""
    return tuple(page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]"))
