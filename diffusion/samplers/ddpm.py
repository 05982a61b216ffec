"""DDPM ancestral sampling (Ho et al. 2020, Alg. 2) on any timestep subsequence."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..model import DiffusionModel
from .base import (
    Counted,
    Grid,
    Recorder,
    SamplerSpec,
    Trajectory,
    gaussian_like,
    grid_for,
    register,
)

VARIANCES = ("beta", "beta_tilde")


def _coefficients(g: Grid, variance: str) -> tuple[list[float], list[float], list[float]]:
    """Per step i: mean = c_x x_t + c_e eps-hat and the noise scale c_z, from
    mean = c_x0 x0-hat + c_xt x_t with x0-hat = (x_t - sigma_t eps-hat) / alpha_t."""
    c_x, c_e, c_z = [], [], []
    for i in range(g.S - 1):
        a, s = g.alpha[i], g.sigma[i]
        abar_t, abar_s = a**2, g.alpha[i + 1] ** 2
        beta_ts = 1.0 - abar_t / abar_s
        c_x0 = math.sqrt(abar_s) * beta_ts / (1.0 - abar_t)
        c_xt = math.sqrt(abar_t / abar_s) * (1.0 - abar_s) / (1.0 - abar_t)
        c_x.append(c_x0 / a + c_xt)
        c_e.append(-c_x0 * s / a)
        var = beta_ts if variance == "beta" else (1.0 - abar_s) / (1.0 - abar_t) * beta_ts
        c_z.append(math.sqrt(var))
    return c_x, c_e, c_z


@torch.no_grad()
def ddpm(
    model: DiffusionModel,
    x_T: Tensor,
    timesteps: Tensor,
    *,
    variance: str = "beta_tilde",
    generator: torch.Generator | None = None,
    record: bool = True,
    callback=None,
) -> Trajectory:
    """Ancestral sampling from the posterior q(x_s | x_t, x0-hat) (DDPM eqs. 6-7).

    On a subsequence t > s the step's beta is beta_ts = 1 - abar_t / abar_s, so
      mean = sqrt(abar_s) beta_ts / (1 - abar_t) x0-hat
             + sqrt(abar_t / abar_s) (1 - abar_s) / (1 - abar_t) x_t,
    with variance beta_ts ('beta', DDPM's sigma_t^2 = beta_t) or the posterior
    beta-tilde = (1 - abar_s) / (1 - abar_t) beta_ts ('beta_tilde'). On the full grid
    these are DDPM's two choices (Sec. 3.2). The last step, to alpha = 1, returns
    x0-hat without noise. x_T: (B, *D).
    """
    if variance not in VARIANCES:
        raise ValueError(f"unknown variance {variance!r}; choose one of {', '.join(VARIANCES)}")
    g = grid_for(model, timesteps)
    f = Counted(model)
    tb = g.t_batches(x_T)  # evaluation times as ready (B,) tensors
    c_x, c_e, c_z = g.memo(("ddpm", variance), lambda: _coefficients(g, variance))
    x = x_T
    rec = Recorder(x_T, g, record, callback)
    for i in range(g.S - 1):
        eps = f.eps(x, tb[i], g.alpha[i], g.sigma[i])
        # x_next = c_x x + c_e eps + c_z z, computed in the record's slot for this step
        z = gaussian_like(x, generator)
        x_next = torch.add(x, eps, alpha=c_e[i] / c_x[i], out=rec.slot(i)).mul_(c_x[i])
        x_next.add_(z, alpha=c_z[i])
        rec.step_eps(i, x_next, x, eps)
        x = x_next
    x = f(x, tb[-1], g.alpha[-2], g.sigma[-2]).x0  # the last step returns x0-hat, no noise
    rec.step(g.S - 1, x, x)
    return rec.finish("ddpm", x, f, variance=variance)


register(
    SamplerSpec(
        name="ddpm",
        label="DDPM (ancestral)",
        fn=ddpm,
        nfe=lambda steps: steps,
        stochastic=True,
        order=0,
        citation="Ho, Jain & Abbeel 2020, Alg. 2 and eqs. 6-7",
        options={"variance": "beta_tilde"},
    )
)
