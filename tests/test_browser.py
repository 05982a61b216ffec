"""The app in a real browser: `streamlit run` on a free localhost port, every page
opened in headless Debian Chromium through Playwright, no exception on any page,
a screenshot of each saved under artifacts/screenshots/.

Chromium comes from the distribution (apt-get install chromium), never from a
download; a missing /usr/bin/chromium is a failure with a clear message.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from diffusion.bench.app import (
    PAGES,
    SHOWS,
    STEPS_THUMB,
    _slider_times,
    wait_rendered,
)

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "artifacts" / "screenshots"

pytestmark = pytest.mark.browser


BROWSER_HEIGHT = 2600
"""The Chromium window's height (the shared ``browser`` fixture, conftest.py)."""


@pytest.mark.parametrize("path", list(PAGES))
def test_page_opens_without_exception(server, browser, path):
    page = browser.new_page()
    try:
        # the Images page's live curve: one sampler keeps its first render short
        query = "n=300&curve=ddim" if path == "images" else "n=300"
        page.goto(f"{server}/{path}?{query}", wait_until="domcontentloaded")
        wait_rendered(page, timeout_s=240)
        text = page.inner_text("body")
        assert page.locator("[data-testid='stException']").count() == 0, text[:2000]
        assert not re.search(r"Traceback \(most recent call last\)|Error:", text), text[:2000]
        assert page.locator("h1").count() >= 1
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{path or 'home'}.png"), full_page=True)
    finally:
        page.close()


def test_a_link_to_the_first_page_by_name_keeps_its_settings(server, browser):
    """Streamlit serves the default page at "/" only; "/why?..." must not end in
    "Page not found" with the link's settings dropped (app.py's alias)."""
    page = browser.new_page()
    try:
        page.goto(f"{server}/why?n=500&steps=5", wait_until="domcontentloaded")
        page.wait_for_url(re.compile(r"n=500"), timeout=60_000)
        wait_rendered(page, timeout_s=240)
        assert "Why accelerate" in page.inner_text("h1")
        assert "not found" not in page.inner_text("body").lower()
        assert "steps=5" in page.url
    finally:
        page.close()


def test_lecturer_toggle_and_url_state_in_the_browser(server, browser):
    page = browser.new_page()
    try:
        page.goto(f"{server}/ddim?n=300&steps=10&spacing=bogus", wait_until="domcontentloaded")
        wait_rendered(page, timeout_s=240)
        # the note shows the value as code (ui.state.shown): rendered, it reads as text
        assert "URL parameter spacing=bogus ignored" in page.inner_text("body")
        page.get_by_text("Lecturer mode").click()
        page.wait_for_url(re.compile(r"lecture=1"), timeout=60_000)
        wait_rendered(page, timeout_s=120)
        assert "steps=10" in page.url
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "ddim-lecture.png"), full_page=True)
    finally:
        page.close()


def test_steps_slider_redraws_the_samples_figure(server, browser):
    """The benchmark's slider measure, run once each way: a key press on the DDIM
    page's steps slider ends with the samples figure titled with the new steps
    (10 -> 12 -> 10) and the rerun finished; it times out otherwise."""
    times = _slider_times(
        browser, f"{server}/ddim?n=300&steps=10&spacing=leading", 2, "DDIM, S = {steps}, eta"
    )
    assert len(times) == 2
    assert all(0 < drawn <= done for drawn, done in times)


def test_a_slider_move_updates_the_drawn_figure_in_place(server, browser):
    """ui.plot: the samples figure's element survives a steps change (Plotly.react on
    the same node, not a new chart) and shows the new steps."""
    page = browser.new_page()
    try:
        page.goto(f"{server}/ddim?n=300&steps=10&spacing=leading", wait_until="domcontentloaded")
        wait_rendered(page, timeout_s=240)
        fig = "[data-figure='ddim-samples']"
        page.wait_for_selector(f"{fig} .main-svg")
        page.evaluate(f'window.__fig = document.querySelector("{fig}")')
        page.locator(STEPS_THUMB).nth(0).focus()
        page.keyboard.press("ArrowRight")
        page.wait_for_function(SHOWS, arg=["DDIM, S = 12, eta"], timeout=120_000)
        assert page.evaluate(f'window.__fig === document.querySelector("{fig}")')
        buttons = page.evaluate(
            f'[...document.querySelectorAll("{fig} .modebar-btn")]'
            ".map(b => b.getAttribute('data-title'))"
        )
        assert "Full screen" in buttons
        assert "Lasso Select" not in buttons
    finally:
        page.close()


POINTS = """(fig) => [...document.querySelectorAll(`[data-figure='${fig}'] .scatterlayer .point`)]
  .map(p => p.getAttribute('transform'))"""
"""The drawn positions of a figure's scatter points, in drawing order."""


def test_a_grid_change_moves_the_markers_where_a_fresh_draw_puts_them(server, browser):
    """ui/plot.js: a steps change alters only the timestep grid's marker traces, so the
    figure's points are moved (Plotly.animate, no replot); they land exactly where a
    fresh draw of the new grid puts them."""
    fig = "ddim-timesteps"
    moved = browser.new_page()
    fresh = browser.new_page()
    try:
        moved.goto(f"{server}/ddim?n=300&steps=10&spacing=leading", wait_until="domcontentloaded")
        wait_rendered(moved, timeout_s=240)
        moved.wait_for_selector(f"[data-figure='{fig}'] .main-svg")
        before = moved.evaluate(POINTS, fig)
        moved.locator(STEPS_THUMB).nth(0).focus()
        moved.keyboard.press("ArrowRight")  # 10 -> 12 steps
        moved.wait_for_function(
            f"() => document.querySelector(\"[data-figure='{fig}']\").dataset.drawn === 'points'"
            f" && document.querySelectorAll(\"[data-figure='{fig}'] .point\").length === 24",
            timeout=120_000,
        )
        fresh.goto(f"{server}/ddim?n=300&steps=12&spacing=leading", wait_until="domcontentloaded")
        wait_rendered(fresh, timeout_s=240)
        fresh.wait_for_selector(f"[data-figure='{fig}'] .main-svg")
        drawn = f"document.querySelector(\"[data-figure='{fig}']\").dataset.drawn"
        assert fresh.evaluate(drawn) == "react"
        after = moved.evaluate(POINTS, fig)
        assert len(before) == 20
        assert after == fresh.evaluate(POINTS, fig)
    finally:
        moved.close()
        fresh.close()
