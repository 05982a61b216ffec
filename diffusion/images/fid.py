"""FID and KID on any feature extractor.

FID (Heusel et al. 2017, eq. 6): fit a Gaussian to the features of real and of
generated images and take the Frechet distance between the two,
    d^2 = |mu_1 - mu_2|^2 + tr(S_1 + S_2 - 2 (S_1^{1/2} S_2 S_1^{1/2})^{1/2}).
It is biased upward at small sample counts, so every figure carries its count
("FID-2k"). KID (Binkowski et al. 2018, Sec. 4) is the unbiased squared MMD with the
cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over random subsets.

On CIFAR-10 the features are the FID Inception's pool3 (``inception.py``); on the
offline digits track, the penultimate layer of a small classifier (``digits.py``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..io import atomic_write
from ..metrics import frechet_gaussians

__all__ = [
    "FeatureStats",
    "extract_features",
    "feature_stats",
    "frechet_distance",
    "kid",
    "load_or_compute_stats",
    "sample_label",
]


@dataclass
class FeatureStats:
    """Mean (d,) and covariance (d, d) of n feature vectors, float64."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int

    def save(self, path: str | os.PathLike) -> None:
        def write(tmp: Path) -> None:
            with open(tmp, "wb") as f:
                np.savez(f, mu=self.mu, sigma=self.sigma, n=np.int64(self.n))

        atomic_write(path, write)

    @classmethod
    def load(cls, path: str | os.PathLike) -> FeatureStats:
        with np.load(path, allow_pickle=False) as z:
            return cls(mu=z["mu"], sigma=z["sigma"], n=int(z["n"]))


def feature_stats(features: np.ndarray | Tensor) -> FeatureStats:
    """Gaussian fit of features: (N, d) -> FeatureStats (unbiased covariance, N-1)."""
    f = torch.as_tensor(np.asarray(features), dtype=torch.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"need features of shape (N >= 2, d), got {tuple(f.shape)}")
    return FeatureStats(
        mu=f.mean(0).numpy(), sigma=torch.cov(f.T).reshape(f.shape[1], -1).numpy(), n=f.shape[0]
    )


def frechet_distance(a: FeatureStats, b: FeatureStats) -> float:
    """Frechet distance between two Gaussian fits (FID when the features are pool3),
    by the core shared with the 2-D metrics (``diffusion.metrics.frechet_gaussians``)."""
    return frechet_gaussians(a.mu, a.sigma, b.mu, b.sigma)


def kid(
    real: np.ndarray | Tensor,
    fake: np.ndarray | Tensor,
    *,
    n_subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """Kernel Inception Distance: (mean, std) of the unbiased MMD^2 over subsets.

    real: (N, d), fake: (M, d). The subset size is capped at min(N, M).
    """
    x = torch.as_tensor(np.asarray(real), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(fake), dtype=torch.float64)
    m = min(subset_size, len(x), len(y))
    if m < 2:
        raise ValueError("KID needs at least 2 samples on each side")
    d = x.shape[1]
    g = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(n_subsets):
        xs = x[torch.randperm(len(x), generator=g)[:m]]
        ys = y[torch.randperm(len(y), generator=g)[:m]]
        kxx = (xs @ xs.T / d + 1) ** 3
        kyy = (ys @ ys.T / d + 1) ** 3
        kxy = (xs @ ys.T / d + 1) ** 3
        off = m * (m - 1)
        mmd = (kxx.sum() - kxx.diagonal().sum()) / off + (kyy.sum() - kyy.diagonal().sum()) / off
        values.append(float(mmd - 2 * kxy.mean()))
    v = np.asarray(values)
    return float(v.mean()), float(v.std())


@torch.no_grad()
def extract_features(
    extractor: Callable[[Tensor], Tensor],
    images: Tensor | Iterable[Tensor],
    *,
    batch_size: int = 200,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """Features of images (N, C, H, W) (or an iterable of such batches) -> (N, d) float64.

    The images go in the extractor's own input range: [0, 1] for the Inception.
    """
    batches = images.split(batch_size) if isinstance(images, Tensor) else images
    out = []
    for batch in batches:
        out.append(extractor(batch.to(device)).double().cpu())
    if not out:
        raise ValueError("no images to extract features from")
    return torch.cat(out).numpy()


def sample_label(n: int, metric: str = "FID") -> str:
    """A metric's label with its sample count, e.g. 'FID-500', 'FID-2k', 'FID-50k'."""
    if n >= 1000 and n % 1000 == 0:
        return f"{metric}-{n // 1000}k"
    return f"{metric}-{n}"


def load_or_compute_stats(
    path: str | os.PathLike, compute: Callable[[], np.ndarray]
) -> FeatureStats:
    """Reference statistics cached at ``path`` (.npz): computed once by ``compute()``
    (which returns the features), then read back on every later call."""
    path = Path(path)
    if path.exists():
        return FeatureStats.load(path)
    stats = feature_stats(compute())
    path.parent.mkdir(parents=True, exist_ok=True)
    stats.save(path)
    return stats
