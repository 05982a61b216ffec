"""DPM-Solver-1/2/3: singlestep solvers of the PF-ODE with noise prediction
(Lu et al. 2022, "DPM-Solver", Alg. 1 and 2 with eqs. 3.7-3.9 / App. B).

Between grid times s > t (lambda_s < lambda_t, h = lambda_t - lambda_s) the exact
solution is x_t = (alpha_t / alpha_s) x_s - alpha_t int_{lambda_s}^{lambda_t}
e^{-lambda} eps(x_lambda) d lambda (eq. 3.4); a k-th order Taylor expansion of eps
in lambda, with k - 1 intermediate points, gives DPM-Solver-k.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor

from ..model import DiffusionModel
from ..schedules import VPSchedule
from .base import Grid, Run, SamplerSpec, Trajectory, register


def intermediate_points(
    schedule: VPSchedule, g: Grid, r: float
) -> tuple[list[float], list[float], list[float]]:
    """For each step i < S-1, the time s_i with lambda = lambda_i + r h_i, and its
    alpha and sigma (Python floats, one look-up for the whole run)."""
    lam = torch.tensor(
        [g.lambda_[i] + r * (g.lambda_[i + 1] - g.lambda_[i]) for i in range(g.S - 1)],
        dtype=torch.float64,
    )
    if lam.numel() == 0:
        return [], [], []
    t = schedule.t_from_lambda(lam).clamp(schedule.t_min, schedule.t_max)
    # alpha^2 = sigmoid(2 lambda), sigma^2 = sigmoid(-2 lambda): no further look-ups
    alpha = torch.sigmoid(2.0 * lam).sqrt()
    sigma = torch.sigmoid(-2.0 * lam).sqrt()
    return t.tolist(), alpha.tolist(), sigma.tolist()


def grid_intermediate_points(model: DiffusionModel, g: Grid, r: float):
    """intermediate_points for the model's schedule, once per (memoised) grid and r."""
    return g.memo(("intermediate", r), lambda: intermediate_points(model.schedule, g, r))


@torch.no_grad()
def dpm_solver(
    model: DiffusionModel,
    x_T: Tensor,
    timesteps: Tensor,
    *,
    order: int = 2,
    generator: torch.Generator | None = None,
    record: bool = True,
    callback=None,
) -> Trajectory:
    """Singlestep DPM-Solver-k, k in {1, 2, 3} (Lu et al. 2022, Alg. 1 with r1 = 1/2
    for k = 2; Alg. 2 with r1 = 1/3, r2 = 2/3 for k = 3).

    A step from s to t (h = lambda_t - lambda_s) is eq. 3.7 (k = 1, which is DDIM),
      x_t = (alpha_t / alpha_s) x_s - sigma_t (e^h - 1) eps_s,
    plus, for k = 2 and 3, the correction from the eps-hat at intermediate points u_j
    with lambda = lambda_s + r_j h, each reached by the same kind of step (Alg. 1-2).
    Every step between grid times costs k evaluations; the last step, to sigma = 0, is
    the first-order step, which lands on x0-hat: NFE = k (S - 1) + 1. x_T: (B, *D).
    """
    if order not in (1, 2, 3):
        raise ValueError(f"DPM-Solver order must be 1, 2 or 3, got {order}")
    run = Run(f"dpm-solver-{order}", model, x_T, timesteps, record, callback)
    g, x = run.grid, x_T
    r1, r2 = (0.5, None) if order == 2 else (1.0 / 3.0, 2.0 / 3.0)
    if order >= 2:
        t1, a1, s1 = grid_intermediate_points(model, g, r1)
    if order == 3:
        t2, a2, s2 = grid_intermediate_points(model, g, r2)
    for i in range(g.S - 1):
        a, a_t, s_t = g.alpha[i], g.alpha[i + 1], g.sigma[i + 1]
        h = g.lambda_[i + 1] - g.lambda_[i]
        pred = run.predict(x, i)
        eps = pred.eps
        x_next = (a_t / a) * x - s_t * math.expm1(h) * eps  # eq. 3.7
        if order == 2:
            u = (a1[i] / a) * x - s1[i] * math.expm1(r1 * h) * eps
            d1 = run.eps_at(u, t1[i], a1[i], s1[i]) - eps
            x_next = x_next - s_t / (2 * r1) * math.expm1(h) * d1
        elif order == 3:
            u1 = (a1[i] / a) * x - s1[i] * math.expm1(r1 * h) * eps
            d1 = run.eps_at(u1, t1[i], a1[i], s1[i]) - eps
            c_d1 = s2[i] * r2 / r1 * (math.expm1(r2 * h) / (r2 * h) - 1)
            u2 = (a2[i] / a) * x - s2[i] * math.expm1(r2 * h) * eps - c_d1 * d1
            d2 = run.eps_at(u2, t2[i], a2[i], s2[i]) - eps
            x_next = x_next - s_t / r2 * (math.expm1(h) / h - 1) * d2
        x = x_next
        run.step(i, x, pred.x0)
    return run.denoise(x, order=order)  # first order to sigma = 0: x0-hat


def _singlestep_nfe(k: int, steps: int) -> int:
    """k evaluations per step between grid times, one for the last step to sigma = 0."""
    return k * (steps - 1) + 1


for _k, _citation in (
    (1, "Lu et al. 2022, eq. 3.7 (DPM-Solver-1 = DDIM)"),
    (2, "Lu et al. 2022, Alg. 1 (r1 = 1/2)"),
    (3, "Lu et al. 2022, Alg. 2 (r1 = 1/3, r2 = 2/3)"),
):
    register(
        SamplerSpec(
            name=f"dpm-solver-{_k}",
            label=f"DPM-Solver-{_k}",
            fn=dpm_solver,
            nfe=functools.partial(_singlestep_nfe, _k),
            stochastic=False,
            order=_k,
            citation=_citation,
            options={"order": _k},
        )
    )
