"""Reproduce the shipped 2-D checkpoints in assets/models/ and their manifest.

    python scripts/train_assets.py                 # all six datasets
    python scripts/train_assets.py --datasets moons rings

Each model is the DDPM recipe of diffusion.toy.train2d with a longer budget and a
slower EMA than the quick default, seed 0. Its quality (sliced W2 and MMD of 10,000
DDIM-100 samples against fresh data, next to the data-vs-data floor) is recorded
in the checkpoint's config and in the manifest's description. Float round-off
differs between machines and thread counts, so a retrained file matches the
shipped one in quality, not necessarily bit for bit.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from diffusion.checkpoints import add_to_manifest, save_checkpoint
from diffusion.distill.evaluation import quality_block
from diffusion.toy.datasets import DESCRIPTIONS
from diffusion.toy.train2d import train_toy

SHIPPED = ("swissroll", "moons", "8gaussians", "checkerboard", "rings", "gmm")
RECIPE = {"width": 64, "depth": 4, "batch_size": 1024, "lr": 3e-3, "ema_decay": 0.998}
STEPS = 6000
EVAL_POINTS = 10_000


def train_one(dataset: str, out: Path, steps: int, seed: int) -> dict:
    start = time.perf_counter()
    model, _result = train_toy(dataset, steps=steps, seed=seed, **RECIPE)
    seconds = time.perf_counter() - start
    m = quality_block(model, "ddim", 100, n=EVAL_POINTS, seed=seed, spacing="trailing")
    config = dict(model.config, quality=m)
    stem = out / dataset
    save_checkpoint(stem, model.net, config)
    ratio = m["sliced_w2"] / m["floor_sliced_w2"]
    add_to_manifest(
        out / "manifest.json",
        dataset,
        stem,
        description=f"DDPM MLP on {DESCRIPTIONS[dataset]}; {steps} steps; "
        f"sliced W2 {m['sliced_w2']:.4f} (floor {m['floor_sliced_w2']:.4f})",
        dataset=dataset,
        kind="diffusion",
    )
    print(
        f"{dataset}: {seconds:.1f} s, loss {config['training']['final_loss']:.4f}, "
        f"sliced W2 {m['sliced_w2']:.4f} = {ratio:.2f} x floor, mmd {m['mmd']:.5f} "
        f"(floor {m['floor_mmd']:.5f})",
        file=sys.stderr,
        flush=True,
    )
    return m


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(SHIPPED), choices=SHIPPED)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1 avoids contention)"
    )
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent.parent / "assets" / "models"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    for dataset in args.datasets:
        train_one(dataset, args.out, args.steps, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
