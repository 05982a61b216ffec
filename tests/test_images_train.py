"""Image training: exact resume, and DDP on two gloo processes matching one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from diffusion.images.store import load_image_model
from diffusion.images.train import TrainConfig, synthetic_images, train_images
from diffusion.training import DivergedError

TINY = {
    "base_channels": 8,
    "channel_mult": [1, 2],
    "num_res_blocks": 1,
    "attn_resolutions": [4],
    "groups": 4,
    "dropout": 0.1,
    "image_size": 8,
}
ROOT = Path(__file__).resolve().parents[1]


def _cfg(out: Path, steps: int, **kw) -> TrainConfig:
    base = dict(
        out=str(out),
        data="synthetic",
        steps=steps,
        batch_size=8,
        lr=1e-3,
        warmup=2,
        ema_decay=0.9,
        log_every=1,
        ckpt_every=100,
        unet=dict(TINY),
        seed=3,
    )
    base.update(kw)
    return TrainConfig(**base)


def test_resume_continues_exactly(tmp_path):
    full = train_images(_cfg(tmp_path / "full", 4))
    first = train_images(_cfg(tmp_path / "split", 2))
    assert first["steps"] == 2
    second = train_images(_cfg(tmp_path / "split", 4))  # resumes from step 2
    assert second["losses"] == full["losses"]  # data, t, eps, dropout all restored
    a = load_file(str(tmp_path / "full" / "state.safetensors"))
    b = load_file(str(tmp_path / "split" / "state.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    meta = json.loads((tmp_path / "split" / "state.json").read_text())
    assert meta["step"] == 4
    # The EMA network is saved as a loadable image model with its sample shape.
    model = load_image_model(str(tmp_path / "split" / "model"))
    assert model.sample_shape == (3, 8, 8)
    log = (tmp_path / "split" / "log.jsonl").read_text().splitlines()
    assert len(log) == 4
    assert "images_per_s" in json.loads(log[-1])


def test_evaluation_stops_training_and_is_left_out_of_its_time(tmp_path):
    """evaluate(step, net) runs every eval_every steps on the network that is saved;
    True stops the run there (model saved, losses up to that step), and its seconds
    are reported apart from the training's."""
    import time

    seen = []

    def evaluate(step, net):
        seen.append((step, net.training))
        time.sleep(0.2)
        return step >= 4

    s = train_images(_cfg(tmp_path / "e", 10), evaluate=evaluate, eval_every=2)
    assert [st for st, _ in seen] == [2, 4]
    assert not any(training for _, training in seen)  # the EMA network, in eval mode
    assert s["steps"] == 4
    assert len(s["losses"]) == 4
    assert s["eval_seconds"] >= 0.4
    assert json.loads((tmp_path / "e" / "state.json").read_text())["step"] == 4
    assert load_image_model(str(tmp_path / "e" / "model")).sample_shape == (3, 8, 8)
    # the same run without a check: same losses, evaluation at the last step too
    plain = train_images(_cfg(tmp_path / "p", 4))
    assert plain["losses"] == s["losses"]
    last = []
    train_images(_cfg(tmp_path / "l", 3), evaluate=lambda st, n: last.append(st), eval_every=2)
    assert last == [2, 3]


def test_corrupt_checkpoint_is_refused(tmp_path):
    train_images(_cfg(tmp_path / "r", 2))
    p = tmp_path / "r" / "state.safetensors"
    raw = bytearray(p.read_bytes())
    raw[-5] ^= 0xFF
    p.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="sha256"):
        train_images(_cfg(tmp_path / "r", 4))


def test_checkpoint_from_another_kind_of_device_is_refused_by_name(tmp_path):
    """The data generator lives on the training device; its stream cannot continue on
    another kind of device, so resume says where the checkpoint belongs."""
    train_images(_cfg(tmp_path / "r", 2))
    meta_path = tmp_path / "r" / "state.json"
    meta = json.loads(meta_path.read_text())
    assert meta["device"] == "cpu"
    meta["device"] = "cuda"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="written on cuda and this run is on cpu"):
        train_images(_cfg(tmp_path / "r", 4))


def test_nan_loss_stops_before_any_checkpoint_of_diverged_weights(tmp_path):
    """Losses are read every log_every steps; a NaN inside an interval still stops the
    run with its step number, and the last checkpoint is the one before it."""
    train_images(_cfg(tmp_path / "n", 2, ckpt_every=2, log_every=4))
    bad = torch.full_like(synthetic_images(16, size=8), float("nan"))  # every batch NaN
    with pytest.raises(DivergedError, match="at step 3"):
        train_images(_cfg(tmp_path / "n", 8, ckpt_every=4, log_every=4), data=bad)
    assert json.loads((tmp_path / "n" / "state.json").read_text())["step"] == 2


def test_ddp_two_gloo_processes_match_one_process(tmp_path):
    """torchrun with 2 CPU processes (gloo) and global batch 8 follows the same loss
    curve as one process with batch 8: each rank trains on its slice of one global
    batch and DDP averages the gradients."""
    single = train_images(_cfg(tmp_path / "one", 3, unet={**TINY, "dropout": 0.0}))
    args = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_port=29517",
        "-m",
        "diffusion.images.train",
        "--data",
        "synthetic",
        "--out",
        str(tmp_path / "two"),
        "--steps",
        "3",
        "--batch-size",
        "8",
        "--lr",
        "1e-3",
        "--warmup",
        "2",
        "--ema-decay",
        "0.9",
        "--log-every",
        "1",
        "--seed",
        "3",
        "--base-channels",
        "8",
        "--channel-mult",
        "1,2",
        "--num-res-blocks",
        "1",
        "--image-size",
        "8",
        "--groups",
        "4",
        "--dropout",
        "0",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    r = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    meta = json.loads((tmp_path / "two" / "state.json").read_text())
    assert meta["step"] == 3
    losses, ref = torch.tensor(meta["losses"]), torch.tensor(single["losses"])
    # Step 1 sees the same weights and the same 8 images split 4 + 4: equal losses.
    torch.testing.assert_close(losses[0], ref[0], rtol=1e-6, atol=1e-7)
    # Later steps agree up to float round-off, which Adam's first normalised steps
    # amplify for parameters whose gradient is near zero (zero-initialised layers).
    torch.testing.assert_close(losses, ref, rtol=2e-3, atol=1e-6)
