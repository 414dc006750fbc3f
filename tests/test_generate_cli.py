"""``segrec generate`` end to end: files, byte-for-byte reproducibility, summary and errors."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from segrec.cli.generate import register
from segrec.columns import Columns as C
from segrec.data.generate import generate_shop

SMALL = ["--customers", "200", "--products", "60", "--months", "3"]


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    """A fresh app with only this command, so the test does not depend on the other commands."""
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:  # keeps `generate` a subcommand, as in the real app
        pass

    return app


def run(app: typer.Typer, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["generate", *args])
    return result.exit_code, result.output


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_same_seed_writes_same_bytes(app: typer.Typer, tmp_path: Path, suffix: str) -> None:
    first, second, other = (tmp_path / f"{n}{suffix}" for n in ("a", "b", "c"))
    for out, seed in ((first, "7"), (second, "7"), (other, "8")):
        code, output = run(app, *SMALL, "--seed", seed, "--out", str(out))
        assert code == 0, output
    assert sha256(first) == sha256(second)
    assert sha256(first) != sha256(other)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp files left
    umask = os.umask(0)
    os.umask(umask)
    assert first.stat().st_mode & 0o777 == 0o666 & ~umask  # usual permissions, not a temp file's 0600


def test_parquet_round_trips_the_generated_frames(app: typer.Typer, tmp_path: Path) -> None:
    out, truth = tmp_path / "shop" / "events.parquet", tmp_path / "shop" / "truth.parquet"
    code, output = run(app, *SMALL, "--seed", "5", "--out", str(out), "--truth", str(truth))
    assert code == 0, output
    expected = generate_shop(customers=200, products=60, months=3, seed=5)
    assert pq.read_schema(out).field(C.Date).type == pa.timestamp("us")  # what Spark and JVM readers accept
    pd.testing.assert_frame_equal(pd.read_parquet(out).astype({C.Date: "datetime64[ns]"}), expected.events)
    pd.testing.assert_frame_equal(pd.read_parquet(truth), expected.truth)
    for word in ("rows", "customers", "products", "date range", "persona mix", "time taken"):
        assert word in output
    assert f"{len(expected.events):,}" in output


def test_taste_options_reach_the_generator(app: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "events.parquet"
    code, output = run(app, *SMALL, "--seed", "5", "--out", str(out),
                       "--category-concentration", "inf", "--style-concentration", "2.5")
    assert code == 0, output
    expected = generate_shop(customers=200, products=60, months=3, seed=5, category_concentration=float("inf"),
                             style_concentration=2.5)
    pd.testing.assert_frame_equal(pd.read_parquet(out).astype({C.Date: "datetime64[ns]"}), expected.events)
    default = generate_shop(customers=200, products=60, months=3, seed=5).events
    assert not default[C.Item].equals(expected.events[C.Item])


def test_csv_is_readable(app: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "events.csv"
    code, output = run(app, *SMALL, "--out", str(out))
    assert code == 0, output
    frame = pd.read_csv(out)
    assert tuple(frame.columns) == C.Canonical
    assert frame[C.User].nunique() == 200


def test_bad_input_exits_2_without_traceback(app: typer.Typer, tmp_path: Path) -> None:
    code, output = run(app, "--products", "3", "--out", str(tmp_path / "x.parquet"))
    assert code == 2
    assert "products must be at least" in output and "Traceback" not in output
    assert not (tmp_path / "x.parquet").exists()


def test_unwritable_output_exits_2(app: typer.Typer, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    code, output = run(app, *SMALL, "--out", str(blocker / "events.parquet"))
    assert code == 2
    assert "cannot write" in output
