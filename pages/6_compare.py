"""Page 6: compare samplers and models side by side from the same initial noise."""

import re

import streamlit as st

from diffusion import figures
from ui import jobs, live, models
from ui.layout import animation_export, page_header, show
from ui.state import PageState

lecture = page_header(
    "Compare",
    "Several samplers or models side by side, all started from **the same** noise $x_T$: "
    "synchronised trajectories, quality against cost, and the chapter's comparison table "
    "measured on this server.",
)

TRAINING_FREE = models.sampler_choices(["ddim", "ddpm", "euler", "heun", "dpm-solver-2",
                                        "dpm-solver-3", "dpm-solver++2m", "dpm-solver++3m",
                                        "dpm-solver++2s", "unipc"])


def few_step_models(dataset: str) -> dict[str, tuple[str, str]]:
    """label -> (kind, spec or 'pd' for the PD family) of this dataset's few-step models."""
    out = {}
    pd = {}
    for m in models.list_shipped2d():
        if str(m.get("dataset")) != dataset:
            continue
        if m.get("kind") == "pd-student":
            found = re.search(r"@(\d+)steps$", m["name"])
            if found:
                pd[int(found.group(1))] = m["name"]
        elif m.get("kind") == "consistency":
            out[f"consistency ({m['name'].rsplit('-', 1)[-1].upper()})"] = m["name"]
    for s, spec in st.session_state.get("pd.live", {}).get(dataset, {}).items():
        pd.setdefault(s, spec)
    for (ds, meth), spec in st.session_state.get("cm.live", {}).items():
        if ds == dataset:
            out.setdefault(f"consistency ({meth.upper()}, this session)", spec)
    if pd:
        st.session_state["compare.pd"] = pd
        out["progressive distillation"] = "pd"
    return out


ps = PageState("compare")
all_models = models.model_choices() + live.choices("diffusion")
with st.sidebar:
    st.header("Compare controls")
    spec = ps.select("model", "Diffusion model", all_models, models.default_model(),
                     format_func=models.model_label)
    dataset = live.dataset_of(spec)
    fewstep = few_step_models(dataset)
    options = [models.sampler_label(s) for s in TRAINING_FREE] + list(fewstep)
    default = [x for x in ("DDIM", "DPM-Solver++(2M)", "progressive distillation")
               if x in options] or options[:2]
    picked = ps.multiselect("methods", "Methods", options, default, max_selections=4)
    nfe = ps.select("nfe", "NFE budget", [1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50, 100], 8)
    n = ps.slider("n", "Points", 200, models.MAX_POINTS, 1500, 100)
    seed = ps.number("seed", "Seed (the shared x_T)", 0, 10_000, 0)
ps.presets()

by_label = {models.sampler_label(s): s for s in TRAINING_FREE}


def run(label: str, budget: int, points: int, seed_: int):
    """The run of one method at (at most) the NFE budget, or None if it cannot."""
    if label in by_label:
        name = by_label[label]
        sp = models.REGISTRY[name]
        steps = max([s for s in range(1, budget + 1) if sp.nfe(s) <= budget], default=0)
        if steps == 0:
            return None
        # DDPM (order 0) on trailing steps: every grid starts at t = T-1, even at 1 NFE
        return live.sample(spec, name, steps, points, seed_, "logsnr" if sp.order else "trailing")
    target = fewstep[label]
    if target == "pd":
        rounds = st.session_state["compare.pd"]
        fits = [s for s in rounds if s <= budget]
        return live.sample(rounds[max(fits)], "ddim", max(fits), points, seed_) if fits else None
    return live.sample(target, "consistency", min(budget, 4), points, seed_)


results = {lab: run(lab, nfe, n, seed) for lab in picked}
missing = [lab for lab, r in results.items() if r is None]
results = {lab: r for lab, r in results.items() if r is not None}
if missing:
    st.info(f"Not possible at NFE {nfe}: {', '.join(missing)} (its first step already costs "
            "more).")

if results:
    st.subheader("Same noise, side by side")
    subs = {lab: f"NFE {r['nfe']} · {r['seconds'] * 1e3:.0f} ms" for lab, r in results.items()}
    show(figures.samples_grid({lab: r["x"] for lab, r in results.items()},
                              data=models.data(dataset, n), subtitles=subs, lecture=lecture),
         "compare-samples")
    runs = {lab: r["xs"] for lab, r in results.items()}
    show(figures.trajectory_animation(runs, lecture=lecture), "compare-trajectories")
    st.caption("Frame k shows step k of every method; a method with fewer steps waits on its "
               "samples. All started from the same $x_T$.")
    animation_export(runs, "compare-trajectories")
    st.dataframe([{"method": lab, "NFE": r["nfe"], "steps": len(r["timesteps"]),
                   "wall time (ms)": round(r["seconds"] * 1e3, 1)} for lab, r in results.items()],
                 hide_index=True)

st.subheader("Quality against NFE")
if st.toggle("Compute the curves for the chosen methods (cached after the first time)",
             value=False, key="compare.curves"):
    series, floor = {}, None
    for lab in picked:
        xs, ys = [], []
        for budget in (1, 2, 4, 8, 16, 32, 64):
            r = run(lab, budget, 2000, seed)
            if r is None or r["nfe"] in xs:
                continue
            q = models.quality_of(r["x"], dataset)
            xs.append(r["nfe"])
            ys.append(q["sliced_w2"])
            floor = q["floor_sliced_w2"]
        if xs:
            series[lab] = (xs, ys)
    show(figures.quality_curves(series, metric="sliced Wasserstein-2 (2,000 points)",
                                floor=floor, lecture=lecture), "compare-quality")

st.subheader("The chapter's comparison table, measured here")
if st.toggle("Measure (DDPM's 1000 steps take a few seconds the first time)", value=False,
             key="compare.table"):
    rows = []
    plan = [("DDIM", "ddim", 10), ("DDIM", "ddim", 50), ("DPM-Solver++", "dpm-solver++2m", 10),
            ("DPM-Solver++", "dpm-solver++2m", 20), ("Original DDPM", "ddpm", 1000)]
    for method, name, steps in plan:
        if name not in models.REGISTRY:
            continue
        r = live.sample(spec, name, steps, 2000, seed, "logsnr" if name != "ddpm" else "leading")
        q = models.quality_of(r["x"], dataset)
        rows.append({"method": method, "steps": steps, "NFE": r["nfe"], "retraining?": "no",
                     "sliced W2": round(q["sliced_w2"], 4),
                     "wall time (ms)": round(r["seconds"] * 1e3, 1)})
    for lab, target in fewstep.items():
        for budget in ((4, 8) if target == "pd" else (1, 2)):
            r = run(lab, budget, 2000, seed)
            if r is None:
                continue
            q = models.quality_of(r["x"], dataset)
            rows.append({"method": lab, "steps": len(r["timesteps"]), "NFE": r["nfe"],
                         "retraining?": "yes", "sliced W2": round(q["sliced_w2"], 4),
                         "wall time (ms)": round(r["seconds"] * 1e3, 1)})
    st.dataframe(rows, hide_index=True)
    if rows:
        st.caption(f"Dataset {dataset}, 2,000 samples against fresh data; data-vs-data floor "
                   f"{q['floor_sliced_w2']:.4f}. Wall time of one run on this server, "
                   "measured when first computed.")

st.subheader("Train a 2-D diffusion model live")
st.markdown("A small MLP learns $\\epsilon_\\theta(x_t, t)$ with the DDPM loss "
            "$\\lVert \\epsilon - \\epsilon_\\theta(\\sqrt{\\bar\\alpha_t}x_0 + "
            "\\sqrt{1-\\bar\\alpha_t}\\epsilon, t)\\rVert^2$. It stays in your session only; "
            "pages 4 and 5 can then distil it.")
from diffusion.toy.datasets import DATASETS  # noqa: E402

c1, c2, c3 = st.columns(3)
tds = c1.selectbox("Dataset", DATASETS, key="compare.train_ds")
secs = c2.slider("Time limit (s)", 5, int(jobs.MAX_SECONDS), 20, key="compare.train_secs")
opt_steps = c3.select_slider("Optimiser steps", [500, 1000, 2000, 4000, 8000], 2000,
                             key="compare.train_steps")
if st.button(f"Train a DDPM on {tds}", type="primary", key="compare.train"):
    jobs.launch("ddpm", live.train_ddpm(tds, float(secs), int(opt_steps), seed))


def _store(job: jobs.Job) -> None:
    if job.result is not None:
        ds = job.name.split("-", 1)[1]
        live.add(f"{ds}-ddpm", job.result, "diffusion", ds)


jobs.panel("ddpm", on_done=_store)
ps.finish()
