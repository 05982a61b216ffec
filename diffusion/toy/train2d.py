"""DDPM training of the 2-D MLP denoiser on a toy dataset (Ho et al. 2020, Alg. 1).

A thin recipe over the shared loop ``diffusion.training.train`` with ``DDPMLoss``:
fresh data every batch (no fixed training set to overfit), Adam, EMA weights.
The defaults were tuned so a swiss-roll model reaches a sliced W2 close to the
data-vs-data floor in a few thousand steps on a laptop CPU (see docs/toy.md).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..model import DiffusionModel
from ..nets import build_net
from ..schedules import get_schedule
from ..training import DDPMLoss, TrainResult, train
from .datasets import check_dataset, draw

__all__ = ["DEFAULT_HPARAMS", "toy_config", "train_toy"]

DEFAULT_HPARAMS: dict = {
    "width": 64,
    "depth": 4,
    "emb_dim": 32,
    "batch_size": 1024,
    "lr": 3e-3,
    "ema_decay": 0.995,
    "grad_clip": 1.0,
    "schedule": "linear",
    "T": 1000,
    "prediction": "eps",
}


def toy_config(
    dataset: str, hparams: dict, result: TrainResult | None = None, seed: int = 0
) -> dict:
    """The checkpoint config of a 2-D diffusion model trained by ``train_toy``."""
    cfg = {
        "kind": "diffusion",
        "dataset": dataset,
        "net": {
            "type": "mlp",
            "dim": 2,
            "width": hparams["width"],
            "depth": hparams["depth"],
            "emb_dim": hparams["emb_dim"],
        },
        "schedule": {"name": hparams["schedule"], "T": hparams["T"]},
        "prediction": hparams["prediction"],
        "sample_shape": [2],
        "training": {k: hparams[k] for k in ("batch_size", "lr", "ema_decay", "grad_clip")},
    }
    cfg["training"]["seed"] = seed
    if result is not None:
        cfg["training"].update(
            steps=result.steps,
            seconds=round(result.seconds, 2),
            final_loss=round(sum(result.losses[-100:]) / max(1, len(result.losses[-100:])), 5),
        )
    return cfg


def train_toy(
    dataset: str,
    *,
    steps: int,
    seed: int = 0,
    callback: Callable[[int, float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    max_seconds: float | None = None,
    **hparams,
) -> tuple[DiffusionModel, TrainResult]:
    """Train an eps-prediction MLP on ``dataset`` with the DDPM loss.

    hparams override DEFAULT_HPARAMS (width, depth, emb_dim, batch_size, lr,
    ema_decay, grad_clip, schedule, T, prediction). Returns the EMA network wrapped
    in a DiffusionModel (with ``sample_shape`` (2,) and ``config`` for
    ``checkpoints.save_checkpoint``) and the loop's TrainResult. The same seed gives
    the same initial weights, batches and noise, hence the same model.
    """
    check_dataset(dataset)
    unknown = set(hparams) - set(DEFAULT_HPARAMS)
    if unknown:
        raise ValueError(
            f"unknown training option(s) {', '.join(sorted(unknown))}; "
            f"choose from {', '.join(DEFAULT_HPARAMS)}"
        )
    hp = {**DEFAULT_HPARAMS, **hparams}
    schedule = get_schedule(hp["schedule"], hp["T"])
    # nn.Linear's init draws from the global generator: seed it without leaking.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = build_net(toy_config(dataset, hp)["net"])
    result = train(
        net,
        DDPMLoss(schedule, hp["prediction"]),
        lambda n, g: draw(dataset, n, g),
        steps=steps,
        batch_size=hp["batch_size"],
        lr=hp["lr"],
        ema_decay=hp["ema_decay"],
        seed=seed,
        grad_clip=hp["grad_clip"],
        max_seconds=max_seconds,
        callback=callback,
        should_stop=should_stop,
    )
    result.net.eval().requires_grad_(False)
    model = DiffusionModel(
        result.net,
        schedule,
        prediction=hp["prediction"],
        name=dataset,
        sample_shape=(2,),
        config=toy_config(dataset, hp, result, seed),
    )
    return model, result
