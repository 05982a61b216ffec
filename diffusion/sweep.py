"""Quality and wall time of samplers across NFE budgets: the table behind every
quality-vs-NFE curve of the 2-D world.

Samplers are compared at equal NFE (network evaluations), not equal steps, since
a second-order step costs two evaluations (DPM-Solver, Lu et al. 2022, Sec. 5).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from .metrics import evaluate_2d
from .model import DiffusionModel
from .samplers import get_sampler, sample

__all__ = ["sweep"]


def sweep(
    model: DiffusionModel,
    samplers: list[str],
    nfes: list[int],
    seeds: list[int],
    dataset: str,
    *,
    n: int = 2000,
    spacing: str | None = None,
    options: dict[str, dict] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[dict]:
    """Run every sampler at every NFE and seed; one row per run.

    Each row: sampler, nfe, steps, seed, metrics (``evaluate_2d`` against fresh data
    of ``dataset``, reference draws seeded by the run's seed), seconds (sampling wall
    time only). ``spacing`` None: the default of ``grids.model_timesteps`` (a few-step
    model's own grid, else ``grids.DEFAULT_SPACING``). NFE is turned into steps with
    ``SamplerSpec.steps_for_nfe``; where a sampler cannot spend exactly that NFE (Heun
    costs 2 per step but 1 on the last, DPM-Solver-3 3 per step, ...), the row has
    steps None, metrics None and a ``note`` saying so, so tables keep their shape.
    ``options`` maps a sampler name to extra keyword options (e.g. {"ddim": {"eta":
    0.5}}); ``progress(done, total)`` is called after each run.
    """
    specs = [get_sampler(s) for s in samplers]  # unknown names fail before any work
    for nfe in nfes:
        if isinstance(nfe, bool) or not isinstance(nfe, int) or nfe < 1:
            raise ValueError(f"every NFE must be a positive integer, got {nfe!r}")
    if not seeds:
        raise ValueError("give at least one seed")
    options = options or {}
    rows: list[dict] = []
    total, done = len(specs) * len(nfes) * len(seeds), 0
    for spec in specs:
        for nfe in nfes:
            steps = spec.steps_for_nfe(nfe)
            for seed in seeds:
                row = {"sampler": spec.name, "nfe": nfe, "steps": steps, "seed": seed}
                if steps is None or steps > model.schedule.T:
                    row.update(
                        metrics=None,
                        seconds=None,
                        note=f"{spec.name} cannot spend exactly {nfe} evaluations",
                    )
                else:
                    start = time.perf_counter()
                    with torch.no_grad():
                        traj = sample(
                            model,
                            spec.name,
                            steps,
                            n=n,
                            seed=seed,
                            spacing=spacing,
                            **options.get(spec.name, {}),
                        )
                    row["seconds"] = time.perf_counter() - start
                    row["nfe"] = traj.nfe  # equal to nfe by construction; the record counts
                    row["metrics"] = evaluate_2d(traj.x, dataset, seed=seed)
                rows.append(row)
                done += 1
                if progress is not None:
                    progress(done, total)
    return rows
