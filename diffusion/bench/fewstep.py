"""Benchmark section 'fewstep': wall time to the few-step quality bars, and one-step sampling.

Trains, on the swiss roll from the shipped teacher, with the shipped recipe
(diffusion.distill.recipe.TOY_RECIPE): the progressive-distillation chain 1024 -> 1
(time per round), consistency distillation and consistency training (initialised as the
recipe says: from the teacher's weights, ECT, or from scratch; its loss never evaluates
the teacher), then checks each against the bars the tests use (``diffusion.distill.evaluation``,
on sets of its own, BENCH_SETS): sliced W2 of 10k samples
against fresh data, the mean over N_SETS independent (reference, x_T) sets, since one
draw's noise (sd about 0.005 on the swiss roll, where the teacher's metric is about 0.03)
is as large as the margins. Targets on the 2-core machine: each PD round <= 10 s, the
chain <= 90 s, CD <= 60 s, CT <= 90 s, one step of sampling 2,000 points <= 10 ms.

Training is timed REPEATS times, the repeats interleaved (chain, CD, CT; again), and
reported as medians with the slowest repeat: this machine's speed drifts by up to 2x
within a session. The peer is plain diffusion training (the DDPM loss, Ho et al. 2020,
eq. 14) of the same network at the same batch size, run just before and just after each
method in the same repeat, so each method's cost per optimiser step is also given as a
ratio from which most of the machine's drift cancels.
Training is deterministic on the CPU (same seed, same threads): the repeats must give
the same weights, and the section says whether they did; quality is measured on the
first repeat's models.
"""

from __future__ import annotations

import copy
import functools
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..distill import evaluation as ev
from ..distill.evaluation import EvalSet, Protocol
from .common import interleaved_medians, machine_info, md_table, torch_threads

# Both cores of the 2-core machine: CT's batch of 2,048 trains 1.2-1.3x faster on two
# threads than on one (16-17 against 20-21 ms a step); PD's batch of 512 and CD's (512
# when measured, 1,024 now) about the same or a little faster. (The app trains each
# session on one thread, ui/models.py.)
TRAIN_THREADS = 2

DATASET = "swissroll"
N_SETS = 8
REPEATS = 3
PEER_STEPS = 200  # optimiser steps of the plain-diffusion peer, before and after each method


BENCH_SETS = tuple(EvalSet(4321 + k, 11 + k, 1 + k) for k in range(N_SETS))
"""The benchmark's own evaluation sets (no test or search uses them)."""


def _sw(protocol: Protocol, sample) -> float:
    """Mean over the protocol's sets of the sliced W2 of ``sample(x_T, renoise_seed)``."""
    return float(protocol.over_sets(sample, protocol.sliced_w2).mean())


@dataclass(frozen=True)
class _Setup:
    """What every part of the section shares."""

    quick: bool
    recipe: dict
    teacher: object
    sets: Protocol
    data: Callable
    repeats: int
    peer_steps: int


def run(quick: bool = False) -> str:
    from ..checkpoints import load_model
    from ..toy.datasets import draw

    teacher = load_model(DATASET)
    setup = _Setup(
        quick=quick,
        recipe=_scaled_recipe(quick),
        teacher=teacher,
        sets=Protocol(DATASET, BENCH_SETS),
        data=functools.partial(draw, DATASET),
        repeats=1 if quick else REPEATS,
        peer_steps=20 if quick else PEER_STEPS,
    )
    sw_teacher = _sw(setup.sets, lambda x_T, seed: ev.teacher_solve(teacher, x_T))
    sw_ddim = {s: _sw(setup.sets, _ddim_at(teacher, s)) for s in (1, 2, 4)}
    optim_import_secs = _import_optimiser()

    runs = [_train_repeat(setup, evaluate=(r == 0)) for r in range(setup.repeats)]
    same_weights = all(
        _same_weights(runs[0][k], run_[k]) for run_ in runs[1:] for k in ("pd1", "cd", "ct")
    )
    intro = _intro(setup, runs, sw_teacher, sw_ddim, same_weights, optim_import_secs)
    out = [
        "## Few-step: progressive distillation and consistency models",
        "",
        f"Machine: {machine_info()}.",
        "",
        intro,
        "",
        *_pd_section(setup, runs, sw_ddim, sw_teacher),
        *_cm_section(setup, runs, best=min(sw_teacher, *sw_ddim.values())),
        *_sampling_section(setup),
    ]
    return "\n".join(out)


def _scaled_recipe(quick: bool) -> dict:
    """The shipped recipe for DATASET, its step counts cut to 10% for a quick run."""
    from ..distill.recipe import TOY_RECIPE, recipe_for

    recipe = copy.deepcopy({m: recipe_for(m, DATASET) for m in TOY_RECIPE})
    scale = 0.1 if quick else 1.0
    for r in recipe.values():
        for key in ("steps", "steps_per_round", "first_round_steps"):
            if key in r:
                r[key] = max(2, int(r[key] * scale))
    return recipe


def _ddim_at(model, steps):
    return lambda x_T, seed: ev.ddim_samples(model, steps, x_T)


def _consistency_at(model, steps):
    return lambda x_T, seed: ev.consistency_samples(model, steps, x_T, seed)


def _import_optimiser() -> float:
    """Builds a first optimiser, before any clock starts; returns its seconds."""
    # torch.optim imports torch._dynamo on its first use (1.2-5.6 s on the 2-core AMD
    # machine), once per process: paid here, before the first round's clock starts, and
    # reported
    t0 = time.perf_counter()
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    return time.perf_counter() - t0


def _train_repeat(setup: _Setup, evaluate: bool) -> dict:
    """One repeat: the PD chain (rounds timed one by one; their evaluations, on the
    first repeat only, are outside the clocks), CD and CT, each bracketed by its peer."""
    from ..distill import consistency_distillation, consistency_training, progressive_distillation
    from ..distill.recipe import ct_initial_net

    recipe, teacher, data = setup.recipe, setup.teacher, setup.data
    ct_recipe = dict(recipe["ct"])
    ct_init = ct_recipe.pop("init")
    out: dict = {"rounds": {}, "sw": {}}
    last = [0.0]

    def on_round(n, model):
        out["rounds"][n] = time.perf_counter() - last[0]
        if evaluate:
            out["sw"][n] = _sw(setup.sets, _ddim_at(model, n))
        last[0] = time.perf_counter()

    def peer(method):
        return _peer_step_secs(teacher, data, recipe[method]["batch_size"], setup.peer_steps)

    # each method is bracketed by its peer, measured just before and just after it,
    # so that the machine's drift during the training is in both
    out["peer"] = {}
    with torch_threads(TRAIN_THREADS):
        before = peer("pd")
        last[0] = time.perf_counter()
        chain = progressive_distillation(teacher, data, seed=0, on_round=on_round, **recipe["pd"])
        out["peer"]["pd"] = (before + peer("pd")) / 2
        out["pd1"] = chain[-1][1]
        before = peer("cd")
        t0 = time.perf_counter()
        out["cd"] = consistency_distillation(teacher, data, seed=0, **recipe["cd"])
        out["cd_secs"] = time.perf_counter() - t0
        out["peer"]["cd"] = (before + peer("cd")) / 2
        before = peer("ct")
        t0 = time.perf_counter()
        net = ct_initial_net(teacher, ct_init, seed=0)
        out["ct"] = consistency_training(net, teacher.schedule, data, seed=0, **ct_recipe)
        out["ct_secs"] = time.perf_counter() - t0
        out["peer"]["ct"] = (before + peer("ct")) / 2
    return out


def _slowest(values: list[float], repeats: int) -> str:
    return f"{max(values):.1f}" if repeats > 1 else ""


def _per_step_ratio(times: list[float], runs: list[dict], steps: int, method: str) -> str:
    """Median over the repeats of (seconds per step) / (the repeat's peer's)."""
    ratios = [t / steps / run_["peer"][method] for t, run_ in zip(times, runs, strict=True)]
    return f"{statistics.median(ratios):.2f}"


def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def _intro(setup, runs, sw_teacher, sw_ddim, same_weights, optim_import_secs) -> str:
    """The paragraph on the protocol: data, quality metric, repeats and peers."""
    recipe, repeats, peer_steps = setup.recipe, setup.repeats, setup.peer_steps
    peer_line = "; ".join(
        f"batch {recipe[m]['batch_size']}: "
        f"{1e3 * statistics.median(run_['peer'][m] for run_ in runs):.2f} ms"
        for m in ("pd", "cd", "ct")
    )
    times_note = (
        f"Train times are medians of {repeats} repeats, interleaved, with the slowest repeat"
        if repeats > 1
        else "Train times are from a single run"
    )
    return (
        f"Dataset {DATASET}, shipped teacher; recipe `diffusion.distill.recipe.TOY_RECIPE`"
        + (" scaled to 10% (quick run: the bars are not expected)" if setup.quick else "")
        + f". Quality: sliced W2 of {ev.N_EVAL} samples against fresh data, the mean over "
        f"{N_SETS} independent sets of reference data and initial noise (protocol "
        "`diffusion.distill.evaluation`; teacher's converged solve, "
        f"{ev.TEACHER_SOLVER[0]} at {ev.TEACHER_SOLVER[1]} steps: {sw_teacher:.4f}; "
        "DDIM 1/2/4 steps: "
        + ", ".join(f"{sw_ddim[s]:.4f}" for s in (1, 2, 4))
        + f"). {times_note}; training on {TRAIN_THREADS} threads. Per step vs peer: the "
        "method's time per optimiser step over that of plain diffusion training (DDPM loss) "
        f"of the same network at the same batch, {peer_steps} steps just before and "
        f"{peer_steps} just after the method in each repeat, the median over the repeats "
        f"(the peer's medians, {peer_line}). Repeats gave identical weights: "
        + ("(one repeat)" if repeats == 1 else _yes(same_weights))
        + ". The process's first optimiser, which imports torch._dynamo "
        f"({optim_import_secs:.1f} s), was built before the clocks started."
    )


def _pd_bar(n: int, sw: float, sw_ddim: dict, sw_teacher: float) -> tuple[str, bool | None]:
    """The bar a PD round's student must meet (rounds to 4, 2 and 1 step) and whether it did."""
    if n not in (1, 2, 4):
        return "", None
    bar = f"<= DDIM-{n} / {ev.PD_VS_DDIM:g} ({sw_ddim[n] / ev.PD_VS_DDIM:.4f})"
    if n == 4:
        bar += f", <= {ev.PD_VS_TEACHER} x teacher ({ev.PD_VS_TEACHER * sw_teacher:.4f})"
    ok = not ev.pd_failures(n, (sw,), (sw_ddim[n],), (sw_teacher,))
    return bar, ok


def _pd_section(setup: _Setup, runs: list[dict], sw_ddim: dict, sw_teacher: float) -> list[str]:
    """The progressive-distillation table: each round's time, quality and bar."""
    pd = setup.recipe["pd"]
    pd_steps = pd["steps_per_round"]
    rows, rounds_med = [], []
    for n in runs[0]["rounds"]:
        times = [run_["rounds"][n] for run_ in runs]
        secs, sw = statistics.median(times), runs[0]["sw"][n]
        rounds_med.append(secs)
        steps = pd.get("first_round_steps", pd_steps) if 2 * n == pd["start_steps"] else pd_steps
        bar, ok = _pd_bar(n, sw, sw_ddim, sw_teacher)
        rows.append(
            [
                f"{2 * n} -> {n}",
                steps,
                f"{secs:.1f}",
                _slowest(times, setup.repeats),
                _per_step_ratio(times, runs, steps, "pd"),
                f"{sw:.4f}",
                bar,
                "" if ok is None else _yes(ok),
            ]
        )
    chains = [sum(run_["rounds"].values()) for run_ in runs]
    chain_med = statistics.median(chains)
    return [
        "### Progressive distillation (target: each round <= 10 s, chain <= 90 s)",
        "",
        md_table(
            [
                "round",
                "optimiser steps",
                "train s",
                "slowest s",
                "per step vs peer",
                "sliced W2",
                "bar",
                "bar met",
            ],
            rows,
        ),
        "",
        f"Chain 1024 -> 1: {chain_med:.1f} s of training (slowest repeat {max(chains):.1f} s). "
        f"Time targets: every round <= 10 s {_yes(max(rounds_med) <= 10)} (slowest median "
        f"{max(rounds_med):.1f} s), chain <= 90 s {_yes(chain_med <= 90)}.",
        "",
    ]


def _cm_section(setup: _Setup, runs: list[dict], best: float) -> list[str]:
    """The consistency-model table: CD and CT, time and one-step quality against the
    best of the teacher's solves (``best``)."""
    recipe, first = setup.recipe, runs[0]
    sw_cd, sw_ct = (
        _sw(setup.sets, _consistency_at(first["cd"], 1)),
        _sw(setup.sets, _consistency_at(first["ct"], 1)),
    )
    ct_from = (
        ", from the teacher's weights (ECT)" if recipe["ct"]["init"] == "diffusion" else ", scratch"
    )
    ct_label = "CT (" + ("iCT" if recipe["ct"].get("improved") else "CT") + ct_from + ")"
    cm_rows, cm_med = [], {}
    for label, key, target, sw in (
        (f"CD (Heun teacher, N={recipe['cd']['N']})", "cd", 60, sw_cd),
        (ct_label, "ct", 90, sw_ct),
    ):
        factor = ev.CM_VS_TEACHER[key]
        times = [run_[f"{key}_secs"] for run_ in runs]
        steps, b = recipe[key]["steps"], recipe[key]["batch_size"]
        cm_med[key] = statistics.median(times)
        cm_rows.append(
            [
                label,
                f"{steps} x {b}",
                f"{cm_med[key]:.1f}",
                _slowest(times, setup.repeats),
                str(target),
                _per_step_ratio(times, runs, steps, key),
                f"{sw:.4f}",
                f"<= {factor:g} x teacher best ({factor * best:.4f})",
                "**no**" if ev.cm_failures(key, (sw,), (best,)) else "yes",
            ]
        )
    return [
        "### Consistency models (targets: CD <= 60 s, CT <= 90 s)",
        "",
        md_table(
            [
                "model",
                "steps x batch",
                "train s",
                "slowest s",
                "target s",
                "per step vs peer",
                "1-step sliced W2",
                "bar",
                "bar met",
            ],
            cm_rows,
        ),
        "",
        f"Time targets: CD <= 60 s {_yes(cm_med['cd'] <= 60)}, "
        f"CT <= 90 s {_yes(cm_med['ct'] <= 90)}.",
        "",
    ]


def _sampling_section(setup: _Setup) -> list[str]:
    """One-step sampling of 2,000 points, against its peers at the same quality."""
    from ..checkpoints import load_model
    from ..grids import few_step_timesteps, pd_timesteps
    from ..samplers import REGISTRY

    ddim, cons = REGISTRY["ddim"], REGISTRY["consistency"]
    teacher, quick = setup.teacher, setup.quick
    shipped_cd = load_model(f"{DATASET}-cd")
    pd1 = load_model(f"{DATASET}-pd@1steps")
    x2k = torch.randn(2000, 2, generator=torch.Generator().manual_seed(3))
    t1 = few_step_timesteps(shipped_cd, 1)

    def one_step_cd():
        with torch.no_grad():
            cons(shipped_cd, x2k, t1, record=False)

    def one_step_pd():
        with torch.no_grad():
            ddim(pd1, x2k, pd_timesteps(1000, 1), record=False)

    def teacher_1000():
        with torch.no_grad():
            ddim(teacher, x2k, pd_timesteps(1000, 1000), record=False)

    med = interleaved_medians(
        {"cd": one_step_cd, "pd1": one_step_pd}, repeats=5 if quick else 21, warmup=2
    )
    med_teacher = interleaved_medians({"t": teacher_1000}, repeats=1 if quick else 3)["t"]
    sampling = [
        [
            "consistency, 1 step (shipped CD)",
            1,
            f"{1e3 * med['cd']:.2f}",
            "10",
            f"{med_teacher / med['cd']:.0f}x",
        ],
        [
            "PD student, 1 DDIM step",
            1,
            f"{1e3 * med['pd1']:.2f}",
            "10",
            f"{med_teacher / med['pd1']:.0f}x",
        ],
        ["teacher, 1000 DDIM steps (peer)", 1000, f"{1e3 * med_teacher:.1f}", "", "1x"],
    ]
    return [
        "### Sampling 2,000 points (target: one step <= 10 ms)",
        "",
        md_table(["sampler", "NFE", "median ms", "target ms", "speed-up vs peer"], sampling),
        "",
    ]


def _peer_step_secs(teacher, data, batch_size: int, steps: int) -> float:
    """Seconds per optimiser step of plain diffusion training (DDPM loss, the teacher's
    prediction type) of a copy of the teacher's network: the peer of the distillation
    losses, which add teacher calls, EMA targets and the consistency parametrisation."""
    from ..training import DDPMLoss, train

    net = copy.deepcopy(teacher.net).requires_grad_(True)
    loss = DDPMLoss(teacher.schedule, teacher.prediction)
    result = train(
        net, loss, data, steps=steps, batch_size=batch_size, lr=1e-3, ema_decay=0.99, seed=0
    )
    return result.seconds / steps


def _same_weights(a, b) -> bool:
    """Whether two trained models (DiffusionModel) hold equal tensors."""
    sa, sb = a.net.state_dict(), b.net.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
