"""``python -m diffusion distill``: progressive distillation, consistency distillation and
consistency training (CT, iCT) from the command line.

Checkpoints go to --out DIR through ``checkpoints.save_checkpoint``: progressive rounds as
``DIR/pd-<N>steps`` (addressable as ``--model DIR@<N>steps``), consistency models as
``DIR/cd``, ``DIR/ct`` or ``DIR/ict``. Each PD round is saved as soon as it finishes, so a
later failure keeps every earlier round.

Options left out take the shipped recipe (``recipe.recipe_for``, with the dataset's
overrides): the command with only --method, --teacher and --out trains what the assets
script ships (docs/cli.md lists the two differences). Every number is bounded by
``diffusion.limits`` when parsed; the teacher's config is validated before its network
is built; the output folder is checked before any work and created with the first result.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..limits import float_option, int_option

METHODS = ("progressive", "cd", "ct", "ict")
RECIPE_KEY = {"progressive": "pd", "cd": "cd", "ct": "ct", "ict": "ct"}
"""--method -> the section of recipe.TOY_RECIPE whose values are the defaults."""


def register(subparsers) -> None:
    """Add the ``distill`` subcommand to the package CLI."""
    p = subparsers.add_parser(
        "distill",
        help="few-step models: progressive distillation, consistency distillation/training",
        description="Train few-step models. progressive: halve a teacher's DDIM steps per "
        "round (Salimans & Ho 2022); cd: consistency distillation of a teacher; ct / ict: "
        "consistency training from data (Song et al. 2023; Song & Dhariwal 2023).",
    )
    rec = "(default: the recipe's)"
    p.add_argument("--method", required=True, choices=METHODS, help="what to train")
    p.add_argument("--dataset", help="2-D dataset (default: the teacher's)")
    p.add_argument(
        "--teacher", help="teacher model spec (required for progressive and cd; default: none)"
    )
    p.add_argument("--out", required=True, help="output folder, created with the first result")
    p.add_argument(
        "--start-steps",
        type=int_option("start_steps"),
        help=f"PD: teacher steps of round 1, a power of 2 {rec}",
    )
    p.add_argument(
        "--rounds", type=int_option("rounds"), help="PD: halvings (default: down to one step)"
    )
    p.add_argument(
        "--steps",
        type=int_option("train_steps"),
        help=f"optimiser steps (PD: per round; cd/ct: in total) {rec}",
    )
    p.add_argument(
        "--first-round-steps",
        type=int_option("train_steps"),
        help="PD: optimiser steps of round 1 (default: --steps if given, else the recipe's)",
    )
    p.add_argument(
        "--first-round-lr",
        type=float_option("lr"),
        help="PD: learning rate of round 1 (default: --lr if given, else the recipe's)",
    )
    p.add_argument(
        "--init",
        choices=("scratch", "teacher"),
        default=None,
        help="ct/ict: start from a fresh network or from --teacher's weights (Easy "
        "Consistency Tuning, Geng et al. 2024; the loss never evaluates the teacher) "
        "(default: teacher when --teacher is given, as the recipe; else scratch)",
    )
    p.add_argument(
        "--N", type=int_option("N"), default=None, dest="N", help=f"cd: discretisation steps {rec}"
    )
    p.add_argument("--solver", choices=("heun", "ddim"), help=f"cd: teacher ODE step {rec}")
    p.add_argument(
        "--distance",
        choices=("l2", "pseudo-huber"),
        help="cd/ct: distance d (default: cd the recipe's, l2; ct l2; ict pseudo-huber)",
    )
    p.add_argument(
        "--mu", type=float_option("mu"), help=f"cd: EMA decay of the target network {rec}"
    )
    p.add_argument(
        "--ema-decay",
        type=float_option("mu"),
        help=f"EMA decay of the saved weights {rec}",
    )
    p.add_argument("--batch-size", type=int_option("batch_size"), help=f"training batch {rec}")
    p.add_argument("--lr", type=float_option("lr"), help=f"Adam learning rate {rec}")
    p.add_argument("--seed", type=int_option("seed"), default=0, help="random seed (default: 0)")
    p.add_argument(
        "--max-seconds",
        type=float_option("max_seconds"),
        help="time limit (PD: per round; default: none)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines (default: off)")
    p.set_defaults(func=cmd_distill)


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


def _apply_recipe(args: argparse.Namespace, dataset: str) -> None:
    """Fill every option left out with the shipped recipe's value for this method and
    dataset (recipe.recipe_for), so the defaults train what the assets ship."""
    from .recipe import recipe_for

    rec = recipe_for(RECIPE_KEY[args.method], dataset)
    names = {
        "progressive": {
            "start_steps": "start_steps",
            "steps": "steps_per_round",
            "first_round_steps": "first_round_steps",
            "first_round_lr": "first_round_lr",
            "batch_size": "batch_size",
            "lr": "lr",
            "ema_decay": "ema_decay",
        },
        "cd": {
            "steps": "steps",
            "N": "N",
            "solver": "solver",
            "distance": "distance",
            "mu": "mu",
            "batch_size": "batch_size",
            "lr": "lr",
            "ema_decay": "ema_decay",
        },
    }.get(args.method, {"steps": "steps", "batch_size": "batch_size", "lr": "lr",
                        "ema_decay": "ema_decay"})  # fmt: skip
    # Round 1 follows --steps / --lr when those are given and its own options are not.
    if args.method == "progressive":
        if args.first_round_steps is None and args.steps is not None:
            args.first_round_steps = args.steps
        if args.first_round_lr is None and args.lr is not None:
            args.first_round_lr = args.lr
    for option, key in names.items():
        if getattr(args, option, None) is None and key in rec:
            setattr(args, option, rec[key])
    args.ict_curriculum = {k: rec[k] for k in ("s1", "p_mean") if k in rec}
    if args.init is None:
        args.init = "teacher" if args.teacher is not None else "scratch"


def cmd_distill(args: argparse.Namespace) -> int:
    from ..checkpoints import save_checkpoint
    from ..cli import _load_model
    from ..io import check_output_dir, make_output_dir
    from ..toy.datasets import DATASETS, draw

    out = check_output_dir(args.out)
    if args.start_steps is not None and args.start_steps & (args.start_steps - 1):
        raise ValueError(
            f"--start-steps must be a power of 2 (2, 4, ..., 65536), got {args.start_steps}"
        )
    if (
        args.start_steps is not None
        and args.rounds is not None
        and 2**args.rounds > args.start_steps
    ):
        raise ValueError(
            f"--rounds {args.rounds} halves {args.start_steps} steps below one; at most "
            f"{args.start_steps.bit_length() - 1}"
        )

    teacher = None
    if args.teacher is not None:
        teacher = _load_model(args.teacher)
    elif args.method in ("progressive", "cd"):
        raise ValueError(f"--method {args.method} needs --teacher (a diffusion model)")
    elif args.init == "teacher":
        raise ValueError("--init teacher needs --teacher (the diffusion model to start from)")
    if teacher is not None and tuple(teacher.sample_shape) != (2,):
        raise ValueError(
            f"--teacher {args.teacher} has sample_shape {tuple(teacher.sample_shape)}; the "
            "2-D distill command needs (2,) (images: python -m diffusion images ...)"
        )
    dataset = args.dataset or (teacher.config.get("dataset") if teacher is not None else None)
    if dataset not in DATASETS:
        raise ValueError(
            f"unknown dataset {str(dataset)[:40]!r}; choose --dataset from {', '.join(DATASETS)}"
        )
    _apply_recipe(args, dataset)

    def data(n, g):
        return draw(dataset, n, g)

    def save(stem: Path, net, config: dict) -> None:
        make_output_dir(out)
        config = {**config, "dataset": dataset}
        save_checkpoint(str(stem), net, config)
        print(f"saved {stem} ", file=sys.stderr)

    if args.method == "progressive":
        return _progressive(args, teacher, data, out, save)
    return _consistency(args, teacher, data, dataset, out, save)


def _progressive(args, teacher, data, out: Path, save) -> int:
    from .progressive import check_teacher, progressive_distillation

    check_teacher(teacher)
    if args.rounds is not None and 2**args.rounds > args.start_steps:
        raise ValueError(
            f"--rounds {args.rounds} halves {args.start_steps} steps below one; at most "
            f"{args.start_steps.bit_length() - 1}"
        )

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
        steps_per_round=args.steps,
        first_round_steps=args.first_round_steps,
        batch_size=args.batch_size,
        lr=args.lr,
        first_round_lr=args.first_round_lr,
        ema_decay=args.ema_decay,
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
        ema_decay=args.ema_decay,
        seed=args.seed,
        callback=progress,
        max_seconds=args.max_seconds,
    )
    if args.method == "cd":
        model = consistency_distillation(
            teacher,
            data,
            steps=args.steps,
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
            steps=args.steps,
            distance=args.distance,
            base_config=base,
            **(args.ict_curriculum if args.method == "ict" else {}),
            **common,
        )
    model.config["distill"] = {"method": args.method, "teacher": args.teacher, "seed": args.seed}
    if args.method in ("ct", "ict"):
        model.config["distill"]["init"] = model.config["training"]["init"]
    save(out / args.method, model.net, model.config)
    print(f"use --model {out / args.method} --sampler consistency", file=sys.stderr)
    return 0
