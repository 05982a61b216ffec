"""The few-step pages' pictures (progressive distillation, consistency models) over
``diffusion.demos``: cached for shipped models, computed per session for models
trained in the app (another session must never see them)."""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from diffusion import demos

from . import live, models

PD_TEACHER_STEPS = 256
"""DDIM steps of the teacher panel on the PD page: they already look like the converged
teacher, at a quarter of the cost of 1000."""


def _shared(*specs: str | None) -> bool:
    return not any(str(s).startswith("session:") for s in specs)


def two_steps_vs_one(parent: str, student: str, steps: int, i: int, dataset: str, seed: int):
    """Step i of the ``steps``-step student against the two DDIM steps of its parent
    (the round before, or the teacher), from a noised data point: x_t (2,), the
    parent's path (3, 2) and the student's landing point (2,)."""
    x0 = torch.as_tensor(models.data(dataset, 8, seed=seed + 99)[:1])
    noise = torch.randn(1, 2, generator=torch.Generator().manual_seed(seed))
    return demos.two_teacher_steps_vs_one(live.get(parent), live.get(student), steps, i, x0, noise)


def _property(base: str, cms: tuple, teacher: str | None, particle: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    x_T = torch.randn((100, 2), generator=gen)[particle : particle + 1]
    named = {f"{label}: f(x_t, t)": live.get(spec) for label, spec in cms}
    if teacher:
        named["diffusion model: x0-hat"] = live.get(teacher)
    return demos.consistency_along_path(live.get(base), named, x_T)


_property_cached = st.cache_data(max_entries=128, show_spinner=False)(_property)


def consistency_property(
    cms: dict[str, str], teacher: str | None, particle: int, seed: int
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """The exact ODE path of particle ``particle`` (of 100 drawn with ``seed``) under the
    teacher (else the first consistency model), and where each model sends its points:
    ts (M,), path (M, 2), label -> (M, 2)."""
    base = teacher or next(iter(cms.values()))
    args = (base, tuple(cms.items()), teacher, int(particle), int(seed))
    shared = _shared(base, teacher, *cms.values())
    return (_property_cached if shared else _property)(*args)


def pd_quality(rounds: dict[int, str], teacher: str, dataset: str, seed: int, n: int = 2000):
    """Sliced W2 of each student (up to 64 steps) and of DDIM on the teacher at the same
    steps: (steps, student values, DDIM values, data-vs-data floor)."""
    ladder = sorted(s for s in rounds if s <= 64)
    q_st = [
        models.quality_of(live.sample(rounds[s], "ddim", s, n, seed)["x"], dataset) for s in ladder
    ]
    q_dd = [
        models.quality_of(live.sample(teacher, "ddim", s, n, seed, "trailing")["x"], dataset)
        for s in ladder
    ]
    return (
        ladder,
        [q["sliced_w2"] for q in q_st],
        [q["sliced_w2"] for q in q_dd],
        q_dd[0]["floor_sliced_w2"],
    )


def consistency_table(
    cms: dict[str, str], steps: list[int], dataset: str, seed: int, n: int = 2000
) -> list[dict]:
    """One row per (model, steps): sliced W2 of n samples, the data-vs-data floor, MMD."""
    rows = []
    for label, spec in cms.items():
        for s in steps:
            q = models.quality_of(live.sample(spec, "consistency", s, n, seed)["x"], dataset)
            rows.append(
                {
                    "model": label,
                    "steps": s,
                    "sliced W2": round(q["sliced_w2"], 4),
                    "data-vs-data floor": round(q["floor_sliced_w2"], 4),
                    "MMD": f"{q['mmd']:.2e}",
                }
            )
    return rows
