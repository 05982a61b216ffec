"""Server-side render time of every page: the script run alone, without a browser.

``python -m ui.render_times [--repeats N]`` prints JSON {page: {"first": s, "cached": s}}.
The app benchmark (diffusion/bench/app.py, which must not import streamlit) runs
this as a subprocess, next to its browser timings.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from ui.pages import PAGES

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    pages = [p.file for p in PAGES]
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    t0 = time.perf_counter()
    at.run()  # the default page, page 1, with cold caches
    start = time.perf_counter() - t0
    out = {}
    for page in pages:
        at.switch_page(page)
        t0 = time.perf_counter()
        at.run()
        first = start if page == pages[0] else time.perf_counter() - t0
        warm = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            at.run()
            warm.append(time.perf_counter() - t0)
        failed = [e.value for e in at.exception]
        out[page] = {"first": first, "cached": statistics.median(warm), "errors": failed}
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
