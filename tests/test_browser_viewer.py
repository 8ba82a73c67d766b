"""The viewer, a report and a leaderboard in a real browser (Debian chromium, headless), from disk."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from intersyn.report.html import build_report
from intersyn.report.leaderboard import entry_from_judgements, write_leaderboard
from intersyn.report.viewer import build_site
from tests.conftest import require, require_executable
from tests.report_fixtures import make_judgements, make_run

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require("playwright")
    chromium = require_executable("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("browser")
    run = make_run(root / "run", n=6)
    js = make_judgements(run)
    site = root / "site"
    build_site(run, site, judgements=js)
    report = build_report(run, js, root / "report", viewer="../site")
    other = make_judgements(run, model="other", unparsed=set())
    board = write_leaderboard(
        [entry_from_judgements("a", js), entry_from_judgements("b", other)], root / "lb"
    )
    return {"viewer": site / "index.html", "report": report, "leaderboard": board}


def _page(browser: Any, bypass_csp: bool = True) -> tuple[Any, list[str]]:
    # The pages carry a Content-Security-Policy that forbids inline scripts and eval. Test
    # helpers need eval, so most tests bypass it -- which also proves that escaping alone
    # keeps an injected <script> from running.
    context = browser.new_context(bypass_csp=bypass_csp)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page, errors


def _matches(page: Any) -> int:
    page.wait_for_function("document.getElementById('status').dataset.ready === '1'")
    page.wait_for_timeout(0)
    return int(page.get_attribute("#status", "data-matches"))


def _set_and_wait(page: Any, action: Any, expected: int) -> None:
    action()
    page.wait_for_function(
        f"document.getElementById('status').dataset.matches === '{expected}'", timeout=10_000
    )


def _images_rendered(page: Any, selector: str) -> list[int]:
    return page.eval_on_selector_all(
        selector, "els => els.map(e => e.complete ? e.naturalWidth : 0)"
    )


def test_viewer_filters_open_sample_and_escape(
    browser: Any, sites: dict[str, Path], artifacts_dir: Path
) -> None:
    page, errors = _page(browser)
    page.goto(sites["viewer"].as_uri())
    assert _matches(page) == 7
    assert page.locator("#results tbody tr").count() == 7
    _set_and_wait(page, lambda: page.select_option("#f-domain", "Food"), 2)
    rows = page.locator("#results tbody tr a.sample-link").all_inner_texts()
    assert rows == ["s0001", "s0004"]
    _set_and_wait(page, lambda: page.fill("#f-tcc-min", "3"), 1)  # s0004: tcc mean 4.5
    assert page.locator("#results tbody tr a.sample-link").all_inner_texts() == ["s0004"]
    page.click("#f-reset")
    page.wait_for_function("document.getElementById('status').dataset.matches === '7'")
    _set_and_wait(page, lambda: page.select_option("#f-status", "failed"), 1)
    assert page.locator("#results tbody tr.failed .badge").all_inner_texts() == ["failed"]
    page.click("#f-reset")
    page.wait_for_function("document.getElementById('status').dataset.matches === '7'")
    _set_and_wait(page, lambda: page.select_option("#f-status", "judge-bad"), 1)
    assert page.locator("#results tbody .badge").all_inner_texts() == ["judge unparsed"]
    page.click("#f-reset")
    page.wait_for_function("document.getElementById('status').dataset.matches === '7'")
    _set_and_wait(page, lambda: page.fill("#f-search", "mars"), 2)
    _set_and_wait(page, lambda: page.fill("#f-turns-min", "3"), 2)
    page.click("#f-reset")
    page.wait_for_function("document.getElementById('status').dataset.matches === '7'")
    page.wait_for_function(
        "Array.from(document.querySelectorAll('#results img.thumb')).every(i => i.complete)"
    )
    thumbs = _images_rendered(page, "#results img.thumb")
    assert len(thumbs) == 6 and all(w > 0 for w in thumbs)
    page.screenshot(path=str(artifacts_dir / "viewer-index.png"), full_page=True)

    page.click("text=s0001")
    page.wait_for_selector("#sample-id")
    assert page.inner_text("#sample-id") == "s0001"
    page.wait_for_load_state("load")
    widths = _images_rendered(page, "img.answer-image")
    assert len(widths) == 2 and all(w > 0 for w in widths)
    answer = page.locator("p.answer").first.inner_text()
    assert "<script>window.__pwned = 1</script>" in answer
    assert page.evaluate("window.__pwned") is None
    page.screenshot(path=str(artifacts_dir / "viewer-sample.png"), full_page=True)
    page.close()
    assert errors == []


def test_viewer_loads_under_its_own_csp_without_errors(
    browser: Any, sites: dict[str, Path]
) -> None:
    page, errors = _page(browser, bypass_csp=False)
    page.goto(sites["viewer"].as_uri())
    page.wait_for_selector("#status[data-ready='1']")
    assert page.get_attribute("#status", "data-matches") == "7"
    assert page.locator("#results tbody tr").count() == 7
    page.close()
    assert errors == []


def test_sample_trace_images_render(browser: Any, sites: dict[str, Path]) -> None:
    page, errors = _page(browser)
    page.goto(sites["viewer"].as_uri())
    _matches(page)
    page.click("text=s0000")
    page.wait_for_load_state("load")
    widths = _images_rendered(page, "img.round-image")
    assert len(widths) == 2 and all(w > 0 for w in widths)
    assert page.locator(".stage-question ins").first.inner_text() == " and draw one"
    page.close()
    assert errors == []


def test_report_and_leaderboard_open_from_disk(
    browser: Any, sites: dict[str, Path], artifacts_dir: Path
) -> None:
    page, errors = _page(browser)
    page.goto(sites["report"].as_uri())
    page.wait_for_load_state("load")
    widths = _images_rendered(page, "img")
    assert len(widths) >= 2 and all(w > 0 for w in widths)
    assert page.evaluate("window.__pwned") is None
    page.screenshot(path=str(artifacts_dir / "report.png"), full_page=True)
    page.goto(sites["leaderboard"].as_uri())
    page.wait_for_load_state("load")
    widths = _images_rendered(page, "img")
    assert len(widths) == 2 and all(w > 0 for w in widths)
    assert page.locator("#leaderboard tbody tr").count() == 2
    page.screenshot(path=str(artifacts_dir / "leaderboard.png"), full_page=True)
    page.close()
    assert errors == []
