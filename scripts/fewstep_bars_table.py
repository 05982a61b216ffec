"""Print the issue-3 bar quantities of the shipped few-step models as a Markdown table
(docs/fewstep.md): the bar tests' protocol and sets (``diffusion.distill.evaluation``,
``BAR_SETS``), every bar's numbers instead of stopping at the first failure.

    python scripts/fewstep_bars_table.py

Cells are sliced W2 / MMD^2 x 1e4; the two "8 sets" columns are the paired 2-vs-1 test's
means over the evaluation sets (MMD^2 there on all 10k points).
"""

from __future__ import annotations

import torch

from diffusion.checkpoints import load_model
from diffusion.distill import evaluation as ev


def _cell(m) -> str:
    return f"{m[0]:.4f} / {m[1] * 1e4:.2f}"


def main() -> int:
    torch.set_num_threads(1)
    head = ["dataset", "teacher", "MMD floor"]
    head += ["PD 4", "DDIM 4", "PD 2", "DDIM 2", "PD 1", "DDIM 1", "CD 1", "CD 2", "CT 1"]
    head += ["CD 1 (8 sets)", "CD 2 (8 sets)"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for ds in ev.DATASETS:
        p = ev.Protocol(ds, ev.BAR_SETS)
        x_T, renoise = p.noise(), ev.BAR_SETS[0].renoise_seed
        teacher = load_model(ds)
        row = [ds, _cell(p.metrics(ev.teacher_solve(teacher, x_T))), f"{p.mmd_floor() * 1e4:.2f}"]
        for steps in (4, 2, 1):
            student = load_model(f"{ds}-pd@{steps}steps")
            row.append(_cell(p.metrics(ev.ddim_samples(student, steps, x_T))))
            row.append(_cell(p.metrics(ev.ddim_samples(teacher, steps, x_T))))
        cd, ct = load_model(f"{ds}-cd"), load_model(f"{ds}-ct")
        for model, steps in ((cd, 1), (cd, 2), (ct, 1)):
            row.append(_cell(p.metrics(ev.consistency_samples(model, steps, x_T, renoise))))
        paired = ev.Protocol(ds, ev.BAR_SETS, n_mmd=None)
        for steps in (1, 2):
            means = paired.over_sets(
                lambda x, seed, m=cd, s=steps: ev.consistency_samples(m, s, x, seed)
            ).mean(0)
            row.append(_cell(means.tolist()))
        print("| " + " | ".join(row) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
