"""Denoising networks and the registry that rebuilds them from a JSON config.

``MLPDenoiser`` is the 2-D world's network: a small MLP on (x_t, embedding of t).
Other network types (the image UNet, a consistency-model wrapper) register
themselves with ``register_net`` so that ``build_net(config)`` and the checkpoint
loader can rebuild any shipped model from its config alone.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

__all__ = ["NET_TYPES", "MLPDenoiser", "build_net", "register_net", "sinusoidal_embedding"]


def sinusoidal_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Transformer-style sinusoidal features of a float timestep (Vaswani et al. 2017,
    Sec. 3.5; used for t by DDPM, Ho et al. 2020, App. B). t: (B,) -> (B, dim).

    Frequencies run geometrically from 1 down to 1/max_period, so t in [0, T-1] with
    T = 1000 is resolved both coarsely and to fractions of a step (the samplers call
    the network at fractional t).
    """
    half = dim // 2
    freqs = torch.exp(
        -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half
    )
    angles = t.float().unsqueeze(-1) * freqs
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


class MLPDenoiser(nn.Module):
    """net(x_t, t) for 2-D data: an MLP with SiLU whose every layer receives the
    time embedding, predicting eps by default (DDPM, Ho et al. 2020, eq. 14 ff.).

    Layer l computes h_l = SiLU(W_l h_{l-1} + E_l emb(t) + b_l), with h_0 = x_t; the
    first layer is the same as an MLP on the concatenation [x_t, emb(t)], and the
    later E_l give every layer the noise level (a cheap version of the UNet's
    per-block time conditioning).

    x: (B, dim), t: (B,) float timesteps in [0, T-1] -> (B, dim).
    """

    def __init__(self, dim: int = 2, width: int = 64, depth: int = 4, emb_dim: int = 32) -> None:
        super().__init__()
        if depth < 1 or width < 1 or emb_dim < 2 or emb_dim % 2:
            raise ValueError("MLPDenoiser needs depth >= 1, width >= 1 and an even emb_dim >= 2")
        self.config = {
            "type": "mlp",
            "dim": dim,
            "width": width,
            "depth": depth,
            "emb_dim": emb_dim,
        }
        self.emb_dim = emb_dim
        self.layers = nn.ModuleList(
            nn.Linear(dim if i == 0 else width, width) for i in range(depth)
        )
        self.time = nn.ModuleList(nn.Linear(emb_dim, width, bias=False) for _ in range(depth))
        self.out = nn.Linear(width, dim)
        self.act = nn.SiLU()

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        h = x
        for lin, c in zip(self.layers, self._time_terms(t, x.dtype), strict=True):
            # addmm adds E_l emb(t) + b_l inside the matrix product: one pass over
            # the (B, width) activations fewer per layer than lin(h) + E_l emb(t)
            h = self.act(torch.addmm(c, h, lin.weight.t()))
        return self.out(h)

    def _time_terms(self, t: Tensor, dtype: torch.dtype) -> list[Tensor]:
        """E_l emb(t) + b_l for every layer l: (B, width), or (1, width) to broadcast.

        The time branch is computed once per distinct t: a sampler evaluates the whole
        batch at one t (broadcast), and the few-step losses draw t from a grid of at most
        a few hundred levels (computed on the levels, then looked up per sample). Only
        the work shrinks; the values are those of the per-sample computation.
        """
        t = t.reshape(-1)
        if t.numel() > 1 and bool((t == t[0]).all()):
            t = t[:1]
        levels, inverse = t, None
        if t.numel() >= 64:
            levels, inverse = torch.unique(t, return_inverse=True)
            if 4 * levels.numel() > t.numel():
                levels, inverse = t, None
        emb = sinusoidal_embedding(levels, self.emb_dim).to(dtype)
        terms = [
            torch.addmm(lin.bias, emb, tlin.weight.t())
            for lin, tlin in zip(self.layers, self.time, strict=True)
        ]
        if inverse is None:
            return terms
        # index_select rather than embedding: its backward (index_add) takes half the time
        return [c.index_select(0, inverse) for c in terms]


NET_TYPES: dict[str, Callable[..., nn.Module]] = {"mlp": MLPDenoiser}
"""Network type name -> constructor taking the config's other keys."""

# Types defined in optional sub-packages, imported on first use so that loading a
# 2-D checkpoint never pulls in the image code.
_LAZY_TYPES: dict[str, str] = {
    "unet": "diffusion.images.unet",
    "consistency": "diffusion.distill.consistency",
}


def register_net(name: str, constructor: Callable[..., nn.Module]) -> None:
    """Make ``build_net({"type": name, ...})`` call ``constructor(**rest)``.
    The constructor's module should give each instance a ``config`` dict with
    "type" and these keyword arguments, so that checkpoints can be rebuilt."""
    if name in NET_TYPES and NET_TYPES[name] is not constructor:
        raise ValueError(f"network type {name!r} registered twice")
    NET_TYPES[name] = constructor


def build_net(config: dict) -> nn.Module:
    """A fresh (untrained) network from its config, e.g.
    ``{"type": "mlp", "dim": 2, "width": 64, "depth": 4, "emb_dim": 32}``."""
    if not isinstance(config, dict) or "type" not in config:
        raise ValueError("a network config must be a dict with a 'type' key")
    kind = config["type"]
    if kind not in NET_TYPES and kind in _LAZY_TYPES:
        importlib.import_module(_LAZY_TYPES[kind])
    if kind not in NET_TYPES:
        choices = sorted(set(NET_TYPES) | set(_LAZY_TYPES))
        raise ValueError(f"unknown network type {kind!r}; choose one of {', '.join(choices)}")
    kwargs = {k: v for k, v in config.items() if k != "type"}
    try:
        return NET_TYPES[kind](**kwargs)
    except TypeError as err:
        raise ValueError(f"bad config for network type {kind!r}: {err}") from None
