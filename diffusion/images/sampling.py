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
from ..schedules import make_timesteps

__all__ = ["load_any", "grid_for", "sample_images", "to_grid", "save_grid_png"]


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


def save_grid_png(x: torch.Tensor, path: Path, ncol: int = 8) -> None:
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
