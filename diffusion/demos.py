"""The numbers behind the app's one-particle teaching figures.

Each function takes models and tensors and returns NumPy arrays for a figure in
``diffusion.figures``; none touches streamlit, so a notebook can redraw any of them.

* ``solver_error_curve``: a solver's error against an exact float64 solve of the
  probability-flow ODE, as the NFE grows (DPM-Solver, Lu et al. 2022, Fig. 3).
* ``heun_step_picture``: one particle's Euler predictor and Heun corrector over one
  step of the grid (EDM, Karras et al. 2022, Alg. 1, lines 5-8).
* ``two_teacher_steps_vs_one``: the two teacher DDIM steps that a progressive-
  distillation student learns to take in one (Salimans & Ho 2022, Alg. 2).
* ``consistency_along_path``: what each model maps the points of one exact ODE path
  to (the consistency property, Song et al. 2023, eq. 3).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from .figures import ddim_step, heun_points
from .grids import few_step_timesteps, make_timesteps
from .metrics import ASYMPTOTIC_NFE, fit_order
from .model import DiffusionModel
from .reference import reference_solve, reference_trajectory
from .samplers import get_sampler, sample

__all__ = [
    "ERROR_STEPS",
    "consistency_along_path",
    "exact_solution",
    "heun_step_picture",
    "measured_order",
    "particles",
    "solver_error_curve",
    "two_teacher_steps_vs_one",
]

ERROR_STEPS = (2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)
"""The grids (steps) of an error curve; a solver stops at its first grid over max_nfe.
The small grids show the pre-asymptotic regime, the large ones reach ASYMPTOTIC_NFE."""


def particles(n: int, seed: int) -> torch.Tensor:
    """x_T ~ N(0, I): (n, 2) float64 from a generator seeded with ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn((n, 2), generator=gen, dtype=torch.float64)


def exact_solution(model: DiffusionModel, x_T: torch.Tensor) -> np.ndarray:
    """The PF-ODE's clean end of every particle of x_T, by an adaptive float64 solve
    (tolerance 1e-9): the reference the error curves are measured against."""
    return reference_solve(model, x_T, rtol=1e-9, atol=1e-9).numpy()


def solver_error_curve(
    model: DiffusionModel,
    sampler: str,
    spacing: str,
    x_T: torch.Tensor,
    exact: np.ndarray,
    *,
    max_nfe: int = 256,
) -> list[tuple[int, float]]:
    """(NFE, RMS distance to ``exact``) of ``sampler`` from x_T on the ``ERROR_STEPS``
    grids of this spacing, in float64, up to ``max_nfe`` evaluations."""
    spec = get_sampler(sampler)
    target = torch.as_tensor(exact)
    points = []
    for steps in ERROR_STEPS:
        if spec.nfe(steps) > max_nfe:
            break
        traj = sample(
            model, sampler, steps, n=len(x_T), seed=0, spacing=spacing, x_T=x_T, dtype=torch.float64
        )
        rms = ((traj.x.double() - target) ** 2).sum(-1).mean().sqrt()
        points.append((int(traj.nfe), float(rms)))
    return points


def measured_order(
    points: list[tuple[int, float]],
    *,
    nfe_range: tuple[float, float] = ASYMPTOTIC_NFE,
    floor: float = 1e-9,
) -> float | None:
    """The order fitted over the points with NFE in ``nfe_range`` (the asymptotic range,
    ``metrics.fit_order``) and error above round-off (``floor``): a solver of order k
    shows k there. None with fewer than two such points."""
    good = [p for p in points if p[1] > floor and nfe_range[0] <= p[0] <= nfe_range[1]]
    if len(good) < 2:
        return None
    return fit_order([p[0] for p in good], [p[1] for p in good])


def heun_step_picture(
    model: DiffusionModel, x_T: torch.Tensor, steps: int, spacing: str, i: int, *, n_path: int = 40
):
    """One particle x_T (1, 2) on a ``steps``-point grid: its exact state x_i at the
    grid's i-th time, the Euler predictor and Heun corrector of step i, and the exact
    ODE path over that step. Returns x_i (2,), x_euler (2,), x_heun (2,), path (n_path, 2).
    """
    ts = make_timesteps(model.schedule, steps, spacing).tolist()
    if not 0 <= i < len(ts) - 1:
        raise ValueError(f"step must be between 0 and {len(ts) - 2}, got {i}")
    x_i = reference_trajectory(model, x_T, [ts[i]])[0] if i else x_T
    x_eu, x_he = heun_points(model, x_i, ts[i], ts[i + 1])
    path = reference_trajectory(model, x_i, np.linspace(ts[i], ts[i + 1], n_path), t_start=ts[i])[
        :, 0
    ]
    return x_i[0].numpy(), x_eu[0].numpy(), x_he[0].numpy(), path.numpy()


def two_teacher_steps_vs_one(
    teacher: DiffusionModel,
    student: DiffusionModel,
    steps: int,
    i: int,
    x0: torch.Tensor,
    noise: torch.Tensor,
):
    """Step i of a ``steps``-step student against the two teacher DDIM steps it
    replaces, from x_t = alpha_t x0 + sigma_t noise at the student's i-th grid time.

    The student's grid is its own; the midpoint t' is the teacher's own grid point when
    the teacher is itself a student of 2*steps steps, else halfway. Returns x_t (2,),
    the teacher's path [x_t, x_t', x_t''] (3, 2) and the student's landing point (2,).
    """
    grid = few_step_timesteps(student, steps)
    grid = grid.tolist() if grid is not None else np.linspace(999, 0, steps).tolist()
    if not 0 <= i < steps:
        raise ValueError(f"step must be between 0 and {steps - 1}, got {i}")
    t0 = grid[i]
    t2 = grid[i + 1] if i + 1 < len(grid) else -1.0  # -1: the clean end
    t_grid = few_step_timesteps(teacher, 2 * steps)
    t1 = (
        float(t_grid[2 * i + 1])
        if t_grid is not None and len(t_grid) > 2 * i + 1
        else (t0 + max(t2, 0.0)) / 2
    )
    sch = student.schedule
    x_t = float(sch.alpha(t0)) * x0 + float(sch.sigma(t0)) * noise
    x_1 = ddim_step(teacher, x_t, t0, t1)
    x_2 = ddim_step(teacher, x_1, t1, t2)
    x_s = ddim_step(student, x_t, t0, t2)
    return x_t[0].numpy(), torch.cat([x_t, x_1, x_2]).numpy(), x_s[0].numpy()


def consistency_along_path(
    reference: DiffusionModel,
    models: Mapping[str, DiffusionModel],
    x_T: torch.Tensor,
    *,
    n_times: int = 24,
):
    """The exact ODE path of one particle x_T (1, 2) under ``reference`` at ``n_times``
    log-spaced times (and t = 0), and each model's clean estimate x0-hat = f(x_t, t) at
    every point of it. Returns ts (M,), path (M, 2) and label -> (M, 2)."""
    T = reference.schedule.T
    ts = np.unique(np.concatenate([np.geomspace(1, T - 1, n_times), [0.0]]))[::-1].copy()
    path = reference_trajectory(reference, x_T.double(), ts.tolist())[:, 0]
    outs = {}
    with torch.no_grad():
        for label, model in models.items():
            outs[label] = np.stack(
                [
                    model.predict(p[None].float(), float(t)).x0[0].double().numpy()
                    for p, t in zip(path, ts, strict=True)
                ]
            )
    return ts, path.numpy(), outs
