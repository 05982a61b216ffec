"""Checkpoints without pickle: safetensors weights + a JSON config + sha256.

A checkpoint is a path *stem*: ``<stem>.safetensors`` holds the tensors and
``<stem>.json`` the config that rebuilds the network (``nets.build_net``), the
schedule, the prediction type, the kind ("diffusion", "pd-student",
"consistency"), the dataset, training information and the sha256 of the weights
file. Loading verifies the sha256 before the weights are used.

Shipped models are listed in manifests, ``assets/<group>/manifest.json``:
``{"models": [{"name", "path", "sha256", "description", "dataset", "kind", ...}]}``
with ``path`` the stem relative to the manifest's folder.

``load_model(spec)`` turns any of these into a ready DiffusionModel:
  ``oracle:<dataset>``   the exact denoiser of a Gaussian-mixture dataset;
  ``<name>``             a shipped model from any manifest;
  ``<path stem>``        a checkpoint on disk (``.json``/``.safetensors`` suffix optional);
  ``<DIR>@<N>steps``     round N of a progressive-distillation run: ``DIR/pd-<N>steps``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path

from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

from .config_check import check_checkpoint_config, check_manifest_entry, config_sha256
from .model import DiffusionModel
from .nets import build_net
from .oracle import oracle_for_dataset
from .schedules import get_schedule

__all__ = [
    "ASSETS_DIR",
    "FORMAT_VERSION",
    "add_to_manifest",
    "assets_dir",
    "list_models",
    "load_checkpoint",
    "load_model",
    "model_from_checkpoint",
    "read_manifest",
    "save_checkpoint",
    "sha256_file",
]

FORMAT_VERSION = 1
KINDS = ("diffusion", "pd-student", "consistency")

# The shipped assets live next to the package in a source checkout; an installed
# copy (or a test) can point elsewhere with the DIFFUSION_ASSETS variable.
ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"


def assets_dir() -> Path:
    """The folder whose ``*/manifest.json`` list the shipped models."""
    return Path(os.environ.get("DIFFUSION_ASSETS", ASSETS_DIR))


_PD_SPEC = re.compile(r"^(?P<dir>.+)@(?P<n>\d+)steps?$")


# ----- small file helpers -------------------------------------------------------------


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, then rename over ``path``: a reader
    never sees a half-written file, and a failed write leaves nothing behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; checkpoints are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _stem(path_stem: str | Path) -> Path:
    p = Path(path_stem)
    if p.suffix in (".json", ".safetensors"):
        p = p.with_suffix("")
    return p


def _read_json(path: Path, what: str) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} not found: {path}") from None
    except UnicodeDecodeError:
        raise ValueError(f"malformed {what} {path}: not UTF-8 text") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"malformed {what} {path}: {err.msg} at line {err.lineno}") from None
    if not isinstance(data, dict):
        raise ValueError(f"malformed {what} {path}: expected a JSON object")
    return data


# ----- checkpoints --------------------------------------------------------------------


def save_checkpoint(path_stem: str | Path, net: nn.Module, config: dict) -> dict:
    """Write ``<stem>.safetensors`` and ``<stem>.json`` atomically; returns the config
    as written (with "net" filled from ``net.config`` when absent, "sha256",
    "format_version" and "config_sha256", the checksum of the config itself, added).
    Weights first, JSON second: the JSON names the weights' sha256, so a crash in
    between leaves a checkpoint that fails loudly."""
    stem = _stem(path_stem)
    cfg = dict(config)
    if "net" not in cfg:
        if not hasattr(net, "config"):
            raise ValueError("config needs a 'net' entry (or the network a .config dict)")
        cfg["net"] = dict(net.config)
    if cfg.get("kind", "diffusion") not in KINDS:
        raise ValueError(
            f"unknown checkpoint kind {cfg['kind']!r}; choose one of {', '.join(KINDS)}"
        )
    cfg.setdefault("kind", "diffusion")
    # safetensors refuses shared storage; contiguous clones make every tensor its own.
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in net.state_dict().items()}
    blob = st_save(tensors, metadata={"format": "pt"})
    cfg["sha256"] = hashlib.sha256(blob).hexdigest()
    cfg["format_version"] = FORMAT_VERSION
    # The config's own checksum (it names the weights' sha256), of the config as it will
    # be read back (JSON turns int keys to strings): load refuses an edited config.
    cfg["config_sha256"] = config_sha256(json.loads(json.dumps(cfg)))
    text = json.dumps(cfg, indent=2, sort_keys=True) + "\n"
    _atomic_write_bytes(stem.with_name(stem.name + ".safetensors"), blob)
    _atomic_write_bytes(stem.with_name(stem.name + ".json"), text.encode())
    return cfg


def load_checkpoint(path_stem: str | Path) -> tuple[nn.Module, dict]:
    """(network in eval mode with frozen parameters, config), after checking the
    weights' sha256 against the config. Raises FileNotFoundError for a missing file
    and ValueError for malformed JSON, a sha256 mismatch or weights that do not fit
    the configured network."""
    stem = _stem(path_stem)
    json_path = stem.with_name(stem.name + ".json")
    st_path = stem.with_name(stem.name + ".safetensors")
    cfg = _read_json(json_path, "checkpoint config")
    for key in ("net", "sha256"):
        if key not in cfg:
            raise ValueError(f"malformed checkpoint config {json_path}: no {key!r} entry")
    check_checkpoint_config(cfg, json_path)  # field by field, before any network is built
    try:
        blob = st_path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"checkpoint weights not found: {st_path}") from None
    if hashlib.sha256(blob).hexdigest() != cfg["sha256"]:
        raise ValueError(f"corrupt checkpoint {st_path}: sha256 does not match its config")
    try:
        tensors = st_load(blob)
    except Exception as err:  # safetensors raises its own error types
        raise ValueError(f"corrupt checkpoint {st_path}: {err}") from None
    net = build_net(cfg["net"])
    try:
        net.load_state_dict(tensors, strict=True)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise ValueError(f"checkpoint {st_path} does not fit its network config: {first}") from None
    # Inference only: frozen parameters keep sampling from building autograd graphs.
    # (A distillation student copies the network and re-enables gradients itself.)
    net.eval().requires_grad_(False)
    return net, cfg


def model_from_checkpoint(net: nn.Module, cfg: dict, name: str) -> DiffusionModel:
    """Wrap a loaded network with its schedule, sample shape and config."""
    sch = cfg.get("schedule", {"name": "linear", "T": 1000})
    return DiffusionModel(
        net,
        get_schedule(sch.get("name", "linear"), int(sch.get("T", 1000))),
        prediction=cfg.get("prediction", "eps"),
        name=name,
        sample_shape=tuple(cfg.get("sample_shape", (2,))),
        config=cfg,
    )


# ----- manifests ----------------------------------------------------------------------


def read_manifest(manifest_path: str | Path) -> list[dict]:
    """The entries of one manifest (an empty list when the file does not exist)."""
    path = Path(manifest_path)
    if not path.exists():
        return []
    data = _read_json(path, "manifest")
    entries = data.get("models", [])
    if not isinstance(entries, list):
        raise ValueError(f"malformed manifest {path}: 'models' must be a list")
    return entries


def add_to_manifest(manifest_path: str | Path, name: str, stem: str | Path, **meta) -> dict:
    """Add (or replace) the entry ``name`` in a manifest, for the checkpoint at
    ``stem`` (absolute, or relative to the current directory). Records the stem
    relative to the manifest's folder and the sha256 of the weights; ``meta`` holds
    description, dataset, kind and anything else worth listing. Written atomically."""
    path = Path(manifest_path)
    stem = _stem(stem)
    weights = stem.with_name(stem.name + ".safetensors")
    if not weights.exists():
        raise FileNotFoundError(f"checkpoint weights not found: {weights}")
    rel = os.path.relpath(stem.resolve(), path.parent.resolve())
    entry = {"name": name, "path": Path(rel).as_posix(), "sha256": sha256_file(weights)}
    cfg = _read_json(stem.with_name(stem.name + ".json"), "checkpoint config")
    entry["config_sha256"] = config_sha256(cfg)  # the config, which names the weights' sha256
    entry.update(meta)
    entries = [e for e in read_manifest(path) if e.get("name") != name] + [entry]
    entries.sort(key=lambda e: e["name"])
    text = json.dumps({"models": entries}, indent=2) + "\n"
    _atomic_write_bytes(path, text.encode())
    return entry


def _manifests() -> list[Path]:
    return sorted(assets_dir().glob("*/manifest.json"))


BROKEN_MANIFESTS: dict[str, str] = {}
"""Manifest file -> why the last ``list_models()`` skipped it or one of its entries."""


def list_models(skipped: dict[str, str] | None = None) -> list[dict]:
    """Every shipped model from every manifest, each entry with ``manifest`` (its file)
    and ``stem`` (the absolute checkpoint stem) added. A malformed manifest hides only
    its own models, and an entry without a name only itself (both in BROKEN_MANIFESTS,
    and in ``skipped`` when given: this call's own copy, for a caller in a thread)."""
    out = []
    broken: dict[str, str] = {}
    for manifest in _manifests():
        try:
            entries = read_manifest(manifest)
        except ValueError as err:
            broken[str(manifest)] = " ".join(str(err).split())
            continue
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                broken[str(manifest)] = "an entry without a 'name' was skipped"
                continue
            out.append(
                {
                    **entry,
                    "manifest": str(manifest),
                    "stem": str(manifest.parent / str(entry.get("path") or "")),
                }
            )
    BROKEN_MANIFESTS.clear()
    BROKEN_MANIFESTS.update(broken)
    if skipped is not None:
        skipped.update(broken)
    return out


def _load_shipped(entry: dict) -> DiffusionModel:
    check_manifest_entry(entry, entry["manifest"])  # a path inside its folder, config_sha256
    stem = Path(entry["stem"])
    weights = stem.with_name(stem.name + ".safetensors")
    if weights.exists() and sha256_file(weights) != entry.get("sha256"):
        raise ValueError(f"corrupt checkpoint {weights}: sha256 does not match {entry['manifest']}")
    net, cfg = load_checkpoint(stem)
    return model_from_checkpoint(net, cfg, entry["name"])


def _exists(stem: Path) -> bool:
    return stem.with_name(stem.name + ".json").exists()


def load_model(spec: str) -> DiffusionModel:
    """A DiffusionModel from a model spec (see the module docstring), with its
    ``sample_shape`` and ``config``. Unknown names raise a ValueError listing the
    valid choices; a path that does not exist raises FileNotFoundError."""
    from .toy.datasets import ORACLE_DATASETS

    if not isinstance(spec, str) or not spec.strip():
        raise ValueError("a model spec must be a non-empty string")
    spec = spec.strip()
    if spec.startswith("oracle:"):
        return oracle_for_dataset(spec.split(":", 1)[1])
    shipped = {e["name"]: e for e in list_models()}
    if spec in shipped:
        return _load_shipped(shipped[spec])
    stem = _stem(spec)
    if _exists(stem):
        net, cfg = load_checkpoint(stem)
        return model_from_checkpoint(net, cfg, stem.name)
    match = _PD_SPEC.match(spec)
    if match and not Path(match["dir"]).is_dir():
        raise FileNotFoundError(f"folder {match['dir']} not found (for model {spec})")
    if match:
        pd_stem = Path(match["dir"]) / f"pd-{int(match['n'])}steps"
        if not _exists(pd_stem):
            rounds = sorted(
                p.name[: -len(".json")] for p in Path(match["dir"]).glob("pd-*steps.json")
            )
            raise FileNotFoundError(
                f"no progressive-distillation round {match['n']} in {match['dir']}; found "
                f"{', '.join(rounds) or 'none'}"
            )
        net, cfg = load_checkpoint(pd_stem)
        return model_from_checkpoint(net, cfg, spec)
    if "/" in spec or os.sep in spec or spec.endswith((".json", ".safetensors")):
        raise FileNotFoundError(f"checkpoint not found: {stem}.json")
    raise ValueError(
        f"unknown model {spec!r}; choose oracle:<dataset> ({', '.join(ORACLE_DATASETS)}), "
        f"a shipped model ({', '.join(sorted(shipped)) or 'none installed'}) or a checkpoint path"
    )
