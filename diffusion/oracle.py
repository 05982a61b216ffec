"""The analytic Gaussian-mixture oracle: the exact denoiser of a Gaussian mixture.

If x_0 ~ sum_k w_k N(mu_k, C_k) and x_t = alpha_t x_0 + sigma_t eps, then
x_t ~ sum_k w_k N(alpha_t mu_k, alpha_t^2 C_k + sigma_t^2 I), so the score of the
diffused data, and with it the ideal eps and x0-hat, are known in closed form:
  score(x) = sum_k r_k(x) S_k^{-1} (alpha mu_k - x),  S_k = alpha^2 C_k + sigma^2 I,
  eps*(x)  = -sigma score(x),   x0*(x) = (x - sigma eps*) / alpha = E[x_0 | x_t = x],
with r_k(x) the posterior responsibility of component k. A sampler driven by it has
no network error, so what remains is the sampler's own discretisation error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .model import DiffusionModel
from .schedules import VPSchedule

__all__ = ["GMMDenoiser", "GaussianMixture", "oracle_for_dataset", "oracle_model"]

DTYPE = torch.float64


def _as64(v) -> Tensor:
    if isinstance(v, (list, tuple)) and v and isinstance(v[0], Tensor):
        return torch.stack([torch.as_tensor(e, dtype=DTYPE) for e in v])
    return torch.as_tensor(v, dtype=DTYPE)


@dataclass
class GaussianMixture:
    """weights: (K,), means: (K, D), covs: (K, D, D); float64."""

    weights: Tensor
    means: Tensor
    covs: Tensor

    def __post_init__(self) -> None:
        self.weights = _as64(self.weights)
        self.means = _as64(self.means)
        self.covs = _as64(self.covs)
        k, d = self.means.shape
        if self.weights.shape != (k,) or self.covs.shape != (k, d, d):
            raise ValueError("weights (K,), means (K, D) and covs (K, D, D) do not agree")
        if not torch.isclose(self.weights.sum(), torch.tensor(1.0, dtype=DTYPE)):
            raise ValueError("mixture weights must sum to 1")

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n draws, (n, D) float32."""
        comp = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        chol = torch.linalg.cholesky(self.covs)
        z = torch.randn(n, self.dim, dtype=DTYPE, generator=generator)
        x = self.means[comp] + (chol[comp] @ z.unsqueeze(-1)).squeeze(-1)
        return x.float()

    def _components(self, x: Tensor, alpha: Tensor, sigma: Tensor):
        """log w_k N(x; alpha mu_k, S_k) and S_k^{-1}(alpha mu_k - x). x: (B, D) float64."""
        eye = torch.eye(self.dim, dtype=DTYPE)
        # S: (B or 1, K, D, D); alpha, sigma: (B,) or scalar
        a = alpha.reshape(-1, 1, 1, 1)
        s = sigma.reshape(-1, 1, 1, 1)
        S = a**2 * self.covs.unsqueeze(0) + s**2 * eye
        diff = alpha.reshape(-1, 1, 1) * self.means.unsqueeze(0) - x.unsqueeze(1)  # (B, K, D)
        chol = torch.linalg.cholesky(S)
        sol = torch.cholesky_solve(diff.unsqueeze(-1), chol).squeeze(-1)  # S^{-1} diff
        maha = (diff * sol).sum(-1)
        logdet = 2 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
        logn = -0.5 * (maha + logdet + self.dim * math.log(2 * math.pi))
        return torch.log(self.weights) + logn, sol

    def log_prob(self, x: Tensor, alpha: float = 1.0, sigma: float = 0.0) -> Tensor:
        """log density of the (diffused) mixture at x: (B, D) -> (B,). Defaults: the data."""
        x = x.to(DTYPE)
        a, s = torch.tensor(alpha, dtype=DTYPE), torch.tensor(sigma, dtype=DTYPE)
        logp, _ = self._components(x, a, s)
        return torch.logsumexp(logp, dim=1)

    def score(self, x: Tensor, alpha: Tensor | float, sigma: Tensor | float) -> Tensor:
        """grad log p_t at x: (B, D), float64."""
        x = x.to(DTYPE)
        logp, sol = self._components(
            x, torch.as_tensor(alpha, dtype=DTYPE), torch.as_tensor(sigma, dtype=DTYPE)
        )
        r = torch.softmax(logp, dim=1)  # posterior responsibilities (B, K)
        return (r.unsqueeze(-1) * sol).sum(1)

    def to_dict(self) -> dict:
        return {
            "weights": self.weights.tolist(),
            "means": self.means.tolist(),
            "covs": self.covs.tolist(),
        }


class GMMDenoiser(torch.nn.Module):
    """The exact eps-prediction network of a Gaussian mixture: forward(x, t) = eps*(x_t, t).

    Computes in float64 and returns x's dtype, so it drops into any sampler in place
    of a trained network.
    """

    def __init__(self, gmm: GaussianMixture, schedule: VPSchedule) -> None:
        super().__init__()
        self.gmm = gmm
        self.schedule = schedule

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        t64 = t.detach().to(torch.float64).cpu()
        alpha, sigma = self.schedule.alpha(t64), self.schedule.sigma(t64)
        score = self.gmm.score(x.detach().cpu(), alpha, sigma)
        return (-sigma.reshape(-1, 1) * score).to(dtype=x.dtype, device=x.device)


def oracle_model(
    gmm: GaussianMixture, schedule: VPSchedule, name: str = "oracle", config: dict | None = None
) -> DiffusionModel:
    """A DiffusionModel whose eps is exact for the mixture ``gmm``; its config says it is
    an oracle and carries the mixture (``config`` adds to that, e.g. the dataset)."""
    cfg = {
        "kind": "oracle",
        "prediction": "eps",
        "schedule": {"name": schedule.name, "T": schedule.T},
        "mixture": gmm.to_dict(),
        "sample_shape": [gmm.dim],
        **(config or {}),
    }
    return DiffusionModel(
        GMMDenoiser(gmm, schedule),
        schedule,
        prediction="eps",
        name=name,
        sample_shape=(gmm.dim,),
        config=cfg,
    )


def oracle_for_dataset(dataset: str, schedule: VPSchedule | None = None) -> DiffusionModel:
    """The exact denoiser of a Gaussian-mixture dataset, named ``oracle:<dataset>``, on
    ``schedule`` (DDPM's linear schedule, T = 1000, when None), with the dataset in its
    config. What ``checkpoints.load_model("oracle:<dataset>")`` returns."""
    from .schedules import linear_schedule
    from .toy.datasets import ORACLE_DATASETS, gaussian_mixture

    if dataset not in ORACLE_DATASETS:
        raise ValueError(
            f"no exact oracle for {dataset!r}; choose oracle:<dataset> with dataset one of "
            f"{', '.join(ORACLE_DATASETS)}"
        )
    schedule = linear_schedule() if schedule is None else schedule
    return oracle_model(
        gaussian_mixture(dataset), schedule, name=f"oracle:{dataset}", config={"dataset": dataset}
    )
