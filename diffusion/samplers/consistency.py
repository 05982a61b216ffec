"""Consistency sampling (Song et al. 2023, Algorithm 1): one step, or a few with re-noising."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..model import DiffusionModel
from .base import Counted, Grid, SamplerSpec, Trajectory, finish, register


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
    g = Grid(model, timesteps)
    f = Counted(model)
    sb_min = float(getattr(model.net, "sigma_bar_min", 0.0))
    x = x_T
    xs, x0s = [x], []
    for i in range(g.S):
        pred = f(x, g.t[i], g.alpha[i], g.sigma[i])
        x0 = pred.x0
        if i + 1 < g.S:
            # re-noise the estimate to the next chosen time (Alg. 1, line 5)
            z = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
            std = math.sqrt(max(0.0, g.sigma_bar[i + 1] ** 2 - sb_min**2))
            x = g.alpha[i + 1] * (x0 + std * z)
        else:
            x = x0
        if record or i == g.S - 1:
            x0s.append(x0)
        if record:
            xs.append(x)
        if callback is not None:
            callback(i, x, x0)
    if not record:
        xs.append(x)
    return finish("consistency", x, xs, x0s, g, f)


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
