"""Train and ship the offline image track: the digits feature classifier, the tiny
UNet teacher, its progressive-distillation students and a consistency-distilled model.

Writes into assets/images/ (or --out) and lists every diffusion model in the image
manifest. Runs on a CPU in minutes with small budgets; the shipped weights were made
with the default budgets below (see docs/images.md for where and how long).

Usage: python scripts/images_train_offline.py [--device cuda] [--teacher-steps 8000]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from diffusion.distill import consistency_distillation, progressive_distillation
from diffusion.images.digits import (
    CLASSIFIER_STEM,
    digits_metrics,
    load_classifier,
    load_digits,
    save_classifier,
    teacher_config,
    train_classifier,
)
from diffusion.images.store import ASSETS, load_image_model, save_image_model
from diffusion.images.store import register_shipped as _register
from diffusion.images.train import train_images
from diffusion.io import write_json
from diffusion.samplers import sample


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--out", default=str(ASSETS))
    p.add_argument("--classifier-steps", type=int, default=1500)
    p.add_argument("--teacher-steps", type=int, default=8000)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--pd-start", type=int, default=64)
    p.add_argument("--pd-steps", type=int, default=1500, help="optimiser steps per PD round")
    p.add_argument("--cd-steps", type=int, default=4000)
    p.add_argument("--skip-classifier", action="store_true")
    p.add_argument("--eval-n", type=int, default=1000, help="samples for the teacher's FD")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    dev = torch.device(args.device)

    def register_shipped(name, stem, **meta):
        _register(name, stem, manifest=out / "manifest.json", **meta)

    report: dict = {"device": str(dev)}

    if not args.skip_classifier:
        t0 = time.perf_counter()
        clf, acc = train_classifier(steps=args.classifier_steps)
        save_classifier(
            clf,
            out / CLASSIFIER_STEM.name,
            holdout_accuracy=acc,
            steps=args.classifier_steps,
            features=64,
            description="feature CNN for FD/KID on the digits track",
        )
        load_classifier.cache_clear()
        report["classifier"] = {"holdout_accuracy": acc, "seconds": time.perf_counter() - t0}
        print("classifier", report["classifier"], flush=True)

    run = out / "runs" / "teacher"
    cfg = teacher_config(str(run), args.teacher_steps, args.batch_size)
    t0 = time.perf_counter()
    summary = train_images(cfg, resume=False, log=lambda r: print("teacher", r, flush=True))
    report["teacher"] = {
        "steps": summary["steps"],
        "seconds": time.perf_counter() - t0,
        "images_per_s": summary["images_per_s"],
    }
    teacher = load_image_model(str(run / "model"))
    teacher.net.to(dev)
    base = {k: v for k, v in teacher.config.items() if k not in ("sha256", "format_version")}
    base.update(dataset="digits", name="digits")
    save_image_model(out / "digits", teacher.net.cpu(), base)
    register_shipped(
        "digits",
        out / "digits",
        dataset="digits",
        kind="diffusion",
        description="tiny UNet (0.65 M) trained on 16x16 digits, eps prediction",
    )
    teacher = load_image_model(str(out / "digits"))
    teacher.net.to(dev)

    x_data, _ = load_digits()
    x_dev = x_data.to(dev)

    def data(batch: int, g: torch.Generator) -> torch.Tensor:
        return x_dev[torch.randint(0, len(x_dev), (batch,), generator=g).to(dev)]

    x_T = torch.randn((args.eval_n, 1, 16, 16), generator=torch.Generator().manual_seed(0)).to(dev)

    def evaluate(model, steps: int) -> dict:
        traj = sample(model, "ddim", steps, n=args.eval_n, seed=0, x_T=x_T, spacing="trailing")
        return digits_metrics(traj.x.cpu(), classifier=out / CLASSIFIER_STEM.name)

    with torch.no_grad():
        report["teacher"]["ddim"] = {s: evaluate(teacher, s)["fd"] for s in (10, 50, 100)}
        report["teacher"]["fd_label"] = f"FD-{args.eval_n}"
    print("teacher", report["teacher"], flush=True)

    t0 = time.perf_counter()

    def save_round(n: int, model) -> None:
        name = f"digits-pd@{n}steps"
        stem = out / f"digits-pd-{n}steps"
        cfg = {k: v for k, v in model.config.items() if k not in ("sha256", "format_version")}
        save_image_model(stem, model.net, {**cfg, "name": name})
        register_shipped(
            name,
            stem,
            dataset="digits",
            kind="pd-student",
            method="pd",
            steps=n,
            teacher="digits",
            description=f"progressive-distillation student, {n} DDIM steps",
        )
        print("pd round", n, time.perf_counter() - t0, flush=True)

    students = progressive_distillation(
        teacher,
        data,
        start_steps=args.pd_start,
        steps_per_round=args.pd_steps,
        first_round_steps=2 * args.pd_steps,
        batch_size=args.batch_size,
        lr=2e-4,
        seed=0,
        on_round=save_round,
    )
    report["pd"] = {"seconds": time.perf_counter() - t0, "rounds": [n for n, _ in students]}

    t0 = time.perf_counter()
    cd = consistency_distillation(
        teacher,
        data,
        steps=args.cd_steps,
        N=18,
        solver="heun",
        batch_size=args.batch_size,
        lr=2e-4,
        seed=0,
    )
    cfg = {k: v for k, v in cd.config.items() if k not in ("sha256", "format_version")}
    cfg["sample_shape"] = list(teacher.sample_shape)
    save_image_model(out / "digits-cd", cd.net, {**cfg, "name": "digits-cd"})
    register_shipped(
        "digits-cd",
        out / "digits-cd",
        dataset="digits",
        kind="consistency",
        method="cd",
        teacher="digits",
        description="consistency distillation of the digits teacher (Heun, N=18)",
    )
    report["cd"] = {"seconds": time.perf_counter() - t0, "steps": args.cd_steps}
    print("cd", report["cd"], flush=True)
    write_json(out / "offline_training.json", report)
    print(json.dumps(report, indent=1), f"manifest: {out / 'manifest.json'}")


if __name__ == "__main__":
    main()
