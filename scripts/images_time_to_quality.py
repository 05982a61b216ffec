"""Time to quality on a GPU: the offline digits teacher trained with its shipped
recipe (6,000 steps, batch 256, lr 1e-3, EMA 0.999, fp32), eager and compiled, wall
time (compilation included) and the FD-1000 of DDIM-50 samples from the same starting
noise, against the shipped teacher's FD measured in the same run.

Usage: python scripts/images_time_to_quality.py --out ttq.json [--steps 6000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diffusion.images.digits import digits_metrics, teacher_config
from diffusion.images.store import load_image_model
from diffusion.images.train import train_images
from diffusion.samplers import sample


def fd1000(model, x_T) -> float:
    with torch.no_grad():
        x = sample(model, "ddim", 50, n=len(x_T), seed=0, x_T=x_T, spacing="trailing").x
    return float(digits_metrics(x.cpu())["fd"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--modes", default="compiled,eager")
    args = p.parse_args()
    x_T = torch.randn((1000, 1, 16, 16), generator=torch.Generator().manual_seed(0)).cuda()
    shipped = load_image_model("digits")
    shipped.net.cuda()
    res = {"steps": args.steps, "shipped_teacher_fd1000_ddim50": fd1000(shipped, x_T)}
    print(json.dumps(res), flush=True)
    for mode in args.modes.split(","):
        with tempfile.TemporaryDirectory() as d:
            cfg = teacher_config(d, args.steps, compile=mode == "compiled")
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            summary = train_images(cfg, resume=False)
            torch.cuda.synchronize()
            wall = time.perf_counter() - t0
            model = load_image_model(str(Path(d) / "model"))
            model.net.cuda()
            res[mode] = {
                "wall_seconds": wall,
                "compile_seconds": summary["compile_seconds"],
                "steady_images_per_s": summary["images_per_s"],
                "capture_error": summary["capture_error"],
                "fd1000_ddim50": fd1000(model, x_T),
            }
        print(mode, json.dumps(res[mode]), flush=True)
        Path(args.out).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
