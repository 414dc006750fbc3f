"""The dashboard and the report in a real headless Chromium, against a real uvicorn server.

Select with ``-m browser``; they run in ``make test`` and skip (with the reason) only when Chromium or
playwright is missing. Screenshots are saved under ``out/test-artifacts/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from browser_helpers import (
    LiveServer,
    PipelineRun,
    artifact,
    axe_violations,
    launch_chromium,
    pipeline_run,
    sideways_overflow,
)
from segrec.columns import Columns
from segrec.report.build import build_report

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
    assert page.locator("[data-testid=segment-rule]").all_inner_texts() == [f"Rule: {s['rule']}" for s in segments]

    # a known customer, submitted with Enter: their own figures beside the segment's, last purchases, and the
    # API's recommendations in its order
    user = str(run.events[Columns.User].iloc[0])
    page.fill("#customer-id", user)
    page.press("#customer-id", "Enter")
    page.locator("[data-testid=rec-item]").first.wait_for()
    api = server.get(f"/v1/users/{user}/recommendations", k=10, mode="discover")
    assert not api["cold_start"]
    assert _ids(page, "rec-item") == [item["product_id"] for item in api["items"]]
    assert page.locator("[data-testid=rec-item] [data-testid=reason]").all_inner_texts() == [
        item["reason"] for item in api["items"]]
    profile = server.get(f"/v1/users/{user}/profile")
    assert profile["segment_name"] in page.locator("[data-testid=customer-segment]").inner_text()
    own = page.locator("[data-testid=customer-profile] [data-testid=own-figure]").all_inner_texts()
    assert own[:2] == [f"{profile['figures']['total_spending']:,.2f}", f"{profile['figures']['frequency']:,.0f}"]
    assert profile["figures"]["rfm_group"] in page.locator("[data-testid=rfm-group]").inner_text()
    assert page.locator("[data-testid=last-purchases] li").evaluate_all("n => n.map(e => e.dataset.productId)") == [
        p["product_id"] for p in profile["last_purchases"]]
    assert page.locator(f"[data-testid=segment-card][data-segment='{profile['segment']}']").get_attribute(
        "class").split() == ["card", "current"]

    # clicking a recommended product shows its similar products, as the API ranks them
    first = api["items"][0]
    page.locator("[data-testid=rec-item] [data-testid=product-link]").first.click()
    page.locator("[data-testid=similar-item]").first.wait_for()
    similar = server.get(f"/v1/products/{first['product_id']}/similar", k=8)
    assert first["product_name"] in page.locator("[data-testid=similar-title]").inner_text()
    assert _ids(page, "similar-item") == [item["product_id"] for item in similar["items"]]
    # ... and the next customer does not inherit it
    other = str(run.events[Columns.User].iloc[-1])
    page.fill("#customer-id", other)
    page.press("#customer-id", "Enter")
    page.locator("[data-testid=rec-item]").first.wait_for()
    page.wait_for_function("document.querySelectorAll('[data-testid=similar-item]').length === 0")

    # the cold-start form: locations from the bundle, any income, the likely segment shown
    options = server.get("/v1/cold-start/options")
    assert page.locator("#cs-location option").all_inner_texts()[1:] == options["locations"]
    location = options["locations"][0]
    page.fill("#cs-age", "29")
    page.select_option("#cs-gender", "F")
    page.select_option("#cs-location", location)
    page.fill("#cs-income", "45250")
    page.press("#cs-income", "Enter")
    page.locator("[data-testid=coldstart-item]").first.wait_for()
    body = {"customer": {"age": 29, "income": 45250, "gender": "F", "location": location}, "k": 10}
    cold = httpx.post(server.url + "/v1/recommendations", json=body, timeout=10).json()["results"][0]
    assert _ids(page, "coldstart-item") == [item["product_id"] for item in cold["items"]]
    assigned = httpx.post(server.url + "/v1/segments/assign", json={"age": 29, "income": 45250}, timeout=10).json()
    shown = page.locator("[data-testid=coldstart-segment]")
    assert shown.get_attribute("data-segment") == str(assigned["segment"])
    assert f"Likely segment {assigned['segment']}: {assigned['segment_name']}" in shown.inner_text()
    assert "recommendations for a new customer" in page.locator("[data-testid=status]").inner_text()

    page.screenshot(path=artifact("dashboard.png"), full_page=True)
    assert page.errors == []


def test_dashboard_unknown_blank_and_slashed_ids(page: Any, server: LiveServer, run: PipelineRun) -> None:
    page.goto(server.url + "/#customer=nobody-here")  # a shared link looks the customer up on load
    page.locator("[data-testid=cold-note]").wait_for()
    assert "not in this model's purchase history" in page.locator("[data-testid=customer-segment]").inner_text()
    assert page.locator("[data-testid=rec-item]").count() > 0
    assert all("404" in error for error in page.errors), page.errors  # the profile lookup's 404, handled

    page.fill("#customer-id", "  \t ")  # blank: said, and the previous answer does not stay
    page.press("#customer-id", "Enter")
    assert page.locator("[data-testid=customer-id-error]").inner_text() == "Enter a customer id."
    assert page.locator("#customer-id").get_attribute("aria-invalid") == "true"
    assert page.locator("[data-testid=rec-item]").count() == 0

    page.fill("#customer-id", "a/b")  # an id with a slash is an id: cold start, not a raw "Not Found"
    page.press("#customer-id", "Enter")
    page.locator("[data-testid=cold-note]").wait_for()
    assert "a/b is not in this model's purchase history" in page.locator("[data-testid=customer-segment]").inner_text()
    assert "Not Found" not in page.locator("#customer-result").inner_text()


def test_segment_drilldown_sorts_links_and_exports(page: Any, server: LiveServer) -> None:
    page.goto(server.url + "/")
    segment = server.get("/v1/segments")["segments"][1]["segment"]
    page.locator(f"[data-testid=segment-card][data-segment='{segment}'] [data-testid=segment-members]").click()
    page.locator("[data-testid=member]").first.wait_for()
    api = server.get(f"/v1/segments/{segment}/customers", sort="total_spending", order="desc", limit=50)
    rows = page.locator("[data-testid=member]")
    assert rows.evaluate_all("n => n.map(e => e.dataset.userId)") == [c["user_id"] for c in api["customers"]]
    assert f"{api['total']:,} customers" in page.locator("[data-testid=drilldown-summary]").inner_text()

    page.locator("th button.sort[data-sort=frequency]").click()  # sort by orders, most first
    page.wait_for_function("document.querySelector('th[aria-sort=descending] button')?.dataset.sort === 'frequency'")
    by_orders = server.get(f"/v1/segments/{segment}/customers", sort="frequency", order="desc", limit=50)
    page.wait_for_function(f"document.querySelector('[data-testid=member]').dataset.userId === "
                           f"{by_orders['customers'][0]['user_id']!r}")
    assert rows.evaluate_all("n => n.map(e => e.dataset.userId)") == [c["user_id"] for c in by_orders["customers"]]

    for link, first_column in (("download-members", "user_id,segment"), ("download-recs", "user_id,rank,product_id")):
        href = page.locator(f"[data-testid={link}]").get_attribute("href")
        answer = httpx.get(server.url + href, timeout=30)
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
        assert answer.text.startswith(first_column) and "attachment" in answer.headers["content-disposition"]
    members = httpx.get(server.url + page.locator("[data-testid=download-members]").get_attribute("href")).text
    assert len(members.strip().splitlines()) == api["total"] + 1

    first = by_orders["customers"][0]["user_id"]  # a member opens the customer view
    rows.first.locator("button").click()
    page.locator("[data-testid=rec-item]").first.wait_for()
    assert page.locator("#customer-id").input_value() == first
    assert page.errors == []


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


def test_recording_a_purchase_refreshes_the_customer_in_place(browser: Any, run: PipelineRun, tmp_path: Any) -> None:
    """Issue 13 item 7: the customer view lists the customer's own recent events, and "Record a purchase" posts
    an event and refreshes the events and the recommendations without reloading the page."""
    user = str(run.events[Columns.User].iloc[len(run.events) // 2])
    with LiveServer(run.bundle, events=str(tmp_path / "events.duckdb")) as live:
        context = browser.new_context(viewport={"width": 390, "height": 800})
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{live.url}/#customer={user}")
        page.locator("[data-testid=rec-item]").first.wait_for()
        assert "No event received" in page.locator("[data-testid=recent-events]").inner_text()
        before = _ids(page, "rec-item")
        bought = before[0]
        page.evaluate("window.__sameDocument = true")  # gone if the page reloads

        page.locator("[data-testid=rec-item] [data-testid=record-purchase]").first.click()
        page.wait_for_function(f"document.querySelector('[data-testid=event]')?.dataset.productId === {bought!r}")
        stored = live.get(f"/v1/users/{user}/events")["events"]
        assert [(e["event_type"], e["product_id"], e["quantity"]) for e in stored] == [("purchase", bought, 1)]
        assert stored[0]["event_id"].startswith("dashboard-")
        page.wait_for_function(f"!{_ids_js()}.includes({bought!r})")  # discover: a bought product leaves the list
        answer = httpx.post(live.url + "/v1/recommendations", json={"user_ids": [user], "k": 10}, timeout=10).json()
        assert _ids(page, "rec-item") == [item["product_id"] for item in answer["results"][0]["items"]]
        assert page.evaluate("window.__sameDocument") is True
        assert "recorded" in page.locator("[data-testid=status]").inner_text()
        assert axe_violations(page) == [] and sideways_overflow(page)[0] <= 390
        page.screenshot(path=artifact("record-purchase-390.png"), full_page=True)
        context.close()
    assert errors == []


def _ids_js() -> str:
    return "[...document.querySelectorAll('[data-testid=rec-item]')].map(n => n.dataset.productId)"


@pytest.mark.parametrize("width", [1280, 390])
def test_every_state_is_accessible_and_fits_the_screen(browser: Any, server: LiveServer, run: PipelineRun,
                                                      tmp_path: Any, width: int) -> None:
    """axe-core finds no serious or critical violation, and nothing scrolls sideways, on the report and in every
    state of the dashboard, at desktop and phone width."""
    context = browser.new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    problems: dict[str, Any] = {}

    def check(state: str) -> None:
        problems[state] = axe_violations(page)
        scroll, inner = sideways_overflow(page)
        if scroll > inner:
            problems[state].append(f"page is {scroll} px wide in a {inner} px window")
        page.screenshot(path=artifact(f"{state}-{width}.png"), full_page=True)

    page.goto(build_report(run.out, path=tmp_path / "report.html").as_uri())
    page.wait_for_load_state("load")
    check("report")
    page.goto(server.url + "/")
    page.locator("[data-testid=segment-card]").first.wait_for()
    check("dashboard")
    page.fill("#customer-id", str(run.events[Columns.User].iloc[0]))
    page.press("#customer-id", "Enter")
    page.locator("[data-testid=rec-item] [data-testid=product-link]").first.click()
    page.locator("[data-testid=similar-item]").first.wait_for()
    check("customer")
    page.fill("#customer-id", " ")
    page.press("#customer-id", "Enter")
    check("blank-id")
    page.fill("#customer-id", "nobody/here")
    page.press("#customer-id", "Enter")
    page.locator("[data-testid=cold-note]").wait_for()
    check("unknown-customer")
    page.locator("[data-testid=segment-members]").first.click()
    page.locator("[data-testid=member]").first.wait_for()
    check("drill-down")
    page.select_option("#cs-location", index=1)
    page.fill("#cs-income", "45250")
    page.click("#coldstart-submit")
    page.locator("[data-testid=coldstart-item]").first.wait_for()
    check("cold-start")
    context.close()
    assert {state: found for state, found in problems.items() if found} == {}


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
