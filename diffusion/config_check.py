"""A checkpoint config checked field by field before any network is built.

``check_checkpoint_config(cfg, json_path)`` is called by ``checkpoints.load_checkpoint``
right after the JSON is parsed. It checks every field the loader uses, with the
ranges of ``diffusion.limits``: ``schedule`` (a known name, integer T), ``prediction``,
``sample_shape``, ``kind`` and the network (``net``: MLP width/depth/emb_dim, UNet
channels and levels, a consistency wrapper's backbone and sigma_data). It then builds
the network on PyTorch's ``meta`` device, which allocates no memory, and compares its
parameter shapes with the tensor shapes listed in the safetensors header; a config
that does not describe the stored weights is refused before a real network exists
(a tampered ``"width": 20000`` would otherwise allocate gigabytes first).

The config is covered by a checksum too: ``config_sha256(cfg)`` hashes the canonical
JSON of the config (sorted keys, without the ``config_sha256`` field itself), which
includes the weights' ``sha256``. A sidecar or manifest entry that records
``config_sha256`` must match it (``check_manifest_entry`` for shipped models).
Manifest entries are also confined to their manifest's folder (``../`` refused).
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from pathlib import Path

from .limits import LIMITS, MAX_SAMPLE_FLOATS, check_int

__all__ = [
    "PREDICTIONS",
    "check_checkpoint_config",
    "check_manifest_entry",
    "check_net_config",
    "config_sha256",
    "safetensors_shapes",
]

PREDICTIONS = ("eps", "x0", "v")
KINDS = ("diffusion", "pd-student", "consistency", "oracle")
_HEADER_MAX = 100 * 1024 * 1024


def config_sha256(cfg: dict) -> str:
    """sha256 of the config's canonical JSON (sorted keys, compact), without the
    ``config_sha256`` field; it includes the weights' ``sha256`` field."""
    body = {k: v for k, v in cfg.items() if k != "config_sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _bad(where: str, message: str) -> ValueError:
    return ValueError(f"bad checkpoint config {where}: {message}")


def _str_choice(where: str, field: str, value: object, choices) -> str:
    if not isinstance(value, str) or value not in choices:
        shown = repr(value)[:40]
        raise _bad(where, f"{field} is {shown}; choose one of {', '.join(choices)}")
    return value


def _int(where: str, field: str, value: object, limit: str, hi: int | None = None) -> int:
    try:
        return check_int(field, value, limit, hi)
    except ValueError as err:
        raise _bad(where, str(err)) from None


def check_net_config(net: object, where: str, field: str = "net") -> None:
    """Types and ranges of a network config (mlp, unet, consistency)."""
    from .nets import _LAZY_TYPES, NET_TYPES

    if not isinstance(net, dict):
        raise _bad(where, f"{field} must be a JSON object with a 'type'")
    types = sorted(set(NET_TYPES) | set(_LAZY_TYPES))
    kind = _str_choice(where, f"{field}.type", net.get("type"), types)
    if kind == "mlp":
        _check_mlp(net, where, field)
    elif kind == "unet":
        _check_unet(net, where, field)
    elif kind == "consistency":
        _check_consistency(net, where, field)


def _check_mlp(net: dict, where: str, field: str) -> None:
    for key, limit in (("dim", "dim"), ("width", "width"), ("depth", "depth")):
        if key in net:
            _int(where, f"{field}.{key}", net[key], limit)
    if "emb_dim" in net:
        emb = _int(where, f"{field}.emb_dim", net["emb_dim"], "emb_dim")
        if emb % 2:
            raise _bad(where, f"{field}.emb_dim must be even, got {emb}")


_UNET_INTS = (
    ("base_channels", "channels"),
    ("in_channels", "channels"),
    ("image_size", "image_size"),
    ("num_res_blocks", "res_blocks"),
    ("groups", "groups"),
)


def _check_unet(net: dict, where: str, field: str) -> None:
    for key, limit in _UNET_INTS:
        if key in net:
            _int(where, f"{field}.{key}", net[key], limit)
    mult = net.get("channel_mult", [1])
    if not isinstance(mult, list) or not 1 <= len(mult) <= LIMITS["levels"].hi:
        raise _bad(where, f"{field}.channel_mult must be a list of 1..6 integers")
    for m in mult:
        _int(where, f"{field}.channel_mult[]", m, "channel_mult")
    attn = net.get("attn_resolutions", [])
    if not isinstance(attn, list):
        raise _bad(where, f"{field}.attn_resolutions must be a list of integers")
    for a in attn:
        _int(where, f"{field}.attn_resolutions[]", a, "image_size")
    if "dropout" in net:
        d = net["dropout"]
        if isinstance(d, bool) or not isinstance(d, (int, float)) or not 0 <= d < 1:
            raise _bad(where, f"{field}.dropout must be a number in [0, 1), got {d!r:.40}")


def _check_consistency(net: dict, where: str, field: str) -> None:
    check_net_config(net.get("backbone"), where, f"{field}.backbone")
    if "schedule" in net:
        _check_schedule(net["schedule"], where, f"{field}.schedule")
    if "sigma_data" in net:
        s = net["sigma_data"]
        if (
            isinstance(s, bool)
            or not isinstance(s, (int, float))
            or not (math.isfinite(s) and 0 < s <= 1e3)
        ):
            raise _bad(where, f"{field}.sigma_data must be a number in (0, 1000], got {s!r}")


def _check_schedule(sch: object, where: str, field: str = "schedule") -> None:
    from .schedules import SCHEDULES

    if not isinstance(sch, dict):
        raise _bad(where, f"{field} must be an object {{'name': ..., 'T': ...}}, got {sch!r:.40}")
    _str_choice(where, f"{field}.name", sch.get("name", "linear"), tuple(SCHEDULES))
    _int(where, f"{field}.T", sch.get("T", 1000), "T")


def _check_sample_shape(shape: object, where: str) -> tuple[int, ...]:
    if not isinstance(shape, list) or not 1 <= len(shape) <= LIMITS["ndim"].hi:
        raise _bad(where, f"sample_shape must be a list of 1..3 integers, got {shape!r:.40}")
    dims = tuple(_int(where, "sample_shape[]", d, "dim") for d in shape)
    if math.prod(dims) > MAX_SAMPLE_FLOATS:
        raise _bad(where, f"sample_shape {list(dims)} holds more than {MAX_SAMPLE_FLOATS} floats")
    return dims


def _check_timesteps(sampling: object, T: int, where: str) -> None:
    if sampling is None:
        return
    if not isinstance(sampling, dict):
        raise _bad(where, "sampling must be a JSON object")
    grids = sampling.get("timesteps")
    if grids is None:
        return
    if not isinstance(grids, dict):
        raise _bad(where, "sampling.timesteps must map a step count to a list of times")
    for key, ts in grids.items():
        if not isinstance(ts, list) or not 1 <= len(ts) <= LIMITS["sampler_steps"].hi:
            raise _bad(where, f"sampling.timesteps[{key!r:.20}] must be a list of times")
        for t in ts:
            if (
                isinstance(t, bool)
                or not isinstance(t, (int, float))
                or not (math.isfinite(t) and 0 <= t <= T - 1)
            ):
                raise _bad(
                    where,
                    f"sampling.timesteps[{key!r:.20}] holds {t!r:.30}; "
                    f"times lie in [0, T-1={T - 1}]",
                )


def safetensors_shapes(path: str | Path) -> dict[str, tuple[int, ...]] | None:
    """Tensor name -> shape from a safetensors file's JSON header (no tensor is read);
    None when the file does not exist. ValueError for a malformed header."""
    p = Path(path)
    if not p.is_file():
        return None
    with open(p, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise ValueError(f"corrupt checkpoint {p}: too short for a safetensors file")
        (n,) = struct.unpack("<Q", head)
        if n > _HEADER_MAX:
            raise ValueError(f"corrupt checkpoint {p}: safetensors header of {n} bytes")
        try:
            header = json.loads(f.read(n))
        except (ValueError, UnicodeDecodeError):
            raise ValueError(f"corrupt checkpoint {p}: unreadable safetensors header") from None
    if not isinstance(header, dict):
        raise ValueError(f"corrupt checkpoint {p}: unreadable safetensors header")
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict) or not isinstance(info.get("shape"), list):
            raise ValueError(f"corrupt checkpoint {p}: tensor {name[:40]!r} has no shape")
        out[name] = tuple(int(s) for s in info["shape"])
    return out


def _meta_shapes(net_cfg: dict, where: str) -> dict[str, tuple[int, ...]] | None:
    """Parameter shapes of the configured network, built on the meta device (no memory)."""
    import torch

    from .nets import build_net

    if net_cfg.get("type") == "consistency":  # a wrapper: its parameters are the backbone's
        inner = _meta_shapes(net_cfg["backbone"], where)
        return None if inner is None else {f"backbone.{k}": v for k, v in inner.items()}
    try:
        with torch.device("meta"):
            net = build_net(net_cfg)
    except ValueError as err:
        raise _bad(where, str(err)) from None
    except Exception:  # a constructor that needs real tensors: the ranges above still hold
        return None
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def check_checkpoint_config(cfg: dict, json_path: str | Path) -> dict:
    """Validate ``cfg`` (read from ``json_path``) field by field; returns it unchanged.

    ValueError with one line naming the field and its valid range. Checks, in order:
    the recorded ``config_sha256`` (when present), kind, prediction, schedule,
    sample_shape, stored sampling grids, the network config, its parameter count,
    and that the network it describes has exactly the shapes stored in the weights.
    """
    where = str(json_path)
    if "config_sha256" in cfg and cfg["config_sha256"] != config_sha256(cfg):
        raise _bad(where, "config_sha256 does not match the config (it was changed after saving)")
    if "kind" in cfg:
        _str_choice(where, "kind", cfg["kind"], KINDS)
    if "prediction" in cfg:
        _str_choice(where, "prediction", cfg["prediction"], PREDICTIONS)
    sch = cfg.get("schedule", {"name": "linear", "T": 1000})
    _check_schedule(sch, where)
    T = int(sch.get("T", 1000))
    shape = _check_sample_shape(cfg.get("sample_shape", [2]), where)
    _check_timesteps(cfg.get("sampling"), T, where)
    if not isinstance(cfg.get("sha256"), str):
        raise _bad(where, "sha256 must be the weights' hex digest")
    net_cfg = cfg.get("net")
    check_net_config(net_cfg, where)
    backbone = net_cfg.get("backbone", net_cfg) if net_cfg.get("type") == "consistency" else net_cfg
    is_mlp = backbone.get("type") == "mlp" and "dim" in backbone
    if is_mlp and len(shape) == 1 and backbone["dim"] != shape[0]:
        dim = backbone["dim"]
        raise _bad(where, f"net dim {dim} does not match sample_shape {list(shape)}")
    shapes = _meta_shapes(net_cfg, where)
    if shapes is not None:
        count = sum(math.prod(s) for s in shapes.values())
        if count > LIMITS["params"].hi:
            raise _bad(where, f"the network has {count:,} parameters; at most 50,000,000 allowed")
        stem = Path(json_path)
        stored = safetensors_shapes(stem.with_suffix(".safetensors"))
        if stored is not None and stored != shapes:
            diff = sorted(set(stored) ^ set(shapes)) or [
                k for k in shapes if shapes[k] != stored.get(k)
            ]
            raise ValueError(
                f"checkpoint {stem.with_suffix('.safetensors')} does not fit its network config "
                f"{where} (first difference: {diff[0][:60]!r})"
            )
    return cfg


def check_manifest_entry(entry: object, manifest: str | Path) -> dict:
    """One manifest entry checked: a name, a relative ``path`` inside the manifest's
    folder, and (when recorded) a ``config_sha256`` matching the checkpoint's JSON.
    Returns the entry; ValueError naming the manifest and the entry otherwise."""
    manifest = Path(manifest)
    if not isinstance(entry, dict):
        raise ValueError(f"malformed manifest {manifest}: an entry is not a JSON object")
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"malformed manifest {manifest}: an entry has no 'name'")
    label = f"manifest {manifest}, model {name[:60]!r}"
    path = entry.get("path")
    if not isinstance(path, str) or not path:
        raise ValueError(f"broken {label}: no 'path' (the checkpoint stem beside the manifest)")
    folder = manifest.parent.resolve()
    target = (manifest.parent / path).resolve()
    if Path(path).is_absolute() or not target.is_relative_to(folder):
        raise ValueError(f"broken {label}: path {path[:60]!r} leaves the folder {folder}")
    expected = entry.get("config_sha256")
    if expected is not None:
        json_path = target.with_name(target.name + ".json")
        try:
            cfg = json.loads(json_path.read_bytes().decode("utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"checkpoint config not found: {json_path}") from None
        except (ValueError, UnicodeDecodeError) as err:
            raise ValueError(f"malformed checkpoint config {json_path}: {err}") from None
        if not isinstance(cfg, dict) or config_sha256(cfg) != expected:
            raise ValueError(
                f"corrupt checkpoint config {json_path}: config_sha256 does not match {manifest}"
            )
    return entry
