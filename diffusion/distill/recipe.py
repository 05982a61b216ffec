"""The training recipe of the shipped 2-D few-step models (scripts/train_fewstep_assets.py)
and of the few-step benchmark. Budgets are optimiser steps; see docs/fewstep.md."""

TOY_RECIPE: dict = {
    "pd": {
        "start_steps": 1024,
        "steps_per_round": 600,
        "first_round_steps": 1500,
        "batch_size": 512,
        "lr": 1e-3,
        "ema_decay": 0.0,
    },
    "cd": {
        "steps": 3000,
        "N": 18,
        "solver": "heun",
        "distance": "l2",
        "mu": 0.95,
        "batch_size": 512,
        "lr": 1e-3,
        "ema_decay": 0.99,
    },
    # iCT: plain CT (improved=False) stays near the data mean at one step within this budget
    "ct": {"steps": 4000, "batch_size": 512, "lr": 1e-3, "ema_decay": 0.995, "improved": True},
}
