"""``segrec validate`` end to end through Typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from segrec.cli import validate
from segrec.cli._errors import err_console
from segrec.columns import Columns

C = Columns


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    """An app with just this command (the full CLI imports every other command module)."""
    app = typer.Typer()
    validate.register(app)
    app.callback()(lambda: None)
    return app


@pytest.fixture(autouse=True)
def _unwrapped_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """rich wraps at the console width (80 off a terminal); a one-line message should stay one line."""
    monkeypatch.setattr(err_console, "soft_wrap", True)


def _run(app: typer.Typer, *args: object) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["validate", *map(str, args)], terminal_width=400)
    return result.exit_code, result.output


def test_good_file_exits_0_and_writes_the_report(app: typer.Typer, shop_csv: Path, tmp_path: Path) -> None:
    code, out = _run(app, shop_csv, "--report", tmp_path / "out" / "report.json", "--rejects", tmp_path / "rej.csv")
    assert code == 0, out
    assert "rows accepted" in out and "6" in out
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["rows_accepted"] == 6 and report["rows_rejected"] == 0
    assert pd.read_csv(tmp_path / "rej.csv").empty
    assert not list((tmp_path / "out").glob(".*"))  # no temporary files left behind


def test_bad_rows_go_to_the_rejects_file(app: typer.Typer, tmp_path: Path) -> None:
    source = tmp_path / "orders.csv"
    source.write_text("Customer,SKU,When,Price\nc1,p1,2024-01-01,2\n,p2,2024-01-02,3\nc3,p3,2024-01-03,-4\n")
    mapping = tmp_path / "map.toml"
    mapping.write_text('[columns]\n"When" = "purchase_date"\n')
    code, out = _run(app, source, "--map", "Customer=user_id", "--map-file", mapping,
                     "--rejects", tmp_path / "rejects.parquet")
    assert code == 0, out
    assert "missing_user_id" in out and "negative_price" in out
    rejects = pd.read_parquet(tmp_path / "rejects.parquet")
    assert rejects[C.RejectReason].tolist() == ["missing_user_id", "negative_price"]
    assert rejects[C.SourceRow].tolist() == [1, 2]
    assert rejects["Price"].tolist() == ["3", "-4"]


def test_strict_mode_exits_2_naming_row_and_column(app: typer.Typer, tmp_path: Path) -> None:
    source = tmp_path / "orders.csv"
    source.write_text("User ID,Product ID,Purchase Date,Price\nu1,p1,2024-01-01,2\nu2,p2,2024-01-02,abc\n")
    code, out = _run(app, source, "--strict")
    assert code == 2
    assert "row 1, column 'Price': unparsable_number:price" in out


def test_missing_column_exits_2_naming_it(app: typer.Typer, tmp_path: Path) -> None:
    source = tmp_path / "orders.csv"
    source.write_text("User ID,Purchase Date\nu1,2024-01-01\n")
    code, out = _run(app, source)
    assert code == 2
    assert "'product_id'" in out and "'User ID'" in out
    assert "Traceback" not in out


@pytest.mark.parametrize("kind", ["absent", "empty", "binary", "unknown-suffix", "bad-map"])
def test_unusable_input_exits_2_with_one_line(app: typer.Typer, tmp_path: Path, shop_csv: Path, kind: str) -> None:
    path = tmp_path / "in.csv"
    args: list[object] = [path]
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "binary":
        path.write_bytes(b"\x00\x01\x02garbage" * 100)
    elif kind == "unknown-suffix":
        args = [tmp_path / "in.json"]
    elif kind == "bad-map":
        args = [shop_csv, "--map", "Nope=user_id"]
    code, out = _run(app, *args)
    assert code == 2
    assert out.startswith("error:") and len(out.strip().splitlines()) == 1, out


def test_rejects_file_must_be_csv_or_parquet(app: typer.Typer, shop_csv: Path, tmp_path: Path) -> None:
    code, out = _run(app, shop_csv, "--rejects", tmp_path / "r.json")
    assert code == 2 and "--rejects" in out
