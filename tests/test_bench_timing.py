"""The benchmark's timing helpers, on a fake clock (no timed test: the clock only
moves when the timed functions say so)."""

from __future__ import annotations

from diffusion.bench import common


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.order: list[str] = []

    def __call__(self) -> float:
        return self.now


def test_paired_ratio_cancels_a_drifting_machine(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(common.time, "perf_counter", clock)
    # The machine slows down 1% per call; fn always costs 1.05x the peer at the same moment.
    speed = {"factor": 1.0}

    def cost(units: float, name: str):
        def run():
            clock.order.append(name)
            clock.now += units * speed["factor"]
            speed["factor"] *= 1.01

        return run

    fn, peer = cost(1.05, "fn"), cost(1.0, "peer")
    m = common.paired_ratio(fn, peer, repeats=41, warmup=0)
    # Alternating first place cancels the drift inside a pair: the ratio is 1.05 to
    # within the one-call drift of 1%, while the two medians alone mix in the drift.
    assert abs(m["ratio"] - 1.05) < 0.011
    assert m["q1"] <= m["ratio"] <= m["q3"]
    assert clock.order[:4] == ["fn", "peer", "peer", "fn"]
    assert m["fn"] > 0
    assert m["peer"] > 0


def test_steady_allocator_says_what_it_did():
    said = common.steady_allocator()
    assert said.startswith("allocator: ")
    # glibc Linux (this project's machines) accepts both settings.
    assert "256 MiB" in said
    assert "32 MiB" in said


def test_overhead_peer_replays_the_samplers_own_network_calls():
    import torch

    from diffusion.bench import core
    from diffusion.checkpoints import load_model
    from diffusion.grids import make_timesteps
    from diffusion.samplers import REGISTRY

    model = load_model("swissroll")
    calls: list[tuple[torch.Tensor, torch.Tensor]] = []
    net = model.net

    def counting_net(x, t):
        calls.append((x.clone(), t.clone()))
        return net(x, t)

    model.net = counting_net
    x_T = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    timesteps = make_timesteps(model.schedule, 4, "logsnr")

    def heun_run():
        return REGISTRY["heun"](model, x_T, timesteps)

    bare, nfe = core._bare_calls(model, heun_run)
    assert nfe == REGISTRY["heun"].nfe(4) == 7
    assert model.net is counting_net  # the recorder is removed again
    sampler_calls = calls[:]
    calls.clear()
    bare()
    # the peer calls the network with the sampler's own inputs, call by call
    assert len(calls) == len(sampler_calls) == nfe
    for (x, t), (x_s, t_s) in zip(calls, sampler_calls, strict=True):
        assert x.equal(x_s)
        assert t.equal(t_s)
    assert not calls[1][0].equal(x_T)  # not x_T at every time
