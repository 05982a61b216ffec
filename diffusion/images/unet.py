"""A compact DDPM-style UNet for images (Ho et al. 2020, App. B; the PixelCNN++
backbone with wide ResNet blocks, GroupNorm and self-attention at low resolution).

Shapes: x: (B, C, H, W), t: (B,) float timesteps in [0, T-1] (the package's time
convention; fractional t between training steps is fine, since the time
embedding is a smooth function of t). Output: (B, C, H, W), read as eps, x0 or v
according to the model's ``prediction``.

Defaults: base width 64, channel multipliers (1, 2, 2, 2), two ResNet blocks per
level and attention at 16x16 give about 9 M parameters at 32x32, a quarter of the
DDPM CIFAR-10 network (width 128, 35.7 M).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nets import register_net

__all__ = ["UNet", "UNetConfig", "count_parameters", "timestep_embedding"]


@dataclass
class UNetConfig:
    """Hyper-parameters of ``UNet``; stored as JSON beside the weights."""

    image_size: int = 32
    in_channels: int = 3
    base_channels: int = 64
    channel_mult: tuple[int, ...] = (1, 2, 2, 2)
    num_res_blocks: int = 2
    attn_resolutions: tuple[int, ...] = (16,)
    dropout: float = 0.1
    groups: int = 32
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.channel_mult = tuple(int(m) for m in self.channel_mult)
        self.attn_resolutions = tuple(int(r) for r in self.attn_resolutions)
        if self.image_size % (2 ** (len(self.channel_mult) - 1)):
            raise ValueError(
                f"image_size {self.image_size} must be divisible by "
                f"2^(levels-1) = {2 ** (len(self.channel_mult) - 1)}"
            )
        for c in {self.base_channels * m for m in self.channel_mult}:
            if c % self.groups:
                raise ValueError(f"channel count {c} is not divisible by groups={self.groups}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channel_mult"] = list(self.channel_mult)
        d["attn_resolutions"] = list(self.attn_resolutions)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> UNetConfig:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding of float timesteps (Transformer positions, as in DDPM).

    t: (B,) -> (B, dim). Works for fractional t, which the samplers' continuous-time
    grids (log-SNR, Karras) produce.
    """
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.sin(args), torch.cos(args)], dim=1)
    if dim % 2:
        emb = F.pad(emb, (0, 1))
    return emb


class ResBlock(nn.Module):
    """Wide ResNet block with the time embedding added after the first conv."""

    def __init__(self, c_in: int, c_out: int, t_dim: int, dropout: float, groups: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.t_proj = nn.Linear(t_dim, c_out)
        self.norm2 = nn.GroupNorm(groups, c_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        # Zero-initialised last conv: each block starts as the identity, which keeps
        # the activations' scale stable through a deep stack at initialisation.
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor, temb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.t_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class AttnBlock(nn.Module):
    """Single-head self-attention over the H*W positions, with a residual."""

    def __init__(self, c: int, groups: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(groups, c)
        self.qkv = nn.Conv2d(c, 3 * c, 1)
        self.proj = nn.Conv2d(c, c, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, h * w).transpose(-1, -2).unbind(1)
        out = F.scaled_dot_product_attention(q[:, None], k[:, None], v[:, None])[:, 0]
        return x + self.proj(out.transpose(-1, -2).reshape(b, c, h, w))


class Downsample(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class UNet(nn.Module):
    """DDPM UNet: net(x: (B, C, H, W), t: (B,)) -> (B, C, H, W)."""

    def __init__(self, config: UNetConfig | None = None, **overrides) -> None:
        super().__init__()
        if config is None:
            config = UNetConfig(**overrides)
        elif overrides:
            config = UNetConfig.from_dict({**config.to_dict(), **overrides})
        self.unet_config = cfg = config
        # The dict form rebuilds the network from a checkpoint: build_net(config).
        self.config = {"type": "unet", **config.to_dict()}
        ch, g = cfg.base_channels, cfg.groups
        t_dim = 4 * ch
        self.t_mlp = nn.Sequential(nn.Linear(ch, t_dim), nn.SiLU(), nn.Linear(t_dim, t_dim))
        self.conv_in = nn.Conv2d(cfg.in_channels, ch, 3, padding=1)

        # Encoder: remember every feature map's width, since the decoder concatenates them.
        self.down = nn.ModuleList()
        skips = [ch]
        c, res = ch, cfg.image_size
        for level, mult in enumerate(cfg.channel_mult):
            for _ in range(cfg.num_res_blocks):
                blocks = nn.ModuleList([ResBlock(c, ch * mult, t_dim, cfg.dropout, g)])
                c = ch * mult
                if res in cfg.attn_resolutions:
                    blocks.append(AttnBlock(c, g))
                self.down.append(blocks)
                skips.append(c)
            if level < len(cfg.channel_mult) - 1:
                self.down.append(nn.ModuleList([Downsample(c)]))
                skips.append(c)
                res //= 2

        self.mid = nn.ModuleList(
            [
                ResBlock(c, c, t_dim, cfg.dropout, g),
                AttnBlock(c, g),
                ResBlock(c, c, t_dim, cfg.dropout, g),
            ]
        )

        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(cfg.channel_mult))):
            for _ in range(cfg.num_res_blocks + 1):
                blocks = nn.ModuleList(
                    [ResBlock(c + skips.pop(), ch * mult, t_dim, cfg.dropout, g)]
                )
                c = ch * mult
                if res in cfg.attn_resolutions:
                    blocks.append(AttnBlock(c, g))
                self.up.append(blocks)
            if level > 0:
                self.up.append(nn.ModuleList([Upsample(c)]))
                res *= 2

        self.norm_out = nn.GroupNorm(g, c)
        self.conv_out = nn.Conv2d(c, cfg.in_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def _run(self, blocks: nn.ModuleList, h: Tensor, temb: Tensor) -> Tensor:
        for block in blocks:
            h = block(h, temb) if isinstance(block, ResBlock) else block(h)
        return h

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        c = self.unet_config.in_channels
        if x.ndim != 4 or x.shape[1] != c:
            raise ValueError(f"expected x of shape (B, {c}, H, W), got {tuple(x.shape)}")
        t = torch.as_tensor(t, device=x.device)
        if t.ndim == 0:
            t = t.expand(x.shape[0])
        temb = self.t_mlp(timestep_embedding(t, self.unet_config.base_channels).to(x.dtype))
        h = self.conv_in(x)
        hs = [h]
        for blocks in self.down:
            h = self._run(blocks, h, temb)
            hs.append(h)
        h = self._run(self.mid, h, temb)
        for blocks in self.up:
            if isinstance(blocks[0], ResBlock):
                h = torch.cat([h, hs.pop()], dim=1)
            h = self._run(blocks, h, temb)
        return self.conv_out(F.silu(self.norm_out(h)))


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


register_net("unet", UNet)
