"""Benchmark section ``lecture``: the take-home notebook and the lecture slides.

``python -m diffusion bench --section lecture``: the notebook executed from a fresh
kernel (nbclient, from the test extras; target under 3 minutes on a laptop CPU), every
slide's figure of the shipped sequences computed once from cold caches (target about
1 s each), and the browser-free export of the overview sequence. ``--quick`` skips the
notebook and the export.
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "accelerated_sampling.ipynb"
NOTEBOOK_TARGET_S = 180.0
SLIDE_TARGET_S = 1.0


def _machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{cpu}, {os.cpu_count()} cores, load average {load:.1f}; torch {torch.__version__} "
        f"({torch.get_num_threads()} thread), Python {platform.python_version()}"
    )


def _notebook_seconds() -> float:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        NotebookClient(
            nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": tmp}}
        ).execute()
        return time.perf_counter() - t0


def run(quick: bool = False) -> str:
    import torch

    from diffusion import lecture
    from diffusion.lecture import slides

    torch.set_num_threads(1)  # as the notebook and the export: the tensors are tiny
    lines = [
        "## Lecture: notebook and slides",
        "",
        f"Command: `python -m diffusion bench --section lecture`; machine: {_machine()}.",
        "",
        "| what | time | target |",
        "|---|---|---|",
    ]
    if quick:
        lines.append("| take-home notebook | not run (--quick) | < 180 s |")
    else:
        try:
            s = _notebook_seconds()
            verdict = "met" if s < NOTEBOOK_TARGET_S else "MISSED"
            lines.append(
                f"| take-home notebook, fresh kernel, all cells | {s:.1f} s | "
                f"< {NOTEBOOK_TARGET_S:.0f} s: {verdict} |"
            )
        except ImportError as err:
            lines.append(
                f"| take-home notebook | not run: {err} (pip install -e '.[test]') | "
                f"< {NOTEBOOK_TARGET_S:.0f} s |"
            )
    for name in lecture.available():
        seq = lecture.load(name)
        slides._cached.cache_clear()
        slides._load.cache_clear()
        times = []
        for slide in seq.slides:
            t0 = time.perf_counter()
            lecture.slide_figure(slide)
            times.append(time.perf_counter() - t0)
        worst = max(range(len(times)), key=times.__getitem__)
        lines.append(
            f"| {name}: each of {len(times)} slides' figures, cold | median "
            f"{statistics.median(times):.2f} s, max {times[worst]:.2f} s (slide {worst + 1}) | "
            f"about {SLIDE_TARGET_S:.0f} s |"
        )
    if not quick:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            files = lecture.export("overview-15min", Path(tmp) / "slides")
            took = time.perf_counter() - t0
        lines.append(
            f"| export of overview-15min ({len(files)} files: PNG, SVG, Markdown) | "
            f"{took:.1f} s | none |"
        )
    lines += [
        "",
        "The first slide includes the first imports and DDPM's 1000 steps; present "
        "mode computes the next slide's figure while the current one is on screen.",
    ]
    return "\n".join(lines) + "\n"
