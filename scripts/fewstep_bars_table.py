"""Print the issue-3 bar quantities of the shipped few-step models as a Markdown table
(docs/fewstep.md): the same references and metrics as the `fewstep_bars` tests
(tests/fewstep_reference.py), every bar's numbers instead of stopping at the first failure.

    python scripts/fewstep_bars_table.py

Cells are sliced W2 / MMD^2 x 1e4; the two "8 sets" columns are the paired 2-vs-1 test's
means over the evaluation sets (MMD^2 there on all 10k points).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import fewstep_reference as R  # noqa: E402
import torch  # noqa: E402

from diffusion.checkpoints import load_model  # noqa: E402
from diffusion.distill import pd_timesteps  # noqa: E402
from diffusion.samplers.ddim import ddim  # noqa: E402


def _cell(m: tuple[float, float]) -> str:
    return f"{m[0]:.4f} / {m[1] * 1e4:.2f}"


def main() -> int:
    torch.set_num_threads(1)
    head = ["dataset", "teacher", "MMD floor"]
    head += ["PD 4", "DDIM 4", "PD 2", "DDIM 2", "PD 1", "DDIM 1", "CD 1", "CD 2", "CT 1"]
    head += ["CD 1 (8 sets)", "CD 2 (8 sets)"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for ds in R.DATASETS:
        row = [ds, _cell(R.teacher_best(ds)), f"{R.mmd_floor(ds) * 1e4:.2f}"]
        for steps in (4, 2, 1):
            student = load_model(f"{ds}-pd@{steps}steps")
            with torch.no_grad():
                x = ddim(student, R.noise(), pd_timesteps(1000, steps), record=False).x
            row += [_cell(R.metrics(x, ds)), _cell(R.ddim_metrics(ds, steps))]
        cd, ct = load_model(f"{ds}-cd"), load_model(f"{ds}-ct")
        for model, steps in ((cd, 1), (cd, 2), (ct, 1)):
            row.append(_cell(R.metrics(R.consistency_samples(model, steps), ds)))
        paired = R.paired_consistency_metrics(cd, (1, 2), ds).mean(0).tolist()
        row += [_cell(paired[0]), _cell(paired[1])]
        print("| " + " | ".join(row) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
