"""Bounded work per session: what a URL or a button can make the server compute.

A link such as ``/ddim?quality=1&seed=N`` asks for a fresh sweep on every new seed. Each
session therefore gets a budget of server seconds for new computations over a sliding
window (``SESSION_SECONDS`` per ``WINDOW_S``); past it the page shows a note and the
shipped result instead. Heavy computations from all sessions also queue for
``AT_ONCE`` slots (one per core of a small server), so a class that presses "recompute"
together is served in turn rather than all at once at a crawl.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import streamlit as st

SESSION_SECONDS = 30.0
WINDOW_S = 300.0
AT_ONCE = 2
CHARGE_ABOVE_S = 0.05
"""Calls shorter than this (cache hits) cost the session nothing."""

T = TypeVar("T")


@dataclass
class Ledger:
    """The server seconds one session spent on computations, over a sliding window."""

    limit_s: float = SESSION_SECONDS
    window_s: float = WINDOW_S
    spent: list[tuple[float, float]] = field(default_factory=list)  # (when, seconds)

    def _prune(self, now: float) -> None:
        self.spent[:] = [(t, s) for t, s in self.spent if now - t < self.window_s]

    def used(self, now: float) -> float:
        self._prune(now)
        return sum(s for _, s in self.spent)

    def allows(self, now: float) -> bool:
        return self.used(now) < self.limit_s

    def wait_s(self, now: float) -> float:
        """Seconds until enough of the window has passed for the next computation."""
        self._prune(now)
        total, wait = self.used(now), 0.0
        for t, s in sorted(self.spent):
            if total < self.limit_s:
                break
            total -= s
            wait = t + self.window_s - now
        return max(wait, 0.0)

    def charge(self, now: float, seconds: float) -> None:
        if seconds >= CHARGE_ABOVE_S:
            self.spent.append((now, seconds))


@st.cache_resource(max_entries=1)
def _slots() -> threading.BoundedSemaphore:
    """Computation slots shared by every session of this server."""
    return threading.BoundedSemaphore(AT_ONCE)


def ledger() -> Ledger:
    """This session's ledger."""
    return st.session_state.setdefault("_budget.ledger", Ledger())


def run(what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """``fn(*args, **kwargs)`` if this session's budget allows it, else None with a note
    naming ``what``. The call waits for one of the server's computation slots."""
    book, now = ledger(), time.monotonic()
    if not book.allows(now):
        st.info(
            f"{what}: this tab has used its {book.limit_s:.0f} s of server time for new "
            f"computations in the last {book.window_s / 60:.0f} minutes, which keeps the "
            f"server quick for everyone. Try again in {book.wait_s(now):.0f} s; the shipped "
            "result stays shown meanwhile."
        )
        return None
    slots = _slots()
    if not slots.acquire(blocking=False):
        with st.spinner("Other tabs are computing; waiting for a free slot…"):
            slots.acquire()
    try:
        t0 = time.monotonic()
        out = fn(*args, **kwargs)
    finally:
        slots.release()
    book.charge(now, time.monotonic() - t0)
    return out
