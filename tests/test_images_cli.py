"""The ``images`` subcommands: sample, fid and sweep on the shipped digits models,
and one-line errors that leave no file behind."""

from __future__ import annotations

import json

import numpy as np

from diffusion.cli import main


def test_images_sample_fid_and_sweep(tmp_path, capsys):
    out = tmp_path / "s.npz"
    assert (
        main(
            [
                "images",
                "sample",
                "--model",
                "digits-pd@1steps",
                "--steps",
                "1",
                "--n",
                "20",
                "--seed",
                "3",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    with np.load(out) as z:
        assert z["x"].shape == (20, 1, 16, 16)
        assert int(z["nfe"]) == 1
        assert z["x"].min() >= -1
        assert z["x"].max() <= 1
    capsys.readouterr()
    assert main(["images", "fid", "--samples", str(out), "--dataset", "digits", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["n"] == 20
    assert res["label"] == "FD-20"
    assert res["fd"] > 0
    sweep = tmp_path / "sweep.json"
    assert (
        main(
            [
                "images",
                "sweep",
                "--model",
                "digits-cd",
                "--samplers",
                "consistency",
                "--nfe",
                "1,2",
                "--n",
                "16",
                "--dataset",
                "digits",
                "--out",
                str(sweep),
            ]
        )
        == 0
    )
    rows = json.loads(sweep.read_text())["rows"]
    assert [r["nfe"] for r in rows] == [1, 2]
    assert all(r["label"] == "FD-16" for r in rows)


def test_images_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "x.txt"
    assert main(["images", "sample", "--model", "digits", "--out", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:")
    assert "\n" not in err
    assert ".npz or .png" in err
    assert not bad.exists()
    assert (
        main(["images", "sample", "--model", "no-such-model", "--out", str(tmp_path / "y.npz")])
        == 2
    )
    assert "unknown model" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


# ----- diffusers weights: safetensors only, for a folder and for a hub id ------------------


def _tiny_unet_folder(folder, *, safe: bool):
    import torch
    from diffusers import DDIMScheduler, UNet2DModel

    torch.manual_seed(0)
    unet = UNet2DModel(
        sample_size=8,
        in_channels=3,
        out_channels=3,
        layers_per_block=1,
        block_out_channels=(8, 16),
        down_block_types=("DownBlock2D",) * 2,
        up_block_types=("UpBlock2D",) * 2,
        norm_num_groups=4,
    )
    unet.save_pretrained(folder / "unet", safe_serialization=safe)
    DDIMScheduler(num_train_timesteps=1000).save_pretrained(folder / "scheduler")
    return folder


def _spy_on_torch_load(monkeypatch) -> list:
    """Every torch.load call (the only way diffusers reads a pickled .bin) is recorded."""
    import torch

    calls, real = [], torch.load

    def spy(*args, **kw):
        calls.append(args[:1])
        return real(*args, **kw)

    monkeypatch.setattr(torch, "load", spy)
    return calls


def test_a_diffusers_folder_with_only_pickled_weights_is_refused_unread(tmp_path, monkeypatch):
    import pytest
    from diffusers import UNet2DModel

    from diffusion.images.hub import load_diffusers_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = _tiny_unet_folder(tmp_path / "bin", safe=False)
    assert [p.name for p in (folder / "unet").glob("*.bin")] == ["diffusion_pytorch_model.bin"]
    calls = _spy_on_torch_load(monkeypatch)
    with pytest.raises(ValueError, match="only safetensors are accepted") as err:
        load_diffusers_model(folder)
    assert "\n" not in str(err.value)
    assert calls == []
    # the spy does see a pickle read: diffusers' own fallback opens that same file
    UNet2DModel.from_pretrained(str(folder), subfolder="unet", use_safetensors=False)
    assert len(calls) == 1
    # and the same network saved as safetensors loads
    model = load_diffusers_model(_tiny_unet_folder(tmp_path / "st", safe=True))
    assert model.sample_shape == (3, 8, 8)


def test_a_hub_id_is_asked_for_safetensors_only(tmp_path, monkeypatch, capsys):
    """A hub id (no network here: the loader is replaced by one that answers as the hub
    does for a repository holding only a .bin) is never retried with pickle allowed;
    the command line gives one error line and writes nothing."""
    from diffusers import UNet2DModel

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    asked = []

    def from_pretrained(name, **kw):
        asked.append(kw.get("use_safetensors"))
        if kw.get("use_safetensors") is not True:
            raise AssertionError(f"pickle weights were allowed: {kw}")
        raise OSError(
            f"{name} does not appear to have a file named diffusion_pytorch_model.safetensors."
        )

    monkeypatch.setattr(UNet2DModel, "from_pretrained", from_pretrained)
    out = tmp_path / "s.npz"
    rc = main(
        [
            "images",
            "sample",
            "--model",
            "diffusers:someorg/only-bin",
            "--steps",
            "1",
            "--n",
            "4",
            "--out",
            str(out),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2, (rc, asked, err)
    assert asked == [True], (rc, asked, err)
    assert len(err) == 1, err
    assert err[0].startswith("error: "), err
    assert "safetensors" in err[0], err
    assert "someorg/only-bin" in err[0]
    assert not out.exists()
