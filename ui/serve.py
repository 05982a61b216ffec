"""Start the app ready for a class: ``python -m ui.serve [streamlit options]``.

``./dev app`` runs this. Compared with a bare ``streamlit run app.py`` it does two things
before the first student arrives:

1. The heavy imports (torch, plotly and the diffusion package) happen
   before the server listens, not inside the first visitor's page load.
2. Once the server answers, the launcher opens every page once through Streamlit's own
   websocket protocol (``diffusion.bench.loadtest.open_page``), with each page's default
   settings: the shared caches (models, samples, shipped curves, figures) then hold every
   default view, so the first visit of each page is served as a cached rerun. It prints
   ``serve: ready`` (with the time each page took) when done, then freezes the objects
   made so far out of the garbage collector's way (``gc.freeze``), so that its automatic
   collections no longer walk torch's and plotly's module state.

A student who arrives during the warm-up is served as usual, only slower. Options after
``--`` or any ``--server.*`` option go to ``streamlit run``; ``--no-warm`` skips step 2.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEALTH_TIMEOUT_S = 120.0


def _option(args: list[str], name: str, default: str) -> str:
    """The value of ``--name value`` or ``--name=value`` in ``args``."""
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return default


def _preload() -> None:
    """Import the heavy libraries the first page load would import."""
    import plotly.graph_objects  # noqa: F401
    import torch  # noqa: F401

    import diffusion.figures  # noqa: F401
    # not the ui modules: their st.cache_data functions must be made once the
    # server's runtime exists (they are the first page's first, short, import)


def _wait_healthy(base: str, timeout_s: float) -> bool:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout_s:
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def warm(base: str, started: float) -> dict[str, float]:
    """Open every page once with its defaults; {page: seconds}. Prints one line per
    problem and a last line ``serve: ready ...``."""
    from diffusion.bench.loadtest import open_page
    from ui.pages import PAGES

    if not _wait_healthy(base, HEALTH_TIMEOUT_S):
        print(f"serve: no answer from {base} within {HEALTH_TIMEOUT_S:.0f} s", file=sys.stderr)
        return {}
    times = {}
    for i, p in enumerate(PAGES):
        session = asyncio.run(open_page(base, "" if i == 0 else p.url_path))
        if session.errors:
            print(f"serve: warming {p.url_path}: {session.errors[0]}", file=sys.stderr)
        times[p.url_path] = session.load_s or float("nan")
    gc.collect()
    gc.freeze()
    pages = ", ".join(f"{k} {v:.1f} s" for k, v in times.items())
    print(
        f"serve: ready {time.perf_counter() - started:.1f} s after start ({pages})",
        file=sys.stderr,
        flush=True,
    )
    return times


def main(argv: list[str] | None = None) -> None:
    started = time.perf_counter()
    args = list(sys.argv[1:] if argv is None else argv)
    no_warm = "--no-warm" in args
    args = [a for a in args if a not in ("--no-warm", "--")]
    _preload()
    if not no_warm:
        port = _option(args, "--server.port", "8501")
        address = _option(args, "--server.address", "127.0.0.1")
        if address in ("", "0.0.0.0", "::"):  # every interface: loopback is one of them
            address = "127.0.0.1"
        base = f"http://{address}:{port}"
        threading.Thread(target=warm, args=(base, started), daemon=True).start()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(ROOT / "app.py"), *args]
    cli.main()


if __name__ == "__main__":
    main()
