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
import time
from pathlib import Path

import numpy as np
import torch

from ..io import atomic_write, save_npz, write_json
from ..model import DiffusionModel
from ..schedules import SPACINGS, make_timesteps
from .fid import sample_label

__all__ = ["register", "load_any", "sample_images", "evaluate_images", "run_sweep"]

DATASETS = ("cifar10", "digits")


def load_any(spec: str, device: str = "cpu") -> DiffusionModel:
    """An image model from a spec: shipped name, path stem or diffusers:<id or folder>."""
    if spec.startswith("diffusers:"):
        from .hub import load_diffusers_model

        return load_diffusers_model(spec.split(":", 1)[1], device=device)
    from .store import load_image_model

    model = load_image_model(spec)
    if len(getattr(model, "sample_shape", ())) != 3:
        raise ValueError(f"{spec} is not an image model (sample shape {model.sample_shape})")
    model.net.to(device)
    return model


def grid_for(model: DiffusionModel, steps: int, spacing: str) -> torch.Tensor:
    """The few-step grid a distilled model was made for, else the chosen spacing."""
    from ..distill.timesteps import recommended_timesteps

    ts = recommended_timesteps(model, steps)
    return ts if ts is not None else make_timesteps(model.schedule, steps, spacing)


@torch.no_grad()
def sample_images(
    model: DiffusionModel,
    sampler: str,
    steps: int,
    *,
    n: int,
    seed: int,
    spacing: str = "trailing",
    batch_size: int = 500,
    record: bool = False,
    **options,
):
    """Samples (n, C, H, W) in [-1, 1] (clamped) and the NFE; in batches, seeded.

    With record=True (one batch only) the Trajectory is returned as well, for the
    denoising strip (x0-hat after each step)."""
    from ..samplers import get_sampler

    spec = get_sampler(sampler)
    device = next(model.net.parameters()).device if hasattr(model.net, "parameters") else "cpu"
    gen = torch.Generator().manual_seed(seed)
    x_T = torch.randn((n, *model.sample_shape), generator=gen).to(device)
    ts = grid_for(model, steps, spacing)
    noise = torch.Generator().manual_seed(seed + 1)
    outs, nfe, traj = [], 0, None
    for chunk in x_T.split(batch_size):
        traj = spec(model, chunk, ts, generator=noise, record=record, **options)
        outs.append(traj.x.clamp(-1, 1).float().cpu())
        nfe = traj.nfe
    x = torch.cat(outs)
    return (x, nfe, traj) if record else (x, nfe)


def evaluate_images(
    x: torch.Tensor,
    dataset: str,
    *,
    device: str = "cpu",
    batch_size: int = 200,
    inception: str | None = None,
    data_root: str | None = None,
) -> dict:
    """FID/KID (CIFAR-10, Inception pool3) or FD/KID (digits, classifier features) of
    samples in [-1, 1]; the result carries the sample count in its label."""
    if dataset == "digits":
        from .digits import digits_metrics

        return digits_metrics(x)
    if dataset != "cifar10":
        raise ValueError(f"unknown image dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    from .cifar import cache_dir, load_cifar10
    from .fid import extract_features, feature_stats, frechet_distance, kid, load_or_compute_stats
    from .inception import load_fid_inception

    net = load_fid_inception(inception).to(device)

    def features(images_01: torch.Tensor) -> np.ndarray:
        return extract_features(net, images_01, batch_size=batch_size, device=device)

    def reference() -> np.ndarray:
        images, _ = load_cifar10("train", root=data_root)
        return features(torch.from_numpy(images).float() / 255.0)

    ref_path = Path(data_root or cache_dir()) / "cifar10-train-inception-stats.npz"
    ref = load_or_compute_stats(ref_path, reference)
    f = features((x + 1) / 2)
    result = {"fid": frechet_distance(feature_stats(f), ref), "n": len(f)}
    # KID needs reference features; a 10k train subset keeps it cheap.
    images, _ = load_cifar10("train", root=data_root)
    sub = torch.from_numpy(images[:: max(1, len(images) // 10000)]).float() / 255.0
    result["kid"], result["kid_std"] = kid(features(sub), f, n_subsets=50)
    result["label"] = sample_label(len(f))
    return result


def run_sweep(
    model: DiffusionModel,
    samplers: list[str],
    nfes: list[int],
    *,
    dataset: str,
    n: int,
    seed: int = 0,
    spacing: str = "trailing",
    device: str = "cpu",
    progress=None,
) -> list[dict]:
    """Quality vs NFE: one row per (sampler, NFE) that the sampler can hit exactly."""
    from ..samplers import get_sampler

    rows = []
    for name in samplers:
        spec = get_sampler(name)
        for nfe in nfes:
            steps = spec.steps_for_nfe(nfe)
            if steps is None:
                continue
            t0 = time.perf_counter()
            x, used = sample_images(model, name, steps, n=n, seed=seed, spacing=spacing)
            seconds = time.perf_counter() - t0
            metrics = evaluate_images(x, dataset, device=device)
            rows.append(
                {
                    "sampler": name,
                    "nfe": used,
                    "steps": steps,
                    "n": n,
                    "seconds": seconds,
                    **metrics,
                }
            )
            if progress is not None:
                progress(rows[-1])
    return rows


def _save_grid_png(x: torch.Tensor, path: Path, ncol: int = 8) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    img = to_grid(x, ncol)
    atomic_write(
        path, lambda tmp: plt.imsave(tmp, img, cmap="gray" if img.ndim == 2 else None, format="png")
    )


def to_grid(x: torch.Tensor, ncol: int = 8, pad: int = 1) -> np.ndarray:
    """Images (B, C, H, W) in [-1, 1] -> one (rows*H, ncol*W[, 3]) array in [0, 1]."""
    x = ((x.clamp(-1, 1) + 1) / 2).cpu()
    b, c, h, w = x.shape
    rows = (b + ncol - 1) // ncol
    grid = torch.ones(c, rows * (h + pad) + pad, ncol * (w + pad) + pad)
    for i in range(b):
        r, k = divmod(i, ncol)
        grid[
            :,
            pad + r * (h + pad) : pad + r * (h + pad) + h,
            pad + k * (w + pad) : pad + k * (w + pad) + w,
        ] = x[i]
    arr = grid.permute(1, 2, 0).numpy()
    return arr[..., 0] if c == 1 else arr


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
        _save_grid_png(x, out)
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
