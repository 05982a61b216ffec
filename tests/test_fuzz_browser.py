"""Hostile URLs from the fuzz table (tests/test_fuzz_app.py) in real Chromium: the app
served by ``streamlit run``, each URL opened in headless Debian Chromium through
Playwright. A Markdown link, an image reference, HTML with script, a 20 KB value and
an unknown parameter named by a link must leave no link to the injected host, no
request to it, no script run, and only short notes.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import pytest

from diffusion.bench.app import (
    DONE,
    wait_rendered,
)

ROOT = Path(__file__).resolve().parent.parent
EVIL = "evil.example"
PWN = "window.__pwned = 1"

pytestmark = pytest.mark.browser

# (page, parameters): the fuzz table's worst values, all in one URL to keep the run short
URLS = [
    (
        "ddim",
        {
            "model": "[Session expired - click here](https://evil.example/phish)",
            "spacing": "![x](https://evil.example/pixel.png)",
            "eta": f"<img src=https://evil.example/i.png onerror='{PWN}'>",
            "lecture": f"<script>{PWN}</script>",
            # 20 KB: the server refuses a longer request line (AppTest tries 120 KB)
            "steps": "x" * 20_000,
            "seed": "<https://evil.example>",
            "[click](https://evil.example/u)": "1",
            "![i](https://evil.example/k.png)": "1",
        },
    ),
    ("", {"present": "1", "slide": "![x](https://evil.example/slide.png)"}),
]


BROWSER_HEIGHT = 1600
"""The Chromium window's height (the shared ``browser`` fixture, conftest.py)."""


@pytest.mark.parametrize(("path", "params"), URLS, ids=[str(i) for i in range(len(URLS))])
def test_hostile_url_in_chromium_renders_text_only(server, browser, path, params):
    page = browser.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    try:
        page.goto(
            f"{server}/{path}?{urlencode({'n': '200'} | params)}", wait_until="domcontentloaded"
        )
        if "present" in params:  # slides have no h1: the script finished, a headline shown
            page.wait_for_selector(".present-head", timeout=120_000)
            page.wait_for_selector(DONE, timeout=120_000)
        else:
            wait_rendered(page, timeout_s=120)
        notes = page.locator("[data-testid='stAlertContainer']").all_inner_texts()
        assert notes, "no note for the ignored values"
        assert all(len(note) < 400 for note in notes), [n[:200] for n in notes]
        assert "x" * 200 not in page.inner_text("body")  # the 20 KB value is cut
        assert page.locator(f"a[href*='{EVIL}']").count() == 0
        assert page.locator(f"img[src*='{EVIL}']").count() == 0
        assert page.evaluate("() => window.__pwned === undefined")
        assert [u for u in requested if EVIL in u.split("?", 1)[0]] == []
        # the first URL's link is shown as text, inside the note
        if "model" in params:
            assert "[Session expired - click here](" in " ".join(notes)
            assert "not used by this page" in " ".join(notes)  # the two link-named keys
    finally:
        page.close()
