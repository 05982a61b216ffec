"""One wrapper that turns any denoising network, or an analytic oracle, into the
quantities every sampler needs: eps-hat, x0-hat and the score, at a timestep t.

The relations (VP forward process x_t = alpha_t x_0 + sigma_t eps):
  x0-hat = (x_t - sigma_t eps-hat) / alpha_t                   (DDIM eq. 9)
  v      = alpha_t eps - sigma_t x_0                          (Salimans & Ho 2022, Sec. 4)
  score  = -eps-hat / sigma_t                                 (Song et al. 2021, eq. 10 ff.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from .schedules import VPSchedule

__all__ = ["PREDICTIONS", "DiffusionModel", "NonFiniteError", "Prediction"]

PREDICTIONS = ("eps", "x0", "v")


class NonFiniteError(RuntimeError):
    """The model produced NaN or infinite values."""


@dataclass
class Prediction:
    """One network evaluation, expressed both ways. eps, x0: (B, *D)."""

    eps: Tensor
    x0: Tensor


def _bcast(c: Tensor | float, x: Tensor) -> Tensor | float:
    """Reshape a per-sample coefficient (B,) so it broadcasts against x: (B, *D)."""
    if isinstance(c, Tensor) and c.ndim == 1:
        return c.to(x.dtype).reshape(-1, *([1] * (x.ndim - 1)))
    return c


class DiffusionModel:
    """A denoiser ``net(x, t) -> output`` plus its noise schedule.

    Args:
        net: a callable taking x: (B, *D) and t: (B,) float timesteps in [0, T-1]
            (the package's time convention) and returning (B, *D).
        schedule: the VP schedule the network was trained with.
        prediction: what the network outputs: 'eps', 'x0' or 'v'.
        name: label for figures and tables.
        sample_shape: the shape D of one sample, (2,) for the 2-D world.
        config: what the model is (its checkpoint config: kind, dataset, training, ...);
            ``config['kind']`` 'pd-student' or 'consistency' marks a few-step model.

    ``predict`` is the one place a network is called; samplers count those calls
    (the NFE) themselves, so a shared model carries no mutable state.
    """

    def __init__(
        self,
        net: Callable[[Tensor, Tensor], Tensor],
        schedule: VPSchedule,
        prediction: str = "eps",
        name: str = "model",
        sample_shape: tuple[int, ...] = (2,),
        config: dict | None = None,
    ) -> None:
        if prediction not in PREDICTIONS:
            raise ValueError(
                f"unknown prediction type {prediction!r}; choose one of {', '.join(PREDICTIONS)}"
            )
        self.net = net
        self.schedule = schedule
        self.prediction = prediction
        self.name = name
        self.sample_shape = tuple(int(d) for d in sample_shape)
        self.config = dict(config or {})

    def __repr__(self) -> str:
        return (
            f"DiffusionModel(name={self.name!r}, prediction={self.prediction!r}, {self.schedule})"
        )

    def _t_batch(self, x: Tensor, t: Tensor | float) -> Tensor:
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        return t.expand(x.shape[0]) if t.ndim == 0 else t

    def predict(
        self,
        x: Tensor,
        t: Tensor | float,
        alpha: Tensor | float | None = None,
        sigma: Tensor | float | None = None,
    ) -> Prediction:
        """eps-hat and x0-hat at (x_t, t) from one network evaluation.

        alpha, sigma may be passed when the caller has them precomputed (samplers
        do, to keep per-step overhead low); otherwise they come from the schedule.
        """
        if alpha is None or sigma is None:
            alpha = self.schedule.alpha(t)
            sigma = self.schedule.sigma(t)
            if alpha.ndim == 0:
                alpha, sigma = float(alpha), float(sigma)
        out = self.net(x, self._t_batch(x, t))
        if self.prediction == "eps" and isinstance(alpha, float) and isinstance(sigma, float):
            # the samplers' path: one fused op and one in-place scale per evaluation
            return Prediction(eps=out, x0=torch.add(x, out, alpha=-sigma).div_(alpha))
        a, s = _bcast(alpha, x), _bcast(sigma, x)
        if self.prediction == "eps":
            return Prediction(eps=out, x0=(x - s * out) / a)
        if self.prediction == "x0":
            return Prediction(eps=(x - a * out) / s, x0=out)
        # v-prediction: x0 = alpha x - sigma v, eps = sigma x + alpha v (alpha^2 + sigma^2 = 1)
        return Prediction(eps=s * x + a * out, x0=a * x - s * out)

    def eps(self, x: Tensor, t: Tensor | float) -> Tensor:
        return self.predict(x, t).eps

    def x0(self, x: Tensor, t: Tensor | float) -> Tensor:
        return self.predict(x, t).x0

    def score(self, x: Tensor, t: Tensor | float) -> Tensor:
        """grad_x log p_t(x) = -eps-hat / sigma_t."""
        sigma = self.schedule.sigma(t)
        return -self.eps(x, t) / _bcast(sigma if sigma.ndim else float(sigma), x)
