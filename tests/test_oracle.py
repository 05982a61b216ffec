"""The analytic oracle of every mixture dataset is exact: eps, x0-hat and score.

Three independent checks: autograd of the diffused mixture's log density (the
score), the one-Gaussian closed form of E[x_0 | x_t], and a self-normalised
Monte-Carlo estimate of E[x_0 | x_t] from samples of the data.
"""

import pytest
import torch

from diffusion.checkpoints import load_model
from diffusion.toy.datasets import ORACLE_DATASETS, gaussian_mixture, sample_dataset

TIMES = [1.0, 37.5, 250.0, 600.25, 999.0]  # integer and fractional timesteps


def _points(n=64, seed=0):
    return 1.5 * torch.randn(
        n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
    )


@pytest.mark.parametrize("name", ORACLE_DATASETS)
@pytest.mark.parametrize("t", TIMES)
def test_eps_and_score_match_autograd_of_the_diffused_density(name, t):
    model = load_model(f"oracle:{name}")
    gmm = gaussian_mixture(name)
    alpha, sigma = float(model.schedule.alpha(t)), float(model.schedule.sigma(t))
    x = _points().requires_grad_(True)
    log_p = gmm.log_prob(x, alpha, sigma).sum()
    (score,) = torch.autograd.grad(log_p, x)
    x = x.detach()
    pred = model.predict(x, t)
    assert pred.eps.dtype == torch.float64
    torch.testing.assert_close(pred.eps, -sigma * score, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(model.score(x, t), score, rtol=1e-9, atol=1e-10)
    # x0-hat is Tweedie's formula: (x + sigma^2 score) / alpha
    torch.testing.assert_close(pred.x0, (x + sigma**2 * score) / alpha, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("t", TIMES)
def test_single_gaussian_posterior_mean_closed_form(t):
    # x_0 ~ N(mu, C): E[x_0 | x_t] = mu + alpha C (alpha^2 C + sigma^2 I)^{-1} (x_t - alpha mu)
    model = load_model("oracle:gaussian")
    gmm = gaussian_mixture("gaussian")
    mu, cov = gmm.means[0], gmm.covs[0]
    alpha, sigma = float(model.schedule.alpha(t)), float(model.schedule.sigma(t))
    x = _points(seed=1)
    s = alpha**2 * cov + sigma**2 * torch.eye(2, dtype=torch.float64)
    expected = mu + (alpha * cov @ torch.linalg.solve(s, (x - alpha * mu).T)).T
    torch.testing.assert_close(model.predict(x, t).x0, expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", ["8gaussians", "gmm"])
def test_x0_hat_matches_monte_carlo_posterior_mean(name):
    # E[x_0 | x_t] = E_{x_0 ~ data}[x_0 N(x_t; alpha x_0, sigma^2 I)] / E[N(...)]
    model = load_model(f"oracle:{name}")
    t = 400.0
    alpha, sigma = float(model.schedule.alpha(t)), float(model.schedule.sigma(t))
    x0 = sample_dataset(name, 400_000, seed=7).double()
    x_t = alpha * sample_dataset(name, 6, seed=8).double() + sigma * _points(6, seed=9) / 1.5
    log_w = -((x_t[:, None, :] - alpha * x0[None]) ** 2).sum(-1) / (2 * sigma**2)  # (6, N)
    w = torch.softmax(log_w, dim=1)
    mc = w @ x0
    ess = 1.0 / (w**2).sum(1)
    assert ess.min() > 1000  # enough effective samples for the tolerance below
    torch.testing.assert_close(model.predict(x_t, t).x0, mc, atol=0.02, rtol=0)


def test_oracle_float32_input_keeps_dtype_and_agrees():
    model = load_model("oracle:gmm")
    x = _points(seed=2)
    out32 = model.predict(x.float(), 300.0)
    assert out32.eps.dtype == torch.float32
    torch.testing.assert_close(
        out32.eps.double(), model.predict(x, 300.0).eps, atol=1e-5, rtol=1e-5
    )


def test_oracle_model_metadata():
    model = load_model("oracle:gmm")
    assert model.sample_shape == (2,)
    assert model.config["kind"] == "oracle"
    mix = model.config["mixture"]
    torch.testing.assert_close(
        torch.tensor(mix["weights"], dtype=torch.float64), gaussian_mixture("gmm").weights
    )
    with pytest.raises(ValueError, match=r"no exact oracle for 'moons'.*8gaussians"):
        load_model("oracle:moons")


def test_one_oracle_constructor_carries_its_dataset():
    from diffusion.oracle import oracle_for_dataset
    from diffusion.schedules import cosine_schedule

    model = oracle_for_dataset("8gaussians")
    assert model.name == "oracle:8gaussians"
    assert model.config["dataset"] == "8gaussians"
    loaded = load_model("oracle:8gaussians")  # the loader builds it the same way
    assert loaded.config == model.config
    assert loaded.name == model.name
    x = torch.randn(8, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(loaded.predict(x, 500.0).eps, model.predict(x, 500.0).eps)
    other = oracle_for_dataset("8gaussians", cosine_schedule())
    assert other.schedule.name == "cosine"
    assert other.config["schedule"]["name"] == "cosine"
    with pytest.raises(ValueError, match="no exact oracle for 'moons'"):
        oracle_for_dataset("moons")
