"""The re-noising time of two-step consistency sampling, chosen by search.

Multistep consistency sampling (Song et al. 2023, Alg. 1) jumps from noise to data, adds
noise back to a level t and jumps again; the paper picks its intermediate times by
search, and so does the asset script: every candidate level is scored on evaluation sets
of the search's own (``SEARCH_SETS``, none of the bar tests' ``BAR_SETS``), paired and
averaged, and the chosen grid is stored in the model's config (``sampling.timesteps``)
with the scores beside it (``sampling.two_step_search``).

Candidates: the points of the model's own training grid (CD and CT train f only at the N
Karras times) with sigma_bar between 0.02 and 3 (the 8-gaussians modes have std 0.1), at
most ``TWO_STEP_MAX`` of them. Averaged over 8 sets because one set's MMD^2 noise (sd
~1.2e-4 at 4,000 points) is as large as the differences between candidates
(docs/fewstep.md).
"""

from __future__ import annotations

import math

import torch

from .consistency import karras_timesteps
from .evaluation import EvalSet, Protocol, consistency_samples

__all__ = [
    "SEARCH_PROJECTION_SEED",
    "SEARCH_SETS",
    "pick_two_step_time",
    "set_two_step_time",
    "two_step_candidates",
    "two_step_search",
]

TWO_STEP_RANGE = (0.02, 3.0)
TWO_STEP_MAX = 16
SEARCH_SETS = tuple(EvalSet(777 + k, 555 + 2 * k, 556 + 2 * k) for k in range(8))
"""The sets the shipped models' two-step times were searched on (recorded in their
configs, ``sampling.two_step_search.seeds``)."""
SEARCH_PROJECTION_SEED = 1


def two_step_candidates(model) -> list[float]:
    """sigma_bar levels of the model's training grid (config training.N or final_N) within
    TWO_STEP_RANGE, thinned evenly to at most TWO_STEP_MAX, descending; a geometric range
    if the config names no grid."""
    info = model.config.get("training") or {}
    n_grid = info.get("N") or info.get("final_N")
    lo, hi = TWO_STEP_RANGE
    if n_grid:
        sb = model.schedule.sigma_bar(karras_timesteps(model.schedule, int(n_grid)))
        levels = [float(v) for v in sb if lo <= float(v) <= hi]
    else:
        levels = [float(v) for v in torch.logspace(math.log10(hi), math.log10(lo), 14)]
    if len(levels) > TWO_STEP_MAX:
        idx = torch.linspace(0, len(levels) - 1, TWO_STEP_MAX).round().long().unique()
        levels = [levels[i] for i in idx.tolist()]
    return sorted(levels, reverse=True)


def two_step_search(model, protocol: Protocol) -> dict:
    """Score 1-step and every candidate 2-step grid [T-1, t(sigma_bar)] of a consistency
    model by ``protocol`` (sliced W2 and MMD^2, averaged over its sets; paired: every
    grid meets the same sets). Returns {"one": (sw, mmd), "two": {sigma_bar: (t, sw, mmd)}}."""
    sch = model.schedule
    levels = two_step_candidates(model)
    grids = {None: torch.tensor([sch.t_max], dtype=torch.float64)}
    for sb in levels:
        t = float(sch.t_from_sigma_bar(torch.tensor(sb, dtype=torch.float64)))
        grids[sb] = torch.tensor([sch.t_max, t], dtype=torch.float64)
    mean = {}
    for key, ts in grids.items():
        rows = protocol.over_sets(lambda x, seed, ts=ts: consistency_samples(model, ts, x, seed))
        mean[key] = tuple(rows.mean(0).tolist())
    return {"one": mean[None], "two": {sb: (float(grids[sb][1]), *mean[sb]) for sb in levels}}


def pick_two_step_time(res: dict) -> float:
    """Among the candidates that beat one step in both sliced W2 and MMD^2 (averages of
    ``two_step_search``), the time with the lowest sliced W2; if none beats it in both,
    the lowest sliced W2 overall."""
    sw1, mmd1 = res["one"]
    cands = list(res["two"].values())
    both = [c for c in cands if c[1] < sw1 and c[2] < mmd1]
    return min(both or cands, key=lambda c: c[1])[0]


def set_two_step_time(model, dataset: str, sets: tuple[EvalSet, ...], n: int = 10_000) -> float:
    """Search on ``sets`` of ``dataset``, store the 1- and chosen 2-step grids in the
    model's config (``sampling.timesteps``) and the scores beside them
    (``sampling.two_step_search``); returns the chosen time."""
    protocol = Protocol(dataset, sets, n=n, projection_seed=SEARCH_PROJECTION_SEED)
    res = two_step_search(model, protocol)
    t2 = pick_two_step_time(res)
    t_max = float(model.schedule.t_max)
    model.config["sampling"]["timesteps"] = {"1": [t_max], "2": [t_max, t2]}
    model.config["sampling"]["two_step_search"] = {
        "seeds": [list(s) for s in sets],
        "one_step": {"sw2": round(res["one"][0], 5), "mmd": round(res["one"][1], 7)},
        "two_step": [
            {"sigma_bar": round(sb, 4), "t": round(t, 2), "sw2": round(sw, 5), "mmd": round(m, 7)}
            for sb, (t, sw, m) in res["two"].items()
        ],
    }
    return t2
