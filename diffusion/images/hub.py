"""Pretrained diffusers UNets as teachers (optional ``diffusers`` extra).

``load_diffusers_model("google/ddpm-cifar10-32")`` (a hub id, downloaded by
diffusers, or a local folder saved with ``save_pretrained``) wraps the
``UNet2DModel`` with the schedule of its scheduler config, so every sampler,
progressive distillation and consistency distillation of the package run on the
model behind the chapter's CIFAR-10 tables. Only safetensors weights are accepted.

The wrapper calls the network as it was trained: ``unet(x, t).sample`` with
t the float timestep in [0, T-1] (the package's convention is diffusers' index),
so no weight conversion is needed and no numerical difference is introduced.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import Tensor, nn

from ..model import DiffusionModel
from ..schedules import VPSchedule, cosine_schedule, linear_schedule

__all__ = ["DiffusersUNet", "load_diffusers_model", "schedule_from_diffusers"]

_PREDICTIONS = {"epsilon": "eps", "v_prediction": "v", "sample": "x0"}


class DiffusersUNet(nn.Module):
    """net(x: (B, C, H, W), t: (B,)) -> (B, C, H, W) around a diffusers UNet2DModel."""

    def __init__(self, unet: nn.Module) -> None:
        super().__init__()
        self.unet = unet

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        return self.unet(x, t.to(x.dtype)).sample


def schedule_from_diffusers(config: dict) -> VPSchedule:
    """The VP schedule of a diffusers scheduler config (DDPM/DDIM schedulers)."""
    T = int(config.get("num_train_timesteps", 1000))
    kind = config.get("beta_schedule", "linear")
    if config.get("trained_betas") is not None:
        return VPSchedule(config["trained_betas"], name="trained")
    if kind == "linear":
        return linear_schedule(T, config.get("beta_start", 1e-4), config.get("beta_end", 0.02))
    if kind == "squaredcos_cap_v2":
        return cosine_schedule(T)
    raise ValueError(
        f"unsupported diffusers beta_schedule {kind!r}; choose linear or squaredcos_cap_v2"
    )


def load_diffusers_model(
    name_or_path: str | os.PathLike, *, device: str | torch.device = "cpu"
) -> DiffusionModel:
    """A diffusers UNet2DModel (hub id or local folder) as a DiffusionModel.

    Needs the optional dependency: ``pip install diffusers``. The scheduler config
    (``scheduler/scheduler_config.json`` or ``scheduler_config.json``) gives the
    schedule and prediction type; without one, DDPM's linear schedule and eps.
    """
    try:
        from diffusers import UNet2DModel
    except ImportError as e:  # a ValueError, so the CLI prints it as one line
        raise ValueError(
            "loading a diffusers model needs the optional dependency: pip install diffusers"
        ) from e
    path = Path(name_or_path)
    local = path.is_dir()
    sub = "unet" if local and (path / "unet").is_dir() else None
    try:
        # use_safetensors=True (not None): diffusers then never falls back to a pickled
        # .bin file, for a hub id as for a local folder.
        unet = UNet2DModel.from_pretrained(str(name_or_path), subfolder=sub, use_safetensors=True)
    except OSError as err:
        first = " ".join(str(err).split())[:160]
        raise ValueError(
            f"diffusers model {str(name_or_path)[:80]!r}: no safetensors weights could be "
            f"loaded; only safetensors are accepted, pickled .bin weights are never loaded "
            f"({first})"
        ) from None
    sched_cfg: dict = {}
    if local:
        for cand in (path / "scheduler" / "scheduler_config.json", path / "scheduler_config.json"):
            if cand.exists():
                sched_cfg = json.loads(cand.read_text())
                break
    else:
        from diffusers import DDPMScheduler

        for subfolder in (None, "scheduler"):  # at the root (ddpm-cifar10-32) or in scheduler/
            try:
                cfg = DDPMScheduler.from_pretrained(str(name_or_path), subfolder=subfolder).config
                sched_cfg = dict(cfg)
                break
            except (OSError, ValueError):
                continue
    prediction = _PREDICTIONS.get(sched_cfg.get("prediction_type", "epsilon"))
    if prediction is None:
        raise ValueError(f"unsupported prediction_type {sched_cfg.get('prediction_type')!r}")
    net = DiffusersUNet(unet).to(device).eval().requires_grad_(False)
    c, size = unet.config.in_channels, unet.config.sample_size
    size = size if isinstance(size, int) else size[0]
    config = {
        "kind": "diffusion",
        "source": "diffusers",
        "model": str(name_or_path),
        "prediction": prediction,
        "sample_shape": [c, size, size],
    }
    return DiffusionModel(
        net,
        schedule_from_diffusers(sched_cfg),
        prediction,
        name=str(name_or_path),
        sample_shape=(c, size, size),
        config=config,
    )
