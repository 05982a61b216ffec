"""Consistency sampling (Song et al. 2023, Algorithm 1): one step, or a few with re-noising."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..model import DiffusionModel
from .base import Run, SamplerSpec, Trajectory, gaussian_like, register


@torch.no_grad()
def consistency(
    model: DiffusionModel,
    x_T: Tensor,
    timesteps: Tensor,
    *,
    generator: torch.Generator | None = None,
    record: bool = True,
    callback=None,
) -> Trajectory:
    """Multistep consistency sampling (Song et al. 2023, Alg. 1) on the times ``timesteps``.

    x0 = f(x_T, t_0); then for each further time tau_n: re-noise
    x_tau = alpha_tau (x0 + sqrt(sigma_bar_tau^2 - sigma_bar_min^2) z), z ~ N(0, I), and
    x0 = f(x_tau, tau). In the x/alpha view this is the paper's
    x + sqrt(tau^2 - eps^2) z. f is the model's x0-hat; sigma_bar_min is the consistency
    function's boundary noise level (0 for an ordinary diffusion model, whose x0-hat
    targets clean data). One network evaluation per time, so NFE = len(timesteps).

    xs holds x_T, each re-noised x_tau, and finally the sample; x0_preds the outputs of f.
    """
    run = Run("consistency", model, x_T, timesteps, record, callback)
    g, x = run.grid, x_T
    sb_min = float(getattr(model.net, "sigma_bar_min", 0.0))
    for i in range(g.S - 1):
        x0 = run.predict(x, i).x0
        # re-noise the estimate to the next chosen time (Alg. 1, line 5)
        std = math.sqrt(max(0.0, g.sigma_bar[i + 1] ** 2 - sb_min**2))
        x = g.alpha[i + 1] * (x0 + std * gaussian_like(x0, generator))
        run.step(i, x, x0)
    return run.denoise(x)


register(
    SamplerSpec(
        name="consistency",
        label="Consistency (multistep)",
        fn=consistency,
        nfe=lambda steps: steps,
        stochastic=True,  # re-noising from the second step on; one step is deterministic
        order=0,
        citation="Song et al. 2023, Algorithm 1",
        family="few-step",
    )
)
