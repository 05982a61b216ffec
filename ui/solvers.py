"""The solvers page's measurements on the exact oracle, cached for every session:
error against NFE and Heun's predictor/corrector for one particle (``diffusion.demos``)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from diffusion import demos

from . import models, precomputed

PARTICLES = 64
"""Particles of the error curves and the Heun picture (x_T from seed 7)."""
SEED = 7


def oracle_for(spec: str) -> str:
    """The oracle the error curves are measured on: ``spec`` itself when it is one, else
    the first exact oracle (a trained model's errors would mix in its network error)."""
    if spec.startswith("oracle:"):
        return spec
    return next(m for m in models.model_choices() if m.startswith("oracle:"))


@st.cache_data(max_entries=16, show_spinner="Solving the exact ODE on the oracle…")
def exact_solution(oracle: str) -> np.ndarray:
    return demos.exact_solution(models.load(oracle), demos.particles(PARTICLES, SEED))


@st.cache_data(max_entries=256, show_spinner="Running the solver on the oracle…")
def error_curve(oracle: str, sampler: str, spacing: str) -> list[tuple[int, float]]:
    """(NFE, RMS error against the exact solution) on grids of 2 ... 32 steps."""
    return demos.solver_error_curve(
        models.load(oracle),
        sampler,
        spacing,
        demos.particles(PARTICLES, SEED),
        exact_solution(oracle),
    )


def error_curves(oracle: str, samplers: list[str], spacing: str):
    """label -> (NFEs, errors) for each sampler, and label -> measured order."""
    series, orders = {}, {}
    shipped = precomputed.solver_errors(oracle, spacing) or {}  # assets/curves/
    for name in samplers:
        pts = shipped.get(name) or error_curve(oracle, name, spacing)
        label = models.sampler_label(name)
        series[label] = ([p[0] for p in pts], [p[1] for p in pts])
        order = demos.measured_order(pts)
        if order is not None:
            orders[label] = order
    return series, orders


@st.cache_data(max_entries=256, show_spinner=False)
def heun_picture(oracle: str, spacing: str, steps: int, i: int, particle: int):
    """One particle's state at the chosen grid time, its Euler predictor and Heun
    corrector, and the exact ODE path over the step; all (2,) or (40, 2) arrays."""
    x_T = demos.particles(PARTICLES, SEED)[particle : particle + 1]
    return demos.heun_step_picture(models.load(oracle), x_T, steps, spacing, i)
