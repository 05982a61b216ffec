"""The images benchmark section's GPU part: rendered from the shipped data file
(assets/images/bench_gpu.json) alone, and the part in BENCHMARKS.md is exactly that
rendering, so the report and its data cannot drift apart."""

from __future__ import annotations

import copy
import json
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


def test_time_to_quality_rows_are_the_data(gpu):
    q = DATA["time_to_quality"]
    evals = {p: {e["step"]: e for e in q[p]["evals"]} for p in ("compiled", "eager")}
    cap = q["eval"]["cap_steps"]
    teacher = DATA["offline_training"]["teacher"]["steps"]
    for step, label in (
        (teacher, f"{teacher:,} steps (the shipped teacher's length)"),
        (cap, f"{cap:,} steps"),
    ):
        c, e = evals["compiled"][step], evals["eager"][step]
        assert _row(gpu, label)[1:] == [
            f"{c['train_seconds']:.0f} s, FD {c['fd1000_ddim50']:.1f}",
            f"{e['train_seconds']:.0f} s, FD {e['fd1000_ddim50']:.1f}",
            f"{e['train_seconds'] / c['train_seconds']:.2f}",
        ]
    assert q["thresholds_after_run"]
    for fd in q["thresholds_after_run"]:
        c, e = (
            min((x for x in evals[p].values() if x["fd1000_ddim50"] <= fd), key=lambda x: x["step"])
            for p in ("compiled", "eager")
        )
        assert _row(gpu, f"first evaluation at FD <= {fd:g}")[1:] == [
            f"{c['train_seconds']:.0f} s ({c['step']:,} steps)",
            f"{e['train_seconds']:.0f} s ({e['step']:,} steps)",
            f"{e['train_seconds'] / c['train_seconds']:.2f}",
        ]
    target = _row(gpu, f"FD-1000 <= {q['shipped_teacher_fd1000_ddim50']:.2f} (the shipped teacher)")
    for cell, p in zip(target[1:3], ("compiled", "eager"), strict=True):
        assert (cell == f"not reached in {q[p]['steps']:,} steps") == (not q[p]["reached"])
    # every evaluation's FD is listed, in order
    for p in ("compiled", "eager"):
        listed = ", ".join(f"{x['fd1000_ddim50']:.1f}" for x in q[p]["evals"])
        assert f"{p} {listed}" in gpu


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


def test_a_reached_target_is_timed():
    g = copy.deepcopy(DATA)
    q = g["time_to_quality"]
    for p, (secs, steps) in (("compiled", (80.0, 8000)), ("eager", (150.0, 6500))):
        q[p].update(reached=True, train_seconds_to_quality=secs, steps=steps)
    text = images.gpu_part(g)
    row = _row(text, f"FD-1000 <= {q['shipped_teacher_fd1000_ddim50']:.2f} (the shipped teacher)")
    assert row[1:] == ["80 s (8,000 steps)", "150 s (6,500 steps)", f"{150 / 80:.2f}"]
    assert "therefore not measured" not in text
