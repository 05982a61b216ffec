"""Benchmark section ``images``: GPU figures measured on an H200 (read from
``assets/images/bench_gpu.json``, written by scripts/images_gpu.py and
scripts/images_device_run.sh) and CPU figures measured now, on this machine.

CPU: offline-track training wall time (the digits UNet, a fixed number of steps),
and the latency of 16 images at 10 NFE with our DDIM against the same network
driven by diffusers' DDIMScheduler loop.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch

from ..images.store import ASSETS
from .common import interleaved_medians, machine_info, md_table

__all__ = ["run"]


def _gpu_section() -> list[str]:
    path = ASSETS / "bench_gpu.json"
    if not path.exists():
        return ["No GPU measurements found (assets/images/bench_gpu.json)."]
    g = json.loads(path.read_text())
    out = [
        f"Measured on {g['device']} (torch {g['torch']}, {g['date']}) by "
        "`bash scripts/images_device_run.sh`; medians of timed windows ended by a CUDA "
        "synchronisation, ours and the peer alternating in one run.",
        "",
    ]
    rows = []
    t = g.get("train")
    if t:
        rows.append(
            [
                f"training, UNet {t['params'] / 1e6:.1f} M, 32x32 bf16, batch {t['batch']} "
                "(ours: `train_images`; peer: " + t.get("peer", "diffusers' add_noise loop") + ")",
                f"{t['ours_images_per_s']:,.0f}",
                f"{t['diffusers_images_per_s']:,.0f}",
                f"{t['ratio']:.2f}",
            ]
        )
    s = g.get("sample")
    if s:
        for nfe in (10, 50):
            r = s[f"nfe{nfe}"]
            rows.append(
                [
                    f"sampling, DDIM {nfe} NFE, batch {s['batch']}, bf16",
                    f"{r['ours_images_per_s']:,.0f}",
                    f"{r['diffusers_images_per_s']:,.0f}",
                    f"{r['ratio']:.2f}",
                ]
            )
    f = g.get("fid_features")
    if f:
        rows.append(
            [
                f"FID features (Inception pool3), batch {f['batch']}, fp32",
                f"{f['ours_images_per_s']:,.0f}",
                f"{f['pytorch_fid_images_per_s']:,.0f} (pytorch-fid)",
                f"{f['ratio']:.2f}",
            ]
        )
        rows.append(
            [
                "FID features, ours in bf16 + channels_last (features differ by bf16 noise)",
                f"{f['ours_bf16_channels_last_images_per_s']:,.0f}",
                "",
                "",
            ]
        )
    out.append(md_table(["H200", "ours img/s", "diffusers img/s", "ratio"], rows))
    p = g.get("parity")
    if p:
        diffs = [v["max_abs_diff"] for k, v in p.items() if k.startswith("seed")]
        out += [
            "",
            f"FID Inception parity with pytorch-fid's InceptionV3 (same random state dict, "
            f"16 images, pool3): max abs difference {max(diffs):.2e} (bound 1e-4): "
            f"{'passed' if p['passed'] else 'FAILED'}.",
        ]
    d = g.get("ddp_1gpu")
    if d:
        out += [
            "",
            "Multi-GPU training (issue 6): " + d["two_gpus"] + ". On one GPU: "
            f"`{d['command']}`: {d['torchrun_1proc_images_per_s_steady']:,.0f} img/s under "
            f"torchrun (1 process) vs {d['plain_1proc_images_per_s_steady']:,.0f} img/s plain; "
            f"loss curves identical (max relative difference "
            f"{d['loss_max_rel_diff_torchrun_vs_plain_200_steps']:.1e}); rank 0's checkpoint "
            f"resumed in a plain process to step {d['resumed_rank0_checkpoint_to_step']}. "
            "Two processes on CPU (gloo) are checked against one process in the test suite "
            "(tests/test_images_train.py).",
        ]
    o = g.get("offline_training")
    if o:
        out += [
            "",
            f"Shipped digits models trained on the H200 ({o.get('date', g['date'])}): classifier "
            f"{o['classifier']['seconds']:.0f} s, teacher {o['teacher']['steps']} steps "
            f"{o['teacher']['seconds']:.0f} s, PD 64 -> 1 in {o['pd']['seconds']:.0f} s, "
            f"CD {o['cd']['steps']} steps {o['cd']['seconds']:.0f} s; teacher DDIM "
            f"{o['teacher']['fd_label']}: "
            + ", ".join(f"{k} steps {v:.1f}" for k, v in o["teacher"]["ddim"].items())
            + ".",
        ]
    return out


def _cpu_section(quick: bool) -> list[str]:
    from ..images.digits import DIGITS_UNET, load_digits
    from ..images.store import load_image_model
    from ..images.train import TrainConfig, train_images

    out = []
    # Train from scratch for a fixed wall-clock budget (what a lecturer could spend in
    # class), then score the EMA network against the shipped teacher: FD-200 of DDIM-50
    # samples from the same 200 starting noises.
    budget = 20.0 if quick else 480.0
    import tempfile

    from ..images.digits import digits_metrics
    from ..samplers import sample

    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(
            out=tmp,
            data="digits",
            steps=10**6,
            batch_size=64,
            lr=1e-3,
            warmup=100,
            ema_decay=0.995,  # a short run: an EMA over the last ~200 steps
            log_every=10**9,
            ckpt_every=10**9,
            unet=DIGITS_UNET.to_dict(),
        )
        t0 = time.perf_counter()
        summary = train_images(
            cfg,
            data=load_digits()[0],
            resume=False,
            should_stop=lambda: time.perf_counter() - t0 > budget,
        )
        wall = time.perf_counter() - t0
        trained = load_image_model(str(Path(tmp) / "model"))
    n_eval = 50 if quick else 200
    x_eval = torch.randn(n_eval, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    fd = {}
    with torch.no_grad():
        for name, m in (("trained here", trained), ("shipped teacher", load_image_model("digits"))):
            x = sample(m, "ddim", 50, n=n_eval, seed=0, x_T=x_eval, spacing="trailing").x
            fd[name] = digits_metrics(x)["fd"]
    steps = summary["steps"]
    load = os.getloadavg()[0]
    out.append(
        f"Offline-track training from scratch on this CPU (digits UNet 0.65 M, batch 64, "
        f"lr 1e-3, EMA 0.995) for a {budget:.0f} s budget: {steps:,} steps in {wall:.0f} s "
        f"({summary['images_per_s']:,.0f} img/s, {1000 * wall / steps:.0f} ms/step; load "
        f"average {load:.1f} on {os.cpu_count()} cores). FD-{n_eval} of DDIM-50 samples, same "
        f"starting noise: {fd['trained here']:.1f} for this model against "
        f"{fd['shipped teacher']:.1f} for the shipped teacher (6,000 steps at batch 256, "
        "trained on the H200)."
    )

    from diffusers import DDIMScheduler

    from ..samplers import get_sampler
    from ..schedules import make_timesteps

    teacher = load_image_model("digits")
    x_T = torch.randn(16, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    ts = make_timesteps(teacher.schedule, 10, "trailing")
    ddim = get_sampler("ddim")
    sched = DDIMScheduler(
        num_train_timesteps=1000,
        beta_schedule="linear",
        timestep_spacing="trailing",
        clip_sample=False,
        set_alpha_to_one=True,
    )
    sched.set_timesteps(10)
    net = teacher.net

    @torch.no_grad()
    def ours():
        return ddim(teacher, x_T, ts, record=False).x

    @torch.no_grad()
    def theirs():
        x = x_T
        for t in sched.timesteps:
            x = sched.step(net(x, t.float().expand(16)), t, x).prev_sample
        return x

    med = interleaved_medians({"ours": ours, "diffusers": theirs}, repeats=3 if quick else 9)
    diff = float((ours() - theirs()).abs().max())
    out += [
        "",
        md_table(
            [
                "this CPU: 16 digits at 10 NFE (DDIM, trailing)",
                "ours ms",
                "diffusers loop ms",
                "ratio",
            ],
            [
                [
                    "latency",
                    f"{med['ours'] * 1000:.0f}",
                    f"{med['diffusers'] * 1000:.0f}",
                    f"{med['diffusers'] / med['ours']:.2f}",
                ]
            ],
        ),
        f"(max abs difference between the two outputs: {diff:.1e})",
    ]
    return out


def run(quick: bool = False) -> str:
    """Markdown for the images section of BENCHMARKS.md."""
    lines = [
        "## Images",
        "",
        f"Command: `python -m diffusion bench --section images{' --quick' if quick else ''}`; "
        f"CPU figures on: {machine_info()}. Ratios are peer time / our time for latency and "
        "our rate / peer rate for throughput (> 1 means ours is faster).",
        "",
        "### GPU (H200)",
        "",
        *_gpu_section(),
        "",
        "### CPU (this machine)",
        "",
        *_cpu_section(quick),
    ]
    return "\n".join(lines) + "\n"
