"""Page 4: progressive distillation, the rounds N -> N/2 -> ... -> 1."""

import streamlit as st

from ui import budget, fewstep, figures, jobs, live, models, precomputed, teaching
from ui.layout import FEWSTEP_TABLE, page_header, published, show
from ui.state import PageState

lecture = page_header(
    "Progressive distillation",
    "A student learns to take in **one** deterministic DDIM step what its teacher takes in "
    "**two**; the student then teaches the next round. Each round halves the steps: "
    "$N \\to N/2 \\to \\dots \\to 1$ (Salimans & Ho 2022).",
    page="progressive",
)
ps = PageState("progressive")
datasets = live.fewstep_datasets("pd")
with st.sidebar:
    st.header("Distillation controls")
    dataset = ps.select(
        "dataset",
        "Dataset",
        datasets,
        datasets[0],
        help="The 2-D data set whose teacher and distilled students are shown.",
    )
    n = ps.slider("n", "Points", 200, models.MAX_POINTS, 1500, 100, help="Samples drawn per panel.")
    seed = ps.number(
        "seed", "Seed", 0, 10_000, 0, help="Seeds x_T; every panel starts from the same noise."
    )
ps.presets()

rounds = live.pd_rounds(dataset)
teacher = live.teacher_for(dataset)

st.latex(
    r"\tilde x = \frac{x_{t''} - \frac{\sigma_{t''}}{\sigma_t} x_t}"
    r"{\alpha_{t''} - \frac{\sigma_{t''}}{\sigma_t}\alpha_t},\qquad "
    r"\mathcal{L} = \max(\mathrm{SNR}_t, 1)\,\lVert \hat x_\phi(x_t) - \tilde x \rVert^2"
)
st.caption(
    "$x_{t''}$ comes from two teacher DDIM steps $t \\to t' \\to t''$; $\\tilde x$ is the "
    "clean estimate for which one DDIM step $t \\to t''$ lands exactly there. The chapter "
    "writes the loss directly on $x_{t-2}$; both have the same minimiser. $\\phi$ are the "
    "student's parameters; the students predict $v$ (see below)."
)
teaching.deep_dive("pd")

if not rounds:
    st.info(
        "No distilled rounds are available for this dataset yet: train them live below "
        "(needs a trained teacher), or use the shipped ones when they are installed."
    )
else:
    st.subheader("Samples per round")
    avail = sorted(rounds, reverse=True)
    default_show = [s for s in avail if s <= 8] or avail[-4:]
    shown = ps.multiselect(
        "shown",
        "Rounds to show (student steps)",
        avail,
        default_show[:5],
        help="Each round's student, by the steps it samples with; the "
        "teacher is drawn beside them.",
    )
    panels, subs = {}, {}
    if teacher:
        big = min(max(avail) * 2, fewstep.PD_TEACHER_STEPS)
        out = live.sample(teacher, "ddim", big, n, seed, "trailing")
        # a short title: five panels share the width (a longer one ran into its neighbour)
        panels[f"teacher, {big} steps"] = out["x"]
        subs[f"teacher, {big} steps"] = f"DDIM · NFE {out['nfe']}"
    for s in sorted(shown, reverse=True):
        out = live.sample(rounds[s], "ddim", s, n, seed)
        panels[f"student, {s} step{'s' if s > 1 else ''}"] = out["x"]
        subs[f"student, {s} step{'s' if s > 1 else ''}"] = f"NFE {out['nfe']}"
    show(
        figures.samples_grid(panels, data=models.data(dataset, n), subtitles=subs, lecture=lecture),
        "pd-rounds",
    )

    if teacher:
        st.subheader("Quality: each student against DDIM on the teacher at the same NFE")
        own = any(str(v).startswith("session:") for v in [*rounds.values(), teacher])
        shipped = None if own else precomputed.fewstep(dataset, seed)
        got = None
        if st.toggle(
            "Recompute live (a few seconds the first time)",
            value=False,
            key="pd.quality",
            help="Sample and score every student and DDIM on "
            "the teacher now, instead of the shipped curve.",
        ):
            got = budget.run("PD quality", fewstep.pd_quality, rounds, teacher, dataset, seed)
        if got is None and shipped is not None:
            got = tuple(shipped["pd"][k] for k in ("steps", "student", "ddim", "floor"))
            st.caption(precomputed.caption("fewstep"))
        if got is not None:
            ladder, q_st, q_dd, floor = got
            show(
                figures.quality_curves(
                    {"PD students": (ladder, q_st), "DDIM on the teacher": (ladder, q_dd)},
                    metric="sliced Wasserstein-2 (2,000 points)",
                    floor=floor,
                    lecture=lecture,
                ),
                "pd-quality",
            )

    st.subheader("Two teacher steps against one student step, one particle")
    c1, c2 = st.columns([3, 2])
    with c2:
        pick = ps.choice_slider(
            "pick",
            "Student round (steps)",
            sorted(rounds),
            sorted(rounds)[min(1, len(rounds) - 1)],
            help="The student whose one step is compared with its parent's two.",
        )
        i = (
            ps.slider(
                "step",
                "Student step",
                0,
                pick - 1,
                0,
                1,
                help="Which of the student's steps, 0 = from t = T-1.",
            )
            if pick > 1
            else 0
        )
        st.markdown(
            "The student's one step (dashed) should land where the teacher's two steps end."
        )
    with c1:
        parent = rounds.get(2 * pick) or teacher
        if parent is None:
            st.info("The teacher of this round is not available.")
        else:
            picture = fewstep.two_steps_vs_one(parent, rounds[pick], pick, i, dataset, seed)
            show(figures.two_steps_vs_one(*picture, lecture=lecture), "pd-two-vs-one")

st.subheader("Train live")
base = teacher
if base is None:
    live.no_teacher("Progressive distillation")
else:
    c1, c2, c3 = st.columns(3)
    start = c1.select_slider(
        "Teacher steps N",
        [8, 16, 32, 64],
        value=16,
        key="pd.start",
        help="DDIM steps of the first teacher; round k's student takes N / 2^k.",
    )
    most = start.bit_length() - 1  # log2 of the teacher's steps: down to one step
    n_rounds = c2.slider(
        "Rounds",
        1,
        most,
        min(3, most),
        key="pd.rounds",
        help="Each round halves the steps and is a training run of its own.",
    )
    per_round = c3.slider(
        "Seconds per round (max)",
        2,
        20,
        6,
        key="pd.seconds",
        help="Wall-time limit of each round's training on this server.",
    )
    if jobs.train_button(
        f"Distil {base}: {start} → {start >> n_rounds} steps",
        "pd.train",
        help="Trains the rounds in the background; the students stay in your session only.",
    ):
        jobs.launch("pd", live.train_pd(base, start, n_rounds, 400, float(per_round), seed))
    jobs.panel("pd", on_done=live.keep_students(dataset))
published(
    FEWSTEP_TABLE,
    "CIFAR-10 FID. Sources in the last column (REFERENCES.md).",
    "Published: few-step models on CIFAR-10 (FID)",
)
teaching.check_questions("progressive")
teaching.citations("progressive")
ps.finish()
