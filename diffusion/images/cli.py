"""``python -m diffusion images ...``: data, training, sampling, FID/KID and sweeps
for image models (the CIFAR-10 track and the offline digits track).

  images data    --root DIR                       download + verify CIFAR-10, build the cache
  images train   --data cifar10|synthetic|digits --out DIR [options]   (torchrun for DDP)
  images sample  --model M --sampler S --steps N --n N --seed S --out FILE.npz|.png
  images fid     --samples FILE.npz --dataset cifar10|digits [--json]
  images sweep   --model M --samplers a,b --nfe 1,2,4 --n N --dataset D --out FILE.json

M is a shipped image model (``digits``, ``digits-pd@4steps``, ``digits-cd``), a
checkpoint path stem, or ``diffusers:<hub id or folder>`` (optional diffusers extra).

Input is checked as in the package CLI (diffusion/cli.py): numbers against
``diffusion.limits`` when parsed, the device and the output target before any work,
a local diffusers folder for safetensors weights before diffusers is imported.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

from ..grids import DEFAULT_SPACING, SPACINGS
from ..io import check_output_dir, check_output_file, save_npz, write_json
from ..limits import LIMITS, MAX_SAMPLE_FLOATS, check_float, check_int, float_option, int_option
from .evaluation import DATASETS, evaluate_images, run_sweep
from .sampling import load_any, sample_images, save_grid_png

__all__ = ["register"]


# ----- handlers ------------------------------------------------------------------------


def _csv_ints(s: str, option: str = "--nfe", limit: str = "nfe") -> list[int]:
    """Comma-separated integers, each inside LIMITS[limit], at most 32 of them."""
    parts = [v.strip() for v in s.split(",") if v.strip()]
    if not parts or len(parts) > 32:
        raise ValueError(f"{option} must list 1..32 comma-separated integers, got {s[:40]!r}")
    out = []
    for v in parts:
        try:
            value = int(v)
        except ValueError:
            value = v
        out.append(check_int(f"{option} entry", value, limit))
    return out


def _check_device(text: str) -> str:
    """A torch device that exists here: cpu, or cuda / cuda:K when CUDA is available."""
    try:
        dev = torch.device(text)
    except (RuntimeError, ValueError):
        raise ValueError(f"unknown --device {text[:40]!r}; choose cpu or cuda[:K]") from None
    if dev.type == "cpu":
        return text
    if dev.type != "cuda":
        raise ValueError(f"--device {text[:40]!r} is not supported; choose cpu or cuda[:K]")
    if not torch.cuda.is_available():
        raise ValueError(f"--device {text} needs CUDA, which is not available here; use cpu")
    count = torch.cuda.device_count()
    if dev.index is not None and dev.index >= count:
        raise ValueError(f"--device {text}: this machine has cuda:0..cuda:{count - 1}")
    return text


def _check_model_spec(spec: str) -> None:
    """A diffusers folder given as a local path must exist and hold safetensors weights
    (pickled .bin weights are refused), checked before diffusers is imported."""
    if not spec.startswith("diffusers:"):
        return
    target = spec.split(":", 1)[1]
    path = Path(target).expanduser()
    looks_local = target.startswith(("/", "./", "../", "~")) or path.exists()
    if not looks_local:
        return  # a hub id such as google/ddpm-cifar10-32
    if not path.is_dir():
        raise FileNotFoundError(f"diffusers folder {target!r} not found")
    if not any(path.glob("*.safetensors")) and not any(path.glob("unet/*.safetensors")):
        raise ValueError(
            f"diffusers folder {target!r} holds no .safetensors weights; only safetensors "
            "are accepted (pickled .bin files are never loaded)"
        )


def _check_sampler(name: str) -> str:
    from ..samplers import resolve_sampler

    return resolve_sampler(name)


def _check_spacing(spacing: str | None) -> None:
    """None (the model's own grid for a few-step model, else DEFAULT_SPACING) or a name."""
    if spacing is not None and spacing not in SPACINGS:
        raise ValueError(f"unknown spacing {spacing[:40]!r}; choose one of {', '.join(SPACINGS)}")


def _check_size(model, n: int) -> None:
    per_image = math.prod(model.sample_shape)
    if n * per_image > MAX_SAMPLE_FLOATS:
        raise ValueError(
            f"--n {n} images of shape {tuple(model.sample_shape)} would hold "
            f"{n * per_image:,} floats; at most {MAX_SAMPLE_FLOATS:,} "
            f"(--n up to {MAX_SAMPLE_FLOATS // per_image:,})"
        )


def cmd_data(args) -> int:
    from .cifar import load_cifar10

    for split in ("train", "test"):
        images, _ = load_cifar10(split, root=args.root)
        print(f"CIFAR-10 {split}: {len(images)} images")
    return 0


_TRAIN_INTS = (
    ("steps", "train_steps"),
    ("batch_size", "batch_size"),
    ("seed", "seed"),
    ("log_every", "every"),
    ("ckpt_every", "every"),
    ("base_channels", "channels"),
    ("num_res_blocks", "res_blocks"),
    ("image_size", "image_size"),
    ("groups", "groups"),
)


def cmd_train(args) -> int:
    from .train import run_from_args

    for key, limit in _TRAIN_INTS:
        value = getattr(args, key, None)
        if value is not None:
            check_int(f"--{key.replace('_', '-')}", value, limit)
    if getattr(args, "warmup", None) is not None and args.warmup != 0:
        check_int("--warmup", args.warmup, "train_steps")
    check_float("--lr", args.lr, "lr")
    check_float("--ema-decay", args.ema_decay, "mu")
    dropout = getattr(args, "dropout", None)
    if dropout is not None and not (math.isfinite(dropout) and 0 <= dropout < 1):
        raise ValueError(f"--dropout must be a number in [0, 1), got {dropout}")
    if getattr(args, "channel_mult", None) is not None:
        _csv_ints(args.channel_mult, "--channel-mult", "channel_mult")
    if getattr(args, "max_seconds", None) is not None:
        check_float("--max-seconds", args.max_seconds, "max_seconds")
    check_output_dir(args.out)
    return run_from_args(args)


def cmd_sample(args) -> int:
    _check_spacing(args.spacing)
    _check_sampler(args.sampler)
    if Path(args.out).suffix not in (".npz", ".png"):
        raise ValueError("--out must end in .npz or .png")
    device = _check_device(args.device)
    _check_model_spec(args.model)
    out = check_output_file(args.out)
    model = load_any(args.model, device)
    _check_size(model, args.n)
    if args.steps > model.schedule.T:
        raise ValueError(f"--steps must be between 1 and T={model.schedule.T}, got {args.steps}")
    options = {"eta": args.eta} if args.eta is not None else {}
    x, nfe = sample_images(
        model, args.sampler, args.steps, n=args.n, seed=args.seed, spacing=args.spacing, **options
    )
    if out.suffix == ".png":
        save_grid_png(x, out)
    else:
        save_npz(out, x=x.numpy(), nfe=np.int64(nfe))
    print(f"wrote {out}: {len(x)} images, NFE {nfe}")
    return 0


def cmd_fid(args) -> int:
    from ..cli import _load_array

    device = _check_device(args.device)
    arr = _load_array(args.samples, "samples", key="x")
    if arr.ndim != 4 or arr.shape[0] < 2 or arr.shape[1] not in (1, 3):
        raise ValueError(
            f"samples must have shape (n >= 2, C in 1 or 3, H, W), got {tuple(arr.shape)} "
            "(write them with images sample)"
        )
    if arr.shape[0] > LIMITS["images_n"].hi:
        raise ValueError(f"samples hold {arr.shape[0]:,} images; at most 50,000")
    if not np.issubdtype(arr.dtype, np.floating) or not np.isfinite(arr).all():
        raise ValueError(f"samples in {args.samples!r} are not all finite numbers (NaN or inf)")
    x = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
    res = evaluate_images(
        x,
        args.dataset,
        device=device,
        batch_size=args.batch_size,
        inception=args.inception,
        data_root=args.data_root,
    )
    if args.json:
        print(json.dumps(res))
    else:
        name = "FID" if args.dataset == "cifar10" else "FD"
        value = res.get("fid", res.get("fd"))
        print(f"{name}-{res['n']} = {value:.3f}   KID = {res['kid']:.5f} +- {res['kid_std']:.5f}")
    return 0


def cmd_sweep(args) -> int:
    samplers = [v.strip() for v in args.samplers.split(",") if v.strip()]
    if not samplers or len(samplers) > 16:
        raise ValueError(f"--samplers must list 1..16 sampler names, got {args.samplers[:40]!r}")
    for name in samplers:
        _check_sampler(name)
    nfes = _csv_ints(args.nfe)
    _check_spacing(args.spacing)
    device = _check_device(args.device)
    _check_model_spec(args.model)
    out = check_output_file(args.out)
    model = load_any(args.model, device)
    _check_size(model, args.n)
    rows = run_sweep(
        model,
        samplers,
        nfes,
        dataset=args.dataset,
        n=args.n,
        seed=args.seed,
        spacing=args.spacing,
        device=device,
        progress=lambda r: print(
            f"{r['sampler']:>16} NFE {r['nfe']:>4}  {r['label']} {r.get('fid', r.get('fd')):.3f}",
            flush=True,
        ),
    )
    write_json(out, {"model": args.model, "dataset": args.dataset, "n": args.n, "rows": rows})
    print(f"wrote {args.out}: {len(rows)} rows")
    return 0


SPACING_HELP = (
    "timestep spacing (list spacings; default: a few-step model's own grid, else "
    f"{DEFAULT_SPACING}, diffusion.grids.DEFAULT_SPACING)"
)

_TRAIN_HELP = {
    "--data": "training images",
    "--data-root": "folder or tarball of CIFAR-10 (default: the cache)",
    "--steps": "optimiser steps",
    "--lr": "AdamW learning rate",
    "--warmup": "steps of linear learning-rate warm-up",
    "--ema-decay": "EMA decay of the saved weights",
    "--prediction": "what the network predicts",
    "--seed": "random seed",
    "--compile-mode": "torch.compile mode",
    "--log-every": "steps between log lines",
    "--ckpt-every": "steps between checkpoints",
    "--base-channels": "UNet base channels (default: the preset of --data)",
    "--channel-mult": "UNet channel multipliers, e.g. 1,2,2,2 (default: the preset of --data)",
    "--num-res-blocks": "residual blocks per level (default: the preset of --data)",
    "--image-size": "image side, synthetic data only (default: the preset of --data)",
    "--groups": "GroupNorm groups (default: the preset of --data)",
    "--dropout": "dropout (default: the preset of --data)",
}
"""Help lines for the training options that diffusion.images.train declares without one."""


def register(subparsers) -> None:
    """Add ``images`` and its subcommands to the package CLI."""
    from .train import add_arguments

    p = subparsers.add_parser("images", help="image models: CIFAR-10 and the offline digits track")
    sub = p.add_subparsers(dest="images_command", required=True)

    d = sub.add_parser("data", help="download and verify CIFAR-10, build the cache")
    d.add_argument("--root", default=None, help="folder (default: $DIFFUSION_CACHE)")
    d.set_defaults(func=cmd_data)

    t = sub.add_parser("train", help="train an image UNet (bf16, EMA, resume, DDP via torchrun)")
    add_arguments(t)
    for action in t._actions:  # every option gets a help line with its default
        text = _TRAIN_HELP.get(action.option_strings[0] if action.option_strings else "")
        needs_default = action.default is None and "default" not in (action.help or "")
        if text and (not action.help or needs_default):
            action.help = text
    t.set_defaults(func=cmd_train)

    s = sub.add_parser("sample", help="sample images to .npz (x, nfe) or a .png grid")
    s.add_argument("--model", required=True, help="a shipped name, a path stem or diffusers:<id>")
    s.add_argument("--sampler", default="ddim", help="a registry name (list samplers)")
    s.add_argument("--steps", type=int_option("sampler_steps"), default=10, help="timesteps")
    s.add_argument("--spacing", default=None, help=SPACING_HELP)
    s.add_argument(
        "--eta", type=float_option("eta"), default=None, help="DDIM stochasticity (default: 0)"
    )
    s.add_argument("--n", type=int_option("images_n"), default=64, help="number of images")
    s.add_argument("--seed", type=int_option("seed"), default=0, help="random seed")
    s.add_argument("--device", default="cpu", help="cpu or cuda[:K]")
    s.add_argument("--out", required=True, help="FILE.npz (x, nfe) or FILE.png (a grid)")
    s.set_defaults(func=cmd_sample)

    f = sub.add_parser("fid", help="FID/KID (cifar10) or FD/KID (digits) of samples")
    f.add_argument("--samples", required=True, help="a .npz from images sample (array x)")
    f.add_argument("--dataset", required=True, choices=DATASETS, help="reference data")
    f.add_argument("--device", default="cpu", help="cpu or cuda[:K]")
    f.add_argument("--batch-size", type=int_option("batch_size"), default=200, help="feature batch")
    f.add_argument(
        "--inception",
        default=None,
        help="local pt_inception-2015-12-05-6726825d.pth (default: the cache)",
    )
    f.add_argument("--data-root", default=None, help="CIFAR-10 folder (default: the cache)")
    f.add_argument("--json", action="store_true", help="print one JSON object")
    f.set_defaults(func=cmd_fid)

    w = sub.add_parser("sweep", help="quality vs NFE table (JSON) for the Images page")
    w.add_argument("--model", required=True, help="a shipped name, a path stem or diffusers:<id>")
    w.add_argument("--samplers", default="ddim,dpm-solver++2m", help="comma-separated names")
    w.add_argument("--nfe", default="2,4,8,16", help="comma-separated NFE budgets, each 1..1000")
    w.add_argument("--dataset", required=True, choices=DATASETS, help="reference data")
    w.add_argument("--n", type=int_option("images_n"), default=500, help="images per row")
    w.add_argument("--seed", type=int_option("seed"), default=0, help="random seed")
    w.add_argument("--spacing", default=None, help=SPACING_HELP)
    w.add_argument("--device", default="cpu", help="cpu or cuda[:K]")
    w.add_argument("--out", required=True, help="FILE.json; missing folders are created")
    w.set_defaults(func=cmd_sweep)
