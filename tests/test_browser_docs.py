"""The API's own documentation in a headless Chromium with the network blocked (issue 15 item 3): Swagger UI
and ReDoc load their assets from the installed package, so /docs lists the operations without a CDN."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from browser_helpers import LiveServer, artifact, launch_chromium

pytestmark = pytest.mark.browser
pytest_plugins = ["bundle_helpers"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launch_chromium() as chromium:
        yield chromium


@pytest.fixture(scope="module")
def server(bundle_path: Path, browser: Any) -> Iterator[LiveServer]:
    with LiveServer(bundle_path) as live:
        yield live


@pytest.mark.parametrize("width", [1280, 390])
def test_docs_list_the_operations_offline(browser: Any, server: LiveServer, width: int) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    blocked: list[str] = []

    def only_the_server(route: Any) -> None:
        if route.request.url.startswith(server.url):
            route.continue_()
        else:  # anything from another host would be a CDN: refuse it, as an offline machine would
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_server)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(server.url + "/docs")
        page.wait_for_selector(".opblock", timeout=15_000)
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        assert {"/v1/events", "/v1/users/{user_id}/events", "/v1/users/{user_id}/recommendations",
                "/v1/recommendations", "/admin/availability"} <= {p.replace("\u200b", "") for p in paths}
        page.screenshot(path=str(artifact(f"docs-offline-{width}.png")))
        assert blocked == [] and errors == []
        page.goto(server.url + "/redoc")
        page.get_by_text("Post Events").first.wait_for(state="attached", timeout=15_000)  # ReDoc rendered the spec
        # ReDoc's bundle asks for one decorative image (the "API docs by Redocly" logo) and renders without it
        assert {url.rsplit("/", 1)[-1] for url in blocked} <= {"logo-mini.svg"} and errors == []
    finally:
        context.close()
