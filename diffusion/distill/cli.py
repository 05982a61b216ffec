"""``python -m diffusion distill``: progressive distillation, consistency distillation and
consistency training (CT, iCT) from the command line.

Checkpoints go to --out DIR through ``checkpoints.save_checkpoint``: progressive rounds as
``DIR/pd-<N>steps`` (addressable as ``--model DIR@<N>steps``), consistency models as
``DIR/cd``, ``DIR/ct`` or ``DIR/ict``. Each PD round is saved as soon as it finishes, so a
later failure keeps every earlier round.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

METHODS = ("progressive", "cd", "ct", "ict")


def register(subparsers) -> None:
    """Add the ``distill`` subcommand to the package CLI."""
    p = subparsers.add_parser(
        "distill",
        help="few-step models: progressive distillation, consistency distillation/training",
        description="Train few-step models. progressive: halve a teacher's DDIM steps per "
        "round (Salimans & Ho 2022); cd: consistency distillation of a teacher; ct / ict: "
        "consistency training from data (Song et al. 2023; Song & Dhariwal 2023).",
    )
    p.add_argument("--method", required=True, choices=METHODS)
    p.add_argument("--dataset", help="2-D dataset (default: the teacher's)")
    p.add_argument("--teacher", help="teacher model spec (required for progressive and cd)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--start-steps", type=int, default=1024, help="PD: teacher steps (power of 2)")
    p.add_argument("--rounds", type=int, help="PD: halvings (default: down to one step)")
    p.add_argument("--steps", type=int, help="optimiser steps (PD: per round; cd/ct: in total)")
    p.add_argument("--first-round-steps", type=int, help="PD: optimiser steps of round 1")
    p.add_argument("--first-round-lr", type=float, help="PD: learning rate of round 1")
    p.add_argument(
        "--init",
        choices=("scratch", "teacher"),
        default="scratch",
        help="ct/ict: start from a fresh network or from --teacher's weights (Easy "
        "Consistency Tuning, Geng et al. 2024; the loss never evaluates the teacher)",
    )
    p.add_argument("--N", type=int, default=18, dest="N", help="cd: discretisation steps")
    p.add_argument(
        "--solver", choices=("heun", "ddim"), default="heun", help="cd: teacher ODE step"
    )
    p.add_argument("--distance", choices=("l2", "pseudo-huber"), help="cd/ct: distance d")
    p.add_argument("--mu", type=float, default=0.95, help="cd: EMA decay of the target network")
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-seconds", type=float, help="time limit (PD: per round)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_distill)


def _positive(name: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")


def _progress(label: str, quiet: bool):
    start = time.perf_counter()
    last = [0.0]

    def report(step: int, loss: float) -> None:
        now = time.perf_counter()
        if quiet or now - last[0] < 2.0:
            return
        last[0] = now
        print(f"{label} step {step} loss {loss:.5f} {now - start:.1f}s", file=sys.stderr)

    return report


def cmd_distill(args: argparse.Namespace) -> int:
    from ..checkpoints import load_model, save_checkpoint
    from ..toy.datasets import DATASETS, draw

    for name in (
        "--start-steps",
        "--rounds",
        "--steps",
        "--first-round-steps",
        "--N",
        "--batch-size",
    ):
        _positive(name, getattr(args, name.lstrip("-").replace("-", "_")))
    for name in ("lr", "first_round_lr"):
        value = getattr(args, name)
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ValueError(f"--{name.replace('_', '-')} must be positive, got {value}")
    if args.max_seconds is not None and not args.max_seconds > 0:
        raise ValueError(f"--max-seconds must be positive, got {args.max_seconds}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {args.out} exists and is not a folder")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"folder {str(out.parent)!r} does not exist (for --out {args.out})")

    teacher = None
    if args.teacher is not None:
        teacher = load_model(args.teacher)
    elif args.method in ("progressive", "cd"):
        raise ValueError(f"--method {args.method} needs --teacher (a diffusion model)")
    elif args.init == "teacher":
        raise ValueError("--init teacher needs --teacher (the diffusion model to start from)")
    dataset = args.dataset or (teacher.config.get("dataset"))
    if dataset not in DATASETS:
        raise ValueError(
            f"unknown dataset {dataset!r}; choose --dataset from {', '.join(DATASETS)}"
        )

    def data(n, g):
        return draw(dataset, n, g)

    def save(stem: Path, net, config: dict) -> None:
        out.mkdir(exist_ok=True)
        config = {**config, "dataset": dataset}
        save_checkpoint(str(stem), net, config)
        print(f"saved {stem} ", file=sys.stderr)

    if args.method == "progressive":
        return _progressive(args, teacher, data, out, save)
    return _consistency(args, teacher, data, dataset, out, save)


def _progressive(args, teacher, data, out: Path, save) -> int:
    from .progressive import check_teacher, progressive_distillation

    check_teacher(teacher)
    if args.rounds is not None and args.rounds < 1:
        raise ValueError(f"--rounds must be at least 1, got {args.rounds}")

    def on_round(n: int, model) -> None:
        cfg = dict(model.config)
        cfg["net"] = cfg.get("net") or getattr(model.net, "config", {})
        cfg["distill"] = {"method": "progressive", "teacher": args.teacher, "seed": args.seed}
        save(out / f"pd-{n}steps", model.net, cfg)
        print(f"use --model {out}@{n}steps", file=sys.stderr)

    progress = _progress("distill", args.quiet)
    progressive_distillation(
        teacher,
        data,
        start_steps=args.start_steps,
        rounds=args.rounds,
        steps_per_round=args.steps or 800,
        first_round_steps=args.first_round_steps,
        batch_size=args.batch_size,
        lr=args.lr,
        first_round_lr=args.first_round_lr,
        seed=args.seed,
        max_seconds_per_round=args.max_seconds,
        callback=lambda n, step, loss: progress(step, loss),
        on_round=on_round,
    )
    return 0


def _consistency(args, teacher, data, dataset: str, out: Path, save) -> int:
    from ..nets import build_net
    from .consistency import consistency_distillation, consistency_training

    progress = _progress(args.method, args.quiet)
    common = dict(
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        callback=progress,
        max_seconds=args.max_seconds,
    )
    if args.method == "cd":
        model = consistency_distillation(
            teacher,
            data,
            steps=args.steps or 3000,
            N=args.N,
            solver=args.solver,
            distance=args.distance or "l2",
            mu=args.mu,
            **common,
        )
    else:
        if teacher is not None:
            net_config, schedule, base = teacher.net.config, teacher.schedule, teacher.config
        else:
            from ..schedules import get_schedule
            from ..toy.train2d import DEFAULT_HPARAMS as HP
            from ..toy.train2d import toy_config

            base = toy_config(dataset, HP)
            net_config, schedule = base["net"], get_schedule(HP["schedule"], HP["T"])
        import torch

        if args.init == "teacher":
            net = teacher  # its weights are copied; the CT loss never evaluates it
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(args.seed)
                net = build_net(net_config)
        model = consistency_training(
            net,
            schedule,
            data,
            improved=args.method == "ict",
            steps=args.steps or 5000,
            distance=args.distance,
            base_config=base,
            **common,
        )
    model.config["distill"] = {"method": args.method, "teacher": args.teacher, "seed": args.seed}
    if args.method in ("ct", "ict"):
        model.config["distill"]["init"] = model.config["training"]["init"]
    save(out / args.method, model.net, model.config)
    print(f"use --model {out / args.method} --sampler consistency", file=sys.stderr)
    return 0
