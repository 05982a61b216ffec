"""Image checkpoints on the package's checkpoint format (``diffusion.checkpoints``):
safetensors weights + a JSON config holding the weights' sha256 and the network's
config ({"type": "unet", ...}), so ``load_model`` and the ``sample`` command read
image models like any other. Shipped image models are listed in
``assets/images/manifest.json``.
"""

from __future__ import annotations

import os
from pathlib import Path

from torch import nn

from ..checkpoints import add_to_manifest, load_model, save_checkpoint, sha256_file
from ..model import DiffusionModel

__all__ = [
    "ASSETS",
    "MANIFEST",
    "load_image_model",
    "register_shipped",
    "save_image_model",
    "sha256_file",
]

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "images"
MANIFEST = ASSETS / "manifest.json"


def save_image_model(stem: str | os.PathLike, net: nn.Module, config: dict) -> dict:
    """Write ``<stem>.safetensors`` + ``<stem>.json``; fills ``sample_shape`` (C, H, W)
    from the UNet. config holds kind, prediction, schedule {"name", "T"}, dataset."""
    cfg = dict(config)
    unet_cfg = getattr(net, "unet_config", None)
    if unet_cfg is not None:
        cfg.setdefault(
            "sample_shape", [unet_cfg.in_channels, unet_cfg.image_size, unet_cfg.image_size]
        )
    Path(stem).parent.mkdir(parents=True, exist_ok=True)
    return save_checkpoint(stem, net, cfg)


def load_image_model(spec: str | os.PathLike) -> DiffusionModel:
    """A shipped image model by name, or a checkpoint path stem (sha256 checked)."""
    return load_model(str(spec))


def register_shipped(
    name: str, stem: str | os.PathLike, *, manifest: str | os.PathLike = MANIFEST, **meta
) -> None:
    """List a checkpoint under assets/images in the image manifest."""
    add_to_manifest(manifest, name, stem, **meta)
