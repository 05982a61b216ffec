"""Image models: loading by spec, seeded batched sampling, and image grids.

The library side of ``python -m diffusion images sample`` and of the Images page: a
model from a shipped name, a checkpoint path stem or ``diffusers:<id or folder>``;
samples in [-1, 1]; the (rows*H, ncol*W) picture of a batch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..io import atomic_write
from ..model import DiffusionModel
from ..samplers import sample

__all__ = ["load_any", "sample_images", "save_grid_png", "to_grid"]


def load_any(spec: str, device: str = "cpu") -> DiffusionModel:
    """An image model from a spec: shipped name, path stem or diffusers:<id or folder>."""
    if spec.startswith("diffusers:"):
        from .hub import load_diffusers_model

        return load_diffusers_model(spec.split(":", 1)[1], device=device)
    from .store import load_image_model

    model = load_image_model(spec)
    if len(model.sample_shape) != 3:
        raise ValueError(f"{spec} is not an image model (sample shape {model.sample_shape})")
    model.net.to(device)
    return model


@torch.no_grad()
def sample_images(
    model: DiffusionModel,
    sampler: str,
    steps: int,
    *,
    n: int,
    seed: int,
    spacing: str | None = None,
    batch_size: int = 500,
    record: bool = False,
    **options,
):
    """Samples (n, C, H, W) in [-1, 1] (clamped) and the NFE: ``diffusion.sample`` in
    batches of ``batch_size``.

    x_T is drawn for all n at once from ``seed``, as ``diffusion.sample`` draws it, so
    with n <= batch_size the samples are exactly ``diffusion.sample(model, sampler,
    steps, n=n, seed=seed, spacing=spacing)``; batch k takes its sampler noise from
    seed + k + 1. ``spacing`` None: a few-step model's own grid, else the package
    default (``diffusion.grids.model_timesteps``). With record=True (one batch only)
    the Trajectory is returned as well, for the denoising strip (x0-hat after each step).
    """
    if record and n > batch_size:
        raise ValueError(f"record=True needs n <= batch_size ({batch_size}), got n={n}")
    gen = torch.Generator().manual_seed(seed)
    x_T = torch.randn((n, *model.sample_shape), generator=gen)
    outs, nfe, traj = [], 0, None
    for k, chunk in enumerate(x_T.split(batch_size)):
        traj = sample(
            model,
            sampler,
            steps,
            x_T=chunk,
            seed=seed + k,
            spacing=spacing,
            record=record,
            **options,
        )
        outs.append(traj.x.clamp(-1, 1).float().cpu())
        nfe = traj.nfe
    x = torch.cat(outs)
    return (x, nfe, traj) if record else (x, nfe)


def save_grid_png(x: torch.Tensor, path: Path, ncol: int = 8) -> None:
    """A batch (B, C, H, W) in [-1, 1] as one PNG grid (``to_grid``), written atomically."""
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
