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
from .base import Run, SamplerSpec, Trajectory, register
from .steps import euler_step, heun_step


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
    run = Run("euler", model, x_T, timesteps, record, callback)
    g, x = run.grid, x_T
    for i in range(g.S - 1):
        pred = run.predict(x, i)
        x = euler_step(x, pred.eps, g.alpha[i], g.sigma_bar[i], g.alpha[i + 1], g.sigma_bar[i + 1])
        run.step(i, x, pred.x0)
    return run.denoise(x)  # Euler to sigma_bar = 0 is x0-hat


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
    run = Run("heun", model, x_T, timesteps, record, callback)
    g, x = run.grid, x_T
    for i in range(g.S - 1):
        here = (g.alpha[i], g.sigma_bar[i], g.alpha[i + 1], g.sigma_bar[i + 1])
        pred = run.predict(x, i)
        x_euler = euler_step(x, pred.eps, *here)
        eps_next = run.eps(x_euler, i + 1)  # the slope at the predicted point
        x = heun_step(x, pred.eps, eps_next, *here)
        run.step(i, x, pred.x0)
    return run.denoise(x)  # the last step is Euler: x0-hat


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
