"""The shipped curves (assets/curves/): reproducible from the code, and detected as
stale when the code they depend on changes."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from diffusion import precomputed


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # as the script and the server compute them
    yield
    torch.set_num_threads(before)


def test_every_curve_is_shipped_and_current():
    stale = precomputed.stale()
    assert not stale, (
        "stale shipped curves; rerun `python scripts/precompute_curves.py`: "
        + "; ".join(f"{k}: {v}" for k, v in stale.items())
    )
    for name in precomputed.CURVES:
        entry = precomputed.read_manifest()["curves"][name]
        assert entry["command"].startswith("python scripts/precompute_curves.py")
        assert isinstance(entry["seed"], int)
        precomputed.load(name)  # checks the sha256


def test_reduced_ddim_sweep_matches_the_shipped_one():
    shipped = precomputed.load("ddim_quality")
    again = precomputed.ddim_quality(steps=(5, 10), etas=(0.0,), ddpm=False)
    noise = 0.25 * shipped["floor"]  # the data-vs-data floor: the metric's own noise here
    for label, (steps, vals) in again["series"].items():
        ref = dict(zip(*shipped["series"][label], strict=True))
        for s, v in zip(steps, vals, strict=True):
            assert abs(v - ref[s]) <= noise, (label, s, v, ref[s])
    assert again["floor"] == pytest.approx(shipped["floor"], rel=1e-6)


def test_reduced_solver_errors_match_the_shipped_ones():
    shipped = precomputed.load("solver_error")
    again = precomputed.solver_error(solvers=("ddim", "heun"))
    for name, pts in again["curves"].items():
        ref = dict(map(tuple, shipped["curves"][name]))
        for nfe, err in pts:
            assert err == pytest.approx(ref[nfe], rel=1e-6, abs=1e-12), (name, nfe)


@pytest.fixture
def tree(tmp_path):
    """A copy of the sources the curves depend on, and an asset written against it."""
    every_glob = [g for globs in precomputed.SOURCES.values() for g in globs]
    for path in precomputed.source_files(every_glob):
        dst = tmp_path / path.relative_to(precomputed.ROOT)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, dst)
    curves = tmp_path / "curves"
    for name in precomputed.SOURCES:
        precomputed.write(name, {"x": 1}, command="test", directory=curves, root=tmp_path)
    return tmp_path, curves


def test_a_code_change_marks_the_asset_stale(tree):
    root, curves = tree
    assert precomputed.stale(curves, root) == {}
    target = root / "diffusion" / "reference.py"
    target.write_text(target.read_text() + "\nCHANGED = 1\n")
    stale = precomputed.stale(curves, root)
    assert set(stale) == {"solver_error"}
    assert "code version" in stale["solver_error"]


def test_docstrings_and_formatting_do_not(tree):
    root, curves = tree
    target = root / "diffusion" / "reference.py"
    text = target.read_text()
    start = text.index('"""') + 3
    target.write_text(text[:start] + "Reworded. " + text[start:] + "\n\n\n# a comment\n")
    assert precomputed.stale(curves, root) == {}


def test_a_damaged_asset_is_refused(tree):
    _, curves = tree
    path = curves / "ddim_quality.json"
    path.write_text(json.dumps({"x": 2}))
    with pytest.raises(ValueError, match="sha256"):
        precomputed.load("ddim_quality", curves)
    with pytest.raises(FileNotFoundError, match="precompute_curves"):
        precomputed.load("ddim_quality", curves / "elsewhere")
    with pytest.raises(ValueError, match="choose one of"):
        precomputed.write("nope", {}, command="test", directory=curves)
