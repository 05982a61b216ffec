"""Sample-quality metrics for the 2-D world.

- ``frechet_distance``: the FID formula (Heusel et al. 2017, eq. 6) applied to the
  raw coordinates instead of Inception features: the Frechet (W2) distance between
  the Gaussians fitted to the two samples. It sees only means and covariances.
- ``sliced_wasserstein``: sliced Wasserstein-2 (Rabin et al. 2011; Bonneel et al.
  2015): W2 between 1-D projections, exact for empirical measures, averaged over
  random directions. Sensitive to the whole shape.
- ``mmd_rbf``: unbiased squared MMD with an RBF kernel (Gretton et al. 2012, eq. 3).
- ``mean_log_likelihood``: exact mean log-density under a known Gaussian mixture.
- ``evaluate_2d``: all of them against fresh data, with the data-vs-data floor,
  the value two independent draws of the true data already give.
- ``fit_order``: a solver's measured order of convergence, from its errors at several NFE.

All computations are float64; inputs a, b: (N, D) and (M, D).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from .oracle import GaussianMixture

__all__ = [
    "ASYMPTOTIC_NFE",
    "evaluate_2d",
    "fit_order",
    "frechet_distance",
    "frechet_gaussians",
    "mean_log_likelihood",
    "median_bandwidth",
    "mmd_rbf",
    "sliced_wasserstein",
    "sqrtm_psd",
]

DTYPE = torch.float64


def _points(x, name: str) -> Tensor:
    x = torch.as_tensor(x).detach().to("cpu", DTYPE)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(
            f"{name} must be a (N, D) array of at least 2 points, got {tuple(x.shape)}"
        )
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def _pair(a, b) -> tuple[Tensor, Tensor]:
    a, b = _points(a, "a"), _points(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"dimensions differ: a has {a.shape[1]}, b has {b.shape[1]}")
    return a, b


def sqrtm_psd(c: Tensor) -> Tensor:
    """Square root of a symmetric positive semi-definite matrix by eigendecomposition
    (stable where Newton/Schur iterations are not; tiny negative round-off clipped)."""
    w, v = torch.linalg.eigh(c)
    return (v * w.clamp(min=0).sqrt()) @ v.T


def frechet_gaussians(mu_a: Tensor, cov_a: Tensor, mu_b: Tensor, cov_b: Tensor) -> float:
    """Frechet (W2^2) distance between N(mu_a, C_a) and N(mu_b, C_b) (Heusel et al. 2017,
    eq. 6): ||mu_a - mu_b||^2 + tr(C_a + C_b - 2 (C_a^{1/2} C_b C_a^{1/2})^{1/2}).

    The symmetric form C_a^{1/2} C_b C_a^{1/2} has the same eigenvalues as C_a C_b but
    stays symmetric PSD, so the trace of its square root is the sum of the square roots
    of its eigenvalues, without the complex round-off of a general matrix square root.
    The core of both ``frechet_distance`` here and FID (``diffusion.images.fid``).
    """
    mu_a, mu_b, cov_a, cov_b = (torch.as_tensor(v, dtype=DTYPE) for v in (mu_a, mu_b, cov_a, cov_b))
    ra = sqrtm_psd(cov_a)
    inner = ra @ cov_b @ ra
    tr_cross = torch.linalg.eigvalsh(0.5 * (inner + inner.T)).clamp(min=0).sqrt().sum()
    d = (mu_a - mu_b).pow(2).sum() + torch.trace(cov_a) + torch.trace(cov_b) - 2 * tr_cross
    return float(d.clamp(min=0.0))


def frechet_distance(a, b) -> float:
    """The FID formula on the raw points: the Frechet distance between the Gaussians
    fitted to a (N, D) and b (M, D) (``frechet_gaussians``)."""
    a, b = _pair(a, b)
    dim = a.shape[1]
    return frechet_gaussians(
        a.mean(0), torch.cov(a.T).reshape(dim, -1), b.mean(0), torch.cov(b.T).reshape(dim, -1)
    )


def _random_directions(n: int, dim: int, seed: int) -> Tensor:
    g = torch.Generator().manual_seed(int(seed))
    theta = torch.randn(n, dim, generator=g, dtype=DTYPE)
    return theta / theta.norm(dim=1, keepdim=True)


def _w2_squared_1d(pa: Tensor, pb: Tensor) -> Tensor:
    """Exact squared W2 between empirical measures along each projection.

    pa: (P, N), pb: (P, M). In 1-D, W2^2 = int_0^1 (F_a^{-1}(q) - F_b^{-1}(q))^2 dq with
    the step quantile functions of the two samples. Both are constant between the
    merged breakpoints {i/N} U {j/M}, so the integral is a finite sum; for N = M it
    reduces to the mean squared difference of the sorted samples.
    """
    sa, sb = pa.sort(dim=1).values, pb.sort(dim=1).values
    n, m = sa.shape[1], sb.shape[1]
    if n == m:
        return (sa - sb).pow(2).mean(1)
    edges = torch.cat(
        [torch.arange(1, n + 1, dtype=DTYPE) / n, torch.arange(1, m + 1, dtype=DTYPE) / m]
    )
    edges = torch.unique(torch.cat([torch.zeros(1, dtype=DTYPE), edges]))  # sorted
    widths = edges[1:] - edges[:-1]
    mid = 0.5 * (edges[1:] + edges[:-1])
    ia = (mid * n).long().clamp(max=n - 1)
    ib = (mid * m).long().clamp(max=m - 1)
    return ((sa[:, ia] - sb[:, ib]).pow(2) * widths).sum(1)


def sliced_wasserstein(a, b, n_projections: int = 256, seed: int = 0) -> float:
    """Sliced W2: sqrt(mean over random unit directions theta of W2^2(theta.a, theta.b)).

    The directions come from ``seed``, so two calls with the same seed compare on
    the same slices. Unequal sample sizes are handled exactly (see _w2_squared_1d).
    """
    a, b = _pair(a, b)
    if n_projections < 1:
        raise ValueError(f"n_projections must be at least 1, got {n_projections}")
    theta = _random_directions(n_projections, a.shape[1], seed)
    return float(_w2_squared_1d(theta @ a.T, theta @ b.T).mean().sqrt())


def _sq_dists(x: Tensor, y: Tensor) -> Tensor:
    return (x.pow(2).sum(1, keepdim=True) + y.pow(2).sum(1) - 2 * x @ y.T).clamp(min=0)


def median_bandwidth(a, b, max_points: int = 1000) -> float:
    """The median heuristic: the median pairwise distance in the pooled sample
    (Gretton et al. 2012, Sec. 8), from at most ``max_points`` of each sample."""
    a, b = _pair(a, b)
    pooled = torch.cat([a[:max_points], b[:max_points]])
    d2 = _sq_dists(pooled, pooled)
    iu = torch.triu_indices(len(pooled), len(pooled), offset=1)
    return float(d2[iu[0], iu[1]].median().sqrt().clamp(min=1e-12))


def _kernel_sum(x: Tensor, y: Tensor, gamma: float, chunk: int = 256) -> Tensor:
    """sum_{i,j} exp(-gamma ||x_i - y_j||^2), in blocks of ``chunk`` rows (256 rows of
    10,000 columns: 20 MB, about 5x faster on the 2-core machine than 2,048-row blocks,
    whose temporaries fall out of cache). For x is y the sum is symmetric: each row
    block meets only the columns from its own start, the blocks right of its diagonal
    square counted twice (half the kernel evaluations)."""
    total = torch.zeros((), dtype=DTYPE)
    for i in range(0, len(x), chunk):
        if x is y:
            k = torch.exp(-gamma * _sq_dists(x[i : i + chunk], x[i:]))
            total = total + k[:, :chunk].sum() + 2 * k[:, chunk:].sum()
        else:
            total = total + torch.exp(-gamma * _sq_dists(x[i : i + chunk], y)).sum()
    return total


def mmd_rbf(a, b, bandwidth: float | None = None) -> float:
    """Unbiased estimate of MMD^2 with k(x, y) = exp(-||x - y||^2 / (2 h^2))
    (Gretton et al. 2012, eq. 3): within-sample sums exclude the diagonal, so the
    estimate has mean 0 when a and b come from the same distribution (and can be
    slightly negative). h defaults to the median heuristic."""
    a, b = _pair(a, b)
    h = median_bandwidth(a, b) if bandwidth is None else float(bandwidth)
    if not h > 0:
        raise ValueError(f"bandwidth must be positive, got {bandwidth}")
    gamma = 1.0 / (2 * h * h)
    n, m = len(a), len(b)
    # k(x, x) = 1 on the diagonal: subtract n (resp. m) from the full sums.
    kaa = (_kernel_sum(a, a, gamma) - n) / (n * (n - 1))
    kbb = (_kernel_sum(b, b, gamma) - m) / (m * (m - 1))
    kab = _kernel_sum(a, b, gamma) / (n * m)
    return float(kaa + kbb - 2 * kab)


def mean_log_likelihood(x, gmm: GaussianMixture) -> float:
    """(1/N) sum_i log p(x_i) under the exact mixture density p (nats per point)."""
    x = _points(x, "x")
    return float(gmm.log_prob(x).mean())


def evaluate_2d(
    samples, dataset: str, *, n_ref: int | None = None, seed: int = 0, mmd_points: int = 2000
) -> dict:
    """All 2-D metrics of ``samples`` (N, 2) against fresh data of ``dataset``.

    Two independent reference draws of n_ref points (default N) are made from
    ``seed``: one is compared with the samples, the other with the first to give the
    floors ``floor_frechet``, ``floor_sliced_w2`` and ``floor_mmd`` (what a perfect
    sampler would score at this sample size). MMD uses the first ``mmd_points`` of
    each set, since its cost grows as N^2, with one median-heuristic bandwidth
    taken from the data. ``loglik`` (and ``floor_loglik``, the
    data's own mean log-likelihood) are present for exact mixtures only.
    """
    from .toy.datasets import ORACLE_DATASETS, gaussian_mixture, sample_dataset

    x = _points(samples, "samples")
    n = int(n_ref or len(x))
    # Fixed offsets keep the two reference draws independent of each other and of
    # any sampling seed the caller is likely to use (0, 1, 2, ...).
    ref = sample_dataset(dataset, n, seed=1_000_003 + 2 * seed).to(DTYPE)
    ref2 = sample_dataset(dataset, n, seed=1_000_004 + 2 * seed).to(DTYPE)
    k = mmd_points
    # One bandwidth, from the data alone, so the MMD and its floor are comparable.
    h = median_bandwidth(ref[:k], ref2[:k])
    out = {
        "n": len(x),
        "n_ref": n,
        "frechet": frechet_distance(x, ref),
        "sliced_w2": sliced_wasserstein(x, ref, seed=seed),
        "mmd": mmd_rbf(x[:k], ref[:k], bandwidth=h),
        "floor_frechet": frechet_distance(ref2, ref),
        "floor_sliced_w2": sliced_wasserstein(ref2, ref, seed=seed),
        "floor_mmd": mmd_rbf(ref2[:k], ref[:k], bandwidth=h),
    }
    if dataset in ORACLE_DATASETS:
        gmm = gaussian_mixture(dataset)
        out["loglik"] = mean_log_likelihood(x, gmm)
        out["floor_loglik"] = mean_log_likelihood(ref, gmm)
    for key, v in out.items():
        if isinstance(v, float) and math.isnan(v):
            raise ValueError(f"metric {key} is NaN")
    return out


ASYMPTOTIC_NFE = (64, 256)
"""The NFE range of ``fit_order(..., nfe_range=ASYMPTOTIC_NFE)`` on the 2-D oracles: far
enough along that the leading error term dominates for every solver the app shows
(docs/teaching.md lists the measured orders), small enough to stay above round-off."""


def fit_order(
    nfes: Sequence[float],
    errors: Sequence[float],
    *,
    nfe_range: tuple[float, float] | None = None,
) -> float:
    """Measured order of convergence p: minus the least-squares slope of log error against
    log NFE, since a method of order p has error ~ C NFE^-p in its asymptotic range.

    ``nfe_range=(lo, hi)`` fits only the points with lo <= NFE <= hi. Below the asymptotic
    range the slope says little about p: higher-order error terms, the lower-order warm-up
    steps of multistep solvers and the final first-order step to sigma = 0 dominate there,
    so a slope fitted at small NFE can rank the methods wrongly."""
    if nfe_range is not None:
        lo, hi = nfe_range
        kept = [(a, b) for a, b in zip(nfes, errors, strict=True) if lo <= a <= hi]
        if len(kept) < 2:
            raise ValueError(
                f"fit_order: only {len(kept)} of the NFE values lie in nfe_range {lo:g}..{hi:g}; "
                f"need at least two"
            )
        nfes, errors = [a for a, _ in kept], [b for _, b in kept]
    n = torch.as_tensor(nfes, dtype=DTYPE).reshape(-1)
    e = torch.as_tensor(errors, dtype=DTYPE).reshape(-1)
    if len(n) < 2 or len(n) != len(e):
        raise ValueError(
            f"fit_order needs at least two NFE values and one error for each, "
            f"got {len(n)} NFE values and {len(e)} errors"
        )
    x, y = n.log(), e.clamp(min=1e-300).log()
    x = x - x.mean()
    return float(-(x * (y - y.mean())).sum() / x.pow(2).sum())
