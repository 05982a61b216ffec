"""DDIM (Song, Meng & Ermon 2020): the generalised, non-Markovian reverse process."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..model import DiffusionModel
from .base import Counted, Grid, SamplerSpec, Trajectory, finish, register


def ddim(
    model: DiffusionModel,
    x_T: Tensor,
    timesteps: Tensor,
    *,
    eta: float = 0.0,
    generator: torch.Generator | None = None,
    record: bool = True,
    callback=None,
) -> Trajectory:
    """DDIM sampling on a timestep subsequence (Song et al. 2020, eq. 12 with eq. 16).

    x_{s} = alpha_s x0-hat + sqrt(1 - alpha_s^2 - sigma_eta^2) eps-hat + sigma_eta z,
    sigma_eta = eta sqrt((1 - abar_s)/(1 - abar_t)) sqrt(1 - abar_t / abar_s).
    eta = 0 is deterministic (the probability-flow ODE's Euler step in sigma-bar);
    eta = 1 is DDPM's ancestral sampler with the posterior variance beta-tilde.
    The last step goes to alpha = 1 and returns x0-hat.
    """
    if not 0.0 <= float(eta) <= 1.0:
        raise ValueError(f"eta must lie in [0, 1], got {eta}")
    g = Grid(model, timesteps)
    f = Counted(model)
    x = x_T
    xs, x0s = [x], []
    for i in range(g.S):
        a, s, a_next, s_next = g.alpha[i], g.sigma[i], g.alpha[i + 1], g.sigma[i + 1]
        pred = f(x, g.t[i], a, s)
        # sigma_eta from DDIM eq. 16, written with alpha = sqrt(abar), sigma = sqrt(1-abar)
        sig = eta * (s_next / s) * math.sqrt(max(0.0, 1.0 - (a / a_next) ** 2)) if eta else 0.0
        c_eps = math.sqrt(max(0.0, s_next**2 - sig**2))
        x = a_next * pred.x0 + c_eps * pred.eps
        if sig > 0:
            z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
            x = x + sig * z
        if record or i == g.S - 1:
            x0s.append(pred.x0)
        if record:
            xs.append(x)
        if callback is not None:
            callback(i, x, pred.x0)
    if not record:
        xs.append(x)
    return finish("ddim", x, xs, x0s, g, f, eta=eta)


register(
    SamplerSpec(
        name="ddim",
        label="DDIM",
        fn=ddim,
        nfe=lambda steps: steps,
        stochastic=True,  # only for eta > 0; eta = 0 is deterministic
        order=1,
        citation="Song, Meng & Ermon 2020, eq. 12",
        options={"eta": 0.0},
    )
)
