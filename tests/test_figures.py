"""The teaching diagrams draw the samplers' own steps: their points come from the
registered samplers, so a figure cannot drift from what the samplers do."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from diffusion import figures
from diffusion.grids import make_timesteps
from diffusion.oracle import oracle_model
from diffusion.samplers import REGISTRY
from diffusion.schedules import linear_schedule
from diffusion.toy.datasets import gaussian_mixture


@pytest.fixture(scope="module")
def oracle():
    return oracle_model(gaussian_mixture("8gaussians"), linear_schedule())


def _spy(monkeypatch, name: str) -> list:
    """Wrap the registered sampler ``name`` so its calls are recorded: (grid, result)."""
    calls: list = []
    spec = REGISTRY[name]

    def fn(model, x_T, timesteps, **kw):
        out = spec.fn(model, x_T, timesteps, **kw)
        calls.append((timesteps.tolist(), out))
        return out

    monkeypatch.setitem(REGISTRY, name, dataclasses.replace(spec, fn=fn))
    return calls


def test_heun_points_are_the_first_step_of_the_registered_samplers(oracle, monkeypatch):
    x = torch.randn(16, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ts = make_timesteps(oracle.schedule, 4, "logsnr")
    t0, t1 = float(ts[0]), float(ts[1])
    heun_calls, euler_calls = _spy(monkeypatch, "heun"), _spy(monkeypatch, "euler")
    x_euler, x_heun = figures.heun_points(oracle, x, t0, t1)
    assert [g for g, _ in heun_calls] == [[t0, t1]]
    assert [g for g, _ in euler_calls] == [[t0, t1]]
    assert torch.equal(x_heun, heun_calls[0][1].xs[1])
    assert torch.equal(x_euler, euler_calls[0][1].xs[1])
    # the same step as the first of a longer run: the corrector moves the predictor
    torch.testing.assert_close(x_heun, REGISTRY["heun"](oracle, x, ts).xs[1])
    torch.testing.assert_close(x_euler, REGISTRY["ddim"](oracle, x, ts).xs[1])  # Euler = DDIM
    assert float((x_heun - x_euler).abs().max()) > 1e-4


def test_ddim_step_is_the_first_step_of_the_registered_ddim(oracle, monkeypatch):
    x = torch.randn(16, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ts = make_timesteps(oracle.schedule, 3, "trailing")
    calls = _spy(monkeypatch, "ddim")
    step = figures.ddim_step(oracle, x, float(ts[0]), float(ts[1]))
    end = figures.ddim_step(oracle, x, float(ts[2]), -1.0)  # to the clean endpoint
    assert [g for g, _ in calls] == [ts[:2].tolist(), [float(ts[2])]]
    assert torch.equal(step, calls[0][1].xs[1])
    assert torch.equal(end, calls[1][1].x)
    run = REGISTRY["ddim"](oracle, x, ts)
    torch.testing.assert_close(step, run.xs[1])
    torch.testing.assert_close(figures.ddim_step(oracle, run.xs[2], float(ts[2]), -1.0), run.x)


def test_quality_curves_label_log_axes_at_1_2_5_and_linear_axes_plainly():
    from diffusion.figures import quality_curves

    fig = quality_curves({"ddim": ([2, 10, 50], [1.5, 0.2, 0.06])}, metric="W2")
    for axis in (fig.layout.xaxis, fig.layout.yaxis):
        assert (axis.type, axis.dtick) == ("log", "D2")
    lin = quality_curves({"ddim": ([2, 10], [1.0, 0.5])}, metric="W2", log_x=False, log_y=False)
    assert lin.layout.xaxis.dtick is None
    assert lin.layout.yaxis.type != "log"
