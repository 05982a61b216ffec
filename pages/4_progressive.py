"""Page 4: progressive distillation, the rounds N -> N/2 -> ... -> 1."""

import re

import numpy as np
import streamlit as st
import torch

from diffusion import figures
from diffusion.distill import recommended_timesteps
from ui import jobs, live, models
from ui.layout import FEWSTEP_TABLE, page_header, published, show
from ui.state import PageState

lecture = page_header(
    "Progressive distillation",
    "A student learns to take in **one** deterministic DDIM step what its teacher takes in "
    "**two**; the student then teaches the next round. Each round halves the steps: "
    "$N \\to N/2 \\to \\dots \\to 1$ (Salimans & Ho 2022).",
)


def shipped_rounds() -> dict[str, dict[int, str]]:
    """dataset -> {student steps: shipped model name}."""
    out: dict[str, dict[int, str]] = {}
    for m in models.list_shipped2d():
        if m.get("kind") != "pd-student":
            continue
        found = re.search(r"@(\d+)steps$", m["name"]) or re.search(r"(\d+)", m["name"])
        steps = int(m.get("steps") or (found.group(1) if found else 0))
        if steps:
            out.setdefault(str(m.get("dataset")), {})[steps] = m["name"]
    return out


def teacher_for(dataset: str) -> str | None:
    names = [m for m in models.model_choices() if not m.startswith("oracle:")]
    names = [m for m in names if models.dataset_of(m) == dataset] + live.choices("diffusion",
                                                                                dataset)
    return names[0] if names else None


ps = PageState("progressive")
rounds_by_ds = shipped_rounds()
live_rounds = st.session_state.get("pd.live", {})  # dataset -> {steps: session spec}
datasets = sorted(set(rounds_by_ds) | set(live_rounds)) or ["8gaussians"]
with st.sidebar:
    st.header("Distillation controls")
    dataset = ps.select("dataset", "Dataset", datasets, datasets[0])
    n = ps.slider("n", "Points", 200, models.MAX_POINTS, 1500, 100)
    seed = ps.number("seed", "Seed", 0, 10_000, 0)
ps.presets()

rounds = {**rounds_by_ds.get(dataset, {}), **live_rounds.get(dataset, {})}
teacher = teacher_for(dataset)

st.latex(r"\tilde x = \frac{x_{t''} - \frac{\sigma_{t''}}{\sigma_t} x_t}"
         r"{\alpha_{t''} - \frac{\sigma_{t''}}{\sigma_t}\alpha_t},\qquad "
         r"\mathcal{L} = \max(\mathrm{SNR}_t, 1)\,\lVert \hat x_\eta(x_t) - \tilde x \rVert^2")
st.caption("$x_{t''}$ comes from two teacher DDIM steps $t \\to t' \\to t''$; $\\tilde x$ is the "
           "clean estimate for which one DDIM step $t \\to t''$ lands exactly there. The chapter "
           "writes the loss directly on $x_{t-2}$; both have the same minimiser.")

if not rounds:
    st.info("No distilled rounds are available for this dataset yet: train them live below "
            "(needs a trained teacher), or use the shipped ones when they are installed.")
else:
    st.subheader("Samples per round")
    avail = sorted(rounds, reverse=True)
    default_show = [s for s in avail if s <= 8] or avail[-4:]
    shown = ps.multiselect("shown", "Rounds to show (student steps)", avail, default_show[:5])
    panels, subs = {}, {}
    if teacher:
        # 256 DDIM steps already look like the converged teacher, at a quarter of the cost
        big = min(max(avail) * 2, 256)
        out = live.sample(teacher, "ddim", big, n, seed, "trailing")
        panels[f"teacher, DDIM {big} steps"] = out["x"]
        subs[f"teacher, DDIM {big} steps"] = f"NFE {out['nfe']}"
    for s in sorted(shown, reverse=True):
        out = live.sample(rounds[s], "ddim", s, n, seed)
        panels[f"student, {s} step{'s' if s > 1 else ''}"] = out["x"]
        subs[f"student, {s} step{'s' if s > 1 else ''}"] = f"NFE {out['nfe']}"
    show(figures.samples_grid(panels, data=models.data(dataset, n), subtitles=subs,
                              lecture=lecture), "pd-rounds")

    if teacher:
        st.subheader("Quality: each student against DDIM on the teacher at the same NFE")
        if st.toggle("Compute (a few seconds the first time)", value=False, key="pd.quality"):
            ladder = sorted(s for s in avail if s <= 64)
            q_st = [models.quality_of(live.sample(rounds[s], "ddim", s, 2000, seed)["x"],
                                      dataset)["sliced_w2"] for s in ladder]
            q_dd = [models.quality_of(live.sample(teacher, "ddim", s, 2000, seed, "trailing")["x"],
                                      dataset) for s in ladder]
            show(figures.quality_curves(
                {"PD students": (ladder, q_st), "DDIM on the teacher": (ladder,
                                                                         [q["sliced_w2"]
                                                                          for q in q_dd])},
                metric="sliced Wasserstein-2 (2,000 points)", floor=q_dd[0]["floor_sliced_w2"],
                lecture=lecture), "pd-quality")

    st.subheader("Two teacher steps against one student step, one particle")
    c1, c2 = st.columns([3, 2])
    with c2:
        pick = ps.choice_slider("pick", "Student round (steps)", sorted(rounds),
                                sorted(rounds)[min(1, len(rounds) - 1)])
        student = live.get(rounds[pick])
        grid = recommended_timesteps(student, pick)
        grid = grid.tolist() if grid is not None else np.linspace(999, 0, pick).tolist()
        i = ps.slider("step", "Student step", 0, pick - 1, 0, 1) if pick > 1 else 0
        st.markdown("The student's one step (dashed) should land where the teacher's two "
                    "steps end.")
    with c1:
        parent = rounds.get(2 * pick) or teacher
        if parent is None:
            st.info("The teacher of this round is not available.")
        else:
            t_mod = live.get(parent)
            t0 = grid[i]
            t2 = grid[i + 1] if i + 1 < len(grid) else -1.0
            t_grid = recommended_timesteps(t_mod, 2 * pick)
            t1 = float(t_grid[2 * i + 1]) if t_grid is not None and len(t_grid) > 2 * i + 1 \
                else (t0 + max(t2, 0.0)) / 2
            sch = student.schedule
            g = torch.Generator().manual_seed(seed)
            x0 = torch.as_tensor(models.data(dataset, 8, seed=seed + 99)[:1])
            x_t = float(sch.alpha(t0)) * x0 + float(sch.sigma(t0)) * torch.randn(1, 2, generator=g)
            x_1 = figures.ddim_step(t_mod, x_t, t0, t1)
            x_2 = figures.ddim_step(t_mod, x_1, t1, t2)
            x_s = figures.ddim_step(student, x_t, t0, t2)
            path = torch.cat([x_t, x_1, x_2]).numpy()
            show(figures.two_steps_vs_one(x_t[0].numpy(), path, x_s[0].numpy(), lecture=lecture),
                 "pd-two-vs-one")

st.subheader("Train live")
base = teacher_for(dataset)
if base is None:
    st.info("Progressive distillation needs a trained teacher for this dataset. Train a 2-D "
            "DDPM on the Compare page, or install the shipped models.")
else:
    c1, c2, c3 = st.columns(3)
    start = c1.select_slider("Teacher steps N", [8, 16, 32, 64], value=16, key="pd.start")
    n_rounds = c2.slider("Rounds", 1, int(np.log2(start)), min(3, int(np.log2(start))),
                         key="pd.rounds")
    per_round = c3.slider("Seconds per round (max)", 2, 20, 6, key="pd.seconds")
    if st.button(f"Distil {base}: {start} → {start >> n_rounds} steps", type="primary",
                 key="pd.train"):
        jobs.launch("pd", live.train_pd(base, start, n_rounds, 400, float(per_round), seed))

    def _store(job: jobs.Job) -> None:
        if job.result:
            store = st.session_state.setdefault("pd.live", {}).setdefault(dataset, {})
            for steps, model in job.result:
                store[steps] = live.add(f"{dataset}-pd@{steps}steps", model, "pd-student",
                                        dataset)

    jobs.panel("pd", on_done=_store)
published(FEWSTEP_TABLE, "CIFAR-10 FID. Sources in the last column (REFERENCES.md).",
          "Published: few-step models on CIFAR-10 (FID)")
ps.finish()
