"""The MLP denoiser and the 2-D DDPM recipe: shapes, determinism, stopping, and a
short run that must actually learn."""

import pytest
import torch

from diffusion.checkpoints import load_model, save_checkpoint
from diffusion.metrics import evaluate_2d
from diffusion.nets import MLPDenoiser, build_net, sinusoidal_embedding
from diffusion.samplers import sample
from diffusion.toy.train2d import DEFAULT_HPARAMS, train_toy


def test_mlp_shapes_and_config_rebuild():
    net = MLPDenoiser(width=32, depth=3, emb_dim=16)
    x, t = torch.randn(5, 2), torch.tensor([0.0, 10.5, 500.0, 998.0, 999.0])
    assert net(x, t).shape == (5, 2)
    again = build_net(net.config)
    again.load_state_dict(net.state_dict())
    assert torch.equal(again(x, t), net(x, t))


def test_shared_timestep_shortcut_equals_per_sample_embedding():
    # forward embeds one t once when the whole batch shares it; the result must not change
    torch.manual_seed(0)
    net = MLPDenoiser()
    x = torch.randn(64, 2)
    shared = net(x, torch.full((64,), 321.5))
    one_by_one = torch.cat([net(x[i : i + 1], torch.tensor([321.5])) for i in range(64)])
    torch.testing.assert_close(shared, one_by_one, rtol=1e-5, atol=1e-6)


def test_time_branch_on_grid_levels_equals_per_sample_computation():
    # a batch whose t takes few distinct values (a few-step loss's grid) computes the time
    # branch once per level and looks it up; outputs and gradients must not change
    torch.manual_seed(0)
    net = MLPDenoiser()
    x = torch.randn(256, 2)
    t = torch.tensor([0.0, 17.25, 400.0, 999.0])[torch.randint(0, 4, (256,))]
    grouped = net(x, t)
    one_by_one = torch.cat([net(x[i : i + 1], t[i : i + 1]) for i in range(256)])
    torch.testing.assert_close(grouped, one_by_one, rtol=1e-5, atol=1e-6)
    weights = torch.randn(256, 2)
    g_grouped = torch.autograd.grad((grouped * weights).sum(), list(net.parameters()))
    g_rows = torch.autograd.grad((one_by_one * weights).sum(), list(net.parameters()))
    for a, b in zip(g_grouped, g_rows, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    # many distinct levels take the per-sample path, with the same values
    t_many = torch.rand(256) * 999
    rows = torch.cat([net(x[i : i + 1], t_many[i : i + 1]) for i in range(256)])
    torch.testing.assert_close(net(x, t_many), rows, rtol=1e-5, atol=1e-6)


def test_time_embedding_separates_nearby_and_fractional_steps():
    emb = sinusoidal_embedding(torch.tensor([500.0, 500.5, 501.0]), 32)
    assert emb.shape == (3, 32)
    assert (emb[0] - emb[1]).abs().max() > 0.1
    assert (emb[1] - emb[2]).abs().max() > 0.1


def test_bad_mlp_settings():
    with pytest.raises(ValueError, match="even emb_dim"):
        MLPDenoiser(emb_dim=7)
    with pytest.raises(ValueError, match="bad config for network type 'mlp'"):
        build_net({"type": "mlp", "widht": 3})


def test_same_seed_same_model_and_global_rng_untouched():
    state = torch.random.get_rng_state()
    a, _ = train_toy("moons", steps=15, seed=5, batch_size=64)
    assert torch.equal(torch.random.get_rng_state(), state)
    b, _ = train_toy("moons", steps=15, seed=5, batch_size=64)
    c, _ = train_toy("moons", steps=15, seed=6, batch_size=64)
    x, t = torch.randn(9, 2), torch.full((9,), 700.0)
    assert torch.equal(a.net(x, t), b.net(x, t))
    assert not torch.equal(a.net(x, t), c.net(x, t))


def test_callback_and_should_stop():
    seen = []
    model, result = train_toy(
        "rings",
        steps=100,
        seed=0,
        batch_size=32,
        callback=lambda step, loss: seen.append((step, loss)),
        should_stop=lambda: len(seen) >= 7,
    )
    assert [s for s, _ in seen] == list(range(1, 8))
    assert result.steps == 7
    assert result.stopped
    assert model.config["training"]["steps"] == 7
    assert model.sample_shape == (2,)
    assert model.prediction == "eps"


def test_bad_training_options():
    with pytest.raises(ValueError, match=r"unknown training option.*learning_rate.*batch_size"):
        train_toy("moons", steps=5, learning_rate=1.0)
    with pytest.raises(ValueError, match="unknown dataset"):
        train_toy("mooons", steps=5)
    with pytest.raises(ValueError, match="steps must be at least 1"):
        train_toy("moons", steps=0)
    with pytest.raises(ValueError, match="unknown schedule"):
        train_toy("moons", steps=5, schedule="sigmoid")


@pytest.mark.slow
def test_short_run_learns_the_8_gaussians(tmp_path):
    """1,500 steps must land near the data floor and far below an untrained net."""
    dataset = "8gaussians"
    untrained, _ = train_toy(dataset, steps=1, seed=0, lr=1e-12)
    model, result = train_toy(dataset, steps=1500, seed=0, batch_size=512)
    assert result.losses[-1] < result.losses[0]
    assert DEFAULT_HPARAMS["prediction"] == model.prediction

    def metrics(m):
        with torch.no_grad():
            x = sample(m, "ddim", 50, n=2000, seed=11, spacing="trailing").x
        return evaluate_2d(x, dataset, seed=3)

    good, bad = metrics(model), metrics(untrained)
    assert good["sliced_w2"] < 2.0 * good["floor_sliced_w2"], good
    assert good["sliced_w2"] < 0.2 * bad["sliced_w2"], (good, bad)
    assert good["mmd"] < 0.2 * bad["mmd"]
    # mean log-likelihood under the true mixture (narrow modes, std 0.1, so a few
    # samples between modes cost several nats): near real data, far above untrained
    assert good["loglik"] > good["floor_loglik"] - 3.0, good
    assert good["loglik"] > bad["loglik"] + 100, (good, bad)

    # and the trained model survives a checkpoint round trip bit for bit
    save_checkpoint(tmp_path / "m", model.net, model.config)
    loaded = load_model(str(tmp_path / "m"))
    x, t = torch.randn(16, 2), torch.full((16,), 250.0)
    assert torch.equal(loaded.net(x, t), model.net(x, t))


def test_ema_update_is_the_moving_average_and_refuses_another_architecture():
    from diffusion.training import EMA

    torch.manual_seed(0)
    net = MLPDenoiser(width=8, depth=2, emb_dim=4)
    ema = EMA(net, decay=0.9)
    start = [p.detach().clone() for p in ema.net.parameters()]
    for _ in range(2):  # the second update reuses the tensor lists of the first
        with torch.no_grad():
            for p in net.parameters():
                p.add_(1.0)
        ema.update(net)
    for s, e, p in zip(start, ema.net.parameters(), net.parameters(), strict=True):
        # two steps of e <- 0.9 e + 0.1 p with p = s + 1, then s + 2
        torch.testing.assert_close(e, 0.81 * s + 0.09 * (s + 1) + 0.1 * (s + 2))
        assert not e.requires_grad
        assert p.requires_grad
    with pytest.raises(ValueError, match="parameters changed"):
        ema.update(MLPDenoiser(width=8, depth=3, emb_dim=4))
