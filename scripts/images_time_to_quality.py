"""Time to quality on a GPU: the offline digits teacher's recipe (batch 256, lr 1e-3,
warm-up 200, EMA 0.999, fp32; ``teacher_config``; seed 0 as shipped, or ``--seed``)
trained, eager and compiled, until its EMA network's FD-1000 at DDIM 50 reaches the
shipped teacher's, measured in the same run from the same 1,000 starting noises. Steps to
the target vary with the seed and the GPU's non-determinism, so compare paths over
several seeds; ``python -m diffusion.bench.images --add-ttq RUN FILE...`` records the
outputs in assets/images/bench_gpu.json.

Every ``--eval-every`` steps from ``--eval-start`` on (and at the ``--max-steps`` cap)
the run is stopped by the device, its EMA network sampled (DDIM 50, trailing, fp32,
eager) and scored; the first step whose FD is at or below the target ends the run, and
so does the first evaluation after ``--time-cap`` seconds of training. The JSON is
rewritten after every evaluation, so a run cut off by the caller still leaves its data.
Reported per mode: the training seconds to that step (compilation included, the
evaluations left out), the seconds spent evaluating, the FD at every evaluation, and
the FD of the saved model (the same weights; a check). The shipped teacher is also
scored from a second set of noises, which shows how much the FD-1000 itself moves.

When the compiled run misses the target where the eager one reached it, ``--diagnose``
trains once more in mode "graph" (one CUDA graph of the eager kernels, no Inductor),
which separates the kernels from the capture.

Usage: python scripts/images_time_to_quality.py --out ttq.json [--modes compiled,eager]
       [--seed 0] [--time-cap SECONDS]
"""

from __future__ import annotations

import argparse
import copy
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


def noise(seed: int, n: int, device: str) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn((n, 1, 16, 16), generator=g).to(device)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def fd1000(model, x_T) -> float:
    with torch.no_grad():
        x = sample(model, "ddim", 50, n=len(x_T), seed=0, x_T=x_T, spacing="trailing").x
    return float(digits_metrics(x.cpu())["fd"])


def train_to_quality(mode: str, args, target: float, like, x_T, save) -> dict:
    """One run of the recipe until FD <= target, the step cap or the time cap; ``save``
    receives the evaluations so far after each one."""
    evals: list[dict] = []
    t_start = 0.0

    def evaluate(step: int, ema) -> bool:
        if step < args.eval_start and step < args.max_steps:
            return False
        t_in = time.perf_counter()
        model = copy.copy(like)  # the shipped model's schedule and prediction
        model.net = copy.deepcopy(ema).to(memory_format=torch.contiguous_format).eval()
        fd = fd1000(model, x_T)
        before = sum(e["eval_seconds"] for e in evals)
        evals.append(
            {
                "step": step,
                "fd1000_ddim50": round(fd, 2),
                "train_seconds": round(t_in - t_start - before, 2),
                "eval_seconds": round(time.perf_counter() - t_in, 2),
            }
        )
        print(mode, json.dumps(evals[-1]), flush=True)
        save({"running": True, "evals": evals})
        return fd <= target or evals[-1]["train_seconds"] >= args.time_cap

    with tempfile.TemporaryDirectory() as d:
        cfg = teacher_config(d, args.max_steps, compile=mode != "eager", seed=args.seed)
        if mode not in ("eager", "compiled"):
            cfg.compile_mode = mode
        sync(args.device)
        t_start = time.perf_counter()
        summary = train_images(cfg, resume=False, evaluate=evaluate, eval_every=args.eval_every)
        sync(args.device)
        wall = time.perf_counter() - t_start
        saved = load_image_model(str(Path(d) / "model"))
        saved.net.to(args.device)
        fd_saved = fd1000(saved, x_T)
    last = evals[-1]
    reached = last["fd1000_ddim50"] <= target
    capped = last["train_seconds"] >= args.time_cap
    return {
        "reached": reached,
        "stopped_by": "target" if reached else "time cap" if capped else "step cap",
        "steps": summary["steps"],
        "train_seconds_to_quality": last["train_seconds"] if reached else None,
        "eval_seconds": round(sum(e["eval_seconds"] for e in evals), 2),
        "wall_seconds": round(wall, 2),
        "compile_seconds": round(summary["compile_seconds"], 2),
        "steady_images_per_s": round(summary["images_per_s"]),
        "capture_error": summary["capture_error"],
        "fd1000_ddim50_saved_model": round(fd_saved, 2),
        "evals": evals,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--modes", default="compiled,eager")
    p.add_argument("--eval-start", type=int, default=3000)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--max-steps", type=int, default=10000)
    p.add_argument("--time-cap", type=float, default=float("inf"), help="training s per mode")
    p.add_argument("--diagnose", action="store_true", help="see the module docstring")
    p.add_argument("--seed", type=int, default=0, help="the recipe's seed (shipped: 0)")
    p.add_argument("--device", default="cuda", help="cpu: a smoke run of the script only")
    p.add_argument("--n", type=int, default=1000, help="samples per FD (1000: FD-1000)")
    args = p.parse_args()
    x_T = noise(0, args.n, args.device)
    shipped = load_image_model("digits")
    shipped.net.to(args.device)
    target = fd1000(shipped, x_T)
    res = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "device": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu",
        "torch": torch.__version__,
        "seed": args.seed,
        "recipe": "digits teacher_config: batch 256, lr 1e-3, warmup 200, EMA 0.999, fp32, "
        f"seed {args.seed}",
        "eval": f"FD-{args.n}, DDIM 50 trailing, fp32, every {args.eval_every} steps from "
        f"{args.eval_start}, cap {args.max_steps} steps or {args.time_cap:g} s of training",
        "shipped_teacher_fd1000_ddim50": round(target, 2),
        "shipped_teacher_fd1000_ddim50_other_noise": round(
            fd1000(shipped, noise(1, args.n, args.device)), 2
        ),
    }
    print(json.dumps(res), flush=True)
    modes = args.modes.split(",")

    def saver(mode: str):
        def save(partial: dict) -> None:
            res[mode] = partial
            Path(args.out).write_text(json.dumps(res, indent=2))

        return save

    for mode in modes:
        res[mode] = train_to_quality(mode, args, target, shipped, x_T, saver(mode))
        summary = {k: v for k, v in res[mode].items() if k != "evals"}
        print(mode, json.dumps(summary), flush=True)
        Path(args.out).write_text(json.dumps(res, indent=2))
    if (
        args.diagnose
        and {"eager", "compiled"} <= set(modes)
        and res["eager"]["reached"]
        and not res["compiled"]["reached"]
    ):
        res["graph"] = train_to_quality("graph", args, target, shipped, x_T, saver("graph"))
        print("graph", json.dumps(res["graph"]), flush=True)
        Path(args.out).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
