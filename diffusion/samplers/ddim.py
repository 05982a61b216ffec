"""DDIM (Song, Meng & Ermon 2020): the generalised, non-Markovian inference process and
its sampler on any timestep subsequence."""

from __future__ import annotations

import torch
from torch import Tensor

from ..model import DiffusionModel
from .base import Run, SamplerSpec, Trajectory, gaussian_like, register
from .steps import ddim_sigma_eta, ddim_step


@torch.no_grad()
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

    x_s = alpha_s x0-hat + sqrt(sigma_s^2 - sigma_eta^2) eps-hat + sigma_eta z.
    eta = 0 is deterministic (the probability-flow ODE's Euler step in sigma-bar);
    eta = 1 is DDPM's ancestral sampler with the posterior variance beta-tilde.
    The last step goes to alpha = 1 and returns x0-hat. x_T: (B, *D).
    """
    if not 0.0 <= float(eta) <= 1.0:
        raise ValueError(f"eta must lie in [0, 1], got {eta}")
    run = Run("ddim", model, x_T, timesteps, record, callback)
    g, x = run.grid, x_T
    for i in range(g.S - 1):
        a, s, a_next, s_next = g.alpha[i], g.sigma[i], g.alpha[i + 1], g.sigma[i + 1]
        pred = run.predict(x, i)
        sigma_eta = ddim_sigma_eta(float(eta), a, s, a_next, s_next)
        z = gaussian_like(x, generator) if sigma_eta > 0 else None
        x = ddim_step(pred.x0, pred.eps, a_next, s_next, noise=z, sigma_eta=sigma_eta)
        run.step(i, x, pred.x0)
    return run.denoise(x, eta=eta)


register(
    SamplerSpec(
        name="ddim",
        label="DDIM",
        fn=ddim,
        nfe=lambda steps: steps,
        stochastic=True,  # only for eta > 0; eta = 0 is deterministic
        order=1,
        citation="Song, Meng & Ermon 2020, eq. 12",
    )
)
