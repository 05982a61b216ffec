"""The few-step evaluation protocol: seeded, paired sets and bars that fail where they should."""

from __future__ import annotations

import pytest
import torch

from diffusion.distill import evaluation as ev
from diffusion.metrics import mmd_rbf, sliced_wasserstein
from diffusion.toy.datasets import sample_dataset

SETS = (ev.EvalSet(5, 6, 7), ev.EvalSet(8, 9, 10))


def test_sets_are_seeded_paired_and_distinct():
    p = ev.Protocol("moons", SETS, n=500, n_mmd=200, projection_seed=3)
    assert torch.equal(p.reference(1), sample_dataset("moons", 500, seed=8))
    assert torch.equal(p.noise(0), torch.randn(500, 2, generator=torch.Generator().manual_seed(6)))
    assert not torch.equal(p.reference(0), p.reference(1))
    x = sample_dataset("moons", 500, seed=11)
    sw, mmd = p.metrics(x, 1)
    assert sw == sliced_wasserstein(x, p.reference(1), seed=3)
    assert mmd == mmd_rbf(x[:200], p.reference(1)[:200])
    seen = []

    def sample(x_T, seed):
        seen.append((x_T, seed))
        return x_T

    rows = p.over_sets(sample, p.sliced_w2)
    assert rows.shape == (2,)
    assert [s for _, s in seen] == [7, 10]
    assert torch.equal(seen[1][0], p.noise(1))
    with pytest.raises(ValueError, match="at least one evaluation set"):
        ev.Protocol("moons", ())


def test_the_bar_sets_are_not_the_searched_sets():
    """The two-step time is searched on SEARCH_SETS; the sets that judge it must differ."""
    from diffusion.distill.two_step import SEARCH_SETS

    searched = {s.data_seed for s in SEARCH_SETS} | {s.noise_seed for s in SEARCH_SETS}
    used = {s.data_seed for s in ev.BAR_SETS} | {s.noise_seed for s in ev.BAR_SETS}
    assert not searched & used


def test_pd_bars_fail_at_their_thresholds():
    teacher = ev.Metrics(0.10, 1e-4)
    assert ev.pd_failures(4, ev.Metrics(0.129, 1.2e-4), ev.Metrics(0.3, 3e-4), teacher) == []
    over = ev.pd_failures(4, ev.Metrics(0.131, 1.2e-4), ev.Metrics(0.3, 3e-4), teacher)
    assert len(over) == 1
    assert "sliced W2" in over[0]
    assert "teacher" in over[0]
    # at 2 steps only the DDIM ratio counts, in each metric
    assert ev.pd_failures(2, ev.Metrics(0.5, 1e-3), ev.Metrics(1.0, 2e-3), teacher) == []
    ddim = ev.pd_failures(2, ev.Metrics(0.5, 1.1e-3), ev.Metrics(1.0, 2e-3), teacher)
    assert len(ddim) == 1
    assert "MMD^2" in ddim[0]
    assert "DDIM" in ddim[0]
    assert ev.pd_failures(1, (0.6,), (1.0,), (0.1,))[0].startswith("PD 1 steps: sliced W2")


def test_consistency_bars_and_the_mmd_floor():
    best = ev.bar_reference(ev.Metrics(0.05, 1e-6), mmd_floor=2e-5)
    assert best == ev.Metrics(0.05, 2e-5)  # the teacher's MMD^2 is below the floor
    assert ev.cm_failures("cd", ev.Metrics(0.1, 4e-5), best) == []
    assert len(ev.cm_failures("cd", ev.Metrics(0.11, 4.1e-5), best)) == 2
    assert ev.cm_failures("ct", ev.Metrics(0.15, 6e-5), best) == []
    with pytest.raises(ValueError, match="choose one of cd, ct"):
        ev.cm_failures("pd", ev.Metrics(0.1, 1e-5), best)
    one = torch.tensor([[0.10, 2e-4], [0.12, 1e-4]], dtype=torch.float64)
    assert ev.two_step_failures(one, one * 0.9) == []
    worse = one * 0.9
    worse[:, 1] = one[:, 1] * 1.1  # better sliced W2, worse MMD^2
    assert ev.two_step_failures(one, worse) == [
        "2 steps: mean MMD^2 0.000165 is not below 1 step's 0.00015"
    ]
