"""DPM-Solver-1/2/3: singlestep solvers of the PF-ODE with noise prediction
(Lu et al. 2022, "DPM-Solver", Alg. 1 and 2 with eqs. 3.7-3.9 / App. B).

Between grid times s > t (lambda_s < lambda_t, h = lambda_t - lambda_s) the exact
solution is x_t = (alpha_t / alpha_s) x_s - alpha_t int_{lambda_s}^{lambda_t}
e^{-lambda} eps(x_lambda) d lambda (eq. 3.4); a k-th order Taylor expansion of eps
in lambda, with k - 1 intermediate points, gives DPM-Solver-k.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..model import DiffusionModel
from ..schedules import VPSchedule
from .base import Counted, Grid, Recorder, SamplerSpec, Trajectory, grid_for, register


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

    Every step between grid times costs k evaluations; the last step, to sigma = 0,
    is the first-order step, which lands on x0-hat: NFE = k (S - 1) + 1. x_T: (B, *D).
    """
    if order not in (1, 2, 3):
        raise ValueError(f"DPM-Solver order must be 1, 2 or 3, got {order}")
    g = grid_for(model, timesteps)
    f = Counted(model)
    tb = g.t_batches(x_T)  # evaluation times as ready (B,) tensors
    n = g.S - 1
    h = [g.lambda_[i + 1] - g.lambda_[i] for i in range(n)]
    # First-order part shared by every order: x_t = (a_t/a_s) x - sig_t (e^h - 1) eps_s
    c_x = [g.alpha[i + 1] / g.alpha[i] for i in range(n)]
    phi1 = [g.sigma[i + 1] * math.expm1(h[i]) for i in range(n)]
    if order == 2:
        r1 = 0.5
        t1, a1, s1 = grid_intermediate_points(model, g, r1)
        u_x = [a1[i] / g.alpha[i] for i in range(n)]
        u_eps = [s1[i] * math.expm1(r1 * h[i]) for i in range(n)]
        c_d1 = [phi1[i] / (2 * r1) for i in range(n)]
    elif order == 3:
        r1, r2 = 1.0 / 3.0, 2.0 / 3.0
        t1, a1, s1 = grid_intermediate_points(model, g, r1)
        t2, a2, s2 = grid_intermediate_points(model, g, r2)
        u1_x = [a1[i] / g.alpha[i] for i in range(n)]
        u1_eps = [s1[i] * math.expm1(r1 * h[i]) for i in range(n)]
        u2_x = [a2[i] / g.alpha[i] for i in range(n)]
        u2_eps = [s2[i] * math.expm1(r2 * h[i]) for i in range(n)]
        u2_d1 = [s2[i] * r2 / r1 * (math.expm1(r2 * h[i]) / (r2 * h[i]) - 1) for i in range(n)]
        c_d2 = [g.sigma[i + 1] / r2 * (math.expm1(h[i]) / h[i] - 1) for i in range(n)]
    x = x_T
    rec = Recorder(x_T, g, record, callback)
    for i in range(n):
        eps = f.eps(x, tb[i], g.alpha[i], g.sigma[i])
        # the first-order part c_x x - phi1 eps, computed in the record's slot for this step
        slot = rec.slot(i)
        if order == 1:
            x_next = torch.add(x, eps, alpha=-phi1[i] / c_x[i], out=slot).mul_(c_x[i])
        elif order == 2:
            u = torch.add(x, eps, alpha=-u_eps[i] / u_x[i]).mul_(u_x[i])
            d1 = f.eps(u, t1[i], a1[i], s1[i]).sub_(eps)
            x_next = torch.add(x, eps, alpha=-phi1[i] / c_x[i], out=slot).mul_(c_x[i])
            x_next.add_(d1, alpha=-c_d1[i])
        else:
            u1 = torch.add(x, eps, alpha=-u1_eps[i] / u1_x[i]).mul_(u1_x[i])
            d1 = f.eps(u1, t1[i], a1[i], s1[i]).sub_(eps)
            u2 = torch.add(x, eps, alpha=-u2_eps[i] / u2_x[i]).mul_(u2_x[i])
            u2.add_(d1, alpha=-u2_d1[i])
            d2 = f.eps(u2, t2[i], a2[i], s2[i]).sub_(eps)
            x_next = torch.add(x, eps, alpha=-phi1[i] / c_x[i], out=slot).mul_(c_x[i])
            x_next.add_(d2, alpha=-c_d2[i])
        rec.step_eps(i, x_next, x, eps)
        x = x_next
    x = f(x, tb[n], g.alpha[n], g.sigma[n]).x0  # first order to sigma = 0: x0-hat
    rec.step(n, x, x)
    return rec.finish(f"dpm-solver-{order}", x, f, order=order)


def _dpm_solver_k(k: int):
    def fn(
        model: DiffusionModel,
        x_T: Tensor,
        timesteps: Tensor,
        *,
        generator: torch.Generator | None = None,
        record: bool = True,
        callback=None,
    ) -> Trajectory:
        return dpm_solver(
            model, x_T, timesteps, order=k, generator=generator, record=record, callback=callback
        )

    fn.__name__ = f"dpm_solver_{k}"
    fn.__doc__ = f"DPM-Solver-{k} (singlestep, noise prediction); see dpm_solver."
    return fn


dpm_solver_1 = _dpm_solver_k(1)
dpm_solver_2 = _dpm_solver_k(2)
dpm_solver_3 = _dpm_solver_k(3)

for _k, _fn, _cite in (
    (1, dpm_solver_1, "Lu et al. 2022, eq. 3.7 (DPM-Solver-1 = DDIM)"),
    (2, dpm_solver_2, "Lu et al. 2022, Alg. 1 (r1 = 1/2)"),
    (3, dpm_solver_3, "Lu et al. 2022, Alg. 2 (r1 = 1/3, r2 = 2/3)"),
):
    register(
        SamplerSpec(
            name=f"dpm-solver-{_k}",
            label=f"DPM-Solver-{_k}",
            fn=_fn,
            nfe=(lambda k: lambda steps: k * (steps - 1) + 1)(_k),
            stochastic=False,
            order=_k,
            citation=_cite,
        )
    )
