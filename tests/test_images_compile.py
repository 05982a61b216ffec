"""Compiled training and graph-captured sampling (diffusion.images.compile).

On a CPU: the ``--compile`` flag resolves to off, the loop is the eager one and the
wrapped denoiser is the network itself. On CUDA (the device runs only; CI has no GPU
and these tests then say so in their skip reason): every sampler of the registry on
the graphed denoiser agrees with the eager network under bf16 autocast, and compiled
training follows the eager loss curve and resumes exactly.
"""

from __future__ import annotations

import pytest
import torch

from diffusion.grids import make_timesteps
from diffusion.images.compile import (
    DEFAULT_MODE,
    GraphedDenoiser,
    compile_denoiser,
    resolve_compile,
)
from diffusion.images.train import TrainConfig, add_arguments, synthetic_images, train_images
from diffusion.images.unet import UNet
from diffusion.model import DiffusionModel
from diffusion.samplers import REGISTRY, get_sampler
from diffusion.schedules import linear_schedule

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(
    not CUDA, reason="needs a CUDA device: compiled paths run only on GPUs (CI has none)"
)
TINY = {
    "image_size": 16,
    "in_channels": 3,
    "base_channels": 32,
    "channel_mult": [1, 2],
    "num_res_blocks": 1,
    "attn_resolutions": [8],
    "groups": 8,
    "dropout": 0.0,
}
# Relative L2 distance of the final samples, graphed (compiled kernels, bf16) against
# the eager network under bf16 autocast: both round activations to bf16 (relative
# 2^-8 = 3.9e-3 per op); over 10 steps of a random network the two stay within this.
SAMPLE_RTOL = 3e-2


def _random_unet(device: str) -> UNet:
    """A UNet with every weight random (the zero-initialised output layers would make
    eps = 0 and any comparison trivial)."""
    torch.manual_seed(0)
    net = UNet(**TINY)
    with torch.no_grad():
        for p in net.parameters():
            if p.ndim > 1:
                p.normal_(0, (2.0 / p[0].numel()) ** 0.5)
    return net.to(device).eval().requires_grad_(False)


def _cfg(out, steps: int, **kw) -> TrainConfig:
    base = dict(
        out=str(out),
        data="synthetic",
        steps=steps,
        batch_size=32,
        lr=1e-3,
        warmup=2,
        ema_decay=0.9,
        log_every=1,
        ckpt_every=100,
        unet={**TINY, "dropout": 0.1},
        seed=3,
    )
    base.update(kw)
    return TrainConfig(**base)


# ----- CPU: off by default, nothing changes ---------------------------------------------


def test_flag_resolves_off_on_cpu_and_on_for_cuda():
    assert resolve_compile(None, "cpu") is False
    assert resolve_compile(None, "cuda") is True
    assert resolve_compile(False, "cuda") is False
    with pytest.raises(ValueError, match="--compile needs a CUDA device"):
        resolve_compile(True, "cpu")


def test_cli_flag_defaults_to_auto():
    import argparse

    p = argparse.ArgumentParser()
    add_arguments(p)
    assert p.parse_args(["--out", "x"]).compile is None
    assert p.parse_args(["--out", "x", "--no-compile"]).compile is False
    args = p.parse_args(["--out", "x", "--compile", "--compile-mode", "graph"])
    assert args.compile is True
    assert args.compile_mode == "graph"
    with pytest.raises(ValueError, match="unknown compile mode"):
        TrainConfig(out="x", compile_mode="fastest").check()


@pytest.mark.skipif(CUDA, reason="checks the CPU default; this machine has CUDA")
def test_cpu_training_is_the_eager_loop(tmp_path):
    data = synthetic_images(64, size=16)
    auto = train_images(_cfg(tmp_path / "a", 3), data=data)
    off = train_images(_cfg(tmp_path / "b", 3, compile=False), data=data)
    assert auto["compiled"] is False
    assert auto["compile_seconds"] == 0.0
    assert auto["losses"] == off["losses"]


def test_graphed_denoiser_on_cpu_is_the_network():
    net = _random_unet("cpu")
    g = GraphedDenoiser(net)
    x = torch.randn(4, 3, 16, 16)
    t = torch.tensor([10.0, 200.0, 500.0, 900.0])
    with torch.no_grad():
        assert torch.equal(g(x, t), net(x, t))
    assert [p.data_ptr() for p in g.parameters()] == [p.data_ptr() for p in net.parameters()]


# ----- CUDA: agreement with the eager path ------------------------------------------------


@needs_cuda
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_sampler_matches_eager_within_bf16(name):
    model = DiffusionModel(_random_unet("cuda"), linear_schedule(), "eps")
    fast = _graphed(model)
    x_T = torch.randn(64, 3, 16, 16, generator=torch.Generator().manual_seed(1)).cuda()
    ts = make_timesteps(model.schedule, 10, "trailing")
    spec = get_sampler(name)
    with torch.no_grad():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            ref = spec(model, x_T, ts, generator=torch.Generator().manual_seed(2)).x.float()
        got = spec(fast, x_T, ts, generator=torch.Generator().manual_seed(2)).x.float()
    assert torch.isfinite(got).all()
    rel = float((got - ref).norm() / ref.norm())
    print(f"{name}: relative L2 difference graphed vs eager bf16 = {rel:.2e}")
    assert rel < SAMPLE_RTOL, f"{name}: {rel:.2e}"
    assert len(fast.net._graphs) == 1  # one capture served every step


_GRAPHED: dict = {}


def _graphed(model):
    """One graphed copy per test session's model weights (compiling once)."""
    key = "tiny"
    if key not in _GRAPHED:
        _GRAPHED[key] = compile_denoiser(model, DEFAULT_MODE)
    fast = _GRAPHED[key]
    fast.net.net.load_state_dict(model.net.state_dict())
    return fast


@needs_cuda
def test_compiled_training_follows_eager_and_resumes_exactly(tmp_path):
    data = synthetic_images(256, size=16)
    eager = train_images(_cfg(tmp_path / "e", 6, compile=False), data=data)
    full = train_images(_cfg(tmp_path / "c", 6, compile=True), data=data)
    assert full["compiled"], full["capture_error"]
    assert full["capture_error"] is None, full["capture_error"]
    assert full["compile_seconds"] > 0
    # same batches and initial weights; bf16 kernels and dropout streams differ
    for a, b in zip(full["losses"], eager["losses"], strict=True):
        assert abs(a - b) / b < 0.1, (full["losses"], eager["losses"])
    # resume: weights, Adam's moments (in the parameters' channels_last layout) and the
    # data stream continue where the checkpoint stopped (no dropout: its stream is the
    # one part a resumed graph may draw differently)
    plain = {"unet": {**TINY, "dropout": 0.0}, "compile": True}
    whole = train_images(_cfg(tmp_path / "w", 6, **plain), data=data)
    train_images(_cfg(tmp_path / "s", 3, **plain), data=data)
    second = train_images(_cfg(tmp_path / "s", 6, **plain), data=data)
    assert second["steps"] == 6
    assert second["capture_error"] is None
    torch.testing.assert_close(
        torch.tensor(second["losses"]), torch.tensor(whole["losses"]), rtol=2e-3, atol=0
    )
