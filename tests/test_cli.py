"""The command line end to end: every subcommand on the exact oracle with small n,
the npz contents, --x-T, determinism, and every kind of bad input (exit code 2, one
'error:' line on stderr, no traceback, no output file)."""

from __future__ import annotations

import importlib.machinery
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from diffusion import bench
from diffusion.cli import _find_plugin, main
from diffusion.io import atomic_write, save_npy
from diffusion.model import DiffusionModel
from diffusion.schedules import linear_schedule

ORACLE = "oracle:8gaussians"
REPO = Path(__file__).resolve().parents[1]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def sample_args(out: Path, *extra: str, sampler: str = "ddim", steps: int = 10) -> list[str]:
    return [
        "sample", "--model", ORACLE, "--sampler", sampler, "--steps", str(steps),
        "--n", "64", "--seed", "0", "--out", str(out), *extra,
    ]  # fmt: skip


def assert_bad_input(rc: int, err: str, *words: str, folder: Path | None = None) -> None:
    """Exit code 2, exactly one 'error:' line naming the problem, no traceback,
    and (when given) an output folder left empty: no result, no temp file."""
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for w in words:
        assert w in lines[0], (w, lines[0])
    if folder is not None:
        assert sorted(p.name for p in folder.iterdir()) == []


# ----- happy paths ---------------------------------------------------------------------


def test_help_lists_every_command(capsys):
    rc, out, _ = run_cli(capsys, "--help")
    assert rc == 0
    for cmd in ("describe", "data", "train", "sample", "evaluate", "bench", "list"):
        assert cmd in out


def test_data_writes_the_seeded_dataset(tmp_path, capsys):
    from diffusion.toy.datasets import sample_dataset

    out = tmp_path / "moons.npy"
    rc, _, err = run_cli(
        capsys, "data", "--dataset", "moons", "--n", "100", "--seed", "3", "--out", out
    )
    assert rc == 0, err
    x = np.load(out)
    assert x.shape == (100, 2)
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x, sample_dataset("moons", 100, 3).numpy())
    other = tmp_path / "other.npy"
    run_cli(capsys, "data", "--dataset", "moons", "--n", "100", "--seed", "4", "--out", other)
    assert not np.array_equal(np.load(other), x)


def test_describe_json_gives_schedule_and_mixture(capsys):
    from diffusion.toy.datasets import gaussian_mixture

    rc, out, err = run_cli(capsys, "describe", "--model", ORACLE, "--json")
    assert rc == 0, err
    info = json.loads(out)
    sch = linear_schedule()
    assert info["schedule"]["T"] == 1000
    assert info["schedule"]["name"] == "linear"
    np.testing.assert_allclose(
        info["schedule"]["alpha_bar"], sch.alphas_cumprod.numpy(), rtol=1e-12
    )
    assert info["prediction"] == "eps"
    gmm = gaussian_mixture("8gaussians")
    np.testing.assert_allclose(info["mixture"]["weights"], gmm.weights.numpy())
    np.testing.assert_allclose(info["mixture"]["means"], gmm.means.numpy())
    np.testing.assert_allclose(info["mixture"]["covs"], gmm.covs.numpy())
    rc, out, _ = run_cli(capsys, "describe", "--model", ORACLE)
    assert rc == 0
    assert "T=1000" in out


def test_sample_npz_matches_the_library(tmp_path, capsys):
    from diffusion.samplers import sample

    out = tmp_path / "s.npz"
    rc, _, err = run_cli(capsys, *sample_args(out, "--spacing", "trailing"))
    assert rc == 0, err
    with np.load(out) as f:
        assert {"x", "timesteps", "nfe"} <= set(f.files)
        assert "xs" not in f.files
        assert "x0_preds" not in f.files
        x, ts, nfe = f["x"], f["timesteps"], int(f["nfe"])
    assert x.shape == (64, 2)
    assert nfe == 10
    np.testing.assert_array_equal(ts, [999, 899, 799, 699, 599, 499, 399, 299, 199, 99])
    from diffusion.checkpoints import load_model

    ref = sample(load_model(ORACLE), "ddim", 10, n=64, seed=0, spacing="trailing")
    np.testing.assert_array_equal(x, ref.x.numpy())


def test_sample_trajectory_and_x_T_reproduce(tmp_path, capsys):
    out = tmp_path / "traj.npz"
    rc, _, err = run_cli(capsys, *sample_args(out, "--trajectory", sampler="heun", steps=5))
    assert rc == 0, err
    with np.load(out) as f:
        x, xs, x0s, nfe = f["x"], f["xs"], f["x0_preds"], int(f["nfe"])
    assert xs.shape == (6, 64, 2)
    assert x0s.shape == (5, 64, 2)
    assert nfe == 9  # Heun: two evaluations per step, Euler on the last one
    np.testing.assert_array_equal(xs[-1], x)
    # The saved initial noise, given back with another seed, gives the same samples.
    noise = tmp_path / "xT.npy"
    np.save(noise, xs[0])
    again = tmp_path / "again.npz"
    args = sample_args(again, "--x-T", str(noise), sampler="heun", steps=5)
    args[args.index("--seed") + 1] = "123"
    rc, _, err = run_cli(capsys, *args)
    assert rc == 0, err
    with np.load(again) as f:
        np.testing.assert_array_equal(f["x"], x)


def test_stochastic_sampling_is_deterministic_under_a_seed(tmp_path, capsys):
    paths = [tmp_path / f"{i}.npz" for i in range(3)]
    for p, seed in zip(paths, ("5", "5", "6"), strict=True):
        args = sample_args(p, "--eta", "1.0")
        args[args.index("--seed") + 1] = seed
        assert run_cli(capsys, *args)[0] == 0
    a, b, c = (np.load(p)["x"] for p in paths)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_evaluate_scores_oracle_samples_far_better_than_noise(tmp_path, capsys):
    from diffusion.metrics import evaluate_2d

    good = tmp_path / "good.npz"
    args = sample_args(good, sampler="dpm-solver++2m", steps=20)
    args[args.index("--n") + 1] = "400"
    args += ["--spacing", "logsnr"]
    assert run_cli(capsys, *args)[0] == 0
    rc, out, err = run_cli(
        capsys, "evaluate", "--samples", good, "--dataset", "8gaussians", "--json"
    )
    assert rc == 0, err
    metrics = json.loads(out)
    for key in ("frechet", "sliced_w2", "mmd", "loglik", "floor_sliced_w2", "floor_mmd"):
        assert key in metrics
    expected = evaluate_2d(torch.from_numpy(np.load(good)["x"]), "8gaussians", seed=0)
    assert metrics["sliced_w2"] == pytest.approx(expected["sliced_w2"])
    noise = tmp_path / "noise.npy"
    np.save(noise, np.random.default_rng(0).standard_normal((400, 2)).astype(np.float32))
    rc, out, _ = run_cli(
        capsys, "evaluate", "--samples", noise, "--dataset", "8gaussians", "--json"
    )
    assert rc == 0
    bad = json.loads(out)
    # Exact-oracle samples sit at the data-vs-data floor; Gaussian noise of the same
    # scale does not, and its log-likelihood under the mixture is far lower.
    assert metrics["sliced_w2"] < 1.5 * metrics["floor_sliced_w2"]
    assert bad["sliced_w2"] > 1.5 * metrics["sliced_w2"]
    assert bad["loglik"] < metrics["loglik"] - 5


def test_list_commands(capsys):
    rc, out, _ = run_cli(capsys, "list", "samplers")
    assert rc == 0
    assert "ddim" in out
    assert "dpm-solver++2m" in out
    rc, out, _ = run_cli(capsys, "list", "datasets")
    assert rc == 0
    assert "swissroll" in out
    rc, out, _ = run_cli(capsys, "list", "spacings")
    assert rc == 0
    assert "karras" in out


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory) -> Path:
    """A tiny checkpoint written by the train command (quality is not the point)."""
    out = tmp_path_factory.mktemp("train") / "run"
    rc = main(["train", "--dataset", "moons", "--out", str(out), "--steps", "20",
               "--batch-size", "64", "--width", "16", "--depth", "1", "--quiet"])  # fmt: skip
    assert rc == 0
    return out


def test_train_writes_a_checkpoint_that_sample_accepts(trained_dir, tmp_path, capsys):
    assert (trained_dir / "model.safetensors").is_file()
    assert (trained_dir / "model.json").is_file()
    config = json.loads((trained_dir / "model.json").read_text())
    assert config["dataset"] == "moons"
    assert config["training"]["steps"] == 20
    out = tmp_path / "s.npz"
    rc, _, err = run_cli(capsys, "sample", "--model", trained_dir / "model", "--sampler", "ddim",
                         "--steps", "5", "--n", "32", "--out", out)  # fmt: skip
    assert rc == 0, err
    x = np.load(out)["x"]
    assert x.shape == (32, 2)
    assert np.isfinite(x).all()
    rc, out, _ = run_cli(capsys, "describe", "--model", trained_dir / "model", "--json")
    assert rc == 0
    assert json.loads(out)["schedule"]["T"] == 1000


def test_train_progress_goes_to_stderr(tmp_path, capsys):
    out = tmp_path / "run"
    rc, stdout, err = run_cli(capsys, "train", "--dataset", "moons", "--out", out, "--steps", "5",
                              "--batch-size", "32", "--width", "8", "--depth", "1")  # fmt: skip
    assert rc == 0
    assert "train moons 5/5" in err
    assert stdout == ""


# ----- bad input -------------------------------------------------------------------------

BAD_SAMPLE = [
    (["--sampler", "nosuch"], ["nosuch", "ddim"]),
    (["--steps", "0"], ["--steps", "1..10,000"]),
    (["--steps", "1001"], ["steps", "1000"]),
    (["--eta", "1.5"], ["eta", "[0, 1]"]),
    (["--eta", "-0.1"], ["eta", "[0, 1]"]),
    (["--eta", "nan"], ["eta"]),
    (["--spacing", "sideways"], ["sideways", "trailing"]),
    (["--model", "oracle:nosuch"], ["nosuch"]),
    (["--model", "no/such/checkpoint"], ["no/such/checkpoint"]),
    (["--steps", "ten"], ["--steps", "ten"]),
    (["--sampler", "dpm-solver", "--order", "5"], ["order"]),
    (["--sampler", "heun", "--eta", "0.5"], ["eta"]),
    (["--n", "0"], ["--n"]),
]


@pytest.mark.parametrize(("change", "words"), BAD_SAMPLE, ids=lambda v: " ".join(v))
def test_sample_bad_input(change, words, tmp_path, capsys):
    folder = tmp_path / "out"
    folder.mkdir()
    args = sample_args(folder / "s.npz")
    for flag, value in zip(change[::2], change[1::2], strict=True):
        if flag in args:
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
    rc, _, err = run_cli(capsys, *args)
    assert_bad_input(rc, err, *words, folder=folder)


def test_bad_x_T_shape_and_count(tmp_path, capsys):
    folder = tmp_path / "out"
    folder.mkdir()
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((64, 3), dtype=np.float32))
    rc, _, err = run_cli(capsys, *sample_args(folder / "s.npz", "--x-T", wrong))
    assert_bad_input(rc, err, "--x-T", "(64, 3)", folder=folder)
    count = tmp_path / "count.npy"
    np.save(count, np.zeros((10, 2), dtype=np.float32))
    rc, _, err = run_cli(capsys, *sample_args(folder / "s.npz", "--x-T", count))
    assert_bad_input(rc, err, "--x-T", "10", folder=folder)
    rc, _, err = run_cli(capsys, *sample_args(folder / "s.npz", "--x-T", tmp_path / "missing.npy"))
    assert_bad_input(rc, err, "missing.npy", folder=folder)


def test_model_returning_nan_is_a_clean_error(tmp_path, capsys, monkeypatch):
    import diffusion.cli as cli

    nan_model = DiffusionModel(lambda x, t: torch.full_like(x, float("nan")), linear_schedule())
    monkeypatch.setattr(cli, "_load_model", lambda spec: nan_model)
    folder = tmp_path / "out"
    folder.mkdir()
    rc, _, err = run_cli(capsys, *sample_args(folder / "s.npz"))
    assert_bad_input(rc, err, "NaN", folder=folder)


def test_corrupt_checkpoint_is_a_clean_error(trained_dir, tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    for suffix in (".safetensors", ".json"):
        data = (trained_dir / f"model{suffix}").read_bytes()
        (broken / f"model{suffix}").write_bytes(data)
    weights = broken / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-8:] = b"\xff" * 8  # flip the last weights: the sha256 no longer matches
    weights.write_bytes(bytes(data))
    folder = tmp_path / "out"
    folder.mkdir()
    rc, _, err = run_cli(capsys, *sample_args(folder / "s.npz"), "--model", broken / "model")
    assert_bad_input(rc, err, folder=folder)
    (broken / "model.json").write_text("{not json")
    rc, _, err = run_cli(capsys, *sample_args(folder / "s.npz"), "--model", broken / "model")
    assert_bad_input(rc, err, folder=folder)


def test_data_and_evaluate_bad_input(tmp_path, capsys):
    folder = tmp_path / "out"
    folder.mkdir()
    rc, _, err = run_cli(capsys, "data", "--dataset", "nosuch", "--out", folder / "d.npy")
    assert_bad_input(rc, err, "nosuch", "swissroll", folder=folder)
    rc, _, err = run_cli(
        capsys, "data", "--dataset", "moons", "--n", "-1", "--out", folder / "d.npy"
    )
    assert_bad_input(rc, err, "--n", folder=folder)
    rc, _, err = run_cli(capsys, "data", "--dataset", "nosuch", "--out", tmp_path / "no" / "d.npy")
    assert_bad_input(rc, err, "nosuch")
    assert not (tmp_path / "no").exists()  # a folder made for a failed command is removed
    rc, _, err = run_cli(capsys, "data", "--dataset", "moons", "--out", tmp_path / "no" / "d.npy")
    assert rc == 0, err  # missing folders are made
    assert (tmp_path / "no" / "d.npy").is_file(), err
    rc, _, err = run_cli(
        capsys, "evaluate", "--samples", tmp_path / "none.npz", "--dataset", "moons"
    )
    assert_bad_input(rc, err, "none.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not an npz")
    rc, _, err = run_cli(capsys, "evaluate", "--samples", junk, "--dataset", "moons")
    assert_bad_input(rc, err, "junk.npz")
    three_d = tmp_path / "3d.npy"
    np.save(three_d, np.zeros((10, 3)))
    rc, _, err = run_cli(capsys, "evaluate", "--samples", three_d, "--dataset", "moons")
    assert_bad_input(rc, err, "(10, 3)")
    rc, _, err = run_cli(capsys, "evaluate", "--samples", three_d, "--dataset", "nosuch")
    assert_bad_input(rc, err, "nosuch")


def test_train_bad_input_leaves_no_folder(tmp_path, capsys):
    out = tmp_path / "run"
    rc, _, err = run_cli(capsys, "train", "--dataset", "nosuch", "--out", out)
    assert_bad_input(rc, err, "nosuch", "moons")
    rc, _, err = run_cli(capsys, "train", "--dataset", "moons", "--out", out, "--steps", "0")
    assert_bad_input(rc, err, "--steps")
    rc, _, err = run_cli(capsys, "train", "--dataset", "moons", "--out", out, "--lr", "-1")
    assert_bad_input(rc, err, "--lr")
    assert not out.exists()


def test_unknown_command_and_bench_section(capsys, tmp_path):
    rc, _, err = run_cli(capsys, "frobnicate")
    assert_bad_input(rc, err, "frobnicate", "sample")
    rc, _, err = run_cli(capsys, "bench", "--section", "nosuch", "--out", tmp_path / "B.md")
    assert_bad_input(rc, err, "nosuch", "core", folder=tmp_path)


def test_subprocess_round_trip_and_clean_error(tmp_path):
    """The real entry point: `python -m diffusion`, exit codes and stderr as a script sees them."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = tmp_path / "s.npz"
    ok = subprocess.run([sys.executable, "-m", "diffusion", *sample_args(out)],
                        capture_output=True, text=True, env=env, cwd=tmp_path)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert np.load(out)["x"].shape == (64, 2)
    bad_out = tmp_path / "bad.npz"
    bad = subprocess.run([sys.executable, "-m", "diffusion", *sample_args(bad_out, "--eta", "2")],
                         capture_output=True, text=True, env=env, cwd=tmp_path)  # fmt: skip
    assert_bad_input(bad.returncode, bad.stderr, "eta")
    assert bad.stdout == ""
    assert not bad_out.exists()


# ----- pieces the commands stand on ----------------------------------------------------


def test_atomic_write_leaves_old_file_and_no_temp_on_error(tmp_path):
    target = tmp_path / "x.npy"
    save_npy(target, np.arange(3))

    def fail(tmp):
        tmp.write_bytes(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, fail)
    np.testing.assert_array_equal(np.load(target), np.arange(3))
    assert [p.name for p in tmp_path.iterdir()] == ["x.npy"]
    save_npy(tmp_path / "plain", np.arange(2))  # exactly the name given, no suffix added
    assert (tmp_path / "plain").is_file()


def test_plugin_lookup_tolerates_only_a_missing_module(tmp_path, monkeypatch):
    pkg = tmp_path / "fakeplugin"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "cli.py").write_text("import a_module_that_does_not_exist_here\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _find_plugin("fakeplugin.nocli") is None
    assert _find_plugin("nosuchpackage_here.cli") is None
    with pytest.raises(ImportError):
        _find_plugin("fakeplugin.cli")


def test_bench_runner_merges_sections_and_reports_missing(tmp_path, monkeypatch):
    module = types.ModuleType("diffusion.bench.fake")
    module.__spec__ = importlib.machinery.ModuleSpec("diffusion.bench.fake", None)
    module.run = lambda quick=False: f"fake table, quick={quick}"
    monkeypatch.setitem(sys.modules, "diffusion.bench.fake", module)
    monkeypatch.setattr(bench, "SECTIONS", {"fake": "Fake", "absent": "Absent", "kept": "Kept"})
    out = tmp_path / "B.md"
    out.write_text("<!-- bench:kept -->\n## Kept\n\nold numbers\n<!-- /bench:kept -->\n")
    statuses = bench.run_bench(["fake", "absent"], quick=True, out=out)
    assert statuses == {"fake": "ok", "absent": "missing"}
    text = out.read_text()
    assert "fake table, quick=True" in text
    assert "old numbers" in text  # a section not re-run is kept
    assert "diffusion.bench.absent` is not present" in text
    module.run = lambda quick=False: 1 / 0
    statuses = bench.run_bench(["fake"], out=out)
    assert statuses["fake"].startswith("failed: ZeroDivisionError")
    text = out.read_text()
    assert "ZeroDivisionError" in text
    assert "fake table" not in text
    assert "old numbers" in text


def _options(parser, path=()):
    """(command path, action, parser) for every option of every (sub)command."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _options(sub, (*path, name))
        elif not isinstance(action, argparse._HelpAction):
            yield path, action, parser


def test_every_option_has_a_help_line_with_its_default():
    from diffusion.cli import build_parser

    missing = []
    for path, action, parser in _options(build_parser()):
        text = parser._get_formatter()._expand_help(action) if action.help else ""
        optional = action.option_strings and not action.required
        if not action.help or (optional and "default" not in text):
            missing.append(f"{' '.join(path)} {action.option_strings or action.dest}")
    assert missing == []


def test_distill_defaults_are_the_shipped_recipe(monkeypatch):
    """Options left out take recipe_for(method, dataset), dataset overrides included."""
    import argparse

    from diffusion.cli import build_parser
    from diffusion.distill import cli as dcli
    from diffusion.distill.recipe import recipe_for

    parser = build_parser()
    for method, key in (("progressive", "pd"), ("cd", "cd"), ("ict", "ct")):
        for dataset in ("moons", "swissroll"):
            args = parser.parse_args(["distill", "--method", method, "--out", "x",
                                      "--teacher", dataset])  # fmt: skip
            dcli._apply_recipe(args, dataset)
            rec = recipe_for(key, dataset)
            assert args.batch_size == rec["batch_size"]
            assert args.lr == rec["lr"]
            assert args.ema_decay == rec["ema_decay"]
            steps = rec.get("steps_per_round", rec.get("steps"))
            assert args.steps == steps
            if method == "cd":
                assert (args.N, args.solver, args.mu) == (rec["N"], rec["solver"], rec["mu"])
            if method == "ict":
                assert args.init == "teacher"
                assert args.ict_curriculum["s1"] == rec["s1"]
    args = argparse.Namespace(**{**vars(args), "batch_size": 7})
    dcli._apply_recipe(args, "moons")
    assert args.batch_size == 7  # a given option is kept
    args = parser.parse_args(["distill", "--method", "progressive", "--out", "x", "--steps", "5"])
    dcli._apply_recipe(args, "moons")
    assert args.first_round_steps == 5  # round 1 follows a given --steps
