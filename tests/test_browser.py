"""The dashboard and the report in a real headless Chromium, against a real uvicorn server.

Select with ``-m browser``; they run in ``make test`` and skip (with the reason) only when Chromium or
playwright is missing. Screenshots are saved under ``out/test-artifacts/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from browser_helpers import LiveServer, PipelineRun, artifact, launch_chromium, pipeline_run
from segrec.columns import Columns
from segrec.report import build_report

pytestmark = pytest.mark.browser

TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> PipelineRun:
    return pipeline_run(tmp_path_factory)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launch_chromium() as chromium:
        yield chromium


@pytest.fixture(scope="module")
def server(run: PipelineRun, browser: Any) -> Iterator[LiveServer]:  # browser first: no server if it skips
    with LiveServer(run.bundle) as live:
        yield live


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.errors = []
    page.on("console", lambda msg: page.errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    yield page
    context.close()


def _ids(page: Any, testid: str) -> list[str]:
    return page.locator(f"[data-testid={testid}]").evaluate_all("nodes => nodes.map(n => n.dataset.productId)")


def test_dashboard_segments_lookup_similar_and_cold_start(page: Any, server: LiveServer, run: PipelineRun) -> None:
    page.goto(server.url + "/")
    segments = server.get("/v1/segments")["segments"]
    cards = page.locator("[data-testid=segment-card]")
    cards.nth(len(segments) - 1).wait_for()
    assert cards.count() == len(segments)
    assert [c.split(". ", 1)[1] for c in cards.locator("h3").all_inner_texts()] == [s["segment_name"] for s in segments]
    assert page.locator("[data-testid=segment-svg] rect").count() == 2 * len(segments)

    # a known customer, submitted with Enter: segment, profile and the API's recommendations in its order
    user = str(run.events[Columns.User].iloc[0])
    page.fill("#customer-id", user)
    page.press("#customer-id", "Enter")
    page.locator("[data-testid=rec-item]").first.wait_for()
    api = server.get(f"/v1/users/{user}/recommendations", k=10, mode="discover")
    assert not api["cold_start"]
    assert _ids(page, "rec-item") == [item["product_id"] for item in api["items"]]
    assert page.locator("[data-testid=rec-item] [data-testid=reason]").all_inner_texts() == [
        item["reason"] for item in api["items"]]
    segment = server.get(f"/v1/users/{user}/segment")
    assert segment["segment_name"] in page.locator("[data-testid=customer-segment]").inner_text()
    assert page.locator("[data-testid=customer-profile] > div").count() >= 3
    assert page.locator(f"[data-testid=segment-card][data-segment='{segment['segment']}']").get_attribute(
        "class").split() == ["card", "current"]

    # clicking a recommended product shows its similar products, as the API ranks them
    first = api["items"][0]
    page.locator("[data-testid=rec-item] [data-testid=product-link]").first.click()
    page.locator("[data-testid=similar-item]").first.wait_for()
    similar = server.get(f"/v1/products/{first['product_id']}/similar", k=8)
    assert first["product_name"] in page.locator("[data-testid=similar-title]").inner_text()
    assert _ids(page, "similar-item") == [item["product_id"] for item in similar["items"]]

    # the cold-start form, filled and submitted from the keyboard
    page.fill("#cs-age", "29")
    page.select_option("#cs-gender", "F")
    page.fill("#cs-location", "Leeds")
    page.fill("#cs-income", "42000")
    page.press("#cs-income", "Enter")
    page.locator("[data-testid=coldstart-item]").first.wait_for()
    body = {"customer": {"age": 29, "income": 42000, "gender": "F", "location": "Leeds"}, "k": 10}
    cold = httpx.post(server.url + "/v1/recommendations", json=body, timeout=10).json()["results"][0]
    assert _ids(page, "coldstart-item") == [item["product_id"] for item in cold["items"]]
    assert "recommendations for a new customer" in page.locator("[data-testid=status]").inner_text()

    page.screenshot(path=artifact("dashboard.png"), full_page=True)
    assert page.errors == []


def test_dashboard_unknown_customer_gets_cold_start(page: Any, server: LiveServer) -> None:
    page.goto(server.url + "/#customer=nobody-here")  # a shared link looks the customer up on load
    page.locator("[data-testid=cold-note]").wait_for()
    assert "has no segment" in page.locator("[data-testid=customer-segment]").inner_text()
    assert page.locator("[data-testid=rec-item]").count() > 0
    assert all("404" in error for error in page.errors), page.errors  # the segment lookup's 404, handled


def test_dashboard_controls_are_labelled_buttons_and_inputs(page: Any, server: LiveServer) -> None:
    page.goto(server.url + "/")
    page.locator("[data-testid=segment-card]").first.wait_for()
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, select')]
        .filter(el => !document.querySelector(`label[for="${el.id}"]`)).map(el => el.id || el.name)""")
    assert unlabelled == []
    assert page.locator("[aria-live=polite]").count() >= 4
    assert page.evaluate("[...document.querySelectorAll('[onclick], a:not([href])')].length") == 0
    page.focus("#customer-id")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "customer-submit"


def test_report_renders_in_chromium(page: Any, run: PipelineRun, tmp_path: Any) -> None:
    report = build_report(run.out, path=tmp_path / "report.html")
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(report.as_uri())
    page.wait_for_load_state("load")
    sizes = page.locator("img").evaluate_all("imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
    assert len(sizes) == 5 and all(width > 0 for width in sizes)
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    assert page.locator("[data-testid=headline] .card").count() == 4
    page.screenshot(path=artifact("report.png"), full_page=True)
    assert page.errors == []
