"""Reading files as European spreadsheets write them: decimal commas, day-first dates, legacy encodings, Excel
sheets; and the validation report suggesting the option when it sees the symptom (CLI included)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from segrec.cli import app
from segrec.columns import Columns as C
from segrec.data.read import ReadOptions, ingest
from segrec.exceptions import EncodingError, InputError

EU = ("Kunde;Artikel;Datum;Preis;Menge;Ort\n"
      "K1;A1;01.02.2024;3,50;2;Köln\n"
      "K2;A2;13.02.2024 14:30;1.234,50;1;Düsseldorf\n"
      "K1;A3;29.02.2024;0,99;3;Köln\n")
MAPPING = {"Kunde": C.User, "Artikel": C.Item, "Datum": C.Date, "Preis": C.Price, "Menge": C.Quantity,
           "Ort": C.Location}
MAP_ARGS = [arg for source, canon in MAPPING.items() for arg in ("--map", f"{source}={canon}")]


def _write(tmp_path: Path, text: str, encoding: str = "utf-8", name: str = "orders.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_decimal_commas_and_day_first_dates_are_read_with_the_options(tmp_path: Path) -> None:
    path = _write(tmp_path, EU)
    plain = ingest(path, MAPPING)
    assert plain.report.rows_accepted == 0 and plain.report.rejected_by_reason == {"unparsable_number:price": 3}
    assert plain.report.suggestions == [
        "every price failed to parse (e.g. '3,50'); it looks like decimal commas: try --decimal ,"]

    result = ingest(path, MAPPING, options=ReadOptions(decimal=","))
    assert result.report.rows_rejected == 0 and result.report.suggestions == []
    assert result.events[C.Price].tolist() == [3.5, 1234.5, 0.99]
    assert result.events[C.Spending].tolist() == pytest.approx([7.0, 1234.5, 2.97])
    assert result.events[C.Date].tolist() == [pd.Timestamp("2024-02-01"), pd.Timestamp("2024-02-13 14:30"),
                                             pd.Timestamp("2024-02-29")]
    assert result.events[C.Location].tolist() == ["Köln", "Düsseldorf", "Köln"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.decimals(min_value=0, max_value=10**7, places=2, allow_nan=False, allow_infinity=False),
       st.booleans())
def test_any_decimal_comma_number_parses_to_its_value(tmp_path: Path, value, grouped: bool) -> None:
    whole, _, cents = f"{value:.2f}".partition(".")
    if grouped:
        whole = f"{int(whole):,}".replace(",", ".")
    text = f"user_id;product_id;purchase_date;price\nu;p;2024-01-01;{whole},{cents}\n"
    events = ingest(_write(tmp_path, text), options=ReadOptions(decimal=",")).events
    assert events[C.Price].tolist() == [pytest.approx(float(value))]


def test_a_point_stays_a_decimal_point_unless_it_groups_thousands(tmp_path: Path) -> None:
    text = "user_id;product_id;purchase_date;price\nu;p;2024-01-01;3.5\nu;q;2024-01-01;2.500\nu;r;2024-01-01;7\n"
    events = ingest(_write(tmp_path, text), options=ReadOptions(decimal=",")).events
    assert events[C.Price].tolist() == [3.5, 2500.0, 7.0]


def test_month_first_is_the_default_and_dayfirst_or_a_format_changes_it(tmp_path: Path) -> None:
    text = "user_id,product_id,purchase_date\nu,p,01/02/2024\nu,q,13/02/2024\n"
    path = _write(tmp_path, text)
    plain = ingest(path)
    assert plain.events[C.Date].tolist() == [pd.Timestamp("2024-01-02")]
    assert plain.report.suggestions == [
        "1 of 2 rows: the purchase_date failed to parse (e.g. '13/02/2024'); the day comes first: try --dayfirst "
        "(dates already read may have been taken month first)"]
    expected = [pd.Timestamp("2024-02-01"), pd.Timestamp("2024-02-13")]
    assert ingest(path, options=ReadOptions(dayfirst=True)).events[C.Date].tolist() == expected
    assert ingest(path, options=ReadOptions(date_format="%d/%m/%Y")).events[C.Date].tolist() == expected

    odd = _write(tmp_path, "user_id,product_id,purchase_date\nu,p,20240201\n", name="odd.csv")
    assert "--date-format" in ingest(odd).report.suggestions[0]
    assert ingest(odd, options=ReadOptions(date_format="%Y%m%d")).events[C.Date].tolist() == [
        pd.Timestamp("2024-02-01")]


def test_a_latin1_file_is_detected_and_says_so(tmp_path: Path) -> None:
    path = _write(tmp_path, EU, "cp1252")
    result = ingest(path, MAPPING, options=ReadOptions(decimal=","))
    assert result.report.rows_accepted == 3
    assert result.events[C.Location].tolist() == ["Köln", "Düsseldorf", "Köln"]
    assert result.report.notes == ["the file is not UTF-8: read as cp1252 (detected); pass --encoding if the "
                                   "accents or symbols look wrong"]
    named = ingest(path, MAPPING, options=ReadOptions(decimal=",", encoding="latin-1"))
    assert named.events[C.Location].tolist()[1] == "Düsseldorf" and named.report.notes == []
    with pytest.raises(EncodingError, match=r"not UTF-8 text.*--encoding cp1252"):
        ingest(path, MAPPING, options=ReadOptions(decimal=",", encoding="utf-8"))


def test_a_non_utf8_byte_past_the_checked_head_is_read_again_in_a_legacy_encoding(tmp_path: Path) -> None:
    rows = "".join(f"u{i},p{i % 50},2024-01-01,{i % 7}.5,Paris\n" for i in range(40_000))  # > 1 MB of ASCII
    path = _write(tmp_path, "user_id,product_id,purchase_date,price,location\n" + rows + "u1,p1,2024-01-02,1,Zürich\n",
                  "latin-1")
    assert path.stat().st_size > 1 << 20
    result = ingest(path)
    assert result.report.rows_accepted == 40_001
    assert result.events[C.Location].iloc[-1] == "Zürich"
    assert any("read as cp1252" in note for note in result.report.notes)


def test_bad_options_are_one_line_input_errors() -> None:
    with pytest.raises(InputError, match="--decimal ';'"):
        ReadOptions(decimal=";")
    with pytest.raises(InputError, match="not a known encoding"):
        ReadOptions(encoding="klingon")
    with pytest.raises(InputError, match="no strptime code"):
        ReadOptions(date_format="dd.mm.yyyy")


def test_excel_sheet_by_name_or_number(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"notes": ["cover sheet"]}).to_excel(writer, sheet_name="Cover", index=False)
        pd.DataFrame({C.User: ["u1", "u2"], C.Item: ["p", "q"], C.Date: ["2024-01-01", "2024-01-02"],
                      C.Price: ["3,50", "4,00"]}).to_excel(writer, sheet_name="Orders", index=False)
    with pytest.raises(InputError, match="missing required column"):
        ingest(path)  # the first sheet
    for sheet in ("Orders", "1"):
        events = ingest(path, options=ReadOptions(sheet=sheet, decimal=",")).events
        assert events[C.Price].tolist() == [3.5, 4.0]
    with pytest.raises(InputError, match="no sheet 'Sales'; its sheets: 'Cover', 'Orders'"):
        ingest(path, options=ReadOptions(sheet="Sales"))


def test_cli_validate_suggests_and_then_reads_the_european_file(tmp_path: Path) -> None:
    path = _write(tmp_path, EU, "cp1252")
    result = CliRunner().invoke(app, ["validate", str(path), *MAP_ARGS, "--report", str(tmp_path / "v.json")])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "looks like decimal commas: try --decimal ," in said.replace("│", "").replace("  ", " ")
    assert "read as cp1252" in (tmp_path / "v.json").read_text()

    result = CliRunner().invoke(app, ["validate", str(path), *MAP_ARGS, "--decimal", ",", "--encoding", "cp1252",
                                      "--date-format", "%d.%m.%Y"])
    assert result.exit_code == 0, result.output
    assert re.search(r"rows accepted\s*│\s*2\s", result.output)  # 13.02.2024 14:30 does not match the format
    result = CliRunner().invoke(app, ["validate", str(path), "--decimal", ";"])
    assert result.exit_code == 2 and "use '.' or ','" in result.output


def test_cli_run_records_the_reading_options_for_the_rerun_command(tmp_path: Path) -> None:
    from segrec.data.generate import generate_shop

    events = generate_shop(customers=60, products=30, months=4, seed=2).events
    frame = events[[C.User, C.Item, C.Date, C.Price, C.Quantity]].assign(
        **{C.Date: events[C.Date].dt.strftime("%d/%m/%Y"), C.Price: events[C.Price].map(lambda v: f"{v:.2f}".replace(".", ","))})
    path = tmp_path / "orders.csv"
    frame.to_csv(path, sep=";", index=False, encoding="cp1252")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(out), "--decimal", ",", "--dayfirst",
                                      "--skip-evaluation", "--segments-k", "2"])
    assert result.exit_code == 0, result.output
    assert pd.read_parquet(out / "events.parquet")[C.Date].max() == events[C.Date].dt.normalize().max()
    html = (out / "report.html").read_text()
    assert "--decimal , --dayfirst" in html
