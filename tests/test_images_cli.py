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
        assert z["x"].shape == (20, 1, 16, 16) and int(z["nfe"]) == 1
        assert z["x"].min() >= -1 and z["x"].max() <= 1
    capsys.readouterr()
    assert main(["images", "fid", "--samples", str(out), "--dataset", "digits", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["n"] == 20 and res["label"] == "FD-20" and res["fd"] > 0
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
    assert [r["nfe"] for r in rows] == [1, 2] and all(r["label"] == "FD-16" for r in rows)


def test_images_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "x.txt"
    assert main(["images", "sample", "--model", "digits", "--out", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and ".npz or .png" in err
    assert not bad.exists()
    assert (
        main(["images", "sample", "--model", "no-such-model", "--out", str(tmp_path / "y.npz")])
        == 2
    )
    assert "unknown model" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
