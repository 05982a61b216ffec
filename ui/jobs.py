"""Live training that never blocks the page or touches another session.

A job runs the package's training function in a background thread; the page
polls its progress with an auto-refreshing fragment. The trained model lives in
this session's ``st.session_state`` only. A server-wide semaphore caps how many
jobs train at once, and every job has a time limit, so a classroom of tabs
cannot stall the server.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

MAX_SECONDS = 60.0
MAX_CONCURRENT = 2
TRAIN_NICE = 19


@st.cache_resource(max_entries=1)
def _slots() -> threading.BoundedSemaphore:
    """Training slots shared by all sessions of this server."""
    return threading.BoundedSemaphore(MAX_CONCURRENT)


@dataclass
class Job:
    """One training run. ``target(progress, should_stop) -> result`` does the work;
    progress(fraction, text) reports; should_stop() is True after Stop."""

    name: str
    target: Callable[[Callable[[float, str], None], Callable[[], bool]], Any]
    fraction: float = 0.0
    text: str = "waiting for a free training slot…"
    result: Any = None
    error: str | None = None
    started: float = field(default_factory=time.perf_counter)
    finished: float | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Job:
        threading.Thread(target=self._run, name=f"train-{self.name}", daemon=True).start()
        return self

    def _run(self) -> None:
        slots = _slots()
        try:
            with slots:
                # Linux nices threads one by one: training yields the cores to the
                # pages of every other session (measured in BENCHMARKS.md, classroom).
                with contextlib.suppress(AttributeError, OSError):
                    os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), TRAIN_NICE)
                self.started = time.perf_counter()
                self.text = "training…"
                self.result = self.target(self._progress, self._stop.is_set)
        except Exception as err:  # shown on the page, one line
            self.error = f"{type(err).__name__}: {err}"
        finally:
            self.finished = time.perf_counter()

    def _progress(self, fraction: float, text: str) -> None:
        self.fraction = min(max(float(fraction), 0.0), 1.0)
        self.text = text

    def stop(self) -> None:
        self._stop.set()

    @property
    def running(self) -> bool:
        return self.finished is None

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def seconds(self) -> float:
        return (self.finished or time.perf_counter()) - self.started


def get(key: str) -> Job | None:
    return st.session_state.get(f"job.{key}")


def launch(key: str, job: Job) -> Job:
    """Start ``job`` for this session unless one under ``key`` is still running."""
    current = get(key)
    if current is not None and current.running:
        return current
    st.session_state[f"job.{key}"] = job.start()
    return job


def time_limit(container, key: str) -> int:
    """The wall-time limit slider of a live training: 5 s to MAX_SECONDS, 20 s at first."""
    return container.slider(
        "Time limit (s)",
        5,
        int(MAX_SECONDS),
        20,
        key=key,
        help="Wall-time limit of the training on this server.",
    )


def optimiser_steps(container, options: list[int], default: int, key: str) -> int:
    """The optimiser-steps slider of a live training (the time limit may stop it sooner)."""
    return container.select_slider(
        "Optimiser steps",
        options,
        default,
        key=key,
        help="Optimiser steps, if the time limit allows.",
    )


def train_button(
    label: str,
    key: str,
    help: str = "Trains in the background; the model stays in your session only.",
) -> bool:
    """The primary button that starts a live training."""
    return st.button(label, type="primary", key=key, help=help)


def panel(key: str, on_done: Callable[[Job], None] | None = None) -> None:
    """Progress bar, Stop button and outcome of the job under ``key``; refreshes
    itself twice a second while the job runs, then reruns the page once."""

    @st.fragment(run_every=0.5)
    def _watch() -> None:
        job = get(key)
        if job is None:
            return
        if job.running:
            st.progress(job.fraction, text=f"{job.text} ({job.seconds:.0f} s)")
            st.button(
                "Stop",
                key=f"job.{key}.stop",
                on_click=job.stop,
                help="Ends the training now and keeps what it has learnt so far.",
            )
            return
        if job.error:
            st.error(f"Training failed: {job.error}")
        else:
            how = "stopped early" if job.stopped else "finished"
            st.success(f"Training {how} after {job.seconds:.1f} s.")
        if not st.session_state.get(f"job.{key}.shown"):
            st.session_state[f"job.{key}.shown"] = True
            if on_done is not None:
                on_done(job)
            st.rerun()

    job = get(key)
    if job is None:  # no polling for sessions that never trained
        return
    if job.running:
        st.session_state[f"job.{key}.shown"] = False
    _watch()
