"""The benchmark runner: ``python -m diffusion bench [--section ...] [--quick]``.

Each section is a module ``diffusion.bench.<name>`` with ``run(quick: bool = False)
-> str`` returning Markdown (its command, machine and medians with pass/fail against
the targets). The runner writes them into BENCHMARKS.md between markers, so that
re-running one section replaces only that section and keeps the others (the image
section's GPU figures, for instance, come from another machine). A section whose
module is absent, or that fails, is written down as such, never left out silently.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import time
import traceback
from pathlib import Path
from typing import TextIO

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; concurrent runs are then unguarded
    fcntl = None

__all__ = ["SECTIONS", "merge_report", "run_bench", "run_section"]

SECTIONS: dict[str, str] = {
    "core": "Core: training, sampling and sampler overhead on the 2-D world",
    "fewstep": "Few-step: progressive distillation and consistency models",
    "app": "App: start-up, page renders, slider latency and idle CPU",
    "loadtest": "Classroom: many sessions at the server (websocket load test)",
    "images": "Images: offline track (CPU) and CIFAR-10-size UNet (GPU)",
    "lecture": "Lecture: the take-home notebook and the slides",
}

HEADER = """# Benchmarks

Regenerate with `python -m diffusion bench` (or `./dev bench`); one section with
`python -m diffusion bench --section core`, a smoke run with `--quick`. Each section
names the command, the machine and the date it ran on; times are medians of
repeated runs, ratios come from runs interleaved in the same process. Re-running a
section replaces only that section of this file.
"""

_BLOCK = re.compile(r"<!-- bench:(\w+) -->\n(.*?)<!-- /bench:\1 -->\n?", re.S)


def run_section(name: str, quick: bool = False) -> tuple[str, str]:
    """(status, markdown) of one section: status is 'ok', 'missing' or 'failed: ...'."""
    module = f"{__name__}.{name}"
    if importlib.util.find_spec(module) is None:
        return "missing", (
            f"Not run: the section module `{module}` is not present in this checkout.\n"
        )
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    t0 = time.perf_counter()
    try:
        body = importlib.import_module(module).run(quick=quick)
    except Exception as e:  # a failed section is reported, and the others still run
        tb = traceback.format_exc()
        detail = f"{type(e).__name__}: {e}"
        return f"failed: {detail}", (
            f"**Failed** ({started}): `{detail}`\n\n```\n{tb.strip()}\n```\n"
        )
    took = time.perf_counter() - t0
    command = f"python -m diffusion bench --section {name}" + (" --quick" if quick else "")
    stamp = f"_Run {started} with `{command}`; the section took {took:.0f} s._\n\n"
    body = body.strip()
    if body.startswith("## "):  # keep the section's own heading first
        heading, _, rest = body.partition("\n")
        return "ok", f"{heading}\n\n{stamp}{rest.strip()}\n"
    return "ok", stamp + body + "\n"


def merge_report(old: str, new_sections: dict[str, str]) -> str:
    """BENCHMARKS.md text: the header, then every section in SECTIONS order, taking
    a freshly run section from ``new_sections`` and any other from ``old``."""
    kept = {m.group(1): m.group(2) for m in _BLOCK.finditer(old)}
    parts = [HEADER]
    for name, title in SECTIONS.items():
        body = new_sections.get(name, kept.get(name))
        if body is None:
            continue
        if not body.lstrip().startswith("## "):
            body = f"## {title}\n\n{body}"
        parts.append(f"<!-- bench:{name} -->\n{body.rstrip()}\n<!-- /bench:{name} -->\n")
    return "\n".join(parts)


def run_bench(
    sections: list[str],
    *,
    quick: bool = False,
    out: str | Path = "BENCHMARKS.md",
    log: TextIO | None = None,
) -> dict[str, str]:
    """Run ``sections``, merge them into ``out`` atomically, and return each
    section's status: 'ok', 'missing' (no module) or 'failed: <error>'."""
    from ..io import write_text

    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        raise ValueError(
            f"unknown bench section {unknown[0]!r}; choose one of {', '.join(SECTIONS)}"
        )
    out = Path(out)
    statuses, fresh = {}, {}
    for name in sections:
        if log is not None:
            print(f"bench: running section {name}{' (quick)' if quick else ''} ...", file=log)
        status, body = run_section(name, quick)
        fresh[name], statuses[name] = body, status
    # Sections may be run by separate processes at once: read, merge and write
    # under a lock on the folder, so no run drops another's fresh section.
    folder = os.open(out.parent if str(out.parent) else ".", os.O_RDONLY)
    try:
        if fcntl is not None:
            fcntl.flock(folder, fcntl.LOCK_EX)
        old = out.read_text(encoding="utf-8") if out.is_file() else ""
        write_text(out, merge_report(old, fresh))
    finally:
        os.close(folder)  # releases the lock
    if log is not None:
        print(f"bench: wrote {out}", file=log)
    return statuses
