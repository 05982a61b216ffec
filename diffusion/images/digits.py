"""The offline image track: handwritten digits that need no network.

Data: the 1797 8x8 digits of the UCI "Optical Recognition of Handwritten Digits"
set (CC BY 4.0), exported once from scikit-learn into ``assets/images/digits.npz``
(scripts/images_export_digits.py). They are upsampled bilinearly to 16x16 and
scaled to [-1, 1]: small enough for a UNet to learn on a laptop CPU in minutes.

Metric: an FID for this domain. A small CNN classifier trained on the digits
gives 64-d penultimate features; the Frechet distance and KID of generated against
real digits in that feature space ("FD-digits", labelled with the sample count)
play the role FID plays on CIFAR-10.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from ..io import atomic_write
from .fid import FeatureStats, feature_stats, frechet_distance, kid
from .store import ASSETS, sha256_file
from .unet import UNetConfig

__all__ = [
    "CLASSIFIER_STEM",
    "DIGITS_PATH",
    "DIGITS_UNET",
    "DigitClassifier",
    "digits_batches",
    "digits_metrics",
    "load_classifier",
    "load_digits",
    "save_classifier",
    "teacher_config",
    "train_classifier",
]

DIGITS_PATH = ASSETS / "digits.npz"
CLASSIFIER_STEM = ASSETS / "digits-classifier"
IMAGE_SIZE = 16

# The tiny UNet of the offline track: two levels (16x16, 8x8), no attention
# (0.65 M parameters, 2.6 MB), so that a teacher, six PD students and a CD model
# fit the assets budget together.
DIGITS_UNET = UNetConfig(
    image_size=IMAGE_SIZE,
    in_channels=1,
    base_channels=32,
    channel_mult=(1, 2),
    num_res_blocks=1,
    attn_resolutions=(),
    dropout=0.0,
    groups=8,
)


def teacher_config(out: str, steps: int, batch_size: int = 256, **overrides):
    """The shipped digits teacher's training recipe (scripts/images_train_offline.py) as a
    ``TrainConfig``: one owner, so a run that is to reach the shipped teacher's quality
    (scripts/images_time_to_quality.py) trains exactly what was shipped."""
    from .train import TrainConfig  # train imports the data loaders of this module

    recipe = dict(
        out=out,
        data="digits",
        steps=steps,
        batch_size=batch_size,
        lr=1e-3,
        warmup=200,
        ema_decay=0.999,
        log_every=500,
        ckpt_every=10**9,
        unet=DIGITS_UNET.to_dict(),
        seed=0,
        bf16=False,
    )
    return TrainConfig(**{**recipe, **overrides})


@functools.lru_cache(maxsize=2)
def _load(size: int) -> tuple[Tensor, Tensor]:
    if not DIGITS_PATH.exists():
        raise FileNotFoundError(
            f"{DIGITS_PATH} is missing; run scripts/images_export_digits.py to create it"
        )
    with np.load(DIGITS_PATH, allow_pickle=False) as z:
        images, labels = z["images"], z["labels"]
    x = torch.from_numpy(images.astype(np.float32) / 16.0)[:, None]  # (N, 1, 8, 8) in [0, 1]
    if size != x.shape[-1]:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return (x * 2 - 1).clamp(-1, 1), torch.from_numpy(labels.astype(np.int64))


def load_digits(size: int = IMAGE_SIZE) -> tuple[Tensor, Tensor]:
    """All 1797 digits: images (N, 1, size, size) float32 in [-1, 1], labels (N,)."""
    x, y = _load(size)
    return x.clone(), y.clone()


def digits_batches(size: int = IMAGE_SIZE):
    """A data function for ``training.train``: data(batch_size, generator) -> (B, 1, s, s)."""
    x, _ = _load(size)

    def data(batch_size: int, generator: torch.Generator) -> Tensor:
        idx = torch.randint(0, len(x), (batch_size,), generator=generator)
        return x[idx]

    return data


class DigitClassifier(nn.Module):
    """A small CNN on 16x16 digits; ``features`` is the 64-d penultimate layer."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1),
            nn.ReLU(),  # 8x8
            nn.Conv2d(64, 64, 3, stride=2, padding=1),
            nn.ReLU(),  # 4x4
            nn.Flatten(),
            nn.Linear(64 * 16, 64),
            nn.ReLU(),
        )
        self.head = nn.Linear(64, 10)

    def features(self, x: Tensor) -> Tensor:
        """x: (B, 1, 16, 16) in [-1, 1] -> (B, 64)."""
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))


def train_classifier(
    steps: int = 600, seed: int = 0, holdout: int = 297
) -> tuple[DigitClassifier, float]:
    """Train the feature classifier; returns (net, held-out accuracy).

    The last ``holdout`` digits (a fixed random split) are never trained on. Small
    random shifts of one pixel make the features less sensitive to position.
    """
    x, y = load_digits()
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(x), generator=g)
    tr, te = perm[:-holdout], perm[-holdout:]
    torch.manual_seed(seed)
    net = DigitClassifier()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    for _ in range(steps):
        idx = tr[torch.randint(0, len(tr), (128,), generator=g)]
        xb = x[idx]
        dx, dy = torch.randint(-1, 2, (2,), generator=g).tolist()
        xb = torch.roll(xb, shifts=(dx, dy), dims=(2, 3))
        loss = F.cross_entropy(net(xb), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        acc = float((net(x[te]).argmax(1) == y[te]).float().mean())
    return net, acc


def save_classifier(net: DigitClassifier, stem: Path = CLASSIFIER_STEM, **meta) -> None:
    import json

    state = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
    weights = stem.with_suffix(".safetensors")
    atomic_write(weights, lambda tmp: save_file(state, str(tmp)))
    meta = {"kind": "classifier", "sha256": sha256_file(weights), **meta}
    atomic_write(stem.with_suffix(".json"), lambda tmp: tmp.write_text(json.dumps(meta, indent=2)))


@functools.lru_cache(maxsize=2)
def load_classifier(stem: Path = CLASSIFIER_STEM) -> DigitClassifier:
    """The shipped feature classifier (sha256 checked), eval mode, no grad."""
    import json

    weights = stem.with_suffix(".safetensors")
    if not weights.exists():
        raise FileNotFoundError(f"{weights} is missing; run scripts/images_train_offline.py")
    meta = json.loads(stem.with_suffix(".json").read_text())
    if meta.get("sha256") != sha256_file(weights):
        raise ValueError(f"{weights} is corrupt (sha256 mismatch)")
    net = DigitClassifier()
    net.load_state_dict(load_file(str(weights)), strict=True)
    return net.eval().requires_grad_(False)


@functools.lru_cache(maxsize=2)
def _reference(stem: Path) -> tuple[FeatureStats, np.ndarray]:
    x, _ = load_digits()
    with torch.no_grad():
        f = load_classifier(stem).features(x).double().numpy()
    return feature_stats(f), f


def digits_metrics(samples: Tensor, *, seed: int = 0, classifier: Path = CLASSIFIER_STEM) -> dict:
    """FD and KID of generated digits (B, 1, 16, 16) in [-1, 1] against all real digits.

    Returns {"fd", "kid", "kid_std", "n", "label"}; label reads e.g. "FD-500".
    Samples are clamped to [-1, 1] first, as they would be for display.
    """
    if samples.ndim != 4 or tuple(samples.shape[1:]) != (1, IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"expected digits of shape (B, 1, 16, 16), got {tuple(samples.shape)}")
    ref_stats, ref_f = _reference(Path(classifier))
    with torch.no_grad():
        f = (
            load_classifier(Path(classifier))
            .features(samples.float().clamp(-1, 1))
            .double()
            .numpy()
        )
    # KID's cubic kernel assumes unit-scale features (as Inception's are, roughly);
    # dividing by the real features' spread keeps it in the usual range.
    scale = float(ref_f.std())
    k, k_std = kid(ref_f / scale, f / scale, n_subsets=20, subset_size=min(500, len(f)), seed=seed)
    n = len(f)
    return {
        "fd": frechet_distance(feature_stats(f), ref_stats),
        "kid": k,
        "kid_std": k_std,
        "n": n,
        "label": f"FD-{n}",
    }
