"""Euler and Heun on the probability-flow ODE in sigma-bar space (Karras et al. 2022).

With y = x / alpha and sigma_bar = sigma / alpha the PF-ODE of a VP diffusion reads
dy / d sigma_bar = eps(x, t) (Song et al. 2020 DDIM eq. 14; EDM eq. 4 with s = 1),
the variance-exploding view of k-diffusion, EDM and diffusers' Euler/Heun schedulers.
The model is evaluated at the grid's timesteps (and, for Heun's corrector, at the
next grid timestep), as those implementations do.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..model import DiffusionModel
from .base import Counted, Grid, Recorder, SamplerSpec, Trajectory, grid_for, register


def _euler_coefficients(g: Grid) -> tuple[list[float], list[float]]:
    """x_next = c_x x + c_eps eps: the Euler step y' = y + (sb_next - sb) eps with
    y = x / alpha, written back in x = alpha y."""
    c_x = [g.alpha[i + 1] / g.alpha[i] for i in range(g.S)]
    c_eps = [g.alpha[i + 1] * (g.sigma_bar[i + 1] - g.sigma_bar[i]) for i in range(g.S)]
    return c_x, c_eps


@torch.no_grad()
def euler(
    model: DiffusionModel,
    x_T: Tensor,
    timesteps: Tensor,
    *,
    generator: torch.Generator | None = None,
    record: bool = True,
    callback=None,
) -> Trajectory:
    """Euler's method for dy/d sigma_bar = eps (EDM Alg. 1 without the correction).

    Algebraically identical to DDIM with eta = 0 and to DPM-Solver-1. x_T: (B, *D).
    """
    g = grid_for(model, timesteps)
    f = Counted(model)
    tb = g.t_batches(x_T)  # evaluation times as ready (B,) tensors
    c_x, c_eps = _euler_coefficients(g)
    x = x_T
    rec = Recorder(x_T, g, record, callback)
    for i in range(g.S - 1):
        eps = f.eps(x, tb[i], g.alpha[i], g.sigma[i])
        x_next = torch.add(x * c_x[i], eps, alpha=c_eps[i])
        rec.step_eps(i, x_next, x, eps)
        x = x_next
    x = f(x, tb[-1], g.alpha[-2], g.sigma[-2]).x0  # Euler to sigma_bar = 0 is x0-hat
    rec.step(g.S - 1, x, x)
    return rec.finish("euler", x, f)


@torch.no_grad()
def heun(
    model: DiffusionModel,
    x_T: Tensor,
    timesteps: Tensor,
    *,
    generator: torch.Generator | None = None,
    record: bool = True,
    callback=None,
) -> Trajectory:
    """Heun's 2nd-order method (EDM Alg. 1, deterministic): an Euler predictor to the
    next grid time, then the trapezoidal corrector with the slope evaluated there.
    The last step, to sigma_bar = 0, is a plain Euler step (= x0-hat), as in EDM.
    NFE = 2S - 1. x_T: (B, *D).
    """
    g = grid_for(model, timesteps)
    f = Counted(model)
    tb = g.t_batches(x_T)  # evaluation times as ready (B,) tensors
    c_x, c_eps = _euler_coefficients(g)
    x = x_T
    rec = Recorder(x_T, g, record, callback)
    for i in range(g.S - 1):
        eps = f.eps(x, tb[i], g.alpha[i], g.sigma[i])
        x_scaled = x * c_x[i]
        # Euler predictor, then the slope at the predicted point (EDM Alg. 1 l. 5-8).
        x_pred = torch.add(x_scaled, eps, alpha=c_eps[i])
        eps_next = f.eps(x_pred, tb[i + 1], g.alpha[i + 1], g.sigma[i + 1])
        x_next = torch.add(x_scaled, eps + eps_next, alpha=0.5 * c_eps[i])
        rec.step_eps(i, x_next, x, eps)
        x = x_next
    x = f(x, tb[-1], g.alpha[-2], g.sigma[-2]).x0  # the last step is Euler: x0-hat
    rec.step(g.S - 1, x, x)
    return rec.finish("heun", x, f)


register(
    SamplerSpec(
        name="euler",
        label="Euler (PF-ODE)",
        fn=euler,
        nfe=lambda steps: steps,
        stochastic=False,
        order=1,
        citation="Karras et al. 2022, Alg. 1 (Euler step only)",
    )
)
register(
    SamplerSpec(
        name="heun",
        label="Heun (EDM)",
        fn=heun,
        nfe=lambda steps: 2 * steps - 1,
        stochastic=False,
        order=2,
        citation="Karras et al. 2022, Alg. 1",
    )
)
