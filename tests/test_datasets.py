"""The 2-D datasets: seeded, shaped, unit-scale, and the mixtures sample their own law."""

import math

import pytest
import torch

from diffusion.toy.datasets import (
    DATASETS,
    ORACLE_DATASETS,
    draw,
    gaussian_mixture,
    sample_dataset,
)

REQUIRED = ("swissroll", "moons", "8gaussians", "checkerboard", "rings", "gmm")


def test_required_datasets_exist_and_mixtures_are_a_subset():
    assert set(REQUIRED) <= set(DATASETS)
    assert {"8gaussians", "gmm"} <= set(ORACLE_DATASETS) <= set(DATASETS)


@pytest.mark.parametrize("name", DATASETS)
def test_shape_dtype_and_unit_scale(name):
    x = sample_dataset(name, 20_000, seed=0)
    assert x.shape == (20_000, 2)
    assert x.dtype == torch.float32
    assert bool(torch.isfinite(x).all())
    # one schedule suits all: roughly centred, per-axis std within a factor 1.5 of 1
    assert x.mean(0).abs().max() < 0.35
    std = x.std(0)
    assert bool((std > 0.6).all() and (std < 1.5).all()), std


@pytest.mark.parametrize("name", DATASETS)
def test_same_seed_same_points_other_seed_other_points(name):
    a, b = sample_dataset(name, 500, seed=3), sample_dataset(name, 500, seed=3)
    assert torch.equal(a, b)
    assert not torch.equal(a, sample_dataset(name, 500, seed=4))


def test_draw_continues_one_stream():
    g = torch.Generator().manual_seed(0)
    first, second = draw("moons", 100, g), draw("moons", 100, g)
    assert not torch.equal(first, second)
    assert torch.equal(first, sample_dataset("moons", 100, seed=0))


def test_unknown_dataset_names_the_choices():
    with pytest.raises(ValueError, match=r"unknown dataset 'spiral'.*swissroll.*moons"):
        sample_dataset("spiral", 10, 0)


@pytest.mark.parametrize("n", [0, -5, 2.5, True])
def test_bad_point_count(n):
    with pytest.raises(ValueError, match="positive integer"):
        sample_dataset("moons", n, 0)


def test_mixture_only_for_mixture_datasets():
    with pytest.raises(ValueError, match=r"not a Gaussian mixture.*8gaussians"):
        gaussian_mixture("swissroll")
    with pytest.raises(ValueError, match="unknown dataset"):
        gaussian_mixture("nope")


@pytest.mark.parametrize("name", ORACLE_DATASETS)
def test_mixture_samples_have_the_mixture_moments(name):
    gmm = gaussian_mixture(name)
    w, mu, cov = gmm.weights, gmm.means, gmm.covs
    mean = (w[:, None] * mu).sum(0)
    second = (w[:, None, None] * (cov + mu[:, :, None] * mu[:, None, :])).sum(0)
    covariance = second - torch.outer(mean, mean)
    x = sample_dataset(name, 200_000, seed=1).double()
    assert torch.allclose(x.mean(0), mean, atol=0.01)
    assert torch.allclose(torch.cov(x.T), covariance, atol=0.02)


def test_gmm_is_asymmetric_and_anisotropic():
    gmm = gaussian_mixture("gmm")
    assert len(set(gmm.weights.tolist())) > 1  # unequal weights
    eig = torch.linalg.eigvalsh(gmm.covs)
    assert (eig[:, 1] / eig[:, 0]).max() > 4  # at least one strongly elongated component
    off_diag = gmm.covs[:, 0, 1].abs()
    assert off_diag.max() > 0.01  # rotated, not axis-aligned


def test_checkerboard_only_fills_dark_squares():
    x = sample_dataset("checkerboard", 10_000, seed=0)
    # back to board coordinates [0, 4]^2; a square (col, row) is dark when col + row is even
    board = x / (math.sqrt(3) / 2) + 2.0
    col, row = board[:, 0].floor(), board[:, 1].floor()
    assert bool(((col + row) % 2 == 0).all())
    assert len(set(zip(col.tolist(), row.tolist(), strict=True))) == 8


def test_rings_have_three_radii():
    r = sample_dataset("rings", 20_000, seed=0).norm(dim=1) * 1.73
    counts = torch.histc(r, bins=30, min=0, max=3.6)
    # three peaks (1, 2, 3) separated by empty gaps near 1.5 and 2.5

    def gap(v):
        return counts[int(v / 3.6 * 30)]

    assert gap(1.5) < 0.01 * len(r)
    assert gap(2.5) < 0.01 * len(r)
    assert gap(1.0) > 0.05 * len(r)
    assert gap(3.0) > 0.05 * len(r)
