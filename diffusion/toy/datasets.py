"""Seeded 2-D toy datasets, each scaled to roughly unit standard deviation per axis
so that one noise schedule (the DDPM linear schedule, x_T ~ N(0, I)) suits them all.

Every dataset is a function ``(n, generator) -> (n, 2) float32``; the public entry
``sample_dataset(name, n, seed)`` seeds a fresh ``torch.Generator``, so the same seed
always gives the same points. The Gaussian mixtures among them also have an exact
``GaussianMixture`` (``gaussian_mixture(name)``), from which ``diffusion.oracle``
builds the analytic denoiser of the diffused data.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from ..oracle import GaussianMixture

__all__ = [
    "DATASETS",
    "DESCRIPTIONS",
    "ORACLE_DATASETS",
    "check_dataset",
    "draw",
    "gaussian_mixture",
    "sample_dataset",
]


# ----- Gaussian mixtures (exact densities) ---------------------------------------------


def _eight_gaussians() -> GaussianMixture:
    """8 equal isotropic Gaussians on a circle. Radius r and std s are chosen so the
    per-axis variance r^2/2 + s^2 is exactly 1."""
    s = 0.1
    r = math.sqrt(2 * (1 - s**2))
    angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
    means = r * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    covs = (s**2 * torch.eye(2, dtype=torch.float64)).expand(8, 2, 2).clone()
    return GaussianMixture(torch.full((8,), 1 / 8, dtype=torch.float64), means, covs)


def _twentyfive_gaussians() -> GaussianMixture:
    """A 5x5 grid of equal isotropic Gaussians (a classic mode-coverage test).
    Grid coordinates {-2..2} * c with c^2 * 2 + s^2 = 1 per axis."""
    s = 0.05
    c = math.sqrt((1 - s**2) / 2)
    g = torch.arange(-2, 3, dtype=torch.float64) * c
    means = torch.cartesian_prod(g, g)
    covs = (s**2 * torch.eye(2, dtype=torch.float64)).expand(25, 2, 2).clone()
    return GaussianMixture(torch.full((25,), 1 / 25, dtype=torch.float64), means, covs)


def _rotated_cov(sx: float, sy: float, angle: float) -> list[list[float]]:
    """R diag(sx^2, sy^2) R^T: an anisotropic covariance with principal axes at ``angle``."""
    c, s = math.cos(angle), math.sin(angle)
    rot = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
    cov = rot @ torch.diag(torch.tensor([sx**2, sy**2], dtype=torch.float64)) @ rot.T
    return cov.tolist()


def _asymmetric_gmm() -> GaussianMixture:
    """Four components with unequal weights and anisotropic, rotated covariances: no
    symmetry a sampler could exploit, and modes of very different mass, so mode
    dropping and mis-weighting show up in the metrics."""
    weights = [0.45, 0.25, 0.2, 0.1]
    means = [[-0.9, -0.5], [1.1, 0.9], [0.8, -1.2], [-1.0, 1.4]]
    covs = [
        _rotated_cov(0.45, 0.12, math.pi / 6),
        _rotated_cov(0.30, 0.08, -math.pi / 4),
        _rotated_cov(0.15, 0.15, 0.0),
        _rotated_cov(0.35, 0.05, math.pi / 2.5),
    ]
    return GaussianMixture(weights, means, covs)


def _single_gaussian() -> GaussianMixture:
    """One correlated Gaussian: every quantity of the diffused data is closed-form,
    the simplest case to check a sampler or the oracle by hand."""
    return GaussianMixture([1.0], [[0.3, -0.2]], [_rotated_cov(1.2, 0.5, math.pi / 5)])


_MIXTURES: dict[str, Callable[[], GaussianMixture]] = {
    "8gaussians": _eight_gaussians,
    "gmm": _asymmetric_gmm,
    "25gaussians": _twentyfive_gaussians,
    "gaussian": _single_gaussian,
}


# ----- shapes without a closed-form density --------------------------------------------

# Scale constants: each raw shape is divided by its overall standard deviation
# (measured once on 10^6 points and rounded), one number per shape so the shape
# keeps its aspect ratio and the data have roughly unit std.
_SWISSROLL_CENTRE = (2.0, 0.2)
_SWISSROLL_SCALE = 6.85
_MOONS_SCALE = 0.7
_RINGS_SCALE = 1.73


def _swissroll(n: int, g: torch.Generator) -> Tensor:
    """A 2-D swiss roll (the x-z plane of scikit-learn's make_swiss_roll): the spiral
    theta (cos theta, sin theta), theta in [1.5 pi, 4.5 pi], plus N(0, 0.25^2) noise."""
    theta = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=g))
    pts = torch.stack([theta * torch.cos(theta), theta * torch.sin(theta)], dim=1)
    pts = pts + 0.25 * torch.randn(n, 2, generator=g)
    return (pts - torch.tensor(_SWISSROLL_CENTRE)) / _SWISSROLL_SCALE


def _moons(n: int, g: torch.Generator) -> Tensor:
    """Two interleaving half circles (scikit-learn's make_moons layout), noise 0.05
    before scaling, centred on the origin."""
    upper = torch.rand(n, generator=g) < 0.5
    phi = math.pi * torch.rand(n, generator=g)
    x = torch.where(upper, torch.cos(phi), 1 - torch.cos(phi))
    y = torch.where(upper, torch.sin(phi), 0.5 - torch.sin(phi))
    pts = torch.stack([x - 0.5, y - 0.25], dim=1) + 0.05 * torch.randn(n, 2, generator=g)
    return pts / _MOONS_SCALE


def _checkerboard(n: int, g: torch.Generator) -> Tensor:
    """Uniform on the 8 dark squares of a 4x4 board covering [-sqrt3, sqrt3]^2 (a
    uniform distribution on that square has unit std; the board keeps it)."""
    cell = torch.randint(0, 8, (n,), generator=g)
    row = cell // 2
    col = 2 * (cell % 2) + (row % 2)  # alternate the dark squares row by row
    u = torch.rand(n, 2, generator=g)
    pts = torch.stack([col + u[:, 0], row + u[:, 1]], dim=1)  # in [0, 4]^2
    return (pts - 2.0) * (math.sqrt(3) / 2)


def _rings(n: int, g: torch.Generator) -> Tensor:
    """Three concentric circles of radii 1, 2 and 3 with mass proportional to their
    circumference (uniform along the arc), noise 0.08 before scaling."""
    radii = torch.tensor([1.0, 2.0, 3.0])
    ring = torch.multinomial(radii / radii.sum(), n, replacement=True, generator=g)
    phi = 2 * math.pi * torch.rand(n, generator=g)
    r = radii[ring]
    pts = torch.stack([r * torch.cos(phi), r * torch.sin(phi)], dim=1)
    pts = pts + 0.08 * torch.randn(n, 2, generator=g)
    return pts / _RINGS_SCALE


def _from_mixture(name: str) -> Callable[[int, torch.Generator], Tensor]:
    mixture = _MIXTURES[name]()
    return lambda n, g: mixture.sample(n, generator=g)


_SAMPLERS: dict[str, Callable[[int, torch.Generator], Tensor]] = {
    "swissroll": _swissroll,
    "moons": _moons,
    "8gaussians": _from_mixture("8gaussians"),
    "checkerboard": _checkerboard,
    "rings": _rings,
    "gmm": _from_mixture("gmm"),
    "25gaussians": _from_mixture("25gaussians"),
    "gaussian": _from_mixture("gaussian"),
}

DATASETS: tuple[str, ...] = tuple(_SAMPLERS)
"""Every dataset name, the shipped-model ones first."""

ORACLE_DATASETS: tuple[str, ...] = tuple(_MIXTURES)
"""Datasets that are exact Gaussian mixtures (analytic oracle and log-likelihood)."""

DESCRIPTIONS: dict[str, str] = {
    "swissroll": "swiss roll: a noisy 2-D spiral",
    "moons": "two moons: interleaving half circles",
    "8gaussians": "8 equal Gaussians on a circle (exact mixture)",
    "checkerboard": "uniform on the dark squares of a 4x4 board",
    "rings": "three concentric rings",
    "gmm": "asymmetric 4-component mixture, unequal weights (exact mixture)",
    "25gaussians": "5x5 grid of narrow Gaussians (exact mixture)",
    "gaussian": "one correlated Gaussian (exact, closed form everywhere)",
}


def check_dataset(name: str) -> str:
    """``name`` if it is a dataset, else a ValueError naming the valid choices."""
    if name not in _SAMPLERS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return name


def draw(name: str, n: int, generator: torch.Generator) -> Tensor:
    """n points of dataset ``name`` from an existing generator: (n, 2) float32.
    Training loops use this so each batch continues the same random stream."""
    check_dataset(name)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"number of points must be a positive integer, got {n!r}")
    return _SAMPLERS[name](n, generator).float()


def sample_dataset(name: str, n: int, seed: int = 0) -> Tensor:
    """n points of dataset ``name``: (n, 2) float32; the same seed gives the same points."""
    return draw(name, n, torch.Generator().manual_seed(int(seed)))


def gaussian_mixture(name: str) -> GaussianMixture:
    """The exact mixture behind an oracle dataset (a fresh object each call)."""
    check_dataset(name)
    if name not in _MIXTURES:
        raise ValueError(
            f"dataset {name!r} is not a Gaussian mixture; the exact oracle exists for "
            f"{', '.join(ORACLE_DATASETS)}"
        )
    return _MIXTURES[name]()
