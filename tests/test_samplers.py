"""Sampler behaviour: exact NFE, identities between samplers, determinism, the clean
last step, the record, and clear errors for bad input."""

from __future__ import annotations

import re

import pytest
import torch

from diffusion.grids import make_timesteps
from diffusion.model import DiffusionModel, NonFiniteError
from diffusion.oracle import GaussianMixture, oracle_model
from diffusion.samplers import REGISTRY, get_sampler, resolve_sampler, sample
from diffusion.schedules import linear_schedule

OURS = [
    "ddpm",
    "ddim",
    "euler",
    "heun",
    "dpm-solver-1",
    "dpm-solver-2",
    "dpm-solver-3",
    "dpm-solver++2m",
    "dpm-solver++3m",
    "dpm-solver++2s",
    "unipc",
]
DETERMINISTIC = [n for n in OURS if n != "ddpm"]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def oracle():
    gmm = GaussianMixture(
        weights=[0.4, 0.6],
        means=[[1.0, -0.5], [-1.0, 0.5]],
        covs=[[[0.1, 0.03], [0.03, 0.05]], [[0.2, 0.0], [0.0, 0.02]]],
    )
    return oracle_model(gmm, linear_schedule())


class CountingNet(torch.nn.Module):
    """A smooth stand-in network that counts its calls."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x, t):
        self.calls += 1
        return torch.tanh(x) * (t / 1000.0).reshape(-1, *([1] * (x.ndim - 1)))


def _x_T(n=32, d=(2,), seed=0, dtype=torch.float64):
    return torch.randn(n, *d, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def test_every_sampler_is_registered():
    assert set(OURS) <= set(REGISTRY)


@pytest.mark.parametrize("name", OURS)
@pytest.mark.parametrize("steps", [1, 2, 3, 7])
def test_nfe_is_exact(name, steps):
    net = CountingNet()
    model = DiffusionModel(net, linear_schedule())
    spec = REGISTRY[name]
    ts = make_timesteps(model.schedule, steps, "trailing")
    traj = spec(model, _x_T(8), ts, generator=torch.Generator().manual_seed(0))
    assert net.calls == traj.nfe == spec.nfe(steps)
    assert traj.xs.shape == (steps + 1, 8, 2)
    assert traj.x0_preds.shape == (steps, 8, 2)
    assert torch.equal(traj.timesteps, ts)


@pytest.mark.parametrize("name", OURS)
def test_last_step_lands_on_clean_data(oracle, name):
    traj = sample(oracle, name, 6, n=16, seed=1, spacing="logsnr", dtype=torch.float64)
    # the final step to sigma = 0 outputs the x0-hat of its evaluation, exactly
    assert torch.equal(traj.xs[-1], traj.x)
    assert torch.equal(traj.x, traj.x0_preds[-1])
    last = oracle.predict(traj.xs[-2], float(traj.timesteps[-1])).x0
    assert torch.allclose(traj.x, last, atol=1e-12, rtol=0)


def test_ddim_euler_and_dpm_solver_1_agree_to_float64_precision(oracle):
    x_T = _x_T(64)
    for spacing in ("logsnr", "leading", "karras"):
        ts = make_timesteps(oracle.schedule, 12, spacing)
        runs = {n: REGISTRY[n](oracle, x_T, ts) for n in ("ddim", "euler", "dpm-solver-1")}
        ref = runs["ddim"]
        for n in ("euler", "dpm-solver-1"):
            assert float((runs[n].xs - ref.xs).abs().max()) < 1e-12, (n, spacing)
    # ...while a second-order solver does not (the comparison is not vacuous)
    other = REGISTRY["dpm-solver++2m"](oracle, x_T, ts)
    assert float((other.x - ref.x).abs().max()) > 1e-3


def test_ddim_eta1_is_ddpm_with_posterior_variance(oracle):
    ts = make_timesteps(oracle.schedule, 20, "leading")
    x_T = _x_T(32)
    a = REGISTRY["ddim"](oracle, x_T, ts, eta=1.0, generator=torch.Generator().manual_seed(5))
    b = REGISTRY["ddpm"](
        oracle, x_T, ts, variance="beta_tilde", generator=torch.Generator().manual_seed(5)
    )
    assert float((a.x - b.x).abs().max()) < 1e-10
    gen = torch.Generator().manual_seed(5)
    c = REGISTRY["ddpm"](oracle, x_T, ts, variance="beta", generator=gen)
    assert float((c.x - b.x).abs().max()) > 1e-3  # the larger variance changes the samples


@pytest.mark.parametrize(("name", "options"), [("ddpm", {}), ("ddim", {"eta": 0.5}), ("heun", {})])
def test_same_seed_same_samples(oracle, name, options):
    a = sample(oracle, name, 8, n=32, seed=11, **options)
    b = sample(oracle, name, 8, n=32, seed=11, **options)
    c = sample(oracle, name, 8, n=32, seed=12, **options)
    assert torch.equal(a.x, b.x)
    assert torch.equal(a.xs, b.xs)
    assert not torch.allclose(a.x, c.x)


def test_stochastic_noise_comes_from_the_generator(oracle):
    x_T = _x_T(32)
    a = sample(oracle, "ddpm", 8, n=32, seed=0, x_T=x_T, dtype=torch.float64)
    b = sample(oracle, "ddpm", 8, n=32, seed=1, x_T=x_T, dtype=torch.float64)
    assert torch.equal(a.xs[0], b.xs[0])  # the given x_T is used as is
    assert not torch.allclose(a.x, b.x)  # but the step noise follows the seed


def test_sample_uses_model_shape_and_dtype():
    model = DiffusionModel(CountingNet(), linear_schedule(), sample_shape=(3, 4, 4))
    traj = sample(model, "dpm-solver++2m", 5, n=2, seed=0)
    assert traj.x.shape == (2, 3, 4, 4)
    assert traj.x.dtype == torch.float32
    with pytest.raises(ValueError, match=r"needs \(n, 3, 4, 4\)"):
        sample(model, "ddim", 5, n=2, seed=0, x_T=torch.zeros(2, 2))


def test_record_false_keeps_ends_and_same_result(oracle):
    ts = make_timesteps(oracle.schedule, 9, "logsnr")
    x_T = _x_T(16)
    full = REGISTRY["unipc"](oracle, x_T, ts)
    seen = []
    lean = REGISTRY["unipc"](
        oracle, x_T, ts, record=False, callback=lambda i, x, x0: seen.append(i)
    )
    assert torch.equal(full.x, lean.x)
    assert lean.xs.shape == (2, 16, 2)
    assert lean.x0_preds.shape == (1, 16, 2)
    assert torch.equal(lean.xs[0], x_T)
    assert torch.equal(lean.x0_preds[0], full.x0_preds[-1])
    assert seen == list(range(9))


def test_x0_preds_are_the_step_evaluations(oracle):
    ts = make_timesteps(oracle.schedule, 5, "leading")
    traj = REGISTRY["ddim"](oracle, _x_T(8), ts)
    for i in range(5):
        want = oracle.predict(traj.xs[i], float(ts[i])).x0
        assert torch.allclose(traj.x0_preds[i], want, atol=1e-12, rtol=0)


# ----- bad input ---------------------------------------------------------------------


def test_unknown_sampler_lists_the_choices():
    with pytest.raises(ValueError, match=r"unknown sampler 'foo'.*ddim.*heun"):
        get_sampler("foo")
    with pytest.raises(ValueError, match="unknown sampler"):
        sample(DiffusionModel(CountingNet(), linear_schedule()), "foo", 5, n=2, seed=0)


def test_order_aliases():
    assert resolve_sampler("dpm-solver", 3) == "dpm-solver-3"
    assert resolve_sampler("dpm-solver++", 2) == "dpm-solver++2m"
    with pytest.raises(ValueError, match="choose --order from 2, 3"):
        resolve_sampler("dpm-solver++", 1)
    with pytest.raises(ValueError, match="fixed order 2"):
        resolve_sampler("heun", 3)


def test_order_is_passed_to_samplers_that_take_it(oracle):
    a = sample(oracle, "unipc", 6, n=8, seed=0, order=3, spacing="logsnr")
    b = sample(oracle, "unipc", 6, n=8, seed=0, spacing="logsnr")
    assert a.info["order"] == 3
    assert b.info["order"] == 2
    assert not torch.allclose(a.x, b.x)
    with pytest.raises(ValueError, match="UniPC order must be 1, 2 or 3"):
        sample(oracle, "unipc", 6, n=8, seed=0, order=4)


@pytest.mark.parametrize("eta", [-0.1, 1.5])
def test_eta_outside_unit_interval(oracle, eta):
    with pytest.raises(ValueError, match=r"eta must lie in \[0, 1\]"):
        sample(oracle, "ddim", 5, n=4, seed=0, eta=eta)


def test_unknown_variance_and_option(oracle):
    with pytest.raises(ValueError, match=r"unknown variance 'big'.*beta, beta_tilde"):
        sample(oracle, "ddpm", 5, n=4, seed=0, variance="big")
    with pytest.raises(ValueError, match="sampler heun has no option 'eta'; its options: none"):
        sample(oracle, "heun", 5, n=4, seed=0, eta=0.5)


@pytest.mark.parametrize("ts", [[500.0, 500.0, 0.0], [0.0, 500.0], [1200.0, 0.0], []])
def test_bad_timesteps(oracle, ts):
    with pytest.raises(ValueError, match="timestep"):
        REGISTRY["euler"](oracle, _x_T(4), torch.tensor(ts, dtype=torch.float64))


@pytest.mark.parametrize("steps", [0, 1001])
def test_steps_out_of_range(oracle, steps):
    with pytest.raises(ValueError, match="steps must be between 1 and T=1000"):
        sample(oracle, "ddim", steps, n=4, seed=0)


@pytest.mark.parametrize("name", OURS)
def test_nan_network_raises(name):
    model = DiffusionModel(lambda x, t: torch.full_like(x, float("nan")), linear_schedule())
    with pytest.raises(NonFiniteError, match="NaN"):
        sample(model, name, 4, n=4, seed=0)


def test_sample_from_x_T_needs_neither_n_nor_seed(oracle):
    x_T = torch.randn(16, 2, generator=torch.Generator().manual_seed(3))
    a = sample(oracle, "dpm-solver++2m", 6, x_T=x_T)
    b = sample(oracle, "dpm-solver++2m", 6, x_T=x_T, n=16, seed=5)  # deterministic: same
    assert a.x.shape == (16, 2)
    assert torch.equal(a.x, b.x)
    c = sample(oracle, "ddpm", 6, x_T=x_T)  # stochastic: noise from the default seed 0
    assert torch.equal(c.x, sample(oracle, "ddpm", 6, x_T=x_T, seed=0).x)
    assert not torch.equal(c.x, sample(oracle, "ddpm", 6, x_T=x_T, seed=1).x)
    with pytest.raises(ValueError, match="give n"):
        sample(oracle, "ddim", 6)
    with pytest.raises(ValueError, match="n=8 does not match x_T's batch of 16"):
        sample(oracle, "ddim", 6, x_T=x_T, n=8)


def test_sample_uses_the_model_timesteps(oracle):
    from diffusion.grids import model_timesteps

    for spacing in (None, "leading"):
        traj = sample(oracle, "ddim", 7, n=4, spacing=spacing)
        assert torch.equal(traj.timesteps, model_timesteps(oracle, 7, spacing)[0])


def test_fixed_orders_are_registry_entries_over_one_function(oracle):
    x_T = torch.randn(8, 2, generator=torch.Generator().manual_seed(0))
    ts = make_timesteps(oracle.schedule, 5, "logsnr")
    assert REGISTRY["dpm-solver-2"].fn is REGISTRY["dpm-solver-3"].fn
    assert REGISTRY["dpm-solver++2m"].fn is REGISTRY["dpm-solver++3m"].fn
    for name, k in (("dpm-solver-2", 2), ("dpm-solver++3m", 3)):
        traj = REGISTRY[name](oracle, x_T, ts)
        assert traj.info["order"] == k
        assert traj.nfe == REGISTRY[name].nfe(5)
        with pytest.raises(ValueError, match=re.escape(f"sampler {name} has no option 'order'")):
            REGISTRY[name](oracle, x_T, ts, order=1)  # the registry's order is bound


def test_run_x0_in_the_output_buffer_equals_predict():
    """DDPM takes x0-hat through Run.x0 (the network output's buffer reused): it must be
    the x0-hat of model.predict to the bit, so DDPM and the other samplers agree."""
    from diffusion.checkpoints import load_model
    from diffusion.grids import make_timesteps
    from diffusion.samplers.base import Run

    model = load_model("swissroll")
    x = torch.randn(300, 2, generator=torch.Generator().manual_seed(0))
    run = Run("check", model, x, make_timesteps(model.schedule, 6, "logsnr"), False, None)
    with torch.no_grad():
        for i in range(6):
            assert torch.equal(run.x0(x, i), run.predict(x, i).x0), i
    assert run.nfe == 12
