"""The tree's shape, as behaviour that could break (issue 14).

* One run path: the app (``ui.models``), the CLI (``python -m diffusion sample``) and
  ``diffusion.sample`` give identical samples for the same model, sampler, steps,
  spacing and seed, for a trained diffusion model, the exact oracle and shipped
  few-step models; an explicit spacing is honoured by all three. The image track's
  ``sample_images`` and ``images sample`` are the same run.
* Pages hold widgets and layout: no module under ``chapters/`` imports torch, numpy,
  regexes or JSON; every page file is in the one page table, ``ui.pages``.
* Scripts never import from ``tests/``.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import diffusion
from diffusion.checkpoints import load_model
from diffusion.grids import few_step_timesteps, make_timesteps
from ui import models
from ui.pages import PAGES

ROOT = Path(__file__).resolve().parent.parent
N, SEED = 64, 3

RUNS = [
    # (model, sampler, steps, spacing): None is each model's default grid
    ("8gaussians", "dpm-solver++2m", 6, None),
    ("8gaussians", "ddpm", 5, "trailing"),  # stochastic: the sampler's noise is shared too
    ("oracle:gmm", "heun", 4, "karras"),
    ("oracle:gmm", "ddim", 5, None),
    ("8gaussians-pd@4steps", "ddim", 4, None),  # the student's own grid
    ("8gaussians-pd@4steps", "ddim", 4, "leading"),  # an explicit spacing wins
    ("8gaussians-cd", "consistency", 2, "linspace"),
]


def _cli(tmp_path: Path, *args: str) -> dict[str, np.ndarray]:
    out = tmp_path / "s.npz"
    cmd = [sys.executable, "-m", "diffusion", *args, "--out", str(out)]
    # one thread, as ui.models sets for the app: a convolution's float sums depend on it
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with np.load(out, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


@pytest.mark.parametrize(("spec", "sampler", "steps", "spacing"), RUNS)
def test_app_cli_and_library_draw_the_same_samples(tmp_path, spec, sampler, steps, spacing):
    model = load_model(spec)
    lib = diffusion.sample(model, sampler, steps, n=N, seed=SEED, spacing=spacing)
    app = models.sample(spec, sampler, steps, N, SEED, spacing, ())
    flags = ["--spacing", spacing] if spacing else []
    cli = _cli(
        tmp_path,
        "sample",
        "--model",
        spec,
        "--sampler",
        sampler,
        "--steps",
        str(steps),
        "--n",
        str(N),
        "--seed",
        str(SEED),
        *flags,
    )
    x = lib.x.numpy()
    np.testing.assert_array_equal(app["x"], x)
    np.testing.assert_array_equal(cli["x"], x)
    for ts in (app["timesteps"], cli["timesteps"]):
        np.testing.assert_array_equal(ts, lib.timesteps.numpy())
    own = few_step_timesteps(model, steps)
    if spacing is not None:  # the chosen spacing's grid, few-step models included
        expected = make_timesteps(model.schedule, steps, spacing)
        np.testing.assert_array_equal(lib.timesteps.numpy(), expected.numpy())
        if own is not None:
            assert not torch.equal(lib.timesteps, own), "the explicit spacing was ignored"
    elif own is not None:  # no spacing: the grid the few-step model was made for
        np.testing.assert_array_equal(lib.timesteps.numpy(), own.numpy())


IMAGE_RUNS = [
    ("digits", "ddim", 4, "trailing"),
    ("digits-pd@4steps", "ddim", 4, None),
    ("digits-pd@4steps", "ddim", 4, "leading"),
    ("digits-cd", "consistency", 2, None),  # its own grid: t = 999 then about 178
    ("digits-cd", "consistency", 2, "trailing"),  # 999 then 499
]


@pytest.mark.parametrize(("spec", "sampler", "steps", "spacing"), IMAGE_RUNS)
def test_image_sampling_is_the_library_run(tmp_path, spec, sampler, steps, spacing):
    from diffusion.images.sampling import load_any, sample_images

    model = load_any(spec)
    lib = diffusion.sample(model, sampler, steps, n=4, seed=SEED, spacing=spacing)
    x, nfe, traj = sample_images(
        model, sampler, steps, n=4, seed=SEED, spacing=spacing, record=True
    )
    torch.testing.assert_close(x, lib.x.clamp(-1, 1), rtol=0, atol=0)
    torch.testing.assert_close(traj.timesteps, lib.timesteps, rtol=0, atol=0)
    if spacing is None:
        torch.testing.assert_close(lib.timesteps, few_step_timesteps(model, steps))
    else:
        torch.testing.assert_close(lib.timesteps, make_timesteps(model.schedule, steps, spacing))
    flags = ["--spacing", spacing] if spacing else []
    cli = _cli(
        tmp_path,
        "images",
        "sample",
        "--model",
        spec,
        "--sampler",
        sampler,
        "--steps",
        str(steps),
        "--n",
        "4",
        "--seed",
        str(SEED),
        *flags,
    )
    np.testing.assert_array_equal(cli["x"], x.numpy())
    assert nfe == lib.nfe == int(cli["nfe"])


def _imports(path: Path) -> set[str]:
    """Every module a file imports, anywhere in it (absolute names only)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


PAGE_FILES = sorted((ROOT / "chapters").glob("*.py"))
NOT_IN_PAGES = {"torch", "numpy", "re", "json", "glob"}
"""Maths, regexes on model names and manifest reading belong in ui/ and the library."""


@pytest.mark.parametrize("path", PAGE_FILES, ids=lambda p: p.name)
def test_pages_import_no_maths_regexes_or_json(path):
    bad = {m for m in _imports(path) if m.split(".")[0] in NOT_IN_PAGES}
    assert not bad, f"{path.name} imports {sorted(bad)}; put that in ui/ or diffusion/"


def test_every_page_file_is_in_the_one_page_table():
    assert sorted(p.path for p in PAGES) == PAGE_FILES
    assert len({p.url_path for p in PAGES}) == len(PAGES)
    assert len({p.state for p in PAGES}) == len(PAGES)


def test_scripts_never_import_from_tests():
    test_modules = {p.stem for p in (ROOT / "tests").glob("*.py")} | {"tests"}
    for path in sorted((ROOT / "scripts").glob("*.py")):
        bad = {m for m in _imports(path) if m.split(".")[0] in test_modules}
        assert not bad, f"{path.name} imports {sorted(bad)} from tests/"
        assert "tests" not in {
            n.value for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Constant)
        }, f"{path.name} names tests/"


def test_no_pages_folder_beside_the_app():
    """A ``pages/`` folder next to app.py puts a fresh server in Streamlit's legacy
    multipage mode, where a shared deep link runs the bare page script (ui.pages)."""
    assert not (ROOT / "pages").exists()
    assert all(p.file.startswith("chapters/") for p in PAGES)
