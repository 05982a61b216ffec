"""Timing helpers shared by every benchmark section: medians of repeated runs,
side-by-side ratios, and a description of the machine."""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import statistics
import time
from collections.abc import Callable

import torch

__all__ = [
    "interleaved_medians",
    "machine_info",
    "md_table",
    "median_time",
    "paired_ratio",
    "steady_allocator",
    "torch_threads",
]


@contextlib.contextmanager
def torch_threads(n: int):
    """torch on ``n`` intra-op threads inside the block, restored after (each section says
    how many its training uses, and why)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# glibc's mallopt parameters (malloc.h): M_TRIM_THRESHOLD = -1, M_MMAP_THRESHOLD = -3.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
STEADY_TRIM_BYTES = 256 << 20
STEADY_MMAP_BYTES = 32 << 20  # glibc's upper limit for the mmap threshold on 64-bit


def steady_allocator() -> str:
    """Keep freed memory in this process's heap (glibc only), and say what was done.

    By default glibc hands the top of the heap back to the OS once more than the trim
    threshold is free, and serves blocks above the (adaptive) mmap threshold with fresh
    mappings; the next allocation of that size then page-faults its memory in again.
    Which of a run's allocations pay that depends on the order of earlier ones, so two
    loops doing the same network calls can differ by 10-20% for reasons that are
    neither's own work (measured on the 2-D MLP: a 10-step sampler at 1.22x its bare
    calls with the defaults, 1.06x with these settings, in the same minute). With the
    thresholds fixed high, every timed loop reuses its memory. Returns a sentence for
    the report.
    """
    try:
        libc = ctypes.CDLL(None)
        ok = libc.mallopt(_M_TRIM_THRESHOLD, STEADY_TRIM_BYTES) == 1
        ok = ok and libc.mallopt(_M_MMAP_THRESHOLD, STEADY_MMAP_BYTES) == 1
    except (OSError, AttributeError):
        ok = False
    if not ok:
        return "allocator: the platform's default (no glibc mallopt here)"
    return (
        f"allocator: glibc's heap trim threshold set to {STEADY_TRIM_BYTES >> 20} MiB and its "
        f"mmap threshold to {STEADY_MMAP_BYTES >> 20} MiB for the benchmark process, so that no "
        "timed loop pays page faults for memory handed back to the OS between calls"
    )


def median_time(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of fn() in seconds over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved_medians(
    fns: dict[str, Callable[[], object]], repeats: int = 7, warmup: int = 1
) -> dict[str, float]:
    """Median wall times of several functions run round-robin, so that a noisy
    machine slows all of them alike and their ratios stay meaningful."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def paired_ratio(
    fn: Callable[[], object], peer: Callable[[], object], repeats: int = 101, warmup: int = 2
) -> dict[str, float]:
    """The ratio fn / peer measured pair by pair: each round times both back to back,
    alternating which goes first, and the result is the median of the rounds' ratios.

    On a machine whose speed drifts (other work, frequency changes), a ratio of two
    separate medians mixes the drift into the ratio; a pair run within milliseconds of
    each other sees the same machine, so the per-round ratio cancels it. Returns
    {"ratio": median of per-round ratios, "fn": median time of fn, "peer": median time
    of peer, "q1", "q3": the ratios' quartiles}.
    """
    for _ in range(warmup):
        fn()
        peer()
    t_fn: list[float] = []
    t_peer: list[float] = []
    for i in range(repeats):
        order = ((t_fn, fn), (t_peer, peer)) if i % 2 == 0 else ((t_peer, peer), (t_fn, fn))
        for times, f in order:
            start = time.perf_counter()
            f()
            times.append(time.perf_counter() - start)
    ratios = sorted(a / b for a, b in zip(t_fn, t_peer, strict=True))
    q1, _, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else (ratios[0],) * 3
    return {
        "ratio": statistics.median(ratios),
        "fn": statistics.median(t_fn),
        "peer": statistics.median(t_peer),
        "q1": q1,
        "q3": q3,
    }


def machine_info() -> str:
    """One line naming the machine the numbers came from."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{cpu}, {os.cpu_count()} cores, {gpu}; torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), Python {platform.python_version()}"
    )


def md_table(header: list[str], rows: list[list[object]]) -> str:
    """A Markdown table."""
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)
