"""2-D metrics against closed forms and their defining properties."""

import math

import pytest
import torch

from diffusion.metrics import (
    evaluate_2d,
    fit_order,
    frechet_distance,
    mean_log_likelihood,
    mmd_rbf,
    sliced_wasserstein,
)
from diffusion.oracle import GaussianMixture
from diffusion.toy.datasets import gaussian_mixture, sample_dataset

D64 = torch.float64


def _white(n=4000, seed=0, dim=2):
    """Points whose empirical mean is exactly 0 and covariance exactly I."""
    z = torch.randn(n, dim, generator=torch.Generator().manual_seed(seed), dtype=D64)
    z = z - z.mean(0)
    chol = torch.linalg.cholesky(torch.cov(z.T))
    return torch.linalg.solve_triangular(chol, z.T, upper=False).T


# ----- Frechet distance (the FID formula) ---------------------------------------------


def test_frechet_of_identical_samples_is_zero():
    x = sample_dataset("gmm", 3000, seed=0)
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-9)
    assert frechet_distance(x, x + 0.0) == pytest.approx(0.0, abs=1e-9)


def test_frechet_closed_form_for_non_commuting_covariances():
    # Fit-exact samples: mean m_i, covariance L_i L_i^T. For 2x2 matrices the trace of
    # (C1 C2)^{1/2} is sqrt(tr(C1 C2) + 2 sqrt(det(C1 C2))) (from its two eigenvalues).
    z = _white()
    l1 = torch.tensor([[1.5, 0.0], [0.4, 0.3]], dtype=D64)
    l2 = torch.tensor([[0.7, 0.0], [-0.6, 1.1]], dtype=D64)
    m1, m2 = torch.tensor([0.5, -1.0], dtype=D64), torch.tensor([-0.2, 0.3], dtype=D64)
    a, b = z @ l1.T + m1, z @ l2.T + m2
    c1, c2 = l1 @ l1.T, l2 @ l2.T
    prod = c1 @ c2
    tr_sqrt = math.sqrt(float(torch.trace(prod)) + 2 * math.sqrt(float(torch.det(prod))))
    expected = float((m1 - m2).pow(2).sum() + torch.trace(c1 + c2)) - 2 * tr_sqrt
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(b, a) == pytest.approx(expected, rel=1e-9)  # symmetric


def test_frechet_sees_only_means_and_covariances():
    # two very different shapes with the same first two moments score ~0
    ring = sample_dataset("rings", 4000, seed=0).double()
    blob = _white(4000, seed=1) @ torch.linalg.cholesky(torch.cov(ring.T)).T + ring.mean(0)
    assert frechet_distance(ring, blob) < 1e-9
    assert sliced_wasserstein(ring, blob) > 0.1  # while sliced W2 tells them apart


def test_fid_and_the_2d_frechet_share_one_core():
    """FID on feature statistics and the 2-D Frechet distance on raw points are the same
    number for the same points (one Gaussian fit, one formula)."""
    from diffusion.images.fid import feature_stats
    from diffusion.images.fid import frechet_distance as fid

    a = sample_dataset("moons", 2000, seed=0).double()
    b = sample_dataset("swissroll", 1500, seed=1).double()
    assert fid(feature_stats(a), feature_stats(b)) == pytest.approx(
        frechet_distance(a, b), rel=1e-12
    )


# ----- measured order of convergence --------------------------------------------------


def test_fit_order_recovers_a_known_power_law():
    nfe = torch.tensor([4.0, 8.0, 16.0, 32.0], dtype=D64)
    assert fit_order(nfe, 3.0 * nfe**-2.0) == pytest.approx(2.0, rel=1e-12)
    assert fit_order([5, 10, 20], [0.2, 0.1, 0.05]) == pytest.approx(1.0, rel=1e-12)
    with pytest.raises(ValueError, match="at least two NFE values"):
        fit_order([4], [0.1])
    with pytest.raises(ValueError, match="one error for each"):
        fit_order([4, 8], [0.1])


# ----- sliced Wasserstein-2 -----------------------------------------------------------


def test_sliced_w2_of_a_shift_in_one_dimension_is_the_shift():
    x = torch.randn(500, 1, generator=torch.Generator().manual_seed(0))
    assert sliced_wasserstein(x, x + 0.75, n_projections=3) == pytest.approx(0.75, rel=1e-6)


def test_sliced_w2_of_a_shift_in_2d_is_the_projected_shift():
    # each slice moves by theta.v, so SW2^2 = mean (theta.v)^2 -> |v|^2 / 2 for many theta
    x = sample_dataset("moons", 2000, seed=0)
    v = torch.tensor([0.6, -0.8])
    sw = sliced_wasserstein(x, x + v, n_projections=4000, seed=1)
    assert sw == pytest.approx(1.0 / math.sqrt(2), rel=0.03)


def test_sliced_w2_handles_unequal_sizes_exactly():
    x = sample_dataset("swissroll", 300, seed=0)
    doubled = torch.cat([x, x])  # the same empirical measure with twice the points
    assert sliced_wasserstein(x, doubled) == pytest.approx(0.0, abs=1e-9)
    one_d = torch.randn(301, 1, generator=torch.Generator().manual_seed(2))
    shifted = torch.cat([one_d, one_d, one_d]) - 0.3
    assert sliced_wasserstein(one_d, shifted, n_projections=2) == pytest.approx(0.3, rel=1e-6)


def test_sliced_w2_is_seeded_and_order_free():
    a, b = sample_dataset("gmm", 800, 0), sample_dataset("gmm", 800, 1)
    assert sliced_wasserstein(a, b, seed=4) == sliced_wasserstein(a, b, seed=4)
    perm = torch.randperm(800, generator=torch.Generator().manual_seed(0))
    assert sliced_wasserstein(a, b[perm], seed=4) == pytest.approx(sliced_wasserstein(a, b, seed=4))


# ----- MMD ------------------------------------------------------------------------------


def test_mmd_matches_the_definition_on_a_small_case():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(7, 2, generator=g, dtype=D64), torch.randn(5, 2, generator=g, dtype=D64) + 1
    h = 0.9

    def k(x, y):
        return math.exp(-float((x - y).pow(2).sum()) / (2 * h * h))

    def mean_off_diag(x):
        vals = [k(x[i], x[j]) for i in range(len(x)) for j in range(len(x)) if i != j]
        return sum(vals) / len(vals)

    cross = sum(k(x, y) for x in a for y in b) / (len(a) * len(b))
    expected = mean_off_diag(a) + mean_off_diag(b) - 2 * cross
    assert mmd_rbf(a, b, bandwidth=h) == pytest.approx(expected, rel=1e-12)


def test_kernel_sum_of_a_sample_with_itself_uses_the_symmetry_exactly():
    """The self-sum visits only blocks on or right of the diagonal; with blocks smaller
    than the sample (several off-diagonal blocks, a ragged last one) it must equal the
    full double sum."""
    from diffusion.metrics import _kernel_sum

    x = torch.randn(11, 2, generator=torch.Generator().manual_seed(3), dtype=D64)
    full = torch.exp(-0.7 * torch.cdist(x, x).pow(2)).sum()
    for chunk in (1, 3, 4, 11, 64):
        assert float(_kernel_sum(x, x, 0.7, chunk=chunk)) == pytest.approx(float(full), rel=1e-12)
    assert float(_kernel_sum(x, x.clone(), 0.7, chunk=3)) == pytest.approx(float(full), rel=1e-12)


def test_mmd_is_unbiased_for_equal_distributions_and_positive_for_different():
    same = torch.tensor(
        [
            mmd_rbf(sample_dataset("moons", 150, 2 * s), sample_dataset("moons", 150, 2 * s + 1))
            for s in range(40)
        ]
    )
    # unbiased: mean 0 within its standard error (a biased V-statistic sits well above 0)
    assert abs(float(same.mean())) < 3 * float(same.std()) / math.sqrt(len(same))
    assert float(same.min()) < 0  # the unbiased estimate can be negative
    diff = [
        mmd_rbf(sample_dataset("moons", 150, s), sample_dataset("rings", 150, s)) for s in range(5)
    ]
    assert min(diff) > float(same.max())


def test_bad_metric_inputs():
    with pytest.raises(ValueError, match="at least 2 points"):
        sliced_wasserstein(torch.zeros(1, 2), torch.zeros(5, 2))
    with pytest.raises(ValueError, match="dimensions differ"):
        frechet_distance(torch.zeros(4, 2), torch.zeros(4, 3))
    with pytest.raises(ValueError, match="NaN"):
        mmd_rbf(torch.full((4, 2), float("nan")), torch.zeros(4, 2))


# ----- log-likelihood ---------------------------------------------------------------------


def test_log_likelihood_matches_gaussian_closed_form():
    mu = torch.tensor([0.3, -0.2], dtype=D64)
    cov = torch.tensor([[1.0, 0.3], [0.3, 0.5]], dtype=D64)
    x = torch.randn(50, 2, generator=torch.Generator().manual_seed(0), dtype=D64)
    d = x - mu
    maha = (d @ torch.linalg.inv(cov) * d).sum(1)
    logp = -0.5 * (maha + math.log(float(torch.det(cov))) + 2 * math.log(2 * math.pi))
    gmm = GaussianMixture([1.0], [mu.tolist()], [cov.tolist()])
    assert mean_log_likelihood(x, gmm) == pytest.approx(float(logp.mean()), rel=1e-12)


def test_log_likelihood_of_a_mixture_is_the_log_of_the_weighted_sum():
    gmm = gaussian_mixture("8gaussians")
    x = sample_dataset("8gaussians", 20, seed=0).double()
    dens = torch.zeros(20, dtype=D64)
    for w, mu, cov in zip(gmm.weights, gmm.means, gmm.covs, strict=True):
        d = x - mu
        maha = (d @ torch.linalg.inv(cov) * d).sum(1)
        dens += w * torch.exp(-0.5 * maha) / (2 * math.pi * torch.det(cov).sqrt())
    assert mean_log_likelihood(x, gmm) == pytest.approx(float(dens.log().mean()), rel=1e-10)


# ----- evaluate_2d ----------------------------------------------------------------------


def test_evaluate_2d_floors_and_keys():
    fresh = sample_dataset("gmm", 2000, seed=5)
    m = evaluate_2d(fresh, "gmm", seed=0)
    assert {
        "frechet",
        "sliced_w2",
        "mmd",
        "loglik",
        "floor_sliced_w2",
        "floor_mmd",
        "floor_loglik",
    } <= set(m)
    # real data scores like the floor; shifted data far above it
    assert m["sliced_w2"] < 2 * m["floor_sliced_w2"]
    assert abs(m["loglik"] - m["floor_loglik"]) < 0.2
    bad = evaluate_2d(fresh + torch.tensor([0.5, 0.0]), "gmm", seed=0)
    assert bad["sliced_w2"] > 5 * bad["floor_sliced_w2"]
    assert bad["mmd"] > 10 * abs(bad["floor_mmd"])
    assert bad["loglik"] < m["loglik"] - 0.5
    assert "loglik" not in evaluate_2d(sample_dataset("moons", 500, 1), "moons")
    with pytest.raises(ValueError, match="unknown dataset"):
        evaluate_2d(fresh, "mon")


# ----- sweep ------------------------------------------------------------------------------


def test_sweep_rows_cover_the_grid_and_note_unreachable_nfe():
    from diffusion.checkpoints import load_model
    from diffusion.sweep import sweep

    model = load_model("oracle:8gaussians")
    seen = []
    rows = sweep(
        model,
        ["ddim", "heun"],
        [4, 20],
        [0, 1],
        "8gaussians",
        n=300,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert len(rows) == 8
    assert seen[-1] == (8, 8)
    by_key = {(r["sampler"], r["nfe"], r["seed"]): r for r in rows}
    assert by_key[("ddim", 20, 0)]["steps"] == 20
    assert by_key[("ddim", 20, 0)]["seconds"] > 0
    # Heun costs 2 per step and 1 on the last: odd NFE only
    assert by_key[("heun", 4, 1)]["metrics"] is None
    assert "exactly 4" in by_key[("heun", 4, 1)]["note"]
    ddim = [by_key[("ddim", nfe, 0)]["metrics"]["sliced_w2"] for nfe in (4, 20)]
    assert ddim[1] < ddim[0]  # more evaluations, better samples
    with pytest.raises(ValueError, match="unknown sampler"):
        sweep(model, ["ddim", "magic"], [4], [0], "8gaussians")
    with pytest.raises(ValueError, match="positive integer"):
        sweep(model, ["ddim"], [0], [0], "8gaussians")
