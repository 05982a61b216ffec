"""Page 6: compare samplers and models side by side from the same initial noise."""

import streamlit as st

from diffusion.grids import DEFAULT_SPACING
from diffusion.toy.datasets import DATASETS
from ui import budget, compare, figures, jobs, live, models, precomputed, teaching
from ui.layout import animation_export, page_header, show, show_table
from ui.state import PageState

lecture = page_header(
    "Compare",
    "Several samplers or models side by side, all started from **the same** noise $x_T$: "
    "synchronised trajectories, quality against cost, and the chapter's comparison table "
    "measured on this server.",
    page="compare",
)
ps = PageState("compare")
all_models = models.model_choices() + live.choices("diffusion")
with st.sidebar:
    st.header("Compare controls")
    spec = ps.select(
        "model",
        "Diffusion model",
        all_models,
        models.default_model(),
        format_func=models.model_label,
        help="The model the training-free samplers run on; its data set picks the few-step models.",
    )
    dataset = live.dataset_of(spec)
    options = list(compare.methods(dataset))
    default = [x for x in ("DDIM", "DPM-Solver++(2M)", compare.PD) if x in options]
    picked = ps.multiselect(
        "methods",
        "Methods",
        options,
        default,
        max_selections=4,
        help="Up to four samplers or few-step models; samplers run on "
        f"{DEFAULT_SPACING} grids, few-step models on their own.",
    )
    nfe = ps.select(
        "nfe",
        "NFE budget",
        [1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50, 100],
        8,
        help="Network evaluations each method may spend.",
    )
    n = ps.slider("n", "Points", 200, models.MAX_POINTS, 1500, 100, help="Samples drawn per panel.")
    seed = ps.number(
        "seed",
        "Seed (the shared x_T)",
        0,
        10_000,
        0,
        help="Seeds the one x_T every method starts from.",
    )
ps.presets()

results = {lab: compare.run(spec, dataset, lab, nfe, n, seed) for lab in picked}
missing = [lab for lab, r in results.items() if r is None]
results = {lab: r for lab, r in results.items() if r is not None}
if missing:
    st.info(f"Not possible at NFE {nfe}: {', '.join(missing)} (its first step already costs more).")

if results:
    st.subheader("Same noise, side by side")
    subs = {lab: f"NFE {r['nfe']} · {r['seconds'] * 1e3:.0f} ms" for lab, r in results.items()}
    show(
        figures.samples_grid(
            {lab: r["x"] for lab, r in results.items()},
            data=models.data(dataset, n),
            subtitles=subs,
            lecture=lecture,
        ),
        "compare-samples",
    )
    runs = {lab: r["xs"] for lab, r in results.items()}
    # as on the DDIM page: an animation drawn on every visit and every change would be
    # the page's heaviest figure, for a view a student asks for
    if ps.toggle(
        "trajectories",
        "Show the animated trajectories",
        False,
        help="Every method's steps from the same x_T, frame by frame; press Play.",
    ):
        show(figures.trajectory_animation(runs, lecture=lecture), "compare-trajectories")
        st.caption(
            "Frame k shows step k of every method; a method with fewer steps waits on its "
            "samples. All started from the same $x_T$."
        )
        animation_export(runs, "compare-trajectories")
    show_table(
        [
            {
                "method": lab,
                "NFE": r["nfe"],
                "steps": len(r["timesteps"]),
                "wall time (ms)": round(r["seconds"] * 1e3, 1),
            }
            for lab, r in results.items()
        ],
    )

st.subheader("Quality against NFE")
shipped = precomputed.compare_series(
    spec, seed, {lab: compare.methods(dataset)[lab] for lab in picked}
)
got = None
if st.toggle(
    "Recompute the curves live (cached after the first time)",
    value=False,
    key="compare.curves",
    help="Sample and score the chosen methods now instead of the shipped curves.",
):
    got = budget.run("Quality against NFE", compare.quality_series, spec, dataset, picked, seed)
if got is not None or shipped is not None:
    series, floor = got if got is not None else shipped
    show(
        figures.quality_curves(
            series, metric="sliced Wasserstein-2 (2,000 points)", floor=floor, lecture=lecture
        ),
        "compare-quality",
    )
    if got is None:
        st.caption(precomputed.caption("compare"))

st.subheader("The chapter's comparison table, measured here")
table = precomputed.compare(spec, seed)
if st.toggle(
    "Measure live (DDPM's 1000 steps take a few seconds the first time)",
    value=False,
    key="compare.table",
    help="Run every row of the table now on this model.",
):
    table = budget.run("The comparison table", compare.comparison_table, spec, dataset, seed)
elif table is not None:
    table = (table["table"], table["floor"])
if table is not None:
    rows, floor = table
    show_table(rows)
    if rows:
        st.caption(
            f"Dataset {dataset}, 2,000 samples against fresh data; data-vs-data floor "
            f"{floor:.4f}. Wall time of one run on this server, "
            f"measured when first computed. DDIM and DPM-Solver++ run on {DEFAULT_SPACING} "
            "grids, DDPM on its 1000 steps; the chapter's table names no spacing."
        )
teaching.deep_dive("metrics")

st.subheader("Train a 2-D diffusion model live")
st.markdown(
    "A small MLP learns $\\epsilon_\\theta(x_t, t)$ with the DDPM loss "
    "$\\lVert \\epsilon - \\epsilon_\\theta(\\sqrt{\\bar\\alpha_t}x_0 + "
    "\\sqrt{1-\\bar\\alpha_t}\\epsilon, t)\\rVert^2$. It stays in your session only; "
    "pages 4 and 5 can then distil it."
)
c1, c2, c3 = st.columns(3)
tds = c1.selectbox(
    "Dataset", DATASETS, key="compare.train_ds", help="The 2-D data set to train on."
)
secs = jobs.time_limit(c2, "compare.train_secs")
opt_steps = jobs.optimiser_steps(c3, [500, 1000, 2000, 4000, 8000], 2000, "compare.train_steps")
if jobs.train_button(f"Train a DDPM on {tds}", "compare.train"):
    jobs.launch("ddpm", live.train_ddpm(tds, float(secs), int(opt_steps), seed))
jobs.panel("ddpm", on_done=live.keep_ddpm)
teaching.check_questions("compare")
teaching.citations("compare")
ps.finish()
