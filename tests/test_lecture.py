"""Lectures: sequence validation, slide figures, the browser-free export, and present
mode (AppTest, and real Chromium at projector size)."""

from __future__ import annotations

import html
import importlib
import json
import os
import struct
import tempfile
import time
from pathlib import Path

import pytest
from conftest import page_figures

from diffusion import lecture
from diffusion.cli import main as cli_main

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "artifacts" / "screenshots"

SHORT = {
    "title": "Short test lecture",
    "minutes": 5,
    "slides": [
        {
            "page": "why",
            "preset": "10 steps",
            "figure": {
                "kind": "samples",
                "n": 200,
                "panels": [
                    {
                        "model": "oracle:8gaussians",
                        "sampler": "ddim",
                        "steps": 4,
                        "spacing": "trailing",
                        "label": "DDIM 4",
                    }
                ],
            },
            "headline": "First slide",
            "points": ["Point one.", "Point two."],
            "question": "A question?",
            "answer": "An answer.",
        },
        {
            "page": "ddim",
            "figure": {"kind": "grids", "steps": 5, "spacings": ["leading", "trailing"]},
            "headline": "Second slide",
            "points": ["Only point."],
        },
    ],
}


def _write(tmp_path: Path, data, name: str = "mine.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def _with(slide_index: int, **changes) -> dict:
    data = json.loads(json.dumps(SHORT))
    slide = data["slides"][slide_index]
    for k, v in changes.items():
        if v is None:
            slide.pop(k, None)
        else:
            slide[k] = v
    return data


# ----- validation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "needles"),
    [
        (_with(1, page="solver"), ["slide 2", "'page'", "'solver'", "ddim, solvers"]),
        (_with(0, preset="Ten steps"), ["slide 1", "'preset'", "'10 steps'"]),
        (_with(0, figure={"kind": "scatter"}), ["slide 1", "'figure'", "samples, grids"]),
        (
            _with(1, figure={"kind": "grids", "steps": 5, "spacings": ["even"]}),
            ["slide 2", "spacings", "'even'", "trailing"],
        ),
        (
            _with(
                0,
                figure={
                    "kind": "samples",
                    "panels": [{"model": "oracle:8gaussians", "sampler": "rk4", "steps": 4}],
                },
            ),
            ["slide 1", "sampler", "'rk4'", "dpm-solver++2m"],
        ),
        (
            _with(
                0,
                figure={
                    "kind": "samples",
                    "panels": [{"model": "nosuchmodel", "sampler": "ddim", "steps": 4}],
                },
            ),
            ["slide 1", "model", "'nosuchmodel'", "oracle:8gaussians"],
        ),
        (
            _with(1, figure={"kind": "grids", "steps": 5000, "spacings": ["leading"]}),
            ["slide 2", "'steps'", "2 to 100"],
        ),
        (_with(0, answer=None), ["slide 1", "'question' and 'answer'"]),
        (_with(1, points=["a", "b", "c"]), ["slide 2", "'points'", "1 to 2"]),
        (_with(1, colour="red"), ["slide 2", "'colour'", "headline"]),
        (_with(1, headline=""), ["slide 2", "'headline'"]),
        ({"title": "x", "slides": []}, ["'slides'", "non-empty"]),
        ('{"title": "x", "slides": [', ["not valid JSON", "line 1"]),
    ],
)
def test_malformed_sequence_names_the_bad_entry(tmp_path, data, needles):
    path = _write(tmp_path, data)
    with pytest.raises(lecture.LectureError) as err:
        lecture.load(path)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("mine.json")
    for needle in needles:
        assert needle in message, (needle, message)


def test_cli_reports_a_malformed_sequence_in_one_line(tmp_path, capsys):
    path = _write(tmp_path, _with(1, page="solver"))
    rc = cli_main(["lecture", "export", "--sequence", str(path), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.count("\n") == 0
    assert err.startswith("error: mine.json: slide 2")
    assert "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_cli_unknown_sequence_lists_the_shipped_ones(capsys):
    rc = cli_main(["lecture", "export", "--sequence", "nonesuch", "--out", "/tmp/x-unused"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "accelerated-sampling" in err
    assert "overview-15min" in err


def test_shipped_sequences_load_and_cover_the_chapter():
    names = lecture.available()
    assert {"accelerated-sampling", "overview-15min"} <= set(names)
    main = lecture.load("accelerated-sampling")
    assert 15 <= len(main.slides) <= 30
    # the chapter's seven sections in order, each with at least one slide
    order = [s.page for s in main.slides]
    assert list(dict.fromkeys(order)) == list(lecture.sequence.PAGES)
    assert sum(s.question is not None for s in main.slides) >= 5
    assert len(lecture.load("overview-15min").slides) < len(main.slides)


def test_sequence_pages_match_the_app_page_table():
    from ui.pages import PAGES as APP_PAGES

    assert tuple(p.url_path for p in APP_PAGES) == lecture.sequence.PAGES
    for p in APP_PAGES:  # a page's presets file is named after its URL state prefix
        assert lecture.sequence.PRESET_FILES.get(p.url_path, p.url_path) == p.state


def test_page_link_carries_the_preset_values():
    slide = lecture.parse(SHORT).slides[0]
    assert slide.page_link() == "why?steps=10"
    assert lecture.parse(SHORT).slides[1].page_link() == "ddim"


# ----- figures and export -------------------------------------------------------------


def test_slide_figure_follows_its_spec():
    seq = lecture.parse(SHORT)
    fig = lecture.slide_figure(seq.slides[0])
    assert fig.layout.meta["points"] == {"DDIM 4": 200}
    more = json.loads(json.dumps(SHORT))
    more["slides"][0]["figure"]["panels"].append(
        {"model": "oracle:8gaussians", "sampler": "dpm-solver++2m", "steps": 4, "label": "B"}
    )
    more["slides"][0]["figure"]["n"] = 300
    fig2 = lecture.slide_figure(lecture.parse(more).slides[0], height=333)
    assert fig2.layout.meta["points"] == {"DDIM 4": 300, "B": 300}
    assert fig2.layout.height == 333
    grids = lecture.slide_figure(seq.slides[1])
    named = {t.name for t in grids.data if t.name}
    assert named == {"leading", "trailing"}


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_export_writes_png_svg_and_markdown(tmp_path):
    seq = lecture.load(_write(tmp_path, SHORT))
    out = tmp_path / "slides"
    files = lecture.export(seq, out)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["01-why.png", "01-why.svg", "02-ddim.png", "02-ddim.svg", "slides.md"]
    assert sorted(p.name for p in files) == names
    for png in out.glob("*.png"):
        assert _png_size(png) == (1280, 720)
    for svg in out.glob("*.svg"):
        assert svg.read_text()[:200].lstrip().startswith("<?xml")
        assert "<svg" in svg.read_text()
    md = (out / "slides.md").read_text()
    for text in (
        "# Short test lecture",
        "## 1. First slide",
        "![First slide](01-why.png)",
        "- Point two.",
        "**Question:** A question?",
        "**Answer:** An answer.",
        "`why?steps=10`",
        "## 2. Second slide",
    ):
        assert text in md, text
    # a second export replaces the folder whole; PNG only on request
    (out / "stale.txt").write_text("old")
    lecture.export(seq, out, formats=("png",))
    assert sorted(p.name for p in out.iterdir()) == ["01-why.png", "02-ddim.png", "slides.md"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_failed_export_leaves_the_old_folder(tmp_path, monkeypatch):
    seq = lecture.load(_write(tmp_path, SHORT))
    out = tmp_path / "slides"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    export_mod = importlib.import_module("diffusion.lecture.export")  # the module

    calls = []

    def failing(slide, **kw):
        calls.append(slide)
        if len(calls) == 2:
            raise RuntimeError("figure failed")
        return lecture.slide_figure(slide, **kw)

    monkeypatch.setattr(export_mod, "slide_figure", failing)
    with pytest.raises(RuntimeError):
        lecture.export(seq, out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.json", "slides"]


def test_cli_export_and_list(tmp_path, capsys):
    path = _write(tmp_path, SHORT)
    rc = cli_main(
        [
            "lecture",
            "export",
            "--sequence",
            str(path),
            "--out",
            str(tmp_path / "o"),
            "--format",
            "svg",
            "--quiet",
        ]
    )
    assert rc == 0
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [
        "01-why.svg",
        "02-ddim.svg",
        "slides.md",
    ]
    assert cli_main(["lecture", "list"]) == 0
    listing = capsys.readouterr().out
    assert "accelerated-sampling\t" in listing
    assert "overview-15min\t" in listing


# ----- present mode under AppTest --------------------------------------------------------

PRESENT_SCRIPT = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
import streamlit as st
from ui.present import present_mode, run_present
if present_mode():  # as app.py does
    run_present()
else:
    st.write("the pages")
"""


def _present(params: dict[str, str]):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_string(PRESENT_SCRIPT, default_timeout=240)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    return at


def _shown(at) -> tuple[int, bool, str]:
    """(slide number in the URL, answer shown, headline on the page)."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    params = {k: v if isinstance(v, str) else v[0] for k, v in at.query_params.items()}
    head = next(m.value for m in at.markdown if 'class="present-head"' in m.value)
    answered = any('class="present-a"' in m.value for m in at.markdown)
    assert (params.get("reveal") == "1") == answered
    return int(params["slide"]), answered, head


def test_present_mode_walks_every_slide_forward_and_back():
    seq = lecture.load("accelerated-sampling")
    at = _present({"present": "1", "seq": seq.name})
    # the expected walk: a slide with a question takes two presses (question, then answer)
    walk = []
    for k, s in enumerate(seq.slides):
        walk.append((k + 1, False))
        if s.question:
            walk.append((k + 1, True))
    seen = [_shown(at)]
    for _ in walk[1:]:
        at.button(key="present_next").click().run()
        seen.append(_shown(at))
    assert [(k, a) for k, a, _ in seen] == walk
    for k, _, head in seen:
        assert html.escape(seq.slides[k - 1].headline) in head
    assert at.button(key="present_next").disabled
    assert len(page_figures(at)) == 1
    # back: an answer shown hides first; each earlier slide opens with its answer hidden
    n = len(seq.slides)
    expected = [(n, True)] * (seq.slides[-1].question is not None) + [
        (k, False) for k in range(n, 0, -1)
    ]
    back = [_shown(at)]
    for _ in expected[1:]:
        at.button(key="present_prev").click().run()
        back.append(_shown(at))
    assert [(k, a) for k, a, _ in back] == expected
    assert at.button(key="present_prev").disabled


def test_present_mode_opens_the_slide_in_the_url():
    at = _present({"present": "1", "seq": "overview-15min", "slide": "5", "reveal": "1"})
    slide, answered, head = _shown(at)
    assert (slide, answered) == (5, True)
    assert lecture.load("overview-15min").slides[4].headline in head
    links = [m.value for m in at.markdown if "Open this in the page" in m.value]
    assert links
    assert "(consistency?steps=1&particle=0)" in links[0]
    # out-of-range slide numbers land on the nearest slide
    at = _present({"present": "1", "seq": "overview-15min", "slide": "99"})
    assert _shown(at)[0] == 7


def test_present_mode_with_a_bad_sequence_shows_one_line():
    at = _present({"present": "1", "seq": "nonesuch"})
    assert not at.exception
    assert len(at.error) == 1
    assert "unknown sequence 'nonesuch'" in at.error[0].value
    assert "\n" not in at.error[0].value
    at.button(key="present_exit").click().run()
    assert "present" not in at.query_params
    assert [m.value for m in at.markdown] == ["the pages"]


# ----- present mode in Chromium at 1280x720 ------------------------------------------------


@pytest.mark.browser
def test_present_mode_in_chromium_keys_and_projector_fit():
    from playwright.sync_api import sync_playwright

    from diffusion.bench.app import CHROMIUM, CHROMIUM_ARGS, DONE, streamlit_server

    if not os.path.exists(CHROMIUM):
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium package "
            "(apt-get install -y chromium) to run the browser test"
        )
    seq = lecture.load("overview-15min")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with (
        streamlit_server(ROOT) as url,
        sync_playwright() as pw,
        tempfile.TemporaryDirectory() as profile,
    ):
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1280, "height": 720},
        )
        page = context.new_page()
        page.set_default_timeout(240_000)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        # the sidebar control starts present mode (the app.py hook)
        page.goto(f"{url}/?n=200", wait_until="domcontentloaded")
        page.wait_for_selector(DONE)
        page.wait_for_selector("h1")
        choice = page.locator(".st-key-present_choice:not([data-stale='true']) input")
        choice.click()
        choice.fill("overview")
        choice.press("Enter")
        page.wait_for_selector(DONE)
        # A button with help text is drawn twice (the visible one inside its tooltip
        # target, and a hidden copy Streamlit uses for sizing): click the first.
        page.locator(".st-key-present_start:not([data-stale='true']) button").first.click()
        page.wait_for_url("**seq=overview-15min**")
        page.wait_for_selector("div.present-head")

        def settle(slide: int, answered: bool) -> None:
            page.wait_for_url(f"**slide={slide}**")
            page.wait_for_selector(DONE)
            page.wait_for_selector("div.present-a" if answered else "div.present-head")
            page.wait_for_selector(".js-plotly-plot .main-svg")
            time.sleep(0.3)

        def check(seq, k: int) -> None:
            head = page.locator("div.present-head")
            assert head.inner_text() == seq.slides[k - 1].headline
            assert not page.locator("[data-testid='stSidebar']").is_visible()
            for box in (
                head.bounding_box(),
                page.locator(".js-plotly-plot").first.bounding_box(),
                page.locator(".st-key-present_next button").bounding_box(),
            ):
                assert box is not None
                assert box["x"] >= 0
                assert box["y"] >= 0
                assert box["x"] + box["width"] <= 1280, box
                assert box["y"] + box["height"] <= 720, box
            sizes = page.evaluate(
                "[document.documentElement.scrollHeight, "
                "document.querySelector('[data-testid=stMain]').scrollHeight]"
            )
            assert max(sizes) <= 720, sizes  # nothing to scroll to

        def forward(seq) -> None:
            settle(1, False)
            for k, s in enumerate(seq.slides, start=1):
                check(seq, k)
                if s.question:
                    page.keyboard.press("ArrowRight")
                    settle(k, True)
                    assert "reveal=1" in page.url
                    check(seq, k)
                page.screenshot(path=str(SHOTS / f"present-{seq.name}-{k:02d}.png"))
                if k < len(seq.slides):
                    page.keyboard.press("ArrowRight")
                    settle(k + 1, False)

        forward(seq)
        if "reveal=1" in page.url:  # the last slide's answer hides first
            page.keyboard.press("ArrowLeft")
            page.wait_for_function("!location.search.includes('reveal=1')")
        for k in range(len(seq.slides) - 1, 0, -1):
            page.keyboard.press("ArrowLeft")  # to the previous slide, its answer hidden
            settle(k, False)
            assert "reveal=1" not in page.url
            check(seq, k)
        # every slide of the chapter's lecture, with its answer shown, fits the projector
        page.goto(f"{url}/?present=1&seq=accelerated-sampling&slide=1")
        forward(lecture.load("accelerated-sampling"))
        assert errors == []
        context.close()


# ----- slides show what their pages show -----------------------------------------------------


def _shipped_slides(kind: str | None = None):
    for name in lecture.available():
        for k, s in enumerate(lecture.load(name).slides, start=1):
            if kind is None or s.figure["kind"] == kind:
                yield f"{name} slide {k}", s


def test_order_slides_fit_the_asymptotic_range_within_0_3_of_theory():
    from diffusion.lecture import slides
    from diffusion.metrics import ASYMPTOTIC_NFE
    from diffusion.samplers import REGISTRY

    found = list(_shipped_slides("error_vs_nfe"))
    assert found
    lo, hi = ASYMPTOTIC_NFE
    for where, s in found:
        orders = slides.error_orders(s.figure)  # cached curves: the figure reuses them
        for solver, order in orders.items():
            assert order is not None, (where, solver)
            assert abs(order - REGISTRY[solver].order) <= 0.3, (where, solver, order)
        fig = lecture.slide_figure(s)
        band, *curves = fig.data  # the fitted range, shaded and named in the legend
        assert band.name == f"orders fitted over NFE {lo}-{hi}", where
        assert (min(band.x), max(band.x)) == (lo, hi), where
        legend = [t.name for t in curves if not t.name.startswith("slope")]
        assert legend == [
            f"{REGISTRY[k].label} (order {orders[k]:.2f})" for k in s.figure["solvers"]
        ], where
        nfes = [x for t in curves if not t.name.startswith("slope") for x in t.x]
        assert max(nfes) >= hi, (where, max(nfes))


def test_order_slide_draws_the_solvers_page_curves():
    from diffusion import figures
    from ui import solvers

    where, s = next(_shipped_slides("error_vs_nfe"))
    f = s.figure
    series, orders = solvers.error_curves(f["model"], f["solvers"], f["spacing"])
    page = figures.error_vs_nfe(series, orders=orders, lecture=True)
    slide = lecture.slide_figure(s)
    assert [(t.name, list(t.x), list(t.y)) for t in slide.data[1:]] == [
        (t.name, list(t.x), list(t.y)) for t in page.data
    ], where


def test_slide_labels_are_the_registry_labels():
    """A sampler is named as the app names it (``REGISTRY[name].label``), never by its key."""
    import re

    from diffusion.lecture import slides
    from diffusion.samplers import REGISTRY

    raw = [k for k in REGISTRY if k != "consistency"]  # also the English word
    keys = re.compile(r"(?<![\w+-])(" + "|".join(map(re.escape, raw)) + r")(?![\w+-])")
    for where, s in _shipped_slides():
        f = s.figure
        runs = f.get("panels", []) + [r for r in f.get("series", []) if isinstance(r, dict)]
        for run in runs:
            label = run.get("label") or slides._label(run)
            assert not keys.search(label), (where, label)
            name = REGISTRY[run["sampler"]].label
            if name.split()[0] in label:  # names the sampler: then by its whole label
                assert name in label, (where, label, name)
        if f["kind"] in ("error_vs_nfe", "shipped_quality"):
            names = [
                t.name
                for t in lecture.slide_figure(s).data
                if t.name and not t.name.startswith(("slope", "orders fitted"))
            ]
            known = (
                {REGISTRY[k].label for k in f["solvers"]}
                if "solvers" in f
                else {slides.quality_label(k) for k in f["series"]}
            )
            for n in names:
                assert not keys.search(n), (where, n)
                assert any(n.startswith(k) for k in known), (where, n, known)


def test_shipped_quality_names_a_missing_series(tmp_path):
    data = _with(
        1, figure={"kind": "shipped_quality", "curve": "compare", "series": ["ddim", "rk4"]}
    )
    seq = lecture.load(_write(tmp_path, data))
    with pytest.raises(lecture.LectureError) as err:
        lecture.slide_figure(seq.slides[1])
    assert "'rk4'" in str(err.value)
    assert "dpm-solver++2m" in str(err.value)
