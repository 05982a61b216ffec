"""Bounds on every count, size and seed the command line and checkpoint configs accept.

One table, ``LIMITS``, names each quantity with its valid range and why it is
bounded; the command line parses its numbers through ``int_option`` /
``float_option`` (argparse ``type=`` functions), so an out-of-range value is refused
while the command line is parsed, before any model is loaded or memory allocated,
with one message naming the valid range. ``diffusion.config_check`` uses the same
table for the fields of a checkpoint config. docs/cli.md lists the table
(``limits_table_markdown``); a test keeps the two in step.

The bounds are far above anything the course needs (the largest shipped model has
64 hidden units; the published few-step tables use 50,000 samples) and far below
what would exhaust a laptop's memory.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

__all__ = [
    "LIMITS",
    "MAX_SAMPLE_FLOATS",
    "Limit",
    "check_float",
    "check_int",
    "float_option",
    "int_option",
    "limits_table_markdown",
]


@dataclass(frozen=True)
class Limit:
    """A closed range [lo, hi] (or half-open where ``lo_open``) with a description."""

    lo: float
    hi: float
    what: str
    lo_open: bool = False
    integer: bool = True

    def describe(self) -> str:
        if self.integer:
            return f"an integer in {_fmt(self.lo)}..{_fmt(self.hi)}"
        left = "(" if self.lo_open else "["
        return f"a number in {left}{_fmt(self.lo)}, {_fmt(self.hi)}]"

    def contains(self, value: float) -> bool:
        if self.lo_open:
            return self.lo < value <= self.hi
        return self.lo <= value <= self.hi


def _fmt(x: float) -> str:
    if float(x).is_integer() and abs(x) >= 10_000:
        return f"{int(x):,}"
    return f"{x:g}"


MAX_SAMPLE_FLOATS = 1 << 28
"""Largest n * prod(sample_shape) one sampling run may hold (256 M floats, 1 GB)."""

LIMITS: dict[str, Limit] = {
    # counts of points / samples
    "n": Limit(1, 1_000_000, "`sample --n`, `data --n`; points of `evaluate --samples`"),
    "n_ref": Limit(2, 1_000_000, "`evaluate --n-ref`"),
    "images_n": Limit(1, 50_000, "`images sample/sweep --n`; images of `images fid`"),
    "seed": Limit(0, 2**31 - 1, "every `--seed` (a NumPy seed too)"),
    # sampling
    "sampler_steps": Limit(1, 10_000, "`sample --steps`, `images sample --steps` (and at most T)"),
    "order": Limit(1, 3, "`sample --order` (dpm-solver, dpm-solver++, unipc)"),
    "nfe": Limit(1, 1_000, "each entry of `images sweep --nfe` (1..32 entries)"),
    # training
    "train_steps": Limit(1, 10_000_000, "training `--steps`, `--first-round-steps`, `--warmup`"),
    "batch_size": Limit(1, 65_536, "every `--batch-size`"),
    "width": Limit(1, 4_096, "`train --width`; `net.width` of a config"),
    "depth": Limit(1, 64, "`train --depth`; `net.depth` of a config"),
    "emb_dim": Limit(2, 4_096, "`net.emb_dim` of a config (even)"),
    "params": Limit(1, 50_000_000, "parameters of a network (`train` or a config)"),
    "lr": Limit(0, 1, "every `--lr`, `--first-round-lr`", lo_open=True, integer=False),
    "max_seconds": Limit(0, 1e6, "every `--max-seconds` (finite)", lo_open=True, integer=False),
    "every": Limit(1, 10_000_000, "`images train --log-every`, `--ckpt-every`"),
    # distillation
    "start_steps": Limit(2, 65_536, "`distill --start-steps` (a power of 2)"),
    "rounds": Limit(1, 16, "`distill --rounds` (at most log2 of --start-steps)"),
    "N": Limit(2, 10_000, "`distill --N`"),
    "mu": Limit(0, 1, "`distill --mu`, `--ema-decay`, `images train --ema-decay`", integer=False),
    "eta": Limit(0, 1, "`--eta`", integer=False),
    # checkpoint configs
    "T": Limit(2, 10_000, "`schedule.T` of a config"),
    "dim": Limit(1, 1_024, "each axis of `sample_shape`; `net.dim`"),
    "ndim": Limit(1, 3, "axes of `sample_shape`"),
    "image_size": Limit(4, 256, "`net.image_size`, `images train --image-size`"),
    "channels": Limit(1, 1_024, "`net.base_channels`, `net.in_channels`, `--base-channels`"),
    "channel_mult": Limit(1, 16, "each entry of `net.channel_mult`, `--channel-mult`"),
    "levels": Limit(1, 6, "entries of `net.channel_mult`"),
    "res_blocks": Limit(0, 8, "`net.num_res_blocks`, `--num-res-blocks`"),
    "groups": Limit(1, 256, "`net.groups`, `images train --groups`"),
}
"""Every bounded quantity: name -> Limit (docs/cli.md, 'Limits')."""


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def check_int(label: str, value: object, limit: str, hi: int | None = None) -> int:
    """``value`` as an int inside ``LIMITS[limit]`` (upper bound lowered to ``hi``
    when given); ValueError naming ``label`` and the range otherwise."""
    lim = LIMITS[limit]
    top = lim.hi if hi is None else min(lim.hi, hi)
    v = _number(value)
    if v is None or (isinstance(v, float) and not v.is_integer()) or not lim.lo <= v <= top:
        shown = _short(value)
        raise ValueError(f"{label} must be an integer in {_fmt(lim.lo)}..{_fmt(top)}, got {shown}")
    return int(v)


def check_float(label: str, value: object, limit: str) -> float:
    """``value`` as a finite float inside ``LIMITS[limit]``; ValueError otherwise."""
    lim = LIMITS[limit]
    v = _number(value)
    if v is None or not math.isfinite(v) or not lim.contains(v):
        raise ValueError(f"{label} must be {lim.describe()}, got {_short(value)}")
    return float(v)


def _short(value: object, n: int = 40) -> str:
    text = repr(value) if not isinstance(value, (int, float)) else str(value)
    return text if len(text) <= n else text[: n - 3] + "..."


def int_option(limit: str):
    """An argparse ``type=``: parses an integer and checks it against ``LIMITS[limit]``
    at parse time (so '99999999999999999999999' is refused before any work)."""
    lim = LIMITS[limit]

    def parse(text: str) -> int:
        try:
            value = int(text.strip().replace("_", ""), 10)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {lim.describe()}, got {_short(text)}"
            ) from None
        if not lim.lo <= value <= lim.hi:
            raise argparse.ArgumentTypeError(f"expected {lim.describe()}, got {_short(text)}")
        return value

    parse.__name__ = limit
    return parse


def float_option(limit: str):
    """An argparse ``type=`` for a finite float inside ``LIMITS[limit]``."""
    lim = LIMITS[limit]

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or not lim.contains(value):
            raise argparse.ArgumentTypeError(f"expected {lim.describe()}, got {_short(text)}")
        return value

    parse.__name__ = limit
    return parse


def limits_table_markdown() -> str:
    """The LIMITS table as Markdown rows (docs/cli.md)."""
    rows = ["| quantity | valid range | what |", "|---|---|---|"]
    for name, lim in LIMITS.items():
        rng = lim.describe().replace("an integer in ", "").replace("a number in ", "")
        rows.append(f"| `{name}` | {rng} | {lim.what} |")
    rows.append(
        f"| `n * prod(sample_shape)` | 1..{MAX_SAMPLE_FLOATS:,} | floats held by one sampling run |"
    )
    return "\n".join(rows)
