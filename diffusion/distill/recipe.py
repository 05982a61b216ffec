"""The training recipe of the shipped 2-D few-step models (scripts/train_fewstep_assets.py)
and of the few-step benchmark. Budgets are optimiser steps; see docs/fewstep.md."""

TOY_RECIPE: dict = {
    "pd": {
        "start_steps": 1024,
        "steps_per_round": 800,
        "first_round_steps": 2000,
        "batch_size": 512,
        "lr": 1e-3,
        "ema_decay": 0.995,
    },
    "cd": {
        "steps": 4000,
        "N": 40,
        "solver": "heun",
        "distance": "l2",
        "mu": 0.95,
        "batch_size": 512,
        "lr": 1e-3,
        "ema_decay": 0.995,
    },
    "ct": {"steps": 5000, "batch_size": 512, "lr": 1e-3, "ema_decay": 0.995, "improved": True},
}
