"""Search few-step training recipes in parallel processes and score each model on the
issue-3 bars exactly as the tests do (tests/fewstep_reference.py): CT at one step, CD at
one and two steps. A machine with many cores runs a grid in minutes.

    python scripts/fewstep_recipe_search.py --out search --parallel 16

Writes <out>/results.json (per job: recipe, training seconds, metrics, bars met) and each
model under <out>/<job>/ (safetensors + JSON), so a winner can be copied into assets/.
"""

from __future__ import annotations

import argparse
import copy
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "scripts"))

from diffusion.distill.recipe import TOY_RECIPE  # noqa: E402

# (name, method, overrides of TOY_RECIPE[method], datasets)
ALL4 = ("swissroll", "8gaussians", "checkerboard", "moons")
GRID = [
    ("ct-12k", "ct", {"steps": 12000}, ALL4),
    ("ct-12k-b1024", "ct", {"steps": 12000, "batch_size": 1024}, ALL4),
    ("ct-12k-pm0.5", "ct", {"steps": 12000, "p_mean": 0.5}, ("swissroll", "8gaussians")),
    ("ct-12k-s320", "ct", {"steps": 12000, "s1": 320}, ("swissroll", "8gaussians")),
    ("ct-6k-lr5e-4-b1024", "ct", {"lr": 5e-4, "batch_size": 1024}, ("swissroll", "8gaussians")),
    ("cd-6k", "cd", {"steps": 6000}, ("8gaussians", "swissroll")),
    ("cd-3k-N80", "cd", {"N": 80}, ("8gaussians",)),
]


def run_job(job: tuple) -> dict:
    name, method, overrides, dataset, out = job
    import torch

    torch.set_num_threads(1)
    import fewstep_reference as ref
    from train_fewstep_assets import choose_two_step_time

    from diffusion.checkpoints import load_model, save_checkpoint
    from diffusion.distill import consistency_distillation, consistency_training
    from diffusion.nets import build_net
    from diffusion.toy.datasets import draw

    recipe = {**copy.deepcopy(TOY_RECIPE[method]), **overrides}
    teacher = load_model(dataset)
    data = lambda n, g: draw(dataset, n, g)  # noqa: E731
    t0 = time.perf_counter()
    if method == "cd":
        model = consistency_distillation(teacher, data, seed=0, **recipe)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            net = build_net(teacher.net.config)
        model = consistency_training(
            net, teacher.schedule, data, seed=0, base_config=teacher.config, **recipe
        )
    seconds = time.perf_counter() - t0
    t2 = choose_two_step_time(model, dataset)
    model.config["sampling"]["timesteps"] = {"1": [999.0], "2": [999.0, t2]}
    stem = Path(out) / f"{name}-{dataset}" / method
    stem.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(str(stem), model.net, dict(model.config, dataset=dataset))

    res = {
        "job": name,
        "method": method,
        "dataset": dataset,
        "recipe": recipe,
        "train_seconds": round(seconds, 1),
    }
    for steps in (1, 2):
        x = ref.consistency_samples(model, steps)  # the grid set in the config above
        res[f"sw{steps}"], res[f"mmd{steps}"] = ref.metrics(x, dataset)
    sw_t, mmd_t = ref.teacher_best(dataset)
    mmd_scale = max(mmd_t, ref.mmd_floor(dataset))
    k = 3 if method == "ct" else 2
    res.update(teacher_sw=sw_t, teacher_mmd=mmd_t, mmd_floor=ref.mmd_floor(dataset))
    res["bar_sw1"] = res["sw1"] <= k * sw_t
    res["bar_mmd1"] = res["mmd1"] <= k * mmd_scale
    if method == "cd":
        res["bar_2_better"] = res["sw2"] < res["sw1"] and res["mmd2"] < res["mmd1"]
    print(json.dumps(res), flush=True)
    return res


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--parallel", type=int, default=4)
    p.add_argument("--jobs", nargs="*", help="names from GRID (default: all)")
    args = p.parse_args()
    jobs = [
        (n, m, o, ds, args.out)
        for n, m, o, dss in GRID
        for ds in dss
        if not args.jobs or n in args.jobs
    ]
    jobs.sort(key=lambda j: -j[2].get("steps", TOY_RECIPE[j[1]]["steps"]))  # long ones first
    with mp.get_context("spawn").Pool(args.parallel) as pool:
        results = pool.map(run_job, jobs, chunksize=1)
    Path(args.out, "results.json").write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
