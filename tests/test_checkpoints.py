"""Checkpoints: safetensors + JSON + sha256 round trip, loud failures on bad files,
model specs, manifests, and the integrity of every shipped model."""

import json
from pathlib import Path

import pytest
import torch

from diffusion import checkpoints as ck
from diffusion.checkpoints import (
    add_to_manifest,
    list_models,
    load_checkpoint,
    load_model,
    save_checkpoint,
    sha256_file,
)
from diffusion.nets import MLPDenoiser, build_net

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_2D = ("swissroll", "moons", "8gaussians", "checkerboard", "rings", "gmm")


def _config(**extra):
    cfg = {
        "kind": "diffusion",
        "dataset": "moons",
        "schedule": {"name": "linear", "T": 1000},
        "prediction": "eps",
        "sample_shape": [2],
    }
    cfg.update(extra)
    return cfg


def _net(seed=0):
    torch.manual_seed(seed)
    return MLPDenoiser(width=16, depth=2, emb_dim=8)


def _inputs():
    g = torch.Generator().manual_seed(0)
    return torch.randn(7, 2, generator=g), torch.rand(7, generator=g) * 999


def test_round_trip_gives_the_same_network_and_config(tmp_path):
    net = _net()
    written = save_checkpoint(tmp_path / "m", net, _config(note="hello"))
    loaded, cfg = load_checkpoint(tmp_path / "m")
    x, t = _inputs()
    assert torch.equal(loaded(x, t), net(x, t))
    assert cfg == written
    assert cfg["note"] == "hello"
    assert cfg["net"] == net.config
    assert cfg["sha256"] == sha256_file(tmp_path / "m.safetensors")
    assert not any(p.requires_grad for p in loaded.parameters())  # inference copy
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.safetensors"]  # no temps


def test_weights_file_is_safetensors_not_pickle(tmp_path):
    save_checkpoint(tmp_path / "m", _net(), _config())
    raw = (tmp_path / "m.safetensors").read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + header_len])
    assert "out.weight" in header
    assert b"\x80\x02" not in raw[:2]  # no pickle protocol marker


def test_load_model_from_path_stem_with_or_without_suffix(tmp_path):
    net = _net()
    save_checkpoint(tmp_path / "m", net, _config())
    x, t = _inputs()
    for spec in (str(tmp_path / "m"), str(tmp_path / "m.json"), str(tmp_path / "m.safetensors")):
        model = load_model(spec)
        assert model.sample_shape == (2,)
        assert model.config["dataset"] == "moons"
        assert model.prediction == "eps"
        assert model.schedule.T == 1000
        assert torch.equal(model.net(x, t), net(x, t))


def test_flipped_byte_is_a_corrupt_checkpoint(tmp_path):
    save_checkpoint(tmp_path / "m", _net(), _config())
    path = tmp_path / "m.safetensors"
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"corrupt checkpoint.*sha256"):
        load_checkpoint(tmp_path / "m")
    with pytest.raises(ValueError, match="corrupt checkpoint"):
        load_model(str(tmp_path / "m"))


def test_missing_files(tmp_path):
    save_checkpoint(tmp_path / "m", _net(), _config())
    (tmp_path / "m.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="weights not found"):
        load_checkpoint(tmp_path / "m")
    with pytest.raises(FileNotFoundError, match="config not found"):
        load_checkpoint(tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match="not found"):
        load_model(str(tmp_path / "absent"))


def test_malformed_json_and_missing_keys(tmp_path):
    save_checkpoint(tmp_path / "m", _net(), _config())
    (tmp_path / "m.json").write_text("{not json")
    with pytest.raises(ValueError, match="malformed checkpoint config"):
        load_checkpoint(tmp_path / "m")
    (tmp_path / "m.json").write_text(json.dumps({"net": {"type": "mlp"}}))
    with pytest.raises(ValueError, match="no 'sha256' entry"):
        load_checkpoint(tmp_path / "m")


def test_weights_that_do_not_fit_the_config(tmp_path):
    save_checkpoint(tmp_path / "m", _net(), _config())
    cfg = json.loads((tmp_path / "m.json").read_text())
    cfg["net"]["width"] = 32
    cfg.pop("config_sha256")  # without the config's own checksum, the shapes still disagree
    (tmp_path / "m.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="does not fit its network config"):
        load_checkpoint(tmp_path / "m")


def test_save_rejects_unknown_kind_and_build_net_unknown_type(tmp_path):
    with pytest.raises(ValueError, match=r"unknown checkpoint kind 'weird'.*diffusion"):
        save_checkpoint(tmp_path / "m", _net(), _config(kind="weird"))
    assert not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match=r"unknown network type 'resnet'.*mlp"):
        build_net({"type": "resnet"})


def test_progressive_distillation_round_spec(tmp_path):
    run = tmp_path / "run"
    for n, seed in ((4, 0), (2, 1)):
        save_checkpoint(run / f"pd-{n}steps", _net(seed), _config(kind="pd-student", steps=n))
    x, t = _inputs()
    model = load_model(f"{run}@2steps")
    assert model.config["steps"] == 2
    assert torch.equal(model.net(x, t), _net(1)(x, t))
    with pytest.raises(FileNotFoundError, match=r"no progressive-distillation round 8.*pd-2steps"):
        load_model(f"{run}@8steps")


def test_unknown_name_lists_valid_choices():
    with pytest.raises(ValueError, match=r"unknown model 'no-such-model'.*oracle:.*8gaussians"):
        load_model("no-such-model")


def test_manifest_add_list_load_and_tamper(tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFUSION_ASSETS", str(tmp_path / "assets"))
    group = tmp_path / "assets" / "group"
    net = _net()
    save_checkpoint(group / "w" / "toy", net, _config())
    entry = add_to_manifest(
        group / "manifest.json",
        "toy",
        group / "w" / "toy",
        description="a test model",
        dataset="moons",
        kind="diffusion",
    )
    assert entry["path"] == "w/toy"
    add_to_manifest(group / "manifest.json", "toy", group / "w" / "toy", description="again")
    listed = list_models()
    assert [e["name"] for e in listed] == ["toy"]
    assert listed[0]["description"] == "again"
    x, t = _inputs()
    assert torch.equal(load_model("toy").net(x, t), net(x, t))
    # a manifest whose sha256 disagrees with the file (a swapped weights file) is refused
    data = json.loads((group / "manifest.json").read_text())
    data["models"][0]["sha256"] = "0" * 64
    (group / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="corrupt checkpoint"):
        load_model("toy")


# ----- the shipped assets -------------------------------------------------------------


def _all_manifests():
    return sorted((ROOT / "assets").glob("*/manifest.json"))


def test_every_manifest_sha256_matches_its_shipped_file():
    manifests = _all_manifests()
    assert ROOT / "assets" / "models" / "manifest.json" in manifests
    for manifest in manifests:
        for entry in ck.read_manifest(manifest):
            weights = manifest.parent / (entry["path"] + ".safetensors")
            assert weights.exists(), f"{manifest}: {entry['name']} has no file {weights}"
            assert sha256_file(weights) == entry["sha256"], f"{entry['name']} sha256 differs"
            assert {"name", "path", "sha256", "description", "dataset", "kind"} <= set(entry)


def test_every_2d_dataset_has_a_small_shipped_model_that_loads():
    entries = {e["name"]: e for e in ck.read_manifest(ROOT / "assets/models/manifest.json")}
    assert set(SHIPPED_2D) <= set(entries)
    for name in SHIPPED_2D:
        weights = ROOT / "assets/models" / (entries[name]["path"] + ".safetensors")
        assert weights.stat().st_size < 400_000
        model = load_model(name)
        assert model.config["dataset"] == name == entries[name]["dataset"]
        assert model.sample_shape == (2,)


def test_shipped_2d_models_sample_close_to_their_data():
    """Each shipped model, sampled with DDIM 50 on 2,000 points, lands within 2x of
    the data-vs-data floor of sliced W2 (an untrained net scores >100x the floor)."""
    from diffusion.metrics import evaluate_2d
    from diffusion.samplers import sample

    for name in SHIPPED_2D:
        model = load_model(name)
        with torch.no_grad():
            x = sample(model, "ddim", 50, n=2000, seed=0, spacing="trailing").x
        m = evaluate_2d(x, name, seed=1)
        assert m["sliced_w2"] < 2.0 * m["floor_sliced_w2"], (name, m)


def test_progressive_round_spec_with_a_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"folder .*absent not found"):
        load_model(f"{tmp_path / 'absent'}@4steps")
