"""App benchmark: the Streamlit server driven by headless Chromium on localhost.

Measures, each beside a bare-Streamlit peer in the same run: every page's first visit on
a cold server (target <= 3 s), a fresh tab on a warm server (<= 1.5 s), a page switch
(<= 0.4 s), slider change to updated figure on the DDIM page (median <= 150 ms), and the
server's idle CPU per open tab. Many sessions are measured at the server by the
classroom section (diffusion/bench/loadtest.py), not by browsers on the same cores.
The server runs as a subprocess (``streamlit run app.py``); this module never
imports streamlit, and the browser is Debian's /usr/bin/chromium through the
``playwright`` package (no browser download). The test suite reuses the helpers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .common import machine_info, md_table

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "PAGES",
    "launch_chromium",
    "run",
    "streamlit_server",
    "wait_rendered",
]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]


def _app_pages() -> dict[str, str]:
    """URL path -> "number title" of every page, from the app's own table (``ui.pages``:
    plain data, no streamlit), which lives beside the package in the repository."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from ui.pages import PAGES as app_pages

    return {
        ("" if i == 0 else p.url_path): f"{p.number} {p.title}" for i, p in enumerate(app_pages)
    }


PAGES = _app_pages()
STEPS_THUMB = "[data-testid='stSidebar'] [data-testid='stSlider'] input[type='range']"
DONE = "[data-testid='stApp'][data-test-script-state='notRunning']"


PEER_APP = "ui/peer_app.py"
"""The peer: a bare Streamlit page with one slider, measured in the same run. Its
times are the floor that the framework and the browser set on this machine."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(
    root: Path = ROOT, timeout_s: float = 120.0, script: str = "app.py"
) -> Iterator[str]:
    """``streamlit run <script>`` on a free localhost port; yields its URL, stops it after."""
    with streamlit_process(root, timeout_s, script) as (url, _):
        yield url


READY = b"serve: ready"
"""The line ``python -m ui.serve`` prints once every page's default view is warm."""


def _ready(log, wait_warm: bool) -> bool:
    if not wait_warm:
        return True
    # pread leaves the offset alone: the server writes through the same open file
    fd = log.fileno()
    return READY in os.pread(fd, os.fstat(fd).st_size, 0)


@contextlib.contextmanager
def streamlit_process(
    root: Path = ROOT,
    timeout_s: float = 120.0,
    script: str = "app.py",
    extra: tuple[str, ...] = (),
    serve: bool = False,
) -> Iterator[tuple[str, subprocess.Popen]]:
    """As ``streamlit_server``, yielding (URL, the server's process). The server reads
    the project's .streamlit/config.toml as ``./dev app`` does (no file watcher);
    ``extra`` adds command-line options (e.g. the watcher of ``./dev app --dev``).
    ``serve``: start the app as ``./dev app`` does (``python -m ui.serve``: heavy
    imports first, every page warmed) and yield once it prints that it is ready."""
    port = _free_port()
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
    start_cmd = ["-m", "ui.serve"] if serve else ["-m", "streamlit", "run", str(root / script)]
    proc = subprocess.Popen(
        [
            sys.executable,
            *start_cmd,
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
            *extra,
        ],
        cwd=root,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        start = time.perf_counter()
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"streamlit exited early:\n{log.read().decode()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200 and _ready(log, serve):
                        break
            except OSError:
                pass
            if time.perf_counter() - start > timeout_s:
                raise RuntimeError(f"streamlit did not answer on {url} within {timeout_s:.0f} s")
            time.sleep(0.2)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def launch_chromium(playwright, profile_dir: str, height: int = 1000):
    """A persistent headless Chromium context on a fresh profile folder; a tall
    ``height`` makes screenshots show a whole page (Streamlit scrolls inside it)."""
    if not os.path.exists(CHROMIUM):
        raise FileNotFoundError(f"{CHROMIUM} is missing: apt-get install -y chromium")
    return playwright.chromium.launch_persistent_context(
        profile_dir,
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        headless=True,
        viewport={"width": 1400, "height": height},
    )


def wait_rendered(page, timeout_s: float = 60.0) -> None:
    """Wait until the script has run to completion and the page shows its title."""
    page.wait_for_selector(DONE, timeout=timeout_s * 1000)
    page.wait_for_selector("h1", timeout=timeout_s * 1000)
    page.wait_for_selector(DONE, timeout=timeout_s * 1000)


FIGURES_DRAWN = """(n) => {
  const charts = [...document.querySelectorAll(".js-plotly-plot")];
  return charts.length >= n && charts.every(c => c.querySelector('.main-svg'));
}"""
"""True once ``n`` plotly charts are on the page and plotly has drawn every one. The
count matters: a chart's element appears only after plotly.js has loaded, so with no
count the check passes on a page whose charts are still on their way."""


def _render_time(context, url: str, charts: int, timeout_s: float = 180.0) -> float:
    """A fresh tab: navigation to the script finished and all ``charts`` default
    figures drawn and painted."""
    page = context.new_page()
    page.set_default_timeout(timeout_s * 1000)
    try:
        t0 = time.perf_counter()
        page.goto(url, wait_until="domcontentloaded")
        wait_rendered(page, timeout_s)
        page.wait_for_function(FIGURES_DRAWN, arg=charts, timeout=timeout_s * 1000)
        page.evaluate(PAINTED)
        return time.perf_counter() - t0
    finally:
        page.close()


def chart_counts(url: str, paths: list[str]) -> dict[str, int]:
    """How many plotly charts each page's default view shows, read from the server's
    messages by a websocket session (``loadtest.open_page``)."""
    from .loadtest import open_page

    out = {}
    for path in paths:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:  # Playwright owns this loop
            s = pool.submit(asyncio.run, open_page(url, path)).result()
        if s.errors:
            raise RuntimeError(f"page {path or '/'}: {s.errors[0]}")
        out[path] = len(s.figures[0])
    return out


PAINTED = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
"""Resolves once the browser has painted the frames after the current DOM."""
SHOWS = """(want) => want.every(w => document.body.innerText.includes(w) ||
  [...document.querySelectorAll('.js-plotly-plot text')].some(t => t.textContent.includes(w)))"""
"""True when every text in ``want`` is on the page, in HTML or in a plotly figure's SVG."""


def _slider_times(context, url: str, presses: int, shows: str) -> list[tuple[float, float]]:
    """Key presses on the first sidebar slider (the DDIM page's steps, or the peer's),
    10 <-> 12 steps. For each press: (seconds from the key to the updated figure
    painted, seconds to the end of the rerun). ``shows`` is the text that the updated
    figure carries, with ``{steps}`` for the new value: the DDIM page's samples
    figure title, or the peer's line of text."""
    page = context.new_page()
    try:
        page.goto(url, wait_until="domcontentloaded")
        wait_rendered(page, 240)
        # the steps slider: the first range input in the sidebar
        thumb = page.locator(STEPS_THUMB).nth(0)
        times = []
        for i in range(presses):
            key, value = ("ArrowRight", 12) if i % 2 == 0 else ("ArrowLeft", 10)
            thumb.focus()
            t0 = time.perf_counter()
            page.keyboard.press(key)
            page.wait_for_function(SHOWS, arg=[shows.format(steps=value)], timeout=120_000)
            page.evaluate(PAINTED)
            drawn = time.perf_counter() - t0
            page.wait_for_selector(DONE, timeout=120_000)
            times.append((drawn, time.perf_counter() - t0))
        return times
    finally:
        page.close()


SWITCHED = """(old) => {
  const h = document.querySelector('h1');
  const app = document.querySelector("[data-testid='stApp']");
  return h && h.innerText !== old && app.getAttribute('data-test-script-state') === 'notRunning';
}"""
"""True once the page's title has changed and its script has finished."""


def _switch_times(context, url: str, links: list[str], rounds: int) -> dict[str, list[float]]:
    """Page switches inside one tab, as a student moves through the app: a click on a
    sidebar link (``links``: its text) to the new page's title shown, its script
    finished and the result painted. Every page is visited ``rounds`` times in turn,
    so after the first round every switch is served from the server's caches."""
    page = context.new_page()
    page.set_default_timeout(240_000)
    try:
        page.goto(url, wait_until="domcontentloaded")
        wait_rendered(page, 240)
        times: dict[str, list[float]] = {name: [] for name in links}
        for _ in range(rounds):
            for name in links:
                old = page.inner_text("h1")
                link = page.locator("[data-testid='stSidebarNav'] a", has_text=name).first
                t0 = time.perf_counter()
                link.click()
                page.wait_for_function(SWITCHED, arg=old)
                page.evaluate(PAINTED)
                times[name].append(time.perf_counter() - t0)
        return times
    finally:
        page.close()


def _script_times(repeats: int) -> dict:
    """Each page's script run without a browser (``python -m ui.render_times``)."""
    import json

    proc = subprocess.run(
        [sys.executable, "-m", "ui.render_times", "--repeats", str(repeats)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1500,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _idle_cpu(context, url: str, pid: int, tabs: int, seconds: float) -> tuple[float, float]:
    """Server CPU (fraction of one core) with no tab open, then with ``tabs`` idle tabs
    open on the DDIM page, each over ``seconds``."""

    def busy() -> float:
        c0, t0 = _cpu_s(pid), time.perf_counter()
        time.sleep(seconds)
        return (_cpu_s(pid) - c0) / (time.perf_counter() - t0)

    time.sleep(2.0)
    none = busy()
    pages = []
    try:
        for _ in range(tabs):
            page = context.new_page()
            page.goto(f"{url}/ddim", wait_until="domcontentloaded")
            wait_rendered(page, 240)
            pages.append(page)
        time.sleep(2.0)
        return none, busy()
    finally:
        for page in pages:
            page.close()


def _server_reruns(url: str, page: str, slider: str, values: tuple[str, ...], moves: int) -> float:
    """Median seconds from a slider change to ``script_finished`` for one websocket
    session without a browser, after one move to each value (cached values)."""
    from .loadtest import student

    # in a thread of its own: Playwright's sync API keeps an event loop in this one
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        s = pool.submit(
            asyncio.run,
            student(
                url,
                0,
                page=page,
                slider=slider,
                values=values,
                moves=moves + len(values),
                think_s=(0.05, 0.1),
            ),
        ).result()
    if s.errors:
        raise RuntimeError(f"websocket session on {page}: {s.errors[0]}")
    return statistics.median(s.reruns[len(values) :])


def _target(value: float, limit: float) -> str:
    return "met" if value <= limit else "not met"


def _cold_visits(context, counts: dict[str, int], serve: bool) -> dict[str, tuple[float, float]]:
    """Each page's first visit on a server process started just for it: {title:
    (seconds from the start command to the server ready, seconds of the visit)}.
    ``serve``: started as ``./dev app`` starts it (``ui.serve``: ready once every
    page is warm); otherwise a bare ``streamlit run app.py`` (ready when it answers)."""
    out = {}
    for path, title in PAGES.items():
        t0 = time.perf_counter()
        with streamlit_process(ROOT, timeout_s=240, serve=serve) as (url, _):
            ready = time.perf_counter() - t0
            out[title] = (ready, _render_time(context, f"{url}/{path}", counts[path], 240))
    return out


def run(quick: bool = False) -> str:
    """The app section of BENCHMARKS.md (Markdown)."""
    from playwright.sync_api import sync_playwright

    repeats = 1 if quick else 3
    presses = 4 if quick else 20
    tabs, idle_s = (2, 5.0) if quick else (3, 10.0)
    load = os.getloadavg()
    out = [
        f"Machine: {machine_info()}",
        "",
        f"Load average when the section started: {load[0]:.1f} (1 min), {load[1]:.1f} "
        "(5 min) on 2 cores; other jobs on the machine slow the browser and the server "
        "alike, so read the peer's times, measured in the same run, as the floor.",
        "",
    ]
    script = _script_times(repeats)
    out += [
        "### Server side: each page's script run (no browser)",
        "",
        "Streamlit's AppTest runs the page script in-process: the part of a render "
        "this project controls. First run fills the caches; then cached reruns.",
        "",
        md_table(
            ["page", "first run (s)", f"cached, median of {repeats} (s)"],
            [[p, f"{v['first']:.2f}", f"{v['cached']:.3f}"] for p, v in script.items()],
        ),
        "",
    ]
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as pw:
        context = launch_chromium(pw, profile)
        try:
            out += _browser(context, repeats, presses, tabs, idle_s, quick)
        finally:
            context.close()
    return "\n".join(out)


@dataclass
class _Peer:
    cold: float
    tab: float
    plot_tab: float
    slider: float
    plot_slider: float
    switch: float
    server: float


def _measure_peer(context, repeats: int, presses: int) -> _Peer:
    with streamlit_process(ROOT, script=PEER_APP) as (url, _):
        cold = _render_time(context, url, 0)  # fresh server, fresh browser cache
        n = max(repeats, 3)
        tab = statistics.median(_render_time(context, url, 0) for _ in range(n))
        plot_tab = statistics.median(_render_time(context, f"{url}/plot", 1) for _ in range(n))
        slider = statistics.median(
            d for d, _ in _slider_times(context, url, presses, "steps = {steps}")
        )
        plot_slider = statistics.median(
            d for d, _ in _slider_times(context, f"{url}/plot", presses, "steps = {steps}")
        )
        switch = _switch_times(context, url, ["Peer two", "Peer one"], repeats + 1)
        server = _server_reruns(url, "one", "Steps", ("10", "12"), presses)
    switch_med = statistics.median(t for ts in switch.values() for t in ts[1:])
    return _Peer(cold, tab, plot_tab, slider, plot_slider, switch_med, server)


@dataclass
class _App:
    counts: dict[str, int]
    warm: dict[str, float]
    switch: dict[str, float]
    slider: list[tuple[float, float]]
    server: float
    idle_none: float
    idle_tabs: float


def _measure_app(context, repeats: int, presses: int, tabs: int, idle_s: float) -> _App:
    with streamlit_process(ROOT, timeout_s=240, serve=True) as (url, proc):
        counts = chart_counts(url, list(PAGES))
        warm = {}
        for path, title in PAGES.items():
            _render_time(context, f"{url}/{path}", counts[path])  # this tab's first
            warm[title] = statistics.median(
                _render_time(context, f"{url}/{path}", counts[path]) for _ in range(repeats)
            )
        names = [t.split(" ", 1)[1] for t in PAGES.values()]
        switch = _switch_times(context, url, names[1:] + names[:1], repeats + 1)
        slider = _slider_times(
            context,
            f"{url}/ddim?n=2000&steps=10&spacing=leading",
            presses,
            "DDIM, S = {steps}, eta",
        )
        server = _server_reruns(url, "ddim", "Steps S", ("10", "12"), presses)
        idle_none, idle_tabs = _idle_cpu(context, url, proc.pid, tabs, idle_s)
    switch_meds = {n: statistics.median(ts[1:]) for n, ts in switch.items()}
    return _App(counts, warm, switch_meds, slider, server, idle_none, idle_tabs)


def _row(measure: str, app: float, peer: float, fmt: str, target: float, unit=1.0) -> list:
    return [
        measure,
        format(app * unit, fmt),
        format(peer * unit, fmt),
        f"{app / peer:.1f}",
        f"<= {target:g}",
        _target(app * unit, target),
    ]


def _browser(
    context, repeats: int, presses: int, tabs: int, idle_s: float, quick: bool
) -> list[str]:
    peer = _measure_peer(context, repeats, presses)
    app = _measure_app(context, repeats, presses, tabs, idle_s)
    cold = _cold_visits(context, app.counts, serve=True)
    bare = {} if quick else _cold_visits(context, app.counts, serve=False)
    watch_none = watch_tabs = float("nan")
    if not quick:  # the same with the file watcher of `./dev app --dev`, for contrast
        with streamlit_process(
            ROOT, extra=("--server.fileWatcherType", "auto", "--server.runOnSave", "true")
        ) as (durl, dproc):
            watch_none, watch_tabs = _idle_cpu(context, durl, dproc.pid, tabs, idle_s)

    worst_cold = max(v for _, v in cold.values())
    worst_warm = max(app.warm.values())
    worst_switch = max(app.switch.values())
    med = statistics.median(d for d, _ in app.slider)
    per_tab = max(app.idle_tabs - app.idle_none, 0.0) / tabs  # none cannot cost less
    out = [
        "### Targets",
        "",
        md_table(
            ["measure", "app", "bare-Streamlit peer", "ratio", "target", "status"],
            [
                _row(
                    "first visit on a cold server, slowest page (s)",
                    worst_cold,
                    peer.cold,
                    ".2f",
                    3,
                ),
                _row("fresh tab, cached, slowest page (s)", worst_warm, peer.tab, ".2f", 1.5),
                _row(
                    "page switch, slowest page, median (s)", worst_switch, peer.switch, ".2f", 0.4
                ),
                _row("slider to updated figure, median (ms)", med, peer.slider, ".0f", 150, 1e3),
                [
                    "idle server CPU per open tab (% of a core)",
                    f"{100 * per_tab:.1f}",
                    "",
                    "",
                    "about 0",
                    _target(per_tab, 0.02),
                ],
            ],
        ),
        "",
        "The peer with one plotly chart (a page of the peer app whose only figure is a "
        "10-point line, drawn by `st.plotly_chart`) is what a Streamlit page with a plotly "
        f"figure costs: fresh tab {peer.plot_tab:.2f} s (against {peer.tab:.2f} s without "
        f"the chart), slider to the redrawn chart {peer.plot_slider * 1e3:.0f} ms. "
        "`st.plotly_chart` loads plotly.js (4.7 MB) as a module of Streamlit's in every new "
        "tab and draws a changed chart anew; the app's figures (`ui/plot.py`) load the "
        "plotly package's plotly.js once per tab by a script tag (which the browser keeps "
        "compiled) and update a changed figure in place (`Plotly.react`, or only the moved "
        "points where nothing else changed).",
        "",
        "### Per page",
        "",
        "First visit: a server process started for that page alone as `./dev app` starts "
        "it (`python -m ui.serve`: heavy imports, then every page opened once by a "
        "websocket session; ready when it prints so), one fresh tab, time from navigation "
        "to the script finished and all of the page's default figures (the number the "
        "server sent) drawn by plotly and painted. Bare start: the same with "
        "`streamlit run app.py` and no warm-up, ready when the health endpoint answers. "
        f"Fresh tab: a new tab on a warm server (median of {repeats}). Switch: a click on "
        "the sidebar link inside one tab, to the new title shown, script finished and "
        f"painted (median of {repeats} after the first visit).",
        "",
        md_table(
            [
                "page",
                "figures",
                "server ready (s)",
                "first visit (s)",
                "bare start: first visit (s)",
                "fresh tab (s)",
                "switch (s)",
            ],
            [
                [
                    title,
                    app.counts[path],
                    f"{cold[title][0]:.1f}",
                    f"{cold[title][1]:.2f}",
                    f"{bare[title][1]:.2f}" if bare else "",
                    f"{app.warm[title]:.2f}",
                    f"{app.switch.get(title.split(' ', 1)[1], float('nan')):.2f}",
                ]
                for path, title in PAGES.items()
            ],
        ),
        "",
        "### Slider change to updated figure",
        "",
        "DDIM page, 2,000 points, steps slider moved 10 <-> 12 by key presses "
        f"({presses} presses; the first of each value samples, later ones hit the "
        "cache). Time from the key press to the samples figure painted with the new "
        "steps in its title; the peer's time is to its new line of text painted.",
        "",
        md_table(
            ["measure", "ms"],
            [
                ["median", f"{med * 1e3:.0f}"],
                ["max", f"{max(d for d, _ in app.slider) * 1e3:.0f}"],
                ["first (uncached sampling)", f"{app.slider[0][0] * 1e3:.0f}"],
                [
                    "whole rerun finished, median",
                    f"{statistics.median(r for _, r in app.slider) * 1e3:.0f}",
                ],
                ["peer, median", f"{peer.slider * 1e3:.0f}"],
                ["peer with one plotly chart, median", f"{peer.plot_slider * 1e3:.0f}"],
                [
                    "server rerun alone (websocket client, no browser), median",
                    f"{app.server * 1e3:.0f}",
                ],
                ["peer's server rerun alone, median", f"{peer.server * 1e3:.0f}"],
            ],
        ),
        "",
        "The server's share is its rerun seen by a websocket client that speaks "
        "Streamlit's protocol (diffusion/bench/loadtest.py), cached values; the rest of "
        "the slider time is the browser: Streamlit re-rendering the page's elements from "
        "the new deltas, and plotly.js updating the two figures that a steps change alters "
        "(the samples with `Plotly.react`; the timestep grid, whose markers alone move, "
        "without a replot).",
        "",
        "### Idle CPU of the server",
        "",
        f"Server CPU over {idle_s:.0f} s with no tab open, then with {tabs} tabs open on "
        "the DDIM page doing nothing, as `./dev app` serves them (file watcher off), "
        "and the same with the watcher of `./dev app --dev`.",
        "",
        md_table(
            ["server", "no tab (% core)", f"{tabs} idle tabs (% core)", "per tab (% core)"],
            [
                [
                    "`./dev app`",
                    f"{100 * app.idle_none:.1f}",
                    f"{100 * app.idle_tabs:.1f}",
                    f"{100 * per_tab:.1f}",
                ],
                [
                    "`./dev app --dev` (watcher on)",
                    f"{100 * watch_none:.1f}",
                    f"{100 * watch_tabs:.1f}",
                    f"{100 * (watch_tabs - watch_none) / tabs:.1f}",
                ],
            ],
        ),
        "",
        "The classroom section below measures many sessions at the server itself.",
        "",
    ]
    return out


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv))
