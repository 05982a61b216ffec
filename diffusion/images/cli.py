"""``python -m diffusion images ...``: data, training, sampling, FID/KID and sweeps
for image models (the CIFAR-10 track and the offline digits track).

  images data    --root DIR                       download + verify CIFAR-10, build the cache
  images train   --data cifar10|synthetic|digits --out DIR [options]   (torchrun for DDP)
  images sample  --model M --sampler S --steps N --n N --seed S --out FILE.npz|.png
  images fid     --samples FILE.npz --dataset cifar10|digits [--json]
  images sweep   --model M --samplers a,b --nfe 1,2,4 --n N --dataset D --out FILE.json

M is a shipped image model (``digits``, ``digits-pd@4steps``, ``digits-cd``), a
checkpoint path stem, or ``diffusers:<hub id or folder>`` (optional diffusers extra).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..io import save_npz, write_json
from ..schedules import SPACINGS
from .evaluation import DATASETS, evaluate_images, run_sweep
from .sampling import load_any, sample_images, save_grid_png

__all__ = ["register"]


# ----- handlers ------------------------------------------------------------------------


def _csv_ints(s: str) -> list[int]:
    try:
        return [int(v) for v in s.split(",") if v]
    except ValueError:
        raise ValueError(f"expected comma-separated integers, got {s!r}") from None


def cmd_data(args) -> int:
    from .cifar import load_cifar10

    for split in ("train", "test"):
        images, _ = load_cifar10(split, root=args.root)
        print(f"CIFAR-10 {split}: {len(images)} images")
    return 0


def cmd_train(args) -> int:
    from .train import run_from_args

    return run_from_args(args)


def cmd_sample(args) -> int:
    if args.spacing not in SPACINGS:
        raise ValueError(f"unknown spacing {args.spacing!r}; choose one of {', '.join(SPACINGS)}")
    out = Path(args.out)
    if out.suffix not in (".npz", ".png"):
        raise ValueError("--out must end in .npz or .png")
    model = load_any(args.model, args.device)
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
    with np.load(args.samples, allow_pickle=False) as z:
        if "x" not in z:
            raise ValueError(f"{args.samples} has no array 'x' (write it with images sample)")
        x = torch.from_numpy(z["x"]).float()
    res = evaluate_images(
        x,
        args.dataset,
        device=args.device,
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
    model = load_any(args.model, args.device)
    rows = run_sweep(
        model,
        args.samplers.split(","),
        _csv_ints(args.nfe),
        dataset=args.dataset,
        n=args.n,
        seed=args.seed,
        spacing=args.spacing,
        device=args.device,
        progress=lambda r: print(
            f"{r['sampler']:>16} NFE {r['nfe']:>4}  {r['label']} {r.get('fid', r.get('fd')):.3f}",
            flush=True,
        ),
    )
    write_json(args.out, {"model": args.model, "dataset": args.dataset, "n": args.n, "rows": rows})
    print(f"wrote {args.out}: {len(rows)} rows")
    return 0


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
    t.set_defaults(func=cmd_train)

    s = sub.add_parser("sample", help="sample images to .npz (x, nfe) or a .png grid")
    s.add_argument("--model", required=True)
    s.add_argument("--sampler", default="ddim")
    s.add_argument("--steps", type=int, default=10)
    s.add_argument("--spacing", default="trailing")
    s.add_argument("--eta", type=float, default=None)
    s.add_argument("--n", type=int, default=64)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--device", default="cpu")
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_sample)

    f = sub.add_parser("fid", help="FID/KID (cifar10) or FD/KID (digits) of samples")
    f.add_argument("--samples", required=True)
    f.add_argument("--dataset", required=True, choices=DATASETS)
    f.add_argument("--device", default="cpu")
    f.add_argument("--batch-size", type=int, default=200)
    f.add_argument("--inception", default=None, help="local pt_inception-2015-12-05-6726825d.pth")
    f.add_argument("--data-root", default=None)
    f.add_argument("--json", action="store_true")
    f.set_defaults(func=cmd_fid)

    w = sub.add_parser("sweep", help="quality vs NFE table (JSON) for the Images page")
    w.add_argument("--model", required=True)
    w.add_argument("--samplers", default="ddim,dpm-solver++2m")
    w.add_argument("--nfe", default="2,4,8,16")
    w.add_argument("--dataset", required=True, choices=DATASETS)
    w.add_argument("--n", type=int, default=500)
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--spacing", default="trailing")
    w.add_argument("--device", default="cpu")
    w.add_argument("--out", required=True)
    w.set_defaults(func=cmd_sweep)
