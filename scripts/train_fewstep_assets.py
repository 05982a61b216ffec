"""Reproduce the shipped few-step models in assets/fewstep/.

For each 2-D dataset, from the shipped diffusion model of that name (the teacher):
  - progressive distillation 1024 -> 512 -> ... -> 1 DDIM steps, every round kept
    (``<dataset>-pd@<N>steps``, stem ``<dataset>/pd-<N>steps``);
  - consistency distillation (``<dataset>-cd``) and consistency training (``<dataset>-ct``).
Each student's config carries its own training block and its own quality block (measured
with its own sampler: ``diffusion.distill.evaluation.quality_block``), never its teacher's.
Then the manifest assets/fewstep/manifest.json is rewritten and a metrics report printed
(the bar tests' protocol, ``diffusion.distill.evaluation``, on its BAR_SETS).

    python scripts/train_fewstep_assets.py                       # all four datasets
    python scripts/train_fewstep_assets.py --datasets moons --parallel 1
    python scripts/train_fewstep_assets.py --configs-only   # rewrite the configs' blocks

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

# The recipe (see docs/fewstep.md); the benchmark uses the same one.
from diffusion.distill.evaluation import DATASETS  # noqa: E402
from diffusion.distill.recipe import TOY_RECIPE, recipe_for  # noqa: E402
from diffusion.distill.two_step import SEARCH_SETS, set_two_step_time  # noqa: E402

RECIPE = copy.deepcopy(TOY_RECIPE)


def evaluate(dataset: str, out: Path, teacher) -> dict:
    """The bar tests' metrics (sliced W2 / MMD^2 on the first set of BAR_SETS) of the
    checkpoints just written, the teacher's DDIM ladder and the MMD^2 floor beside them."""
    from diffusion.checkpoints import load_model
    from diffusion.distill import evaluation as ev

    p = ev.Protocol(dataset, ev.BAR_SETS)
    x_T, renoise = p.noise(), ev.BAR_SETS[0].renoise_seed

    def row(x) -> dict:
        sw, mmd = p.metrics(x)
        return {"sw2": round(sw, 5), "mmd": round(mmd, 7)}

    rows: dict = {"mmd_floor": round(p.mmd_floor(), 7)}
    rows["teacher-best"] = row(ev.teacher_solve(teacher, x_T))
    for steps in (8, 4, 2, 1):
        rows[f"teacher-ddim{steps}"] = row(ev.ddim_samples(teacher, steps, x_T))
        if (out / dataset / f"pd-{steps}steps.json").exists():
            student = load_model(str(out / dataset / f"pd-{steps}steps"))
            rows[f"pd{steps}"] = row(ev.ddim_samples(student, steps, x_T))
    for kind in ("cd", "ct"):
        if (out / dataset / f"{kind}.json").exists():
            m = load_model(str(out / dataset / kind))
            for steps in (1, 2):
                rows[f"{kind}{steps}"] = row(ev.consistency_samples(m, steps, x_T, renoise))
    return rows


def pd_round_training(distill: dict, steps: int) -> dict:
    """The training block of the ``steps``-step student of a PD chain run with the recipe
    recorded in its config's ``distill`` block (this script seeds round r with r - 1).
    Shipped students made before their configs carried their own block get it from here;
    the run's clock and losses were not kept, so those two fields are absent."""
    rnd = int(math.log2(distill["start_steps"] // steps))
    first = rnd == 1
    return {
        "method": "progressive",
        "round": rnd,
        "teacher_steps": 2 * steps,
        "steps": distill["first_round_steps"] if first else distill["steps_per_round"],
        "lr": distill.get("first_round_lr", distill["lr"]) if first else distill["lr"],
        "batch_size": distill["batch_size"],
        "ema_decay": distill["ema_decay"],
        "weighting": "truncated-snr",
        "seed": rnd - 1,
    }


def student_quality(model) -> dict:
    """The student's own quality block: its own sampler at its own step count (a PD
    student: DDIM at its N; a consistency model: one step)."""
    from diffusion.distill.evaluation import quality_block

    if model.config["kind"] == "pd-student":
        return quality_block(model, "ddim", model.config["sampling"]["steps"])
    return quality_block(model, "consistency", 1)


def rewrite_configs(args: tuple) -> list[str]:
    """Give every shipped student of one dataset its own training and quality blocks in
    place of its teacher's; only the JSON changes (the weights, and so the sha256 in the
    config and the manifest, stay as they are)."""
    dataset, out, threads = args
    import torch

    torch.set_num_threads(threads)
    from diffusion.checkpoints import load_model
    from diffusion.config_check import config_sha256
    from diffusion.distill.progressive import student_config

    done = []
    for path in sorted((Path(out) / dataset).glob("*.json")):
        cfg = json.loads(path.read_text())
        fixed = student_config(cfg, **{k: cfg[k] for k in ("kind", "sampling", "distill")})
        if cfg["kind"] == "pd-student":
            fixed["training"] = pd_round_training(cfg["distill"], cfg["sampling"]["steps"])
        else:
            fixed["training"] = cfg["training"]  # consistency models always had their own
        fixed.update(sha256=cfg["sha256"], format_version=cfg["format_version"])
        fixed["quality"] = student_quality(load_model(str(path.with_suffix(""))))
        fixed["config_sha256"] = config_sha256(fixed)  # the edited config's own checksum
        path.write_text(json.dumps(fixed, indent=2, sort_keys=True) + "\n")
        done.append(f"{dataset}/{path.stem}")
    return done


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

    def data(n, g):
        return draw(dataset, n, g)

    if "pd" in only:
        t0 = time.perf_counter()
        last = [t0]

        def on_round(steps, model):
            times[f"pd{steps}"] = round(time.perf_counter() - last[0], 1)
            model.config.update(dataset=dataset, quality=student_quality(model))
            cfg = dict(model.config)
            cfg["distill"] = {"method": "progressive", "teacher": teacher_spec, **RECIPE["pd"]}
            save_checkpoint(str(out / dataset / f"pd-{steps}steps"), model.net, cfg)
            last[0] = time.perf_counter()  # the next round's clock starts after the save

        progressive_distillation(teacher, data, seed=0, on_round=on_round, **RECIPE["pd"])
        times["pd-chain"] = round(time.perf_counter() - t0, 1)

    if "cd" in only:
        t0 = time.perf_counter()
        cd = consistency_distillation(teacher, data, seed=0, **RECIPE["cd"])
        times["cd"] = round(time.perf_counter() - t0, 1)
        cd.config["distill"] = {"method": "cd", "teacher": teacher_spec}
        set_two_step_time(cd, dataset, SEARCH_SETS)
        cd.config.update(dataset=dataset, quality=student_quality(cd))
        save_checkpoint(str(out / dataset / "cd"), cd.net, cd.config)

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
        set_two_step_time(ct, dataset, SEARCH_SETS)
        ct.config.update(dataset=dataset, quality=student_quality(ct))
        save_checkpoint(str(out / dataset / "ct"), ct.net, ct.config)

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
    set_two_step_time(model, dataset, SEARCH_SETS)
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
        "--configs-only",
        action="store_true",
        help="train nothing: give the students in --out their own training and quality "
        "blocks in place of their teacher's (weights unchanged)",
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
    if args.configs_only:
        jobs = [(ds, str(out), args.threads) for ds in args.datasets]
        with mp.get_context("spawn").Pool(max(1, min(args.parallel, len(jobs)))) as pool:
            print(json.dumps(pool.map(rewrite_configs, jobs), indent=1))
        write_manifest(out, args.datasets)  # the weights' sha256 hold; config_sha256 changes
        return 0
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
