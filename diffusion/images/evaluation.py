"""Image quality: FID/KID on CIFAR-10 (Inception pool3) or FD/KID on the offline
digits (classifier features), and the quality-vs-NFE sweep behind
``python -m diffusion images sweep``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from ..model import DiffusionModel
from .fid import sample_label
from .sampling import sample_images

__all__ = ["DATASETS", "evaluate_images", "run_sweep"]

DATASETS = ("cifar10", "digits")


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
    spacing: str | None = None,
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
