"""The Compare page's runs: every method (a training-free sampler on the chosen diffusion
model, the PD students, a consistency model) at an NFE budget from the same x_T, the
quality-against-NFE curves and the chapter's comparison table measured here."""

from __future__ import annotations

from typing import Any

from diffusion.grids import DEFAULT_SPACING
from diffusion.precomputed import SOLVERS

from . import live, models

TRAINING_FREE = ["ddim", "ddpm", *(s for s in SOLVERS if s not in ("ddim", "dpm-solver-1"))]
"""DDIM, DDPM and the higher-order solvers (DPM-Solver-1 is DDIM again)."""
PD = "progressive distillation"
CURVE_BUDGETS = (1, 2, 4, 8, 16, 32, 64)
TABLE_PLAN = [
    ("DDIM", "ddim", 10),
    ("DDIM", "ddim", 50),
    ("DPM-Solver++", "dpm-solver++2m", 10),
    ("DPM-Solver++", "dpm-solver++2m", 20),
    ("Original DDPM", "ddpm", 1000),
]
"""The chapter's comparison table: (method, sampler, steps) of its training-free rows."""
POINTS = 2000
"""Samples per point of the curves and per row of the table."""


def _spacing(sampler: str) -> str:
    """The package default for the ODE solvers; trailing for DDPM (order 0), so every
    grid starts at t = T-1, even at 1 NFE."""
    return DEFAULT_SPACING if models.REGISTRY[sampler].order else "trailing"


def methods(dataset: str) -> dict[str, str]:
    """label -> what it runs: a sampler name (on the chosen diffusion model), 'pd' (the
    dataset's PD students) or a consistency model's spec."""
    out = {models.sampler_label(s): s for s in TRAINING_FREE}
    out.update(
        {
            f"consistency ({m.upper()})": spec
            for m, spec in sorted(live.consistency_models(dataset).items())
        }
    )
    if live.pd_rounds(dataset):
        out[PD] = "pd"
    return out


def run(
    spec: str, dataset: str, label: str, budget: int, points: int, seed: int
) -> dict[str, Any] | None:
    """The run of one method at (at most) the NFE budget, or None if its first step
    already costs more."""
    target = methods(dataset)[label]
    if target in models.REGISTRY:
        steps = models.steps_within(target, budget)
        return live.sample(spec, target, steps, points, seed, _spacing(target)) if steps else None
    if target == "pd":
        rounds = live.pd_rounds(dataset)
        fits = [s for s in rounds if s <= budget]
        return live.sample(rounds[max(fits)], "ddim", max(fits), points, seed) if fits else None
    return live.sample(target, "consistency", min(budget, 4), points, seed)


def quality_series(spec: str, dataset: str, labels: list[str], seed: int):
    """label -> (NFEs, sliced W2) over CURVE_BUDGETS, and the data-vs-data floor."""
    series, floor = {}, None
    for label in labels:
        xs, ys = [], []
        for budget in CURVE_BUDGETS:
            r = run(spec, dataset, label, budget, POINTS, seed)
            if r is None or r["nfe"] in xs:
                continue
            q = models.quality_of(r["x"], dataset)
            xs.append(r["nfe"])
            ys.append(q["sliced_w2"])
            floor = q["floor_sliced_w2"]
        if xs:
            series[label] = (xs, ys)
    return series, floor


def _row(method: str, r: dict, dataset: str, retrained: bool) -> dict:
    q = models.quality_of(r["x"], dataset)
    return {
        "method": method,
        "steps": len(r["timesteps"]),
        "NFE": r["nfe"],
        "retraining?": "yes" if retrained else "no",
        "sliced W2": round(q["sliced_w2"], 4),
        "wall time (ms)": round(r["seconds"] * 1e3, 1),
    }


def comparison_table(spec: str, dataset: str, seed: int) -> tuple[list[dict], float]:
    """The chapter's table measured on this server: its training-free rows on ``spec``,
    then the dataset's few-step models at 4 and 8 (PD) or 1 and 2 (consistency) NFE;
    and the data-vs-data floor of the metric."""
    rows = []
    for method, name, steps in TABLE_PLAN:
        spacing = DEFAULT_SPACING if name != "ddpm" else "leading"
        rows.append(
            _row(
                method,
                live.sample(spec, name, steps, POINTS, seed, spacing),
                dataset,
                retrained=False,
            )
        )
    for label, target in methods(dataset).items():
        if target in models.REGISTRY:
            continue
        for budget in (4, 8) if target == "pd" else (1, 2):
            r = run(spec, dataset, label, budget, POINTS, seed)
            if r is not None:
                rows.append(_row(label, r, dataset, retrained=True))
    floor = models.quality_of(
        live.sample(spec, "ddim", 10, POINTS, seed, DEFAULT_SPACING)["x"], dataset
    )["floor_sliced_w2"]
    return rows, floor
