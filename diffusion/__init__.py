"""Accelerated sampling of diffusion models: schedules, samplers, few-step methods,
metrics and the 2-D and image worlds that the teaching app is built on.

In a notebook::

    import diffusion
    model = diffusion.load_model("oracle:8gaussians")      # or "swissroll", a path, ...
    traj = diffusion.sample(model, "dpm-solver++2m", steps=10, n=2000, seed=0)
    traj = diffusion.sample(model, "ddim", steps=10, x_T=x_T)  # from given noise
    traj.x, traj.xs, traj.x0_preds, traj.timesteps, traj.nfe

The names below are imported on first use, so ``import diffusion`` stays quick
and a part of the package that is not needed is never loaded.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    # schedules and grids
    "VPSchedule": "schedules",
    "get_schedule": "schedules",
    "linear_schedule": "schedules",
    "cosine_schedule": "schedules",
    "make_timesteps": "grids",
    "make_ddim_timesteps": "grids",
    "model_timesteps": "grids",
    "SPACINGS": "grids",
    "DEFAULT_SPACING": "grids",
    # models
    "DiffusionModel": "model",
    "Prediction": "model",
    "NonFiniteError": "model",
    "GaussianMixture": "oracle",
    "oracle_model": "oracle",
    "oracle_for_dataset": "oracle",
    # samplers
    "sample": "samplers",
    "REGISTRY": "samplers",
    "Trajectory": "samplers",
    "get_sampler": "samplers",
    "reference_solve": "reference",
    "reference_trajectory": "reference",
    # training and checkpoints
    "train": "training",
    "DDPMLoss": "training",
    "DivergedError": "training",
    "load_model": "checkpoints",
    "list_models": "checkpoints",
    "save_checkpoint": "checkpoints",
    "load_checkpoint": "checkpoints",
    # 2-D world and metrics
    "sample_dataset": "toy.datasets",
    "DATASETS": "toy.datasets",
    "train_toy": "toy.train2d",
    "evaluate_2d": "metrics",
    "sweep": "sweep",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'diffusion' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
