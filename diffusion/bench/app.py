"""App benchmark: the Streamlit server driven by headless Chromium on localhost.

Measures cold start to first render, each page's render time, slider change to
updated figure on the DDIM page (2,000 points, <= 100 steps; target <= 300 ms), and
20 concurrent sessions against one server (p95 latency, errors; target zero).
The server runs as a subprocess (``streamlit run app.py``); this module never
imports streamlit, and the browser is Debian's /usr/bin/chromium through the
``playwright`` package (no browser download). The test suite reuses the helpers.
"""

from __future__ import annotations

import asyncio
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
from pathlib import Path

from .common import machine_info, md_table

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "PAGES", "streamlit_server", "launch_chromium",
           "wait_rendered", "run"]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ROOT = Path(__file__).resolve().parents[2]


def _app_pages() -> dict[str, str]:
    """URL path -> "number title" of every page, from the app's own table (``ui.pages``:
    plain data, no streamlit), which lives beside the package in the repository."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from ui.pages import PAGES as app_pages

    return {("" if i == 0 else p.url_path): f"{p.number} {p.title}"
            for i, p in enumerate(app_pages)}


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
def streamlit_server(root: Path = ROOT, timeout_s: float = 120.0,
                     script: str = "app.py") -> Iterator[str]:
    """``streamlit run <script>`` on a free localhost port; yields its URL, stops it after."""
    with streamlit_process(root, timeout_s, script) as (url, _):
        yield url


@contextlib.contextmanager
def streamlit_process(root: Path = ROOT, timeout_s: float = 120.0,
                      script: str = "app.py") -> Iterator[tuple[str, subprocess.Popen]]:
    """As ``streamlit_server``, yielding (URL, the server's process)."""
    port = _free_port()
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(root / script),
         "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=root, stdout=log, stderr=subprocess.STDOUT,
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
                    if r.status == 200:
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
        profile_dir, executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
        viewport={"width": 1400, "height": height})


def wait_rendered(page, timeout_s: float = 60.0) -> None:
    """Wait until the script has run to completion and the page shows its title."""
    page.wait_for_selector(DONE, timeout=timeout_s * 1000)
    page.wait_for_selector("h1", timeout=timeout_s * 1000)
    page.wait_for_selector(DONE, timeout=timeout_s * 1000)


def _render_time(context, url: str, timeout_s: float = 180.0) -> float:
    page = context.new_page()
    page.set_default_timeout(timeout_s * 1000)
    try:
        t0 = time.perf_counter()
        page.goto(url, wait_until="domcontentloaded")
        wait_rendered(page, timeout_s)
        page.wait_for_selector(".js-plotly-plot, [data-testid='stDataFrame'], h1",
                               timeout=timeout_s * 1000)
        return time.perf_counter() - t0
    finally:
        page.close()


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


async def _session(browser, url: str, i: int) -> tuple[float, bool, str]:
    ctx = await browser.new_context()
    page = await ctx.new_page()
    page.set_default_timeout(300_000)  # 20 tabs on 2 cores: loading alone can pass 30 s
    t0 = time.perf_counter()
    try:
        await page.goto(f"{url}/ddim?n=2000&steps=20&seed={i % 4}",
                        wait_until="domcontentloaded", timeout=300_000)
        await page.wait_for_selector(DONE, timeout=300_000)
        await page.wait_for_selector("h1", timeout=300_000)
        await page.wait_for_selector(DONE, timeout=300_000)
        ok = await page.locator("[data-testid='stException']").count() == 0
        return time.perf_counter() - t0, ok, "" if ok else "exception shown on the page"
    except Exception as err:
        return time.perf_counter() - t0, False, f"{type(err).__name__}: {str(err)[:120]}"
    finally:
        await ctx.close()


async def _concurrent(url: str, n: int) -> list[tuple[float, bool, str]]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                           headless=True)
        try:
            return await asyncio.gather(*(_session(browser, url, i) for i in range(n)))
        finally:
            await browser.close()


def _script_times(repeats: int) -> dict:
    """Each page's script run without a browser (``python -m ui.render_times``)."""
    import json

    proc = subprocess.run([sys.executable, "-m", "ui.render_times", "--repeats", str(repeats)],
                          cwd=ROOT, capture_output=True, text=True, timeout=1500, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]


def _sequential(context, url: str, t_start: float, server_up: float, repeats: int,
                presses: int) -> list[str]:
    """Cold start, page renders and slider latency, one browser tab at a time, each
    beside the same measure on the bare peer page."""
    first = _render_time(context, f"{url}/")
    cold = time.perf_counter() - t_start
    with streamlit_server(ROOT, script=PEER_APP) as peer_url:
        _render_time(context, peer_url)  # warm the browser's cache of the JS bundle
        peer_page = statistics.median(_render_time(context, peer_url)
                                      for _ in range(max(repeats, 3)))
        peer = [d for d, _ in _slider_times(context, peer_url, presses, "steps = {steps}")]
        peer_switch = _switch_times(context, peer_url, ["Peer two", "Peer one"], repeats + 1)
    peer_switch_med = statistics.median(t for ts in peer_switch.values() for t in ts[1:])
    out = ["### Cold start", "",
           md_table(["measure", "seconds"], [
               ["`streamlit run` to health endpoint", f"{server_up:.2f}"],
               ["first page: navigation to rendered (caches cold)", f"{first:.2f}"],
               ["process start to first render", f"{cold:.2f}"]]), ""]
    rows = []
    for path, title in PAGES.items():
        cold_page = _render_time(context, f"{url}/{path}")
        warm = [_render_time(context, f"{url}/{path}") for _ in range(repeats)]
        med = statistics.median(warm)
        rows.append([title, f"{cold_page:.2f}", f"{med:.2f}", f"{med / peer_page:.2f}",
                     "yes" if med - peer_page <= 1.0 else "no"])
    out += ["### Page render (navigation to rendered, default controls)", "",
            f"Peer: a bare Streamlit page with one slider renders in {peer_page:.2f} s "
            "(median) on this machine in the same run.", "",
            md_table(["page", "first visit (s)", f"cached, median of {repeats} (s)",
                      "ratio to peer", "<= 1 s beyond peer"], rows), "",
            "The first visit includes filling the shared caches; later visits, from any "
            "session, hit them. Navigation time includes loading the page's JavaScript.", ""]
    switch = _switch_times(context, url, [t.split(" ", 1)[1] for t in PAGES.values()][1:]
                           + [next(iter(PAGES.values())).split(" ", 1)[1]], repeats + 1)
    rows = []
    for name, ts in switch.items():
        med = statistics.median(ts[1:])
        rows.append([name, f"{ts[0]:.2f}", f"{med:.2f}", f"{med - peer_switch_med:+.2f}",
                     "yes" if med < 1.0 else "no"])
    out += ["### Page switch inside the app", "",
            "One tab moving through the pages by their sidebar links, as a student does: "
            "time from the click to the new page's title shown, its script finished and "
            "the result painted. The JavaScript stays loaded, so this is the part of a "
            "render that the pages and the server decide. The first visit fills the "
            f"server's caches; then the median of {repeats} later visits. The peer (a bare "
            f"two-page app) switches in {peer_switch_med:.2f} s.", "",
            md_table(["page", "first visit (s)", f"cached, median of {repeats} (s)",
                      "beyond peer (s)", "< 1 s"], rows), ""]
    timed = _slider_times(context, f"{url}/ddim?n=2000&steps=10&spacing=leading", presses,
                          "DDIM, S = {steps}, eta")
    slider, reruns = [d for d, _ in timed], [r for _, r in timed]
    med = statistics.median(slider)
    out += ["### Slider change to updated figure", "",
            "DDIM page, 2,000 points, steps slider moved 10 <-> 12 by key presses "
            f"({presses} presses; the first of each value samples, later ones hit the "
            "cache). Time from the key press to the samples figure painted with the new "
            "steps in its title (two animation frames after it appears); the rest of the "
            "page (schedule and trajectory figures) follows, timed to the rerun's end. "
            "The peer's time is to its new line of text painted.", "",
            md_table(["measure", "ms"], [
                ["median", f"{med * 1e3:.0f}"], ["max", f"{max(slider) * 1e3:.0f}"],
                ["first (uncached sampling)", f"{slider[0] * 1e3:.0f}"],
                ["whole rerun finished, median", f"{statistics.median(reruns) * 1e3:.0f}"],
                ["peer (bare page, same slider), median", f"{statistics.median(peer) * 1e3:.0f}"],
                ["ratio median / peer", f"{med / statistics.median(peer):.2f}"],
                ["target", "<= 300"],
                ["meets target (median)", "yes" if med <= 0.3 else "no"]]), ""]
    return out


def run(quick: bool = False) -> str:
    """The app section of BENCHMARKS.md (Markdown)."""
    from playwright.sync_api import sync_playwright

    repeats = 1 if quick else 3
    presses = 4 if quick else 20
    sessions = 5 if quick else 20
    load = os.getloadavg()
    out = [f"Machine: {machine_info()}", "",
           f"Load average when the section started: {load[0]:.1f} (1 min), {load[1]:.1f} "
           "(5 min) on 2 cores; other jobs on the machine slow the browser most.", ""]
    script = _script_times(repeats)
    out += ["### Server side: each page's script run (no browser)", "",
            "Streamlit's AppTest runs the page script in-process: the part of a render "
            "this project controls. First run fills the caches; then cached reruns.", "",
            md_table(["page", "first run (s)", f"cached, median of {repeats} (s)", "< 1 s cached"],
                     [[p, f"{v['first']:.2f}", f"{v['cached']:.3f}",
                       "yes" if v["cached"] < 1.0 and not v["errors"] else "no"]
                      for p, v in script.items()]), ""]
    t_start = time.perf_counter()
    with streamlit_server() as url:
        server_up = time.perf_counter() - t_start
        # the sync API runs its own event loop: close it before the asyncio part
        with tempfile.TemporaryDirectory() as profile, sync_playwright() as pw:
            context = launch_chromium(pw, profile)
            try:
                out += _sequential(context, url, t_start, server_up, repeats, presses)
            finally:
                context.close()
        results = asyncio.run(_concurrent(url, sessions))
    lat = [r[0] for r in results]
    errors = sum(not r[1] for r in results)
    out += [f"### {sessions} concurrent sessions", "",
            f"{sessions} browser contexts open the DDIM page (2,000 points, 20 steps, "
            "4 distinct seeds) at once against one server.", "",
            md_table(["measure", "value"], [
                ["median latency (s)", f"{statistics.median(lat):.2f}"],
                ["p95 latency (s)", f"{_p95(lat):.2f}"],
                ["max latency (s)", f"{max(lat):.2f}"],
                ["errors", f"{errors} (target 0)"]]), ""]
    kinds = sorted({r[2] for r in results if r[2]})
    if kinds:
        out += ["Errors seen: " + "; ".join(f"`{k}`" for k in kinds), ""]
    return "\n".join(out)


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv))
