"""Serving a class: the load-test client against a real server, and the settings that
keep one server usable by many tabs (no file watcher, bounded caches and work)."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import pytest
import tomllib

from diffusion.bench import loadtest

ROOT = Path(__file__).resolve().parent.parent


def test_two_students_against_a_server_started_here():
    """N = 2 on loopback: every slider move answered, the figure redrawn for the new
    value, no errors, no dropped session, memory read from /proc."""
    with loadtest.servers(1) as (urls, pids):
        assert all(u.startswith("http://127.0.0.1:") for u in urls)
        out = asyncio.run(
            loadtest.classroom(
                urls,
                pids,
                2,
                moves=3,
                think_s=(0.1, 0.3),
                ramp_s=0.5,
                timeout_s=240,
                detail=True,
                keep_figures=True,
            )
        )
    assert out["errors"] == 0, out["error_kinds"]
    assert out["dropped"] == 0, out["error_kinds"]
    assert out["reruns"] == 6
    assert out["n"] == 2
    assert 0 < out["rerun_p50_s"] <= out["rerun_p95_s"] <= out["rerun_max_s"]
    assert out["rss_before_mb"] > 50
    assert out["rss_peak_mb"] >= out["rss_before_mb"]
    for session in out["sessions"]:
        assert len(session.values) == 3
        assert len(set(session.values)) >= 2
        for value, figures in zip(session.values, session.figures, strict=True):
            assert any(f"S = {value}," in spec for spec in figures), value


def test_a_server_that_is_not_there_is_a_dropped_session():
    s = asyncio.run(loadtest.student("http://127.0.0.1:9", 0, moves=1, timeout_s=5))
    assert s.dropped
    assert s.errors
    assert s.load_s is None


def test_percentile_and_rss():
    assert loadtest.percentile([3.0, 1.0, 2.0, 4.0, 5.0], 0.5) == 3.0
    assert loadtest.percentile(list(range(101)), 0.95) == 95
    import os

    assert loadtest.rss_mb(os.getpid()) > 1


def test_the_app_config_turns_file_watching_off():
    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["server"]["fileWatcherType"] == "none"
    assert cfg["server"]["runOnSave"] is False
    dev = (ROOT / "dev").read_text()
    assert "--dev" in dev
    assert "fileWatcherType auto" in dev


def test_the_app_config_skips_the_full_collection_after_every_rerun():
    """Streamlit's default gc.collect(2) after each run walks every object of a process
    with torch and plotly loaded, holding the GIL (BENCHMARKS.md, app section)."""
    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["runner"]["postScriptGC"] is False


def test_every_streamlit_cache_is_bounded():
    """A cache without max_entries or ttl grows with every new URL a class opens."""
    unbounded = []
    for path in sorted([*ROOT.glob("ui/*.py"), *ROOT.glob("chapters/*.py"), ROOT / "app.py"]):
        tree = ast.parse(path.read_text())
        called = {id(n.func): n for n in ast.walk(tree) if isinstance(n, ast.Call)}
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Attribute) and node.attr in ("cache_data", "cache_resource")
            ):
                continue
            call = called.get(id(node))
            if call is None or not {k.arg for k in call.keywords} & {"max_entries", "ttl"}:
                unbounded.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not unbounded, f"caches without max_entries or ttl: {unbounded}"


def test_the_session_budget():
    from ui.budget import Ledger

    book = Ledger(limit_s=10.0, window_s=100.0)
    assert book.allows(0.0)
    book.charge(0.0, 0.01)  # a cache hit costs nothing
    assert book.used(0.0) == 0.0
    book.charge(1.0, 6.0)
    book.charge(2.0, 6.0)
    assert not book.allows(3.0)
    assert book.wait_s(3.0) == pytest.approx(98.0)  # the first charge leaves the window
    assert book.allows(101.5)


def test_the_knee_is_the_largest_n_within_the_target():
    rows = [
        {"n": 10, "rerun_p95_s": 0.3, "errors": 0, "dropped": 0},
        {"n": 20, "rerun_p95_s": 0.9, "errors": 0, "dropped": 0},
        {"n": 40, "rerun_p95_s": 0.8, "errors": 1, "dropped": 0},
        {"n": 80, "rerun_p95_s": 4.0, "errors": 0, "dropped": 0},
    ]
    assert loadtest.knee(rows) == 20
    assert loadtest.knee(rows[3:]) is None


def _budget_page():
    import sys
    import time

    import streamlit as st

    sys.path.insert(0, st.session_state.get("root", "."))
    from ui import budget

    book = budget.ledger()
    if st.session_state.get("spent"):
        book.charge(time.monotonic(), budget.SESSION_SECONDS + 1)
    st.markdown(f"out={budget.run('The sweep', lambda: 42)}")


def test_a_spent_budget_shows_a_note_instead_of_computing():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_budget_page)
    at.session_state["root"] = str(ROOT)
    at.run()
    assert not at.exception
    assert at.markdown[0].value == "out=42"
    at.session_state["spent"] = True
    at.run()
    assert at.markdown[0].value == "out=None"
    assert any("The sweep" in i.value and "Try again in" in i.value for i in at.info)


def test_the_launcher_finds_the_port_in_either_spelling():
    from ui import serve

    assert serve._option(["--server.port", "8600"], "--server.port", "8501") == "8600"
    assert serve._option(["--server.port=8601"], "--server.port", "8501") == "8601"
    assert serve._option(["--server.headless", "true"], "--server.port", "8501") == "8501"


def test_the_launched_server_serves_every_page_after_its_warm_up():
    """servers() starts the app as ./dev app does (ui/serve.py) and waits for its
    "serve: ready" line, printed after the launcher opened every page itself."""
    import asyncio

    from ui.pages import PAGES

    with loadtest.servers(1) as (urls, _):
        for i, p in enumerate(PAGES):
            s = asyncio.run(loadtest.open_page(urls[0], "" if i == 0 else p.url_path))
            assert s.errors == [], (p.url_path, s.errors)
            assert s.figures[0], p.url_path  # its default figures were sent
