"""Hostile command lines (issue 16): a table of bad inputs, each of which must give
exit code 2, exactly one ``error: ...`` line on stderr, no traceback, and leave no file
or folder behind; broken checkpoints and manifests as fixtures (temporary copies of
the shipped 2-D models with one field broken); SIGTERM while writing and a closed
output pipe in subprocesses.

``python tests/test_fuzz_cli.py`` prints the counts table of docs/cli.md.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from diffusion.cli import main
from diffusion.limits import limits_table_markdown

REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO / "assets"

# ----- fixtures: broken checkpoints and manifests --------------------------------------

# name -> change to moons.json (a function of the config dict, in place)
CONFIG_BREAKS = {
    "schedule-list": lambda c: c.__setitem__("schedule", [1, 2]),
    "T-negative": lambda c: c["schedule"].__setitem__("T", -5),
    "T-huge": lambda c: c["schedule"].__setitem__("T", 1e9),
    "T-float": lambda c: c["schedule"].__setitem__("T", 999.5),
    "schedule-name": lambda c: c["schedule"].__setitem__("name", "<b>x</b>"),
    "shape-str": lambda c: c.__setitem__("sample_shape", "abc"),
    "shape-neg": lambda c: c.__setitem__("sample_shape", [-1]),
    "shape-zero": lambda c: c.__setitem__("sample_shape", [0]),
    "shape-3": lambda c: c.__setitem__("sample_shape", [3]),
    "shape-int": lambda c: c.__setitem__("sample_shape", 2),
    "width-huge": lambda c: c["net"].__setitem__("width", 200000),
    "width-20000": lambda c: c["net"].__setitem__("width", 20000),
    "width-str": lambda c: c["net"].__setitem__("width", "64"),
    "depth-zero": lambda c: c["net"].__setitem__("depth", 0),
    "emb-odd": lambda c: c["net"].__setitem__("emb_dim", 33),
    "net-type": lambda c: c["net"].__setitem__("type", "os.system"),
    "net-list": lambda c: c.__setitem__("net", [1, 2]),
    "prediction": lambda c: c.__setitem__("prediction", "eps; rm -rf /"),
    "kind": lambda c: c.__setitem__("kind", 7),
    "nan-grid": lambda c: c.__setitem__("sampling", {"timesteps": {"2": [float("nan"), 3.0]}}),
    "grid-range": lambda c: c.__setitem__("sampling", {"timesteps": {"1": [5000.0]}}),
    "sha-missing": lambda c: c.pop("sha256"),
    "width-mismatch": lambda c: c["net"].__setitem__("width", 32),
    "config-sha": lambda c: c.update(config_sha256="0" * 64),
}


def _write_broken(folder: Path, name: str, change) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / name
    shutil.copy(ASSETS / "models" / "moons.safetensors", stem.with_suffix(".safetensors"))
    cfg = json.loads((ASSETS / "models" / "moons.json").read_text())
    change(cfg)
    stem.with_suffix(".json").write_text(json.dumps(cfg))
    return stem


TAMPERS = {
    "saved-width": lambda c: c["net"].__setitem__("width", 32),
    "saved-T": lambda c: c["schedule"].__setitem__("T", 500),
    "saved-prediction": lambda c: c.__setitem__("prediction", "x0"),
}


def _write_tampered(folder: Path) -> None:
    """Checkpoints written by ``save_checkpoint`` (which records the config's own
    ``config_sha256``), each with one field of its JSON edited afterwards."""
    from diffusion.checkpoints import load_model, save_checkpoint

    model = load_model(str(ASSETS / "models" / "moons"))
    for name, change in TAMPERS.items():
        stem = folder / name
        save_checkpoint(stem, model.net, dict(model.config))
        cfg = json.loads(stem.with_suffix(".json").read_text())
        change(cfg)
        stem.with_suffix(".json").write_text(json.dumps(cfg))


def build_world(w: Path) -> Path:
    """Input files for the hostile cases in ``w``, and in ``w/assets`` a copy of the
    shipped 2-D models whose manifest also lists broken entries."""
    (w / "text.txt").write_text("1 2\n3 4\n")
    np.save(w / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(w / "nan.npy", np.array([[np.nan, 0.0], [1.0, 2.0]], dtype=np.float32))
    np.savez(w / "nan.npz", x=np.array([[np.nan, 0.0], [1.0, 2.0]], dtype=np.float32))
    np.save(w / "three.npy", np.zeros((10, 3), dtype=np.float32))
    np.save(w / "ints.npy", np.zeros((4, 2), dtype=np.int64))
    np.save(w / "images.npy", np.zeros((4, 1, 16, 16), dtype=np.float32))
    img_nan = np.zeros((4, 1, 16, 16), dtype=np.float32)
    img_nan[0, 0, 0, 0] = np.nan
    np.savez(w / "images-nan.npz", x=img_nan)
    (w / "empty.npy").write_bytes(b"")
    (w / "afile").write_text("not a folder")
    (w / "adir").mkdir()
    os.symlink(w / "target.npz", w / "link.npz")
    os.symlink(w / "adir", w / "linkdir")
    pickles = w / "pickle-only"
    pickles.mkdir()
    (pickles / "diffusion_pytorch_model.bin").write_bytes(b"\x80\x04N.")
    for name, change in CONFIG_BREAKS.items():
        _write_broken(w / "ck", name, change)
    _write_tampered(w / "ck")
    latin = _write_broken(w / "ck", "latin1", lambda c: None)
    latin.with_suffix(".json").write_bytes(
        latin.with_suffix(".json").read_text().replace('"moons"', '"mo\u00e9ns"').encode("latin-1")
    )
    # A copy of the shipped 2-D models, with broken manifest entries added.
    assets = w / "assets"
    shutil.copytree(ASSETS / "models", assets / "models")
    os.symlink(ASSETS / "images", assets / "images")  # the image models, read only
    for name in ("schedule-list", "width-20000", "shape-str"):
        _write_broken(assets / "models", f"broken-{name}", CONFIG_BREAKS[name])
    manifest = assets / "models" / "manifest.json"
    data = json.loads(manifest.read_text())
    moons = next(e for e in data["models"] if e["name"] == "moons")
    data["models"] += [
        {**moons, "name": "bad-path", "path": "../../x"},
        {**moons, "name": "abs-path", "path": "/etc/passwd"},
        {k: v for k, v in moons.items() if k != "path"} | {"name": "no-path"},
        {**moons, "name": "tampered-config"},  # same config_sha256, changed config below
        {**moons, "name": "bad-weights", "sha256": "0" * 64},
    ]
    for name in ("schedule-list", "width-20000", "shape-str"):
        entry = {k: v for k, v in moons.items() if k != "config_sha256"}
        data["models"].append({**entry, "name": f"broken-{name}", "path": f"broken-{name}"})
    shutil.copy(assets / "models" / "moons.safetensors", assets / "models" / "tc.safetensors")
    cfg = json.loads((assets / "models" / "moons.json").read_text())
    cfg["net"]["width"] = 20000
    (assets / "models" / "tc.json").write_text(json.dumps(cfg))
    next(e for e in data["models"] if e["name"] == "tampered-config")["path"] = "tc"
    manifest.write_text(json.dumps(data))
    return assets


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """build_world, with DIFFUSION_ASSETS pointing at its assets for the module."""
    w = tmp_path_factory.mktemp("world")
    assets = build_world(w)
    old = os.environ.get("DIFFUSION_ASSETS")
    os.environ["DIFFUSION_ASSETS"] = str(assets)
    yield w
    if old is None:
        os.environ.pop("DIFFUSION_ASSETS", None)
    else:
        os.environ["DIFFUSION_ASSETS"] = old


# ----- the table -------------------------------------------------------------------------

S = ["sample", "--model", "oracle:8gaussians", "--sampler", "ddim", "--steps", "5", "--n", "8"]
SO = [*S, "--out", "{out}/s.npz"]
IMG = ["images", "sample", "--model", "digits-pd@1steps", "--steps", "1", "--n", "4"]
SWEEP = ["images", "sweep", "--model", "digits-cd", "--samplers", "consistency", "--n", "4",
         "--dataset", "digits", "--out", "{out}/w.json"]  # fmt: skip
ITRAIN = ["images", "train", "--data", "digits", "--out", "{out}/run", "--steps", "1"]
DISTILL = ["distill", "--method", "progressive", "--teacher", "moons", "--out", "{out}/d"]


def _sample(*change: str) -> list[str]:
    """SO with options replaced or added."""
    args = list(SO)
    for flag, value in zip(change[::2], change[1::2], strict=True):
        if flag in args:
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
    return args


CASES: list[tuple[list[str], str]] = [
    # (argv, a word the error line must contain; "" for any)
    ([], "command"),
    (["frobnicate"], "frobnicate"),
    (["sample"], "required"),
    (["list", "nosuch"], "nosuch"),
    (["--no-such-flag"], "command"),
    (_sample("--n", "1000000000"), "1..1,000,000"),
    (_sample("--n", "99999999999999999999999"), "1..1,000,000"),
    (_sample("--n", "-5"), "--n"),
    (_sample("--n", "0"), "--n"),
    (_sample("--n", "1e3"), "--n"),
    (_sample("--n", ""), "--n"),
    (_sample("--n", "nan"), "--n"),
    (_sample("--n", "\u221e"), "--n"),
    (_sample("--steps", "0"), "--steps"),
    (_sample("--steps", "-1"), "--steps"),
    (_sample("--steps", "1001"), "T=1000"),
    (_sample("--steps", "10001"), "--steps"),
    (_sample("--steps", "ten"), "--steps"),
    (_sample("--seed", "-1"), "--seed"),
    (_sample("--seed", str(2**64)), "--seed"),
    (_sample("--seed", "99999999999999999999"), "--seed"),
    (_sample("--sampler", "dpm-solver", "--order", "4"), "--order"),
    (_sample("--sampler", "ddpm", "--order", "2"), "ddpm"),
    (_sample("--sampler", "consistency", "--order", "2"), "consistency"),
    (_sample("--order", "0"), "--order"),
    (_sample("--eta", "1.5"), "[0, 1]"),
    (_sample("--eta", "-0.1"), "[0, 1]"),
    (_sample("--eta", "nan"), "--eta"),
    (_sample("--eta", "inf"), "--eta"),
    (_sample("--sampler", "heun", "--eta", "0.5"), "eta"),
    (_sample("--variance", "bogus"), "beta"),
    (_sample("--variance", "beta"), "ddpm"),
    (_sample("--spacing", "sideways"), "trailing"),
    (_sample("--spacing", "../../etc/passwd"), "spacing"),
    (_sample("--sampler", "nosuch"), "ddim"),
    (_sample("--sampler", ""), "sampler"),
    (_sample("--sampler", "ddim; rm -rf /"), "sampler"),
    (_sample("--sampler", "$(reboot)"), "sampler"),
    (_sample("--model", "oracle:nosuch"), "nosuch"),
    (_sample("--model", ""), "model"),
    (_sample("--model", "   "), "model"),
    (_sample("--model", "oracle:"), "oracle"),
    (_sample("--model", "../../etc/passwd"), "passwd"),
    (_sample("--model", "/dev/null"), "null"),
    (_sample("--model", "no/such/checkpoint"), "no/such"),
    (_sample("--model", "x" * 5000), "model"),
    (_sample("--model", "{w}/nowhere@4steps"), "nowhere"),
    (_sample("--model", "{w}/adir@4steps"), "round"),
    (_sample("--x-T", "{w}/text.txt"), "not a NumPy"),
    (_sample("--x-T", "{w}/objects.npy"), "--x-T"),
    (_sample("--x-T", "{w}/nan.npy", "--n", "2"), "finite"),
    (_sample("--x-T", "{w}/three.npy"), "(10, 3)"),
    (_sample("--x-T", "{w}/ints.npy", "--n", "4"), "floating"),
    (_sample("--x-T", "{w}/missing.npy"), "missing.npy"),
    (_sample("--x-T", "{w}/adir"), "adir"),
    (_sample("--x-T", "{w}/empty.npy"), "empty.npy"),
    (
        [*_sample("--n", "1000000", "--trajectory", "x")[:-2], "--steps", "1000", "--trajectory"],
        "floats",
    ),
    (_sample("--out", "{out}"), "folder"),
    (_sample("--out", "{w}/link.npz"), "symbolic link"),
    (_sample("--out", "/proc/x.npz"), "/proc"),
    (_sample("--out", ""), "--out"),
    (_sample("--out", "{w}/afile/x.npz"), "afile"),
    (["data", "--dataset", "moons", "--n", "1000000000", "--out", "{out}/d.npy"], "--n"),
    (["data", "--dataset", "nosuch", "--out", "{out}/d.npy"], "swissroll"),
    (["data", "--dataset", "", "--out", "{out}/d.npy"], "dataset"),
    (["data", "--dataset", "moons", "--out", "{out}"], "folder"),
    (["data", "--dataset", "moons", "--out", "{out}/new/sub/d.npy", "--n", "-2"], "--n"),
    (
        ["train", "--dataset", "moons", "--out", "{out}/r", "--batch-size", "1000000000"],
        "--batch-size",
    ),
    (["train", "--dataset", "moons", "--out", "{out}/r", "--width", "1000000"], "--width"),
    (["train", "--dataset", "moons", "--out", "{out}/r", "--width", "4096"], "parameters"),
    (["train", "--dataset", "moons", "--out", "{out}/r", "--depth", "0"], "--depth"),
    (["train", "--dataset", "moons", "--out", "{out}/r", "--depth", "65"], "--depth"),
    (["train", "--dataset", "moons", "--out", "{out}/r", "--lr", "0"], "--lr"),
    (["train", "--dataset", "moons", "--out", "{out}/r", "--lr", "-1"], "--lr"),
    (["train", "--dataset", "moons", "--out", "{out}/r", "--lr", "nan"], "--lr"),
    (["train", "--dataset", "moons", "--out", "{out}/r", "--lr", "inf"], "--lr"),
    (["train", "--dataset", "moons", "--out", "{out}/r", "--max-seconds", "nan"], "max-seconds"),
    (["train", "--dataset", "moons", "--out", "{out}/r", "--max-seconds", "0"], "max-seconds"),
    (["train", "--dataset", "moons", "--out", "{out}/r", "--max-seconds", "-1"], "max-seconds"),
    (["train", "--dataset", "moons", "--out", "{out}/r", "--steps", "0"], "--steps"),
    (["train", "--dataset", "moons", "--out", "{out}/r", "--steps", "10**9"], "--steps"),
    (["train", "--dataset", "moons", "--out", "{w}/afile"], "not a folder"),
    (["train", "--dataset", "moons", "--out", "{w}/linkdir"], "symbolic link"),
    (["train", "--dataset", "nosuch", "--out", "{out}/r"], "moons"),
    (["train", "--dataset", "moons", "--out", "/proc/run"], "/proc"),
    (
        ["evaluate", "--samples", "{w}/three.npy", "--dataset", "moons", "--n-ref", "1000000000"],
        "--n-ref",
    ),
    (["evaluate", "--samples", "{w}/three.npy", "--dataset", "moons", "--n-ref", "1"], "--n-ref"),
    (["evaluate", "--samples", "{w}/text.txt", "--dataset", "moons"], "text.txt"),
    (["evaluate", "--samples", "{w}/nan.npz", "--dataset", "moons"], "finite"),
    (["evaluate", "--samples", "{w}/three.npy", "--dataset", "moons"], "(10, 3)"),
    (["evaluate", "--samples", "{w}/missing.npz", "--dataset", "moons"], "missing.npz"),
    (["evaluate", "--samples", "{w}/objects.npy", "--dataset", "moons"], "objects.npy"),
    (["evaluate", "--samples", "{w}/three.npy", "--dataset", "nosuch"], "nosuch"),
    (["describe", "--model", "oracle:nosuch"], "nosuch"),
    (["bench", "--section", "nosuch", "--out", "{out}/B.md"], "nosuch"),
    (["bench", "--section", "core", "--out", "{out}"], "folder"),
    ([*DISTILL, "--start-steps", "1099511627776"], "--start-steps"),
    ([*DISTILL, "--start-steps", "96"], "power of 2"),
    ([*DISTILL, "--start-steps", "1"], "--start-steps"),
    ([*DISTILL, "--start-steps", "4", "--rounds", "3"], "--rounds"),
    ([*DISTILL, "--rounds", "0"], "--rounds"),
    ([*DISTILL, "--rounds", "17"], "--rounds"),
    ([*DISTILL, "--steps", "0"], "--steps"),
    ([*DISTILL, "--batch-size", "0"], "--batch-size"),
    ([*DISTILL, "--lr", "nan"], "--lr"),
    ([*DISTILL, "--first-round-lr", "-1"], "--first-round-lr"),
    ([*DISTILL, "--max-seconds", "inf"], "--max-seconds"),
    ([*DISTILL, "--ema-decay", "2"], "--ema-decay"),
    ([*DISTILL, "--seed", "-3"], "--seed"),
    ([*DISTILL, "--teacher", "nosuch"], "nosuch"),
    ([*DISTILL, "--teacher", "digits"], "sample_shape"),
    ([*DISTILL, "--teacher", str(ASSETS / "images" / "digits")], "sample_shape"),
    ([*DISTILL, "--out", "{w}/afile"], "not a folder"),
    (["distill", "--method", "cd", "--out", "{out}/d"], "--teacher"),
    (["distill", "--method", "cd", "--teacher", "moons", "--N", "0", "--out", "{out}/d"], "--N"),
    (
        ["distill", "--method", "cd", "--teacher", "moons", "--N", "10**6", "--out", "{out}/d"],
        "--N",
    ),
    (
        ["distill", "--method", "cd", "--teacher", "moons", "--mu", "1.5", "--out", "{out}/d"],
        "--mu",
    ),
    (
        [
            "distill",
            "--method",
            "ct",
            "--init",
            "teacher",
            "--dataset",
            "moons",
            "--out",
            "{out}/d",
        ],
        "--teacher",
    ),
    (["distill", "--method", "ct", "--dataset", "nosuch", "--out", "{out}/d"], "nosuch"),
    (["distill", "--method", "nosuch", "--out", "{out}/d"], "nosuch"),
    # images
    ([*IMG, "--n", "-5", "--out", "{out}/i.npz"], "--n"),
    ([*IMG, "--n", "0", "--out", "{out}/i.npz"], "--n"),
    ([*IMG, "--n", "1000000000", "--out", "{out}/i.npz"], "--n"),
    ([*IMG, "--device", "bogus", "--out", "{out}/i.npz"], "--device"),
    ([*IMG, "--device", "cuda:99", "--out", "{out}/i.npz"], "--device"),
    ([*IMG, "--device", "meta", "--out", "{out}/i.npz"], "--device"),
    ([*IMG, "--out", "{out}/i.txt"], ".npz or .png"),
    ([*IMG, "--out", "{w}/link.npz"], "symbolic link"),
    ([*IMG, "--sampler", "nosuch", "--out", "{out}/i.npz"], "nosuch"),
    ([*IMG, "--spacing", "nosuch", "--out", "{out}/i.npz"], "nosuch"),
    ([*IMG, "--steps", "0", "--out", "{out}/i.npz"], "--steps"),
    ([*IMG, "--steps", "5000", "--out", "{out}/i.npz"], "T=1000"),
    ([*IMG, "--model", "diffusers:/tmp/nonexistent-fuzz", "--out", "{out}/i.npz"], "not found"),
    ([*IMG, "--model", "diffusers:{w}/pickle-only", "--out", "{out}/i.npz"], "safetensors"),
    ([*IMG, "--model", "moons", "--out", "{out}/i.npz"], "image model"),
    ([*SWEEP, "--nfe", "0,-3"], "--nfe"),
    ([*SWEEP, "--nfe", ""], "--nfe"),
    ([*SWEEP, "--nfe", "1,a"], "--nfe"),
    ([*SWEEP, "--nfe", "1001"], "--nfe"),
    ([*SWEEP, "--nfe", ",".join(["1"] * 40)], "--nfe"),
    ([*SWEEP, "--samplers", ""], "--samplers"),
    ([*SWEEP, "--samplers", "ddim,nosuch"], "nosuch"),
    (["images", "fid", "--samples", "{w}/text.txt", "--dataset", "digits"], "text.txt"),
    (["images", "fid", "--samples", "{w}/images-nan.npz", "--dataset", "digits"], "finite"),
    (["images", "fid", "--samples", "{w}/three.npy", "--dataset", "digits"], "shape"),
    (["images", "fid", "--samples", "{w}/missing.npz", "--dataset", "digits"], "missing"),
    (["images", "fid", "--samples", "{w}/images.npy", "--dataset", "nosuch"], "nosuch"),
    (
        [
            "images",
            "fid",
            "--samples",
            "{w}/images.npy",
            "--dataset",
            "digits",
            "--device",
            "cuda:7",
        ],
        "--device",
    ),
    ([*ITRAIN, "--log-every", "0"], "--log-every"),
    ([*ITRAIN, "--ckpt-every", "0"], "--ckpt-every"),
    ([*ITRAIN, "--groups", "0"], "--groups"),
    ([*ITRAIN, "--image-size", "0"], "--image-size"),
    ([*ITRAIN, "--batch-size", "0"], "--batch-size"),
    ([*ITRAIN, "--lr", "nan"], "--lr"),
    ([*ITRAIN, "--ema-decay", "2"], "--ema-decay"),
    ([*ITRAIN, "--steps", "0"], "--steps"),
    ([*ITRAIN, "--channel-mult", "1,0"], "--channel-mult"),
    ([*ITRAIN, "--dropout", "1.5"], "--dropout"),
    # shipped names from the broken manifest
    (["describe", "--model", "bad-path"], "leaves the folder"),
    (["describe", "--model", "abs-path"], "leaves the folder"),
    (["describe", "--model", "no-path"], "no 'path'"),
    (["describe", "--model", "tampered-config"], "config_sha256"),
    (["describe", "--model", "bad-weights"], "sha256"),
    (_sample("--model", "broken-schedule-list"), "schedule"),
    (_sample("--model", "broken-width-20000"), "width"),
    (_sample("--model", "broken-shape-str"), "sample_shape"),
    ([*DISTILL[:4], "broken-schedule-list", "--out", "{out}/d"], "schedule"),
]
# every broken config, through sample, describe and distill --teacher
for _name in [*CONFIG_BREAKS, "latin1"]:
    CASES.append((_sample("--model", f"{{w}}/ck/{_name}"), _name if _name == "latin1" else ""))
    CASES.append((["describe", "--model", f"{{w}}/ck/{_name}"], ""))
# a config edited after save_checkpoint: refused by its own config_sha256
for _name in TAMPERS:
    CASES.append((_sample("--model", f"{{w}}/ck/{_name}"), "config_sha256"))
CASES.append((["describe", "--model", "{w}/ck/saved-T"], "config_sha256"))
CASES.append(([*DISTILL[:4], "{w}/ck/saved-width", "--out", "{out}/d"], "config_sha256"))
for _name in ("schedule-list", "T-negative", "T-huge", "shape-int", "width-huge", "nan-grid"):
    CASES.append(([*DISTILL[:4], f"{{w}}/ck/{_name}", "--out", "{out}/d"], ""))


def _seeded_cases(seed: int = 16, count: int = 40) -> list[tuple[list[str], str]]:
    """Random garbage for numeric options, from a fixed seed."""
    rng = random.Random(seed)
    junk = [
        lambda: str(rng.randint(10**7, 10**30)),
        lambda: str(-rng.randint(1, 10**12)),
        lambda: f"{rng.uniform(-1e300, 1e300):e}",
        lambda: rng.choice(["nan", "-inf", "inf", "NaN", "1e999", "0x1p3", "--", "\x7f"]),
        lambda: "".join(rng.choice("\u00e9\u202e<>&'\";|$`") for _ in range(rng.randint(1, 8))),
    ]
    options = [
        (["--n"], SO, "--n"),
        (["--steps"], SO, "--steps"),
        (["--seed"], SO, "--seed"),
        (["--eta"], SO, "--eta"),
        (["--order"], _sample("--sampler", "dpm-solver"), "--order"),
    ]
    out = []
    for _ in range(count):
        (flag,), base, word = rng.choice(options)
        value = rng.choice(junk)()
        args = list(base)
        if flag in args:
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
        out.append((args, word))
    return out


CASES += _seeded_cases()
CASES = list({json.dumps(argv): (argv, word) for argv, word in reversed(CASES)}.values())[::-1]


# ----- running one case ------------------------------------------------------------------


def _listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def run_case(argv: list[str], world: Path, out: Path) -> dict:
    """Run one hostile command line in-process; what it printed and what it left."""
    out.mkdir(parents=True, exist_ok=True)
    argv = [a.replace("{w}", str(world)).replace("{out}", str(out)) for a in argv]
    before = _listing(world)
    stdout, stderr = io.StringIO(), io.StringIO()
    raised = None
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            rc = main(argv)
        except BaseException as e:
            rc, raised = None, e
    err = stderr.getvalue()
    lines = err.strip().splitlines()
    left = sorted(_listing(out)) + sorted(_listing(world) ^ before)
    return {
        "rc": rc,
        "err": err,
        "traceback": raised is not None or "Traceback" in err,
        "one_line": len(lines) == 1 and lines[0].startswith("error: "),
        "left": left,
    }


def _assert_clean(res: dict, word: str) -> None:
    assert not res["traceback"], res["err"]
    assert res["rc"] == 2, (res["rc"], res["err"])
    assert res["one_line"], res["err"]
    assert word in res["err"], (word, res["err"])
    assert res["left"] == [], res["left"]
    assert len(res["err"]) <= 420  # the message is cut, a 5,000-character name is not echoed


def test_the_table_is_large_enough():
    assert len(CASES) >= 100
    assert len({json.dumps(argv) for argv, _ in CASES}) == len(CASES)  # no duplicates


@pytest.mark.parametrize(("argv", "word"), CASES, ids=[str(i) for i in range(len(CASES))])
def test_hostile_input_is_one_clean_error(argv, word, world, tmp_path):
    _assert_clean(run_case(argv, world, tmp_path / "out"), word)


def test_broken_manifest_entries_stop_only_themselves(world, capsys):
    """`list models` still lists everything; a good model of the same manifest loads."""
    assert main(["list", "models"]) == 0
    out = capsys.readouterr().out
    assert "no-path" in out
    assert "bad-path" in out
    assert "moons" in out
    assert main(["describe", "--model", "moons"]) == 0


def test_sigterm_while_writing_leaves_nothing(world, tmp_path, monkeypatch, capsys):
    """The SIGTERM handler removes the temporary file being written and the folder
    made for it; the command reports it on one line and exits 143."""
    real_save = np.save

    def save_then_terminate(f, arr, **kw):
        real_save(f, arr, **kw)
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(np, "save", save_then_terminate)
    out = tmp_path / "new" / "deeper" / "d.npy"
    rc = main(["data", "--dataset", "moons", "--n", "50", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 143, err
    assert err.count("error:") == 1, err
    assert "Traceback" not in err, err
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is removed again


def _python(*args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "diffusion", *args], cwd=REPO, env=env, **kw)


def test_sigterm_during_training_leaves_no_folder(tmp_path):
    out = tmp_path / "a" / "b" / "run"
    p = _python("train", "--dataset", "moons", "--steps", "10000000", "--out", str(out),
                stderr=subprocess.PIPE, text=True)  # fmt: skip
    first = p.stderr.readline()  # the first progress line: training has started
    assert "train moons" in first, first
    p.send_signal(signal.SIGTERM)
    rest = p.stderr.read()
    assert p.wait(timeout=60) == 143
    assert "Traceback" not in rest, rest
    assert rest.count("error:") == 1, rest
    assert list(tmp_path.iterdir()) == []


def test_closed_pipe_ends_quietly():
    """`list models | head`: the reader is gone before anything is written."""
    p = _python("list", "models", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(timeout=60) == 141, err
    assert err == "", err


def test_docs_list_the_limits():
    docs = (REPO / "docs" / "cli.md").read_text()
    assert limits_table_markdown() in docs


def fuzz_counts(world: Path, scratch: Path) -> dict:
    """tried / clean / traceback / wrong exit / left behind over the table (docs/cli.md)."""
    counts = {"tried": 0, "clean": 0, "traceback": 0, "wrong exit": 0, "left behind": 0}
    for i, (argv, word) in enumerate(CASES):
        res = run_case(argv, world, scratch / str(i))
        counts["tried"] += 1
        counts["traceback"] += res["traceback"]
        counts["wrong exit"] += res["rc"] != 2
        counts["left behind"] += bool(res["left"])
        try:
            _assert_clean(res, word)
            counts["clean"] += 1
        except AssertionError:
            print("not clean:", argv[:6], res["rc"], res["err"][:200], res["left"][:3])
        shutil.rmtree(scratch / str(i), ignore_errors=True)
    return counts


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        w = Path(d) / "world"
        w.mkdir()
        os.environ["DIFFUSION_ASSETS"] = str(build_world(w))
        print(json.dumps(fuzz_counts(w, Path(d) / "scratch")))


def test_a_malformed_manifest_hides_only_its_own_models(tmp_path, monkeypatch, capsys):
    assets = tmp_path / "assets"
    shutil.copytree(ASSETS / "models", assets / "models")
    (assets / "broken").mkdir()
    (assets / "broken" / "manifest.json").write_text("{not json")
    (assets / "odd").mkdir()
    (assets / "odd" / "manifest.json").write_text(json.dumps({"models": [7, {"path": "x"}]}))
    monkeypatch.setenv("DIFFUSION_ASSETS", str(assets))
    assert main(["list", "models"]) == 0
    out, err = capsys.readouterr()
    assert "moons" in out
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 2
    assert all(ln.startswith("warning: skipped part of") for ln in lines)
    assert "broken" in err
    assert "odd" in err
    assert main(["describe", "--model", "moons"]) == 0


def test_save_checkpoint_records_the_config_checksum_and_load_checks_it(tmp_path):
    """save_checkpoint writes config_sha256 into the checkpoint's own JSON; load accepts
    the file as written (int keys too, which JSON turns into strings) and refuses it,
    naming the file, once any field was edited."""
    from diffusion.checkpoints import load_checkpoint, load_model, save_checkpoint
    from diffusion.config_check import config_sha256

    model = load_model(str(ASSETS / "models" / "moons"))
    cfg = dict(model.config, sampling={"timesteps": {4: [999, 749, 499, 249], 10: [999]}})
    written = save_checkpoint(tmp_path / "m", model.net, cfg)
    on_disk = json.loads((tmp_path / "m.json").read_text())
    assert on_disk["config_sha256"] == written["config_sha256"] == config_sha256(on_disk)
    _, loaded = load_checkpoint(tmp_path / "m")
    assert loaded["config_sha256"] == written["config_sha256"]
    on_disk["dataset"] = "swissroll"  # a field no other check looks at
    (tmp_path / "m.json").write_text(json.dumps(on_disk))
    with pytest.raises(ValueError, match=r"m\.json: config_sha256 does not match") as err:
        load_checkpoint(tmp_path / "m")
    assert "\n" not in str(err.value)
