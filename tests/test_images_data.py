"""CIFAR-10 loader on a synthetic tarball in the official format, FID/KID maths,
the FID Inception's loading rules, and the UNet's shape contract."""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile

import numpy as np
import pytest
import torch

from diffusion.images import cifar
from diffusion.images.fid import FeatureStats, feature_stats, frechet_distance, kid, sample_label
from diffusion.images.inception import FIDInception, load_fid_inception, verify_weights
from diffusion.images.unet import UNet, count_parameters
from diffusion.nets import build_net


def _batch(n: int, seed: int) -> tuple[bytes, np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n).tolist()
    d = {
        b"batch_label": b"synthetic",
        b"labels": labels,
        b"data": data,
        b"filenames": [b"x.png"] * n,
    }
    return pickle.dumps(d, protocol=2), data, labels


def _tarball(path, payloads: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, raw in payloads.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))


@pytest.fixture
def fake_cifar(tmp_path):
    payloads, datas, labels = {}, [], []
    for i in range(1, 6):
        raw, d, y = _batch(3, i)
        payloads[f"data_batch_{i}"] = raw
        datas.append(d)
        labels += y
    payloads["test_batch"] = _batch(2, 9)[0]
    _tarball(tmp_path / cifar.TARBALL, payloads)
    return tmp_path, np.concatenate(datas), np.array(labels)


def test_cifar_tarball_reads_channel_major_images_and_caches(fake_cifar):
    root, data, labels = fake_cifar
    images, y = cifar.load_cifar10("train", root=root, verify_md5=False, download=False)
    assert images.shape == (15, 3, 32, 32)
    assert images.dtype == np.uint8
    # official layout: 1024 red values, then green, then blue, each row-major
    np.testing.assert_array_equal(images[4, 0].ravel(), data[4, :1024])
    np.testing.assert_array_equal(images[4, 2, 31], data[4, 3072 - 32 :])
    np.testing.assert_array_equal(y, labels)
    assert (root / "cifar10-train.npz").exists()
    (root / cifar.TARBALL).unlink()  # the cache alone serves later loads
    again, _ = cifar.load_cifar10("train", root=root, download=False)
    np.testing.assert_array_equal(again, images)
    x = cifar.to_model_range(images)
    assert float(x.min()) >= -1
    assert float(x.max()) <= 1


def test_cifar_md5_is_checked_and_bad_split_named(fake_cifar):
    root, _, _ = fake_cifar
    with pytest.raises(ValueError, match="md5"):
        cifar.load_cifar10("test", root=root, download=False)
    with pytest.raises(ValueError, match="train or test"):
        cifar.load_cifar10("valid", root=root)
    with pytest.raises(FileNotFoundError):
        cifar.load_cifar10("train", root=root / "missing", download=False)


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_cifar_refuses_pickles_that_call_functions(tmp_path, capsys):
    raw = pickle.dumps({b"data": _Evil(), b"labels": []}, protocol=2)
    _tarball(tmp_path / "evil.tar.gz", {f"data_batch_{i}": raw for i in range(1, 6)})
    with pytest.raises(ValueError, match="print: not a plain data batch"):
        cifar.read_cifar10_tarball(tmp_path / "evil.tar.gz", "train")
    assert "pwned" not in capsys.readouterr().out


def test_download_verifies_md5_and_leaves_nothing_half_written(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"cifar" * 1000)
    good = hashlib.md5(src.read_bytes()).hexdigest()
    with pytest.raises(ValueError, match="md5"):
        cifar.download_file(src.as_uri(), tmp_path / "dl" / "x.bin", md5="0" * 32) if (
            tmp_path / "dl"
        ).mkdir() is None else None
    assert list((tmp_path / "dl").iterdir()) == []
    out = cifar.download_file(src.as_uri(), tmp_path / "dl" / "x.bin", md5=good)
    assert out.read_bytes() == src.read_bytes()


def test_cache_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DIFFUSION_CACHE", str(tmp_path / "c"))
    assert cifar.cache_dir() == tmp_path / "c"


# ----- FID and KID --------------------------------------------------------------------


def test_frechet_distance_matches_closed_form_for_diagonal_gaussians():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    v1, v2 = rng.uniform(0.5, 2, size=5), rng.uniform(0.5, 2, size=5)
    a = FeatureStats(mu1, np.diag(v1), 100)
    b = FeatureStats(mu2, np.diag(v2), 100)
    exact = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)
    assert frechet_distance(a, b) == pytest.approx(exact, rel=1e-9)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_with_full_covariances_is_symmetric_and_rotation_invariant():
    rng = np.random.default_rng(1)
    f1 = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6))
    f2 = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6)) + 0.5
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    d = frechet_distance(feature_stats(f1), feature_stats(f2))
    assert d == pytest.approx(frechet_distance(feature_stats(f2), feature_stats(f1)), rel=1e-8)
    assert d == pytest.approx(
        frechet_distance(feature_stats(f1 @ q), feature_stats(f2 @ q)), rel=1e-6
    )


def test_kid_is_unbiased_near_zero_for_one_distribution_and_positive_for_two():
    rng = np.random.default_rng(2)
    # Unbiased: over independent draws from one distribution the estimates average to 0.
    same = np.array(
        [
            kid(rng.normal(size=(100, 8)), rng.normal(size=(100, 8)), n_subsets=1)[0]
            for _ in range(30)
        ]
    )
    assert abs(same.mean()) < 3 * same.std() / np.sqrt(len(same))
    shifted = kid(rng.normal(size=(100, 8)), rng.normal(size=(100, 8)) + 1.0, n_subsets=1)[0]
    assert shifted > 10 * same.std()


def test_sample_labels_carry_the_count():
    assert sample_label(500) == "FID-500"
    assert sample_label(50000) == "FID-50k"
    assert sample_label(2000, "KID") == "KID-2k"


# ----- FID Inception -------------------------------------------------------------------


def test_inception_weights_are_verified_before_loading(tmp_path):
    net = FIDInception()
    state = {
        k: torch.rand_like(v) * 0.05 + 0.5 * k.endswith("running_var")
        if v.is_floating_point()
        else v
        for k, v in net.state_dict().items()
    }
    path = tmp_path / "weights.pth"
    torch.save(state, path)
    with pytest.raises(ValueError, match="sha256"):
        verify_weights(path)  # not the official file: its digest lacks the 6726825d prefix
    with pytest.raises(ValueError, match="sha256"):
        load_fid_inception(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    loaded = load_fid_inception(path, expected_sha256=digest)
    torch.testing.assert_close(
        loaded.Mixed_7c.branch_pool.conv.weight, state["Mixed_7c.branch_pool.conv.weight"]
    )
    with torch.no_grad():
        feats = loaded(torch.rand(1, 3, 32, 32))
    assert feats.shape == (1, 2048)
    assert torch.isfinite(feats).all()
    with pytest.raises(FileNotFoundError):
        load_fid_inception(cache_dir=tmp_path / "empty", download=False)


def test_inception_refuses_a_pickle_that_runs_code(tmp_path):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump(_Evil(), f)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(pickle.UnpicklingError):
        load_fid_inception(path, expected_sha256=digest)


# ----- UNet ----------------------------------------------------------------------------


def test_default_unet_size_and_shapes():
    net = UNet()
    assert 6e6 <= count_parameters(net) <= 10e6
    x = torch.randn(2, 3, 32, 32)
    out = net(x, torch.tensor([0.0, 998.5]))  # fractional t is allowed
    assert out.shape == x.shape
    with pytest.raises(ValueError, match="expected x of shape"):
        net(torch.randn(2, 1, 32, 32), torch.zeros(2))


def test_unet_rebuilds_from_its_config_and_depends_on_t():
    net = UNet(
        image_size=8,
        base_channels=8,
        channel_mult=(1, 2),
        num_res_blocks=1,
        attn_resolutions=(4,),
        groups=4,
        dropout=0.0,
    )
    for p in net.parameters():  # zero-initialised layers would hide t's effect
        torch.nn.init.normal_(p, std=0.05)
    twin = build_net(net.config)
    twin.load_state_dict(net.state_dict())
    x = torch.randn(3, 3, 8, 8)
    t = torch.tensor([1.0, 500.0, 999.0])
    torch.testing.assert_close(twin(x, t), net(x, t))
    assert not torch.allclose(net(x, t), net(x, t.flip(0)))
