"""Hostile URLs for the app (issue 16), under streamlit.testing.v1.AppTest.

A table of URLs whose parameters hold links, image references, HTML, LaTeX, backticks,
control characters, a 120 KB value, non-numbers and out-of-range numbers. Each page run
must raise nothing, show each invalid parameter's fallback in a note, and show the user's
value only as short inline code (never as a link, image or HTML). Broken assets (a
shipped config with a bad schedule or shape, a manifest entry without a path, a
malformed results file) are temporary copies; each stops only what uses it, with one
line naming it.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from ui.state import MAX_SHOWN, shown

ROOT = Path(__file__).resolve().parent.parent
DDIM = str(ROOT / "chapters" / "2_ddim.py")
COMPARE = str(ROOT / "chapters" / "6_compare.py")
TIMEOUT = 240

PHISH = "[Session expired - click here](https://evil.example/phish)"
HOSTILE = [
    PHISH,
    "![x](https://evil.example/pixel.png)",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "`code` and ``more``",
    "$\\href{https://evil.example}{click}$",
    "**bold** _it_ # head",
    "\u202etxt.exe",
    "line1\nline2\rline3",
    "\x00\x01\x1b[31m",
    "https://evil.example/www",
    "www.evil.example",
    "<https://evil.example>",
    "[a][b]\n\n[b]: https://evil.example",
    "| a | b |\n|---|---|",
    "x" * 120_000,
    "nan",
    "-inf",
    "1e309",
    "-5",
    "99999999999999999999999",
    "0x10",
    "",
    "   ",
    "\u00e9\u00e8\u4e2d\U0001f600",
    "../../etc/passwd",
    "1,2,3",
    "%3Cscript%3E",
    "javascript:alert(1)",
    "data:text/html,<b>x</b>",
]
KEYS = ("model", "steps", "eta", "spacing", "n", "seed", "allspacings")


def _urls(seed: int = 16) -> list[dict[str, str]]:
    """Every hostile value in every key once (round robin), then seeded combinations of
    two or three keys; lecture=<value> in some of them."""
    urls = [{KEYS[i % len(KEYS)]: v} for i, v in enumerate(HOSTILE)]
    rng = random.Random(seed)
    while len(urls) < 56:
        keys = rng.sample(KEYS, rng.randint(2, 3))
        url = {k: rng.choice(HOSTILE) for k in keys}
        if rng.random() < 0.3:
            url["lecture"] = rng.choice(HOSTILE)
        urls.append(url)
    return urls


# parameters that no control of the page reads: named (escaped, cut) in one note
UNKNOWN_KEYS = [
    {"bogus": "1"},
    {PHISH: "1"},
    {"<script>alert(1)</script>": "x", "steps": "7"},
    {"k" * 120_000: "1"},
    {f"extra{i}": "1" for i in range(7)},
    {"![x](https://evil.example/pixel.png)": "1", "model": PHISH},
]
URLS = _urls() + UNKNOWN_KEYS

_CODE = re.compile(r"(`+)(.*?)\1", re.S)


def _outside_code(text: str) -> str:
    return _CODE.sub("", text)


def _run(page: str, params: dict[str, str]) -> AppTest:
    at = AppTest.from_file(page, default_timeout=TIMEOUT)
    at.query_params["n"] = "200"  # small and fast unless the URL sets n itself
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    return at


def _texts(at: AppTest) -> list[str]:
    out = []
    for kind in ("warning", "error", "info", "markdown", "caption", "success"):
        out += [str(el.value) for el in at.get(kind)]
    return out


def check_url(page: str, params: dict[str, str]) -> dict:
    """Run one URL; the promises it breaks (empty lists when it keeps them all)."""
    at = _run(page, params)
    notes = [str(w.value) for w in at.warning]
    unused = [n for n in notes if "not used by this page" in n]
    return {
        "traceback": [e.value for e in at.exception],
        "unescaped": _unescaped(notes),
        "too long": _too_long(notes, _texts(at), unused),
        "no note": _unnoted(params, notes, unused),
    }


def _unescaped(notes: list[str]) -> list[str]:
    """Notes showing a hostile marker outside inline code (once per marker)."""
    found = []
    for note in notes:
        rest = _outside_code(note)
        for marker in ("evil.example", "<script", "<img", "![", "]("):
            if marker in rest:
                found.append(note[:200])
    return found


def _too_long(notes: list[str], texts: list[str], unused: list[str]) -> list[str]:
    """Values shown at length: inline code past the cut, a long run of one character,
    more than one note about unused parameters."""
    found = []
    for note in notes:
        for _, inner in _CODE.findall(note):
            if len(inner.strip()) > max(MAX_SHOWN, 300):
                found.append(note[:200])
    found += [text[:100] for text in texts if "x" * 200 in text]
    if len(unused) > 1:
        found.append("more than one note about unused parameters")
    return found


def _unnoted(params: dict[str, str], notes: list[str], unused: list[str]) -> list[str]:
    """The URL's keys that no note names (a lecture flag of 0 or 1 needs none)."""
    missing = []
    for key in params:
        if key == "lecture" and params[key] in ("0", "1"):
            continue
        if key not in KEYS and key not in ("lecture", "n"):  # a parameter the page never reads
            noted = any(shown(key, 24) in n or " more not used" in n for n in unused)
        else:
            noted = any(f"`{key}`" in n or "more URL param" in n for n in notes)
        if not noted:
            missing.append(key[:40])
    return missing


def test_the_url_table_is_large_enough():
    assert len(URLS) >= 50
    assert sum(1 for u in URLS if "lecture" in u) >= 3
    assert sum(1 for u in URLS if set(u) - set(KEYS) - {"lecture"}) >= 5


def test_unused_parameters_are_named_at_most_four_and_only_once():
    at = _run(DDIM, {f"extra{i}": "1" for i in range(7)} | {"steps": "10"})
    (note,) = [str(w.value) for w in at.warning if "not used" in str(w.value)]
    assert note == (
        "URL parameters `extra0`, `extra1`, `extra2`, `extra3` and 3 more not "
        "used by this page; ignored."
    )
    assert not [k for k in at.query_params if k.startswith("extra")]  # dropped from the URL
    at.run()  # the note stays for the session, once
    assert [str(w.value) for w in at.warning if "not used" in str(w.value)] == [note]
    at = _run(DDIM, {"steps": "10", "lecture": "1"})  # every key read: no such note
    assert not [w for w in at.warning if "not used" in str(w.value)]


@pytest.mark.parametrize("params", URLS, ids=[str(i) for i in range(len(URLS))])
def test_hostile_url_is_escaped_shortened_and_noted(params):
    problems = check_url(DDIM, params)
    assert problems == {"traceback": [], "unescaped": [], "too long": [], "no note": []}


def test_shown_is_inline_code_that_cannot_break_out():
    for value in [*HOSTILE, "`", "``x``", "a`b``c```d"]:
        text = shown(value)
        m = re.fullmatch(r"(`+)(.*)\1", text, re.S)
        assert m is not None, text
        assert m.group(1) not in m.group(2)  # no run of backticks as long as the fence
        assert len(m.group(2).strip()) <= MAX_SHOWN
        assert "\n" not in text
        assert "\x00" not in text


def test_compare_methods_cut_and_repeats_are_noted():
    methods = "DDIM,DDIM,Heun (EDM),DPM-Solver++(2M),DDPM (ancestral),UniPC (bh2)"
    at = _run(COMPARE, {"methods": methods})
    notes = " ".join(str(w.value) for w in at.warning)
    assert not at.exception, [e.value for e in at.exception]
    assert "repeats a value" in notes, notes
    assert "only the first 4" in notes, notes
    picked = next(w for w in at.multiselect if w.key == "compare.methods").value
    assert picked == ["DDIM", "Heun (EDM)", "DPM-Solver++(2M)", "DDPM (ancestral)"]
    at = _run(COMPARE, {"methods": PHISH, "model": "<script>"})
    notes = [str(w.value) for w in at.warning]
    assert not at.exception
    assert all("evil.example" not in _outside_code(n) for n in notes)
    assert any("`methods`" in n for n in notes)
    assert any("`model`" in n for n in notes)


# ----- broken assets ------------------------------------------------------------------------


def _broken_assets(root: Path, name: str, change) -> Path:
    """A copy of assets/models (other groups linked) in which ``change(manifest, cfg)``
    breaks the model ``name``; its manifest's config_sha256 is recomputed when the
    change leaves the entry pointing at a config (a consistent but invalid config)."""
    from diffusion.config_check import config_sha256

    assets = root / "assets"
    assets.mkdir()
    for group in ("fewstep", "images", "presets"):
        os.symlink(ROOT / "assets" / group, assets / group)
    shutil.copytree(ROOT / "assets" / "models", assets / "models")
    manifest_path = assets / "models" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    cfg_path = assets / "models" / f"{name}.json"
    cfg = json.loads(cfg_path.read_text())
    change(manifest, cfg)
    cfg_path.write_text(json.dumps(cfg))
    for entry in manifest["models"]:
        if entry["name"] == name and "path" in entry:
            entry["config_sha256"] = config_sha256(cfg)
    manifest_path.write_text(json.dumps(manifest))
    return assets


def _drop_path(manifest: dict, name: str) -> None:
    for entry in manifest["models"]:
        if entry["name"] == name:
            entry.pop("path")


BROKEN = {
    "schedule-list": lambda m, c: c.__setitem__("schedule", [1, 2]),
    "shape-str": lambda m, c: c.__setitem__("sample_shape", "abc"),
    "width-huge": lambda m, c: c["net"].__setitem__("width", 20000),
    "nan-grid": lambda m, c: c.__setitem__("sampling", {"timesteps": {"1": [float("nan")]}}),
    "no-path": lambda m, c: _drop_path(m, "8gaussians"),
}


@pytest.fixture
def fresh_caches():
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_shipped_model_stops_only_its_page_with_one_line(
    case, tmp_path, monkeypatch, fresh_caches
):
    assets = _broken_assets(tmp_path, "8gaussians", BROKEN[case])
    monkeypatch.setenv("DIFFUSION_ASSETS", str(assets))
    at = _run(DDIM, {"model": "8gaussians"})
    assert not at.exception, [e.value for e in at.exception]
    errors = [str(e.value) for e in at.error]
    assert len(errors) == 1, errors
    assert "8gaussians" in errors[0], errors
    assert "\n" not in errors[0]
    # another model of the same manifest still works on the same page
    at = _run(DDIM, {"model": "moons"})
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [str(e.value) for e in at.error]


def test_malformed_results_file_is_named_and_others_still_show(tmp_path, monkeypatch):
    from ui import images

    (tmp_path / "a-good.json").write_text(
        json.dumps(
            {"model": "m", "dataset": "cifar10", "n": 10, "rows": [{"sampler": "ddim", "nfe": 10}]}
        )
    )
    (tmp_path / "b-broken.json").write_text("{not json")
    (tmp_path / "c-wrong.json").write_text(json.dumps({"rows": 5}))
    monkeypatch.setattr(images, "RESULTS_GLOB", str(tmp_path / "*.json"))
    tables = images.result_tables()
    assert [t["file"] for t in tables] == ["a-good.json", "b-broken.json", "c-wrong.json"]
    assert tables[0]["rows"] == [{"sampler": "ddim", "nfe": 10}]
    assert "error" in tables[1]
    assert "error" in tables[2]
    assert all("\n" not in t.get("error", "") for t in tables)


def fuzz_counts() -> dict:
    """tried / clean / traceback / unescaped / too long / no note over URLS (docs/cli.md)."""
    counts = {"tried": 0, "clean": 0, "traceback": 0, "unescaped": 0, "too long": 0,
              "no note": 0}  # fmt: skip
    for params in URLS:
        problems = check_url(DDIM, params)
        counts["tried"] += 1
        for key, found in problems.items():
            counts[key] += bool(found)
        counts["clean"] += not any(problems.values())
    return counts


if __name__ == "__main__":
    print(json.dumps(fuzz_counts()))


@pytest.mark.parametrize("seq", [PHISH, "../../etc/passwd", "/etc/hostname", "x.json"])
def test_present_mode_names_only_shipped_sequences_and_escapes_the_name(seq):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params["present"] = "1"
    at.query_params["seq"] = seq
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [str(e.value) for e in at.error]
    assert len(errors) == 1, errors
    assert "shipped sequence only" in errors[0], errors
    assert "evil.example" not in _outside_code(errors[0])
    assert "not valid JSON" not in errors[0]  # the server's file was never read


def _present(params: dict[str, str]) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params["present"] = "1"
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    return at


SLIDES = ["abc", "0", "999", "-1", "1" * 5000, "\u00b2", PHISH, "x" * 120_000]


@pytest.mark.parametrize("slide", SLIDES, ids=[str(i) for i in range(len(SLIDES))])
def test_present_mode_bad_slide_falls_back_with_a_short_escaped_note(slide):
    at = _present({"slide": slide})
    assert not at.exception, [e.value for e in at.exception]
    notes = [str(w.value) for w in at.warning]
    assert len(notes) == 1, notes
    assert "`slide`=" in notes[0], notes
    assert "ignored (use 1 to" in notes[0], notes
    assert "evil.example" not in _outside_code(notes[0]), notes
    assert len(notes[0]) < 200, notes
    shown_slide = int(at.query_params["slide"])  # the last one for a number past the end
    assert shown_slide == 1 or (slide == "999" and shown_slide > 1), shown_slide
    assert f"showing slide {shown_slide}." in notes[0], notes


def test_present_mode_good_slide_has_no_note():
    at = _present({"slide": "2"})
    assert not at.exception, [e.value for e in at.exception]
    assert not at.warning, [str(w.value) for w in at.warning]
    assert at.query_params["slide"] == "2"


def test_a_skipped_manifest_is_named_on_the_page_and_other_models_work(
    tmp_path, monkeypatch, fresh_caches
):
    assets = tmp_path / "assets"
    assets.mkdir()
    for group in ("models", "fewstep", "images", "presets"):
        os.symlink(ROOT / "assets" / group, assets / group)
    (assets / "broken").mkdir()
    (assets / "broken" / "manifest.json").write_text("{not json")
    monkeypatch.setenv("DIFFUSION_ASSETS", str(assets))
    at = _run(DDIM, {"model": "moons"})
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [str(e.value) for e in at.error]
    notes = [str(w.value) for w in at.warning if "are not listed" in str(w.value)]
    assert notes == [
        "Models of `broken/manifest.json` are not listed: `malformed manifest: "
        "Expecting property name enclosed in double quotes at line 1`."
    ], notes
    assert at.session_state["ddim.model"] == "moons"  # the good manifests' models still work
