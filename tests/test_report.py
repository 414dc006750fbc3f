"""The HTML report: complete from a full run, honest about missing inputs, self-contained, escaped, atomic."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from browser_helpers import PipelineRun, copy_run, pipeline_run
from segrec.cli import report as report_cli
from segrec.columns import Columns
from segrec.exceptions import InputError
from segrec.report.build import REPORT_NAME, build_report
from segrec.report.labels import model_label
from segrec.report.plots.recommend import plot_model_comparison

C = Columns


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> PipelineRun:
    return pipeline_run(tmp_path_factory)


def _text(html: str) -> str:
    """Visible text, whitespace collapsed (enough to check what a reader sees)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_full_run_report_has_every_section(run: PipelineRun, tmp_path: Path) -> None:
    path = build_report(copy_run(run, tmp_path / "run"))
    assert path == tmp_path / "run" / REPORT_NAME
    html = path.read_text(encoding="utf-8")
    text = _text(html)
    segmentation = json.loads((run.out / "segmentation.json").read_text())
    evaluation = json.loads((run.out / "evaluation.json").read_text())
    manifest = json.loads((run.bundle / "manifest.json").read_text())

    assert re.findall(r'<img src="([^"]{0,22})', html) == ["data:image/png;base64,"] * 5  # 4 segmentation + chart
    assert not re.search(r'(src|href)="(https?:)?//', html) and "<script" not in html  # nothing to fetch
    assert "Customers 300" in text and f"Segments {segmentation['chosen_k']}" in text
    assert re.search(r"Recommendation lift [+-]\d+%", text)
    assert "strongest other model" not in text  # only the best-sellers list was measured beside the hybrid
    for profile in segmentation["profiles"]:
        assert profile[C.SegmentName] in text and profile[C.Action] in text
    for model in evaluation["models"]:  # in plain words, never the registry name
        assert f">{model_label(model['name'])}" in html and f">{model['name']}<" not in html
    assert "Precision@10" in text and "Hit rate@10" in text and "hit_rate" not in text
    assert len(re.findall('data-testid="segment-rule">Rule: ', html)) == len(segmentation["profiles"])
    assert f"{len(run.events):,}" in text and "rows read" in text  # the ingestion summary (3,033 rows)
    assert "RFM group" in text and 'data-testid="rfm-grid"' in html
    assert manifest["data_fingerprint"] in text and "segrec run" in text
    why = re.search(r'data-testid="blend-why"><strong>Why this blend:</strong> ([^<]+)<', html)
    assert why and why.group(1).startswith(("Validated on", "Not tuned"))  # the served bundle's own tuning
    names = pd.read_parquet(run.out / "recommendations.parquet")[C.ItemName]
    assert sum(name in text for name in names.unique()) >= 5  # example recommendations by product name
    assert "is missing" not in text and "no evaluation" not in text.lower()


def test_missing_inputs_are_said_plainly(tmp_path: Path) -> None:
    path = build_report(tmp_path)
    text = _text(path.read_text(encoding="utf-8"))
    assert "no ingestion report" in text and "no segmentation" in text
    assert "was not evaluated" in text and "saved no recommendations" in text
    assert "No model bundle" in text and "python" in text  # versions of the running install instead


def test_run_without_evaluation_or_demographics(run: PipelineRun, tmp_path: Path) -> None:
    out = copy_run(run, tmp_path / "run", drop=("evaluation.json", "projection.png", "bundle"))
    report = json.loads((out / "validation.json").read_text())
    report["columns_missing"] = [C.Age, C.Gender, C.Location, C.Income]
    report["rows_rejected"], report["rejected_by_reason"] = 7, {"missing user_id": 5, "negative quantity": 2}
    (out / "validation.json").write_text(json.dumps(report))
    text = _text(build_report(out).read_text(encoding="utf-8"))
    assert "was not evaluated" in text and "Recommendation lift" not in text
    assert "no age, gender, location, income columns" in text
    assert "missing user_id 5" in text and f"7 of {len(run.events):,} rows" in text
    assert "projection.png) is missing" in text
    assert "Who they are, in numbers" in text and "Example recommendations" in text


def test_reproduce_command_reads_the_source_the_same_way(run: PipelineRun, tmp_path: Path) -> None:
    """Issue 7: the Online Retail report said `segrec run FILE --out DIR`, which cannot read that file."""
    out = copy_run(run, tmp_path / "run")
    report = json.loads((out / "validation.json").read_text())
    report.update(source="data/online retail.parquet", format="online-retail",
                  columns_mapped={"CustomerID": C.User, "product_name": C.ItemName})
    (out / "validation.json").write_text(json.dumps(report))
    segmentation = json.loads((out / "segmentation.json").read_text())
    for profile in segmentation["profiles"]:
        profile.pop(f"median_{C.Age}", None), profile.pop(f"median_{C.Income}", None)
    (out / "segmentation.json").write_text(json.dumps(segmentation))
    text = unescape(_text(build_report(out).read_text(encoding="utf-8")))
    assert f"segrec run 'data/online retail.parquet' --format online-retail --out {out}" in text
    assert "Medians in original units (money in the shop's currency, days)." in text  # no "years" without age

    report.update(source="orders.csv", format="csv", columns_mapped={"Client": C.User, "SKU": C.Item})
    (out / "validation.json").write_text(json.dumps(report))
    text = _text(build_report(out).read_text(encoding="utf-8"))
    assert f"segrec run orders.csv --map Client=user_id --out {out}" in text  # SKU is found by name

    options = {"segments_k": 4, "k": 20, "seed": 7, "cutoff": "2024-10-01", "skip_evaluation": False}
    (out / "run.json").write_text(json.dumps({"options": options}))
    text = _text(build_report(out).read_text(encoding="utf-8"))
    assert (f"segrec run orders.csv --map Client=user_id --segments-k 4 -k 20 --seed 7 --cutoff 2024-10-01 "
            f"--out {out}") in text  # the choices that change the results, recorded by `segrec run`


def test_data_is_escaped(tmp_path: Path) -> None:
    evil = "<script>alert('x')</script>"
    pd.DataFrame({C.User: ["u1"], C.Rank: [1], C.Item: ["p1"], C.ItemName: [evil], C.Score: [1.0],
                  C.Reason: ["<b>bold</b>"]}).to_parquet(tmp_path / "recommendations.parquet")
    html = build_report(tmp_path).read_text(encoding="utf-8")
    assert evil not in html and "&lt;script&gt;" in html and "&lt;b&gt;bold" in html


def test_written_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = build_report(tmp_path).read_text(encoding="utf-8")

    def broken(context: object) -> str:
        raise RuntimeError("template failed")

    monkeypatch.setattr("segrec.report.build.render", broken)
    with pytest.raises(RuntimeError):
        build_report(tmp_path)
    assert (tmp_path / REPORT_NAME).read_text(encoding="utf-8") == first
    assert sorted(p.name for p in tmp_path.iterdir()) == [REPORT_NAME]


def test_no_run_directory_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no run directory"):
        build_report(tmp_path / "absent")


def test_cli_prints_the_path(tmp_path: Path) -> None:
    app = typer.Typer()
    report_cli.register(app)
    app.command("noop")(lambda: None)  # two commands, so Typer keeps the command name
    result = CliRunner().invoke(app, ["report", str(tmp_path), "--output", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    assert str((tmp_path / "r.html").resolve()) in result.output.replace("\n", "")
    assert (tmp_path / "r.html").is_file()
    assert CliRunner().invoke(app, ["report", str(tmp_path / "absent")]).exit_code == 2


def test_model_comparison_highlights_the_served_model() -> None:
    models = [{"name": "popularity", "metrics": {"precision@10": 0.05, "ndcg@10": 0.07}},
              {"name": "hybrid", "metrics": {"precision@10": 0.08, "ndcg@10": None}},
              {"name": "ease", "metrics": {"precision@10": 0.07, "ndcg@10": 0.09}}]
    fig = plot_model_comparison(models, 10, highlight="hybrid")
    left, right = fig.axes
    assert [t.get_text() for t in left.get_yticklabels()] == ["Hybrid", "Item-to-item (EASE)", "Best-sellers"]
    assert left.get_title() == "Precision@10" and right.get_xlabel()  # plain titles, labelled axes
    colours = [tuple(np.round(bar.get_facecolor(), 3)) for bar in left.patches]
    assert colours[0] != colours[1] and colours[1] == colours[2]
    assert [t.get_text() for t in right.texts if t.get_text() == "n/a"] == ["n/a"]


def test_headline_lift_is_said_against_the_strongest_other_model_too(run: PipelineRun, tmp_path: Path) -> None:
    out = copy_run(run, tmp_path / "run")
    evaluation = json.loads((out / "evaluation.json").read_text())
    evaluation["models"] = [
        {"name": "popularity", "metrics": {"precision@10": 0.05, "ndcg@10": 0.06}},
        {"name": "segment_popularity", "metrics": {"precision@10": 0.089, "ndcg@10": 0.1}},
        {"name": "hybrid", "metrics": {"precision@10": 0.106, "ndcg@10": 0.12}}]
    evaluation["default_model"] = "hybrid"
    (out / "evaluation.json").write_text(json.dumps(evaluation))
    text = _text(build_report(out).read_text(encoding="utf-8"))
    assert re.search(r"Recommendation lift \+112% Hybrid \(served\) vs the best-sellers list, precision@10; "
                     r"\+19% vs the strongest other model in the same test \(Segment best-sellers\)", text)
    assert "+19% against the strongest other model of the same test (Segment best-sellers)" in text
    assert "Against the strongest other model of this test (Segment best-sellers): +19% on precision" in text


def test_rfm_shades_keep_text_readable() -> None:
    """Every shade of the RFM grid with its text colour has at least WCAG AA's 4.5:1 contrast."""
    css = (Path(__file__).resolve().parents[1] / "src/segrec/report/templates/report.html.j2").read_text()
    shades = re.findall(r"\.l(\d) \{ background: (#[0-9a-f]{6}); color: (#[0-9a-f]{3,6}); \}", css)
    assert len(shades) == 5

    def luminance(colour: str) -> float:
        colour = colour if len(colour) == 7 else "#" + "".join(c * 2 for c in colour[1:])
        rgb = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    for _, background, ink in shades:
        light, dark = sorted((luminance(background), luminance(ink)), reverse=True)
        assert (light + 0.05) / (dark + 0.05) >= 4.5, (background, ink)


def test_figures_keep_their_smallest_text_readable_on_a_phone(run: PipelineRun) -> None:
    """Shrunk to 332 px wide, no text of a figure is under 9.5 px: every text of every figure, and the width."""
    from PIL import Image

    from segrec.report.plots import DPI, MIN_FONT_PT, WIDTH

    for name in ("k_selection.png", "projection.png", "profile_heatmap.png", "sizes_revenue.png"):
        width = Image.open(run.out / name).size[0]
        assert width == round(WIDTH * DPI), name
        assert MIN_FONT_PT * DPI / 72 * 332 / width >= 9.5
    models = [{"name": "popularity", "metrics": {"precision@10": 0.05, "ndcg@10": 0.07}}]
    fig = plot_model_comparison(models, 10)
    fig.canvas.draw()
    sizes = [t.get_fontsize() for ax in fig.axes for t in (*ax.texts, *ax.get_yticklabels(), *ax.get_xticklabels(),
                                                          ax.title, ax.xaxis.label) if t.get_text()]
    assert min(sizes) >= MIN_FONT_PT and fig.get_figwidth() == WIDTH


def test_undefined_diversity_is_said_not_printed_as_a_number(run: PipelineRun, tmp_path: Path) -> None:
    out = copy_run(run, tmp_path / "run")
    evaluation = json.loads((out / "evaluation.json").read_text())
    for model in evaluation["models"]:
        model["metrics"]["diversity"] = None  # a shop whose products have no text (JSON null)
    (out / "evaluation.json").write_text(json.dumps(evaluation))
    text = _text(build_report(out).read_text(encoding="utf-8"))
    assert "list diversity of" not in text and "cannot be measured here" in text
