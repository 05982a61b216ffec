"""The images benchmark section's GPU part: rendered from the shipped data file
(assets/images/bench_gpu.json) alone, and the part in BENCHMARKS.md is exactly that
rendering, so the report and its data cannot drift apart."""

from __future__ import annotations

import copy
import json
import statistics
from pathlib import Path

import pytest

from diffusion.bench import images

ROOT = Path(__file__).resolve().parent.parent
DATA = json.loads(images.GPU_DATA.read_text())
SIDES = ("ours_images_per_s", "ours_eager_images_per_s", "diffusers_images_per_s")


@pytest.fixture(scope="module")
def gpu() -> str:
    return images.gpu_part()


def _row(text: str, label: str) -> list[str]:
    """The cells of the Markdown table row whose first cell is ``label``."""
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == label:
            return cells
    raise AssertionError(f"no table row {label!r}")


@pytest.mark.parametrize("batch", [128, 512])
def test_training_rows_are_the_data(gpu, batch):
    t = DATA["train"]
    b = t[f"batch{batch}"]
    cells = _row(gpu, f"training, UNet {t['params'] / 1e6:.1f} M, 32x32 bf16, batch {batch}")
    assert cells[1:4] == [f"{b[k]:,.0f}" for k in SIDES]
    ratio = b["ours_images_per_s"] / b["diffusers_images_per_s"]
    assert cells[4] == f"{ratio:.2f}" == f"{b['ratio']:.2f}"
    mark = DATA["forward"][b["run"]]["mark_images_per_s"]  # the mark of the row's own run
    assert cells[6] == " / ".join(f"{3 * b[k] / mark:.0%}" for k in SIDES)
    assert cells[7] == b["run"]
    assert f"{DATA['runs'][b['run']]['command']}" in gpu


@pytest.mark.parametrize("nfe", [10, 50])
def test_sampling_rows_are_the_data(gpu, nfe):
    s = DATA["sample"]
    r = s[f"nfe{nfe}"]
    cells = _row(gpu, f"sampling, DDIM {nfe} NFE, batch {s['batch']}, bf16")
    assert cells[1:5] == [*(f"{r[k]:,.0f}" for k in SIDES), f"{r['ratio']:.2f}"]
    mark = DATA["forward"][s["run"]]["mark_images_per_s"]
    assert cells[6] == " / ".join(f"{nfe * r[k] / mark:.0%}" for k in SIDES)


def _ttq_record(seed: int, mode: str) -> dict:
    """The last record of ``seed`` and ``mode`` in the shipped data."""
    return [
        r for r in DATA["time_to_quality"]["records"] if (r["seed"], r["mode"]) == (seed, mode)
    ][-1]


def test_time_to_quality_rows_are_the_data(gpu):
    seeds = sorted({r["seed"] for r in DATA["time_to_quality"]["records"]})
    assert len(seeds) >= 3
    for seed in seeds:
        c, e = _ttq_record(seed, "compiled"), _ttq_record(seed, "eager")
        runs = sorted({c["run"], e["run"]})
        label = f"seed {seed} (run{'s' if len(runs) > 1 else ''} {', '.join(runs)})"
        assert _row(gpu, label)[1:] == [
            f"{c['train_seconds_to_quality']:.0f} s ({c['steps']:,} steps), "
            f"{c['compile_seconds']:.0f} s compiling",
            f"{e['train_seconds_to_quality']:.0f} s ({e['steps']:,} steps)",
            f"{e['train_seconds_to_quality'] / c['train_seconds_to_quality']:.2f}",
        ]
    med = [
        statistics.median(_ttq_record(s, m)["train_seconds_to_quality"] for s in seeds)
        for m in ("compiled", "eager")
    ]
    assert _row(gpu, "median of the three seeds")[1:] == [
        f"{med[0]:.0f} s",
        f"{med[1]:.0f} s",
        f"{med[1] / med[0]:.2f}",
    ]


def test_a_run_short_of_the_target_shows_how_far_it_went():
    g = copy.deepcopy(DATA)
    r = g["time_to_quality"]["records"][-1]
    r.update(reached=False, stopped_by="time cap", steps=9000, train_seconds_to_quality=None)
    text = images.gpu_part(g)
    assert "not reached in 9,000 steps (time cap)" in text
    median = _row(text, "median of the three seeds")
    assert median[1 + ("compiled", "eager").index(r["mode"])] == ""  # no median of a miss
    assert median[3] == ""


def test_a_ttq_output_is_recorded_per_seed_and_mode(tmp_path):
    out = {
        "date": "2026-12-04 10:00 UTC",
        "seed": 7,
        "recipe": "digits teacher_config: batch 256, lr 1e-3, warmup 200, EMA 0.999, fp32, seed 7",
        "eval": "FD-1000, DDIM 50 trailing, fp32, every 250 steps from 5000, cap 10 steps",
        "shipped_teacher_fd1000_ddim50": 34.45,
        "shipped_teacher_fd1000_ddim50_other_noise": 35.2,
        "eager": {"reached": True, "steps": 10, "train_seconds_to_quality": 1.0, "evals": []},
    }
    f = tmp_path / "ttq.json"
    f.write_text(json.dumps(out))
    g = copy.deepcopy(DATA)
    n = len(g["time_to_quality"]["records"])
    images.add_time_to_quality(g, "9", "cmd", [f])
    images.add_time_to_quality(g, "9", "cmd again", [f])  # a label recorded twice: replaced
    new = g["time_to_quality"]["records"][n:]
    assert [(r["run"], r["seed"], r["mode"]) for r in new] == [("9", 7, "eager")]
    assert g["runs"]["9"] == {
        "date": out["date"],
        "command": "cmd again",
        "parts": "time to quality",
        "files": {"ttq.json": out["date"]},
    }


def test_other_numbers_come_from_the_data(gpu):
    for run, f in DATA["forward"].items():
        assert f"run {run}: {f['batch512']['graphed_images_per_s']:,.0f} img/s" in gpu
    m = DATA["compile_modes"]["train:reduce-overhead"]
    assert f"{m['images_per_s']:,.0f} img/s after {m['compile_seconds']:.0f} s" in gpu
    fid = DATA["fid_features"]
    assert _row(gpu, "fp32")[1:] == [
        f"{fid['ours_images_per_s']:,.0f}",
        f"{fid['pytorch_fid_images_per_s']:,.0f}",
        f"{fid['ratio']:.2f}",
    ]
    ts = DATA["tests"]
    assert f"{ts['passed']} passed, {ts['skipped']} skipped" in gpu
    for run in DATA["runs"].values():
        assert run["command"] in gpu


def test_benchmarks_md_holds_the_rendered_gpu_part(gpu):
    """Re-rendering the GPU part from the shipped data changes nothing in the report."""
    report = (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8")
    assert images.splice_gpu_part(report, gpu) == report


def test_splice_replaces_only_the_images_gpu_part(tmp_path):
    report = (
        "<!-- bench:core -->\n## Core\n\n### GPU (H200)\n\ncore text\n<!-- /bench:core -->\n"
        "<!-- bench:images -->\n## Images\n\nstamp\n\n### GPU (H200)\n\nold gpu\n\nmore\n\n"
        "### CPU (this machine)\n\ncpu text\n<!-- /bench:images -->\n"
    )
    out = images.splice_gpu_part(report, "new gpu\n")
    assert out == report.replace("old gpu\n\nmore\n", "new gpu\n")
    path = tmp_path / "B.md"
    path.write_text(report, encoding="utf-8")
    images.main(["--splice-gpu", str(path)])
    assert path.read_text(encoding="utf-8") == images.splice_gpu_part(report)


def test_section_puts_the_gpu_part_above_the_cpu_part(gpu, monkeypatch):
    monkeypatch.setattr(images, "_cpu_section", lambda quick: ["cpu figures"])
    text = images.run(quick=True)
    assert f"{images.GPU_HEADING}\n\n{gpu}\n{images.CPU_HEADING}\n\ncpu figures\n" in text
