"""Reproduce the shipped few-step models in assets/fewstep/.

For each 2-D dataset, from the shipped diffusion model of that name (the teacher):
  - progressive distillation 1024 -> 512 -> ... -> 1 DDIM steps, every round kept
    (``<dataset>-pd@<N>steps``, stem ``<dataset>/pd-<N>steps``);
  - consistency distillation (``<dataset>-cd``) and consistency training (``<dataset>-ct``).
Then the manifest assets/fewstep/manifest.json is rewritten and a metrics report printed
(sliced W2 and MMD of 10k samples against fresh data, as the tests measure).

    python scripts/train_fewstep_assets.py                       # all four datasets
    python scripts/train_fewstep_assets.py --datasets moons --parallel 1

Datasets run in parallel processes (``--parallel``), each with ``--threads`` threads.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import multiprocessing as mp
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATASETS = ("swissroll", "8gaussians", "checkerboard", "moons")

# The recipe (see docs/fewstep.md); the benchmark uses the same one.
from diffusion.distill.recipe import TOY_RECIPE, recipe_for  # noqa: E402

RECIPE = copy.deepcopy(TOY_RECIPE)

# Re-noising levels (sigma_bar) tried for 2-step consistency sampling: the points of the
# model's own training grid (CD and CT train f only at the N Karras times) between 0.02
# and 3 (the 8-gaussians modes have std 0.1), at most TWO_STEP_MAX of them; the paper also
# picks its intermediate times by search. Scored on data and noise seeds the tests and the
# benchmark never use, averaged over 8 sets: one set's MMD^2 noise (sd ~1.2e-4 at 4,000
# points) is as large as the differences between candidates (docs/fewstep.md).
TWO_STEP_RANGE = (0.02, 3.0)
TWO_STEP_MAX = 16
# (reference data seed, x_T seed, re-noising seed) of each scoring set
TWO_STEP_SEEDS = tuple((777 + k, 555 + 2 * k, 556 + 2 * k) for k in range(8))


def two_step_candidates(model) -> list[float]:
    """sigma_bar levels of the model's training grid (config training.N or final_N) within
    TWO_STEP_RANGE, thinned evenly to at most TWO_STEP_MAX; a geometric range if the
    config names no grid."""
    import torch

    from diffusion.distill import karras_timesteps

    info = (getattr(model, "config", None) or {}).get("training") or {}
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


def two_step_search(model, dataset: str, n: int = 10_000) -> dict:
    """Score 1-step and every candidate 2-step grid [T-1, t(sigma_bar)] of a consistency
    model: sliced W2 (n points) and MMD^2 (first 4,000), each averaged over
    TWO_STEP_SEEDS. Returns {"one": (sw, mmd), "two": {sigma_bar: (t, sw, mmd)}}."""
    import torch

    from diffusion.metrics import mmd_rbf, sliced_wasserstein
    from diffusion.samplers import REGISTRY
    from diffusion.toy.datasets import sample_dataset

    sch = model.schedule
    levels = two_step_candidates(model)
    grids = {None: torch.tensor([sch.t_max], dtype=torch.float64)}
    for sb in levels:
        t = float(sch.t_from_sigma_bar(torch.tensor(sb, dtype=torch.float64)))
        grids[sb] = torch.tensor([sch.t_max, t], dtype=torch.float64)
    scores: dict = {k: [] for k in grids}
    for ref_seed, noise_seed, renoise_seed in TWO_STEP_SEEDS:
        ref = sample_dataset(dataset, n, seed=ref_seed)
        x_T = torch.randn(n, 2, generator=torch.Generator().manual_seed(noise_seed))
        for key, ts in grids.items():
            with torch.no_grad():
                g = torch.Generator().manual_seed(renoise_seed)
                x = REGISTRY["consistency"](model, x_T, ts, generator=g, record=False).x
            sw = sliced_wasserstein(x, ref, seed=1)
            scores[key].append((sw, mmd_rbf(x[:4000], ref[:4000])))
    mean = {
        k: tuple(sum(v) / len(v) for v in zip(*vals, strict=True)) for k, vals in scores.items()
    }
    return {"one": mean[None], "two": {sb: (float(grids[sb][1]), *mean[sb]) for sb in levels}}


def choose_two_step_time(model, dataset: str) -> float:
    """The re-noising time of 2-step sampling (pick_two_step_time of two_step_search)."""
    return pick_two_step_time(two_step_search(model, dataset))


def set_two_step_time(model, dataset: str) -> None:
    """Store the 1- and chosen 2-step grids in the model's config (``sampling.timesteps``)
    and the search's scores beside them (``sampling.two_step_search``)."""
    res = two_step_search(model, dataset)
    t2 = pick_two_step_time(res)
    model.config["sampling"]["timesteps"] = {"1": [999.0], "2": [999.0, t2]}
    model.config["sampling"]["two_step_search"] = {
        "seeds": [list(s) for s in TWO_STEP_SEEDS],
        "one_step": {"sw2": round(res["one"][0], 5), "mmd": round(res["one"][1], 7)},
        "two_step": [
            {"sigma_bar": round(sb, 4), "t": round(t, 2), "sw2": round(sw, 5), "mmd": round(m, 7)}
            for sb, (t, sw, m) in res["two"].items()
        ],
    }


def pick_two_step_time(res: dict) -> float:
    """Among the candidates that beat one step in both sliced W2 and MMD^2 (averages of
    two_step_search), the time with the lowest sliced W2; if none beats it in both, the
    lowest sliced W2 overall."""
    sw1, mmd1 = res["one"]
    cands = list(res["two"].values())
    both = [c for c in cands if c[1] < sw1 and c[2] < mmd1]
    return min(both or cands, key=lambda c: c[1])[0]


def _metrics(x, ref):
    from diffusion.metrics import mmd_rbf, sliced_wasserstein

    return {"sw2": round(sliced_wasserstein(x, ref, seed=0), 5), "mmd": round(mmd_rbf(x, ref), 6)}


def evaluate(dataset: str, out: Path, teacher, n: int = 10_000) -> dict:
    """The metrics the tests check, on the checkpoints just written."""
    import torch

    from diffusion.checkpoints import load_model
    from diffusion.distill import pd_timesteps, recommended_timesteps
    from diffusion.samplers import REGISTRY
    from diffusion.toy.datasets import sample_dataset

    ref = sample_dataset(dataset, n, seed=1234)
    x_T = torch.randn(n, 2, generator=torch.Generator().manual_seed(0))
    rows: dict = {"floor": _metrics(sample_dataset(dataset, n, seed=99), ref)}
    ddim, cons = REGISTRY["ddim"], REGISTRY["consistency"]
    with torch.no_grad():
        for steps in (1000, 8, 4, 2, 1):
            x = ddim(teacher, x_T, pd_timesteps(1000, steps), record=False).x
            rows[f"teacher-ddim{steps}"] = _metrics(x, ref)
        for steps in (8, 4, 2, 1):
            if not (out / dataset / f"pd-{steps}steps.json").exists():
                continue
            m = load_model(str(out / dataset / f"pd-{steps}steps"))
            rows[f"pd{steps}"] = _metrics(
                ddim(m, x_T, pd_timesteps(1000, steps), record=False).x, ref
            )
        for kind in ("cd", "ct"):
            if not (out / dataset / f"{kind}.json").exists():
                continue
            m = load_model(str(out / dataset / kind))
            for steps in (1, 2):
                g = torch.Generator().manual_seed(1)
                x = cons(m, x_T, recommended_timesteps(m, steps), generator=g, record=False).x
                rows[f"{kind}{steps}"] = _metrics(x, ref)
    return rows


def run_dataset(args: tuple) -> dict:
    dataset, out, threads, teacher_steps, only, recipe, report = args
    RECIPE.update(recipe)
    import torch

    torch.set_num_threads(threads)
    from diffusion.checkpoints import list_models, load_model, save_checkpoint
    from diffusion.distill import (
        consistency_distillation,
        consistency_training,
        progressive_distillation,
    )
    from diffusion.distill.recipe import ct_initial_net
    from diffusion.toy.datasets import draw

    out = Path(out)
    (out / dataset).mkdir(parents=True, exist_ok=True)
    times: dict = {}
    if dataset in {e["name"] for e in list_models()}:
        teacher = load_model(dataset)
        teacher_spec = dataset
    else:  # development only: a teacher trained here with the 2-D recipe
        from diffusion.toy.train2d import train_toy

        t0 = time.perf_counter()
        teacher, _ = train_toy(dataset, steps=teacher_steps or 6000, seed=0, width=64, depth=4)
        times["teacher"] = round(time.perf_counter() - t0, 1)
        teacher_spec = f"train_toy({dataset}, steps={teacher_steps}, seed=0)"
    data = lambda n, g: draw(dataset, n, g)  # noqa: E731

    if "pd" in only:
        t0 = time.perf_counter()
        last = [t0]

        def on_round(steps, model):
            now = time.perf_counter()
            times[f"pd{steps}"] = round(now - last[0], 1)
            last[0] = now
            cfg = dict(model.config, dataset=dataset)
            cfg["distill"] = {"method": "progressive", "teacher": teacher_spec, **RECIPE["pd"]}
            save_checkpoint(str(out / dataset / f"pd-{steps}steps"), model.net, cfg)

        progressive_distillation(teacher, data, seed=0, on_round=on_round, **RECIPE["pd"])
        times["pd-chain"] = round(time.perf_counter() - t0, 1)

    if "cd" in only:
        t0 = time.perf_counter()
        cd = consistency_distillation(teacher, data, seed=0, **RECIPE["cd"])
        times["cd"] = round(time.perf_counter() - t0, 1)
        cd.config["distill"] = {"method": "cd", "teacher": teacher_spec}
        set_two_step_time(cd, dataset)
        save_checkpoint(str(out / dataset / "cd"), cd.net, dict(cd.config, dataset=dataset))

    if "ct" in only:
        t0 = time.perf_counter()
        ct_recipe = recipe_for("ct", dataset, RECIPE)
        net = ct_initial_net(teacher, ct_recipe.pop("init"), seed=0)
        ct = consistency_training(
            net, teacher.schedule, data, seed=0, base_config=teacher.config, **ct_recipe
        )
        times["ct"] = round(time.perf_counter() - t0, 1)
        ct.config["distill"] = {
            "method": ct.config["training"]["method"],
            "teacher": None,  # the loss never evaluates one; init says where the weights began
            "init": ct.config["training"]["init"],
        }
        set_two_step_time(ct, dataset)
        save_checkpoint(str(out / dataset / "ct"), ct.net, dict(ct.config, dataset=dataset))

    metrics = evaluate(dataset, out, teacher) if report else None
    return {"dataset": dataset, "seconds": times, "metrics": metrics}


def redo_two_step_time(args: tuple) -> dict:
    """Re-run set_two_step_time on one saved consistency checkpoint (weights unchanged)."""
    dataset, kind, out, threads = args
    import torch

    torch.set_num_threads(threads)
    from diffusion.checkpoints import load_model, save_checkpoint

    stem = Path(out) / dataset / kind
    model = load_model(str(stem))
    before = model.config["sampling"]["timesteps"]["2"][1]
    set_two_step_time(model, dataset)
    save_checkpoint(str(stem), model.net, model.config)
    after = model.config["sampling"]["timesteps"]["2"][1]
    return {"model": f"{dataset}-{kind}", "t2_before": round(before, 2), "t2": round(after, 2)}


def write_manifest(out: Path, datasets) -> None:
    from diffusion.checkpoints import add_to_manifest

    manifest = out / "manifest.json"
    for ds in datasets:
        for stem in sorted((out / ds).glob("pd-*steps.json")):
            steps = int(stem.name[len("pd-") : -len("steps.json")])
            add_to_manifest(
                manifest,
                f"{ds}-pd@{steps}steps",
                out / ds / f"pd-{steps}steps",
                description=f"progressive distillation of {ds}: {steps}-step DDIM student (v)",
                dataset=ds,
                kind="pd-student",
                method="pd",
                steps=steps,
                teacher=json.loads(stem.read_text())["distill"]["teacher"],
            )
        for kind in ("cd", "ct"):
            if (out / ds / f"{kind}.json").exists():
                cfg = json.loads((out / ds / f"{kind}.json").read_text())
                method = cfg["distill"]["method"]
                what = {
                    "cd": "consistency distillation (Heun teacher steps)",
                    "ct": "consistency training",
                    "ict": "consistency training, improved recipe (iCT)",
                }[method]
                init = (cfg.get("training") or {}).get("init") or {}
                what += f" of {ds}"
                if init.get("from"):
                    what += (
                        f", initialised from the weights of the diffusion model "
                        f"{init['from']} (ECT, Geng et al. 2024; the loss uses no teacher)"
                    )
                add_to_manifest(
                    manifest,
                    f"{ds}-{kind}",
                    out / ds / kind,
                    description=f"{what}: one-step or multistep consistency sampling",
                    dataset=ds,
                    kind="consistency",
                    method=kind,
                    teacher=cfg["distill"].get("teacher"),
                )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=list(DATASETS))
    p.add_argument("--out", default=str(ROOT / "assets" / "fewstep"))
    p.add_argument("--parallel", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--teacher-steps",
        type=int,
        default=0,
        help="development: steps for a teacher trained here when none is shipped",
    )
    p.add_argument("--only", nargs="+", default=["pd", "cd", "ct"], choices=["pd", "cd", "ct"])
    p.add_argument("--report", help="also write the metrics report (JSON) here")
    p.add_argument(
        "--no-eval", action="store_true", help="skip the metrics report (10k-point MMDs: minutes)"
    )
    p.add_argument("--plain-ct", action="store_true", help="CT without the iCT changes")
    p.add_argument(
        "--two-step-only",
        action="store_true",
        help="train nothing: redo the 2-step time search of the CD and CT checkpoints in --out "
        "and rewrite their configs (after a change to the search)",
    )
    p.add_argument(
        "--manifest-only",
        action="store_true",
        help="train nothing: rewrite the manifest from the checkpoints in --out (after a run "
        "that was stopped before it wrote the manifest)",
    )
    p.add_argument(
        "--ct-init",
        choices=("diffusion", "scratch"),
        help="CT's initial weights: the teacher's (ECT) or random (default: the recipe's)",
    )
    p.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply every optimiser-step budget (smoke runs: 0.01)",
    )
    args = p.parse_args(argv)
    out = Path(args.out)
    if args.manifest_only:
        write_manifest(out, args.datasets)
        return 0
    if args.two_step_only:
        jobs = [(ds, kind, str(out), args.threads) for ds in args.datasets for kind in ("cd", "ct")]
        with mp.get_context("spawn").Pool(max(1, min(args.parallel, len(jobs)))) as pool:
            print(json.dumps(pool.map(redo_two_step_time, jobs), indent=1))
        return 0  # weights unchanged: the manifest's sha256 still hold
    RECIPE["ct"]["improved"] = not args.plain_ct
    if args.ct_init:
        RECIPE["ct"]["init"] = args.ct_init
    for recipe in RECIPE.values():
        for key in ("steps", "steps_per_round", "first_round_steps"):
            if key in recipe:
                recipe[key] = max(2, int(recipe[key] * args.scale))
    jobs = [
        (ds, str(out), args.threads, args.teacher_steps, args.only, RECIPE, not args.no_eval)
        for ds in args.datasets
    ]
    if args.parallel > 1:
        with mp.get_context("spawn").Pool(min(args.parallel, len(jobs))) as pool:
            results = pool.map(run_dataset, jobs)
    else:
        results = [run_dataset(j) for j in jobs]
    write_manifest(out, args.datasets)
    text = json.dumps(results, indent=1)
    print(text)
    if args.report:
        Path(args.report).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
