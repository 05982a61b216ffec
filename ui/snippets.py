"""'Show the code': for every figure the pages show, the few lines of library code that
reproduce it in a notebook, using only the package's public API.

``SNIPPETS`` maps a figure's name (the name the page gives ``ui.layout.show``) to its
code; ``show_code(name)`` draws it in an expander under the figure. Each snippet runs
on its own after ``import diffusion``; ``N`` (points) is the only name a test may
shrink, and tests/test_teaching.py executes every snippet.
"""

from __future__ import annotations

import streamlit as st

from .folds import folded

SNIPPETS: dict[str, str] = {
    "why-1000-vs-few": """
import diffusion
from diffusion import figures
N = 1000
model = diffusion.load_model("8gaussians")
slow = diffusion.sample(model, "ddpm", 1000, n=N, seed=0)       # 1000 NFE
fast = diffusion.sample(model, "ddim", 10, n=N, seed=0)         # 10 NFE
data = diffusion.sample_dataset("8gaussians", N, seed=1)
fig = figures.samples_grid({"DDPM, 1000 steps": slow.x.numpy(),
                            "DDIM, 10 steps": fast.x.numpy()}, data=data.numpy())
""",
    "ddim-samples": """
import diffusion
from diffusion import figures
N = 2000
model = diffusion.load_model("8gaussians")
run = diffusion.sample(model, "ddim", 20, n=N, seed=0, spacing="trailing", eta=0.0)
fig = figures.samples_grid({"DDIM, S = 20": run.x.numpy()},
                           data=diffusion.sample_dataset("8gaussians", N, seed=1).numpy())
""",
    "ddim-timesteps": """
import torch
import diffusion
from diffusion import figures
sch = diffusion.load_model("8gaussians").schedule
t = torch.arange(sch.T, dtype=torch.float64)
grids = {s: diffusion.make_timesteps(sch, 10, s).numpy()
         for s in ("leading", "trailing", "quadratic", "logsnr", "karras")}
fig = figures.schedule_timesteps(t.numpy(), sch.alpha_bar(t).numpy(),
                                 sch.lambda_(t).numpy(), grids)
""",
    "ddim-trajectories": """
import diffusion
from diffusion import figures
model = diffusion.load_model("8gaussians")
run = diffusion.sample(model, "ddim", 20, n=150, seed=0, spacing="trailing")
fig = figures.trajectory_animation({"x_t, S = 20": run.xs.numpy()}, n_show=150)
""",
    "ddim-quality": """
import diffusion
from diffusion import figures
N = 2000
model = diffusion.load_model("8gaussians")
steps = [5, 10, 20, 50]
series = {}
for eta in (0.0, 1.0):
    w2 = [diffusion.evaluate_2d(diffusion.sample(model, "ddim", s, n=N, seed=0,
                                                 spacing="trailing", eta=eta).x,
                                "8gaussians")["sliced_w2"] for s in steps]
    series[f"DDIM eta = {eta:g}"] = (steps, w2)
fig = figures.quality_curves(series, metric="sliced W2", x_label="steps S")
""",
    "solvers-samples": """
import diffusion
from diffusion import figures
N = 1500
model = diffusion.load_model("8gaussians")
panels = {}
for name in ("ddim", "heun", "dpm-solver++2m", "unipc"):
    steps = diffusion.get_sampler(name).steps_for_nfe(9) or 9   # equal NFE for all
    run = diffusion.sample(model, name, steps, n=N, seed=0, spacing="logsnr")
    panels[f"{name}, NFE {run.nfe}"] = run.x.numpy()
fig = figures.samples_grid(panels)
""",
    "solvers-error-vs-nfe": """
import diffusion
from diffusion import demos, figures
oracle = diffusion.load_model("oracle:8gaussians")           # exact denoiser
N = 64
x_T = demos.particles(N, 7)
exact = demos.exact_solution(oracle, x_T)                   # float64 adaptive solve
series, orders = {}, {}
for name in ("ddim", "dpm-solver++2m", "unipc"):
    pts = demos.solver_error_curve(oracle, name, "logsnr", x_T, exact)
    series[name] = ([p[0] for p in pts], [p[1] for p in pts])
    orders[name] = demos.measured_order(pts)                # fit over NFE 64..256
fig = figures.error_vs_nfe(series, orders=orders)
""",
    "solvers-heun-step": """
import diffusion
from diffusion import demos, figures
oracle = diffusion.load_model("oracle:8gaussians")
x_T = demos.particles(64, 7)[3:4]
fig = figures.heun_step(*demos.heun_step_picture(oracle, x_T, 4, "logsnr", 0))
""",
    "pd-rounds": """
import diffusion
from diffusion import figures
N = 1500
panels = {}
for s in (8, 4, 2, 1):
    student = diffusion.load_model(f"8gaussians-pd@{s}steps")
    panels[f"student, {s} steps"] = diffusion.sample(student, "ddim", s, n=N, seed=0).x.numpy()
fig = figures.samples_grid(panels)
""",
    "pd-quality": """
import diffusion
from diffusion import figures
N = 2000
teacher = diffusion.load_model("8gaussians")
steps = [1, 2, 4, 8]
w2 = lambda m, s, **k: diffusion.evaluate_2d(
    diffusion.sample(m, "ddim", s, n=N, seed=0, **k).x, "8gaussians")["sliced_w2"]
students = [w2(diffusion.load_model(f"8gaussians-pd@{s}steps"), s) for s in steps]
ddim = [w2(teacher, s, spacing="trailing") for s in steps]
fig = figures.quality_curves({"PD students": (steps, students),
                              "DDIM on the teacher": (steps, ddim)}, metric="sliced W2")
""",
    "pd-two-vs-one": """
import torch
import diffusion
from diffusion import demos, figures
parent = diffusion.load_model("8gaussians-pd@4steps")
student = diffusion.load_model("8gaussians-pd@2steps")
x0 = diffusion.sample_dataset("8gaussians", 1, seed=99)
noise = torch.randn(1, 2, generator=torch.Generator().manual_seed(0))
fig = figures.two_steps_vs_one(*demos.two_teacher_steps_vs_one(parent, student, 2, 0, x0, noise))
""",
    "cm-property": """
import torch
import diffusion
from diffusion import demos, figures
teacher = diffusion.load_model("8gaussians")
models = {"CD: f(x_t, t)": diffusion.load_model("8gaussians-cd"),
          "diffusion model: x0-hat": teacher}
x_T = torch.randn((1, 2), generator=torch.Generator().manual_seed(0))
fig = figures.consistency_property(*demos.consistency_along_path(teacher, models, x_T))
""",
    "cm-steps": """
import diffusion
from diffusion import figures
N = 1500
cm = diffusion.load_model("8gaussians-cd")
panels = {f"CD, {s} steps": diffusion.sample(cm, "consistency", s, n=N, seed=0).x.numpy()
          for s in (1, 2)}
teacher = diffusion.load_model("8gaussians")   # one DDIM step from t = T-1: see the warning
panels["diffusion model, DDIM 1 step"] = diffusion.sample(
    teacher, "ddim", 1, n=N, seed=0, spacing="trailing").x.numpy()
fig = figures.samples_grid(panels)
""",
    "compare-samples": """
import diffusion
from diffusion import figures
N = 1500
model = diffusion.load_model("8gaussians")
runs = {"DDIM": diffusion.sample(model, "ddim", 8, n=N, seed=0),
        "DPM-Solver++(2M)": diffusion.sample(model, "dpm-solver++2m", 8, n=N, seed=0),
        "PD, 8 steps": diffusion.sample(diffusion.load_model("8gaussians-pd@8steps"),
                                        "ddim", 8, n=N, seed=0)}
fig = figures.samples_grid({k: r.x.numpy() for k, r in runs.items()})
""",
    "compare-trajectories": """
import diffusion
from diffusion import figures
model = diffusion.load_model("8gaussians")
runs = {name: diffusion.sample(model, name, 8, n=300, seed=0).xs.numpy()
        for name in ("ddim", "dpm-solver++2m")}
fig = figures.trajectory_animation(runs)
""",
    "compare-quality": """
import diffusion
from diffusion import figures
N = 2000
model = diffusion.load_model("8gaussians")
nfes = [2, 4, 8, 16]
series = {name: (nfes, [diffusion.evaluate_2d(diffusion.sample(model, name, k, n=N, seed=0).x,
                                              "8gaussians")["sliced_w2"] for k in nfes])
          for name in ("ddim", "dpm-solver++2m")}
fig = figures.quality_curves(series, metric="sliced W2")
""",
    "images-samples": """
from diffusion.images.sampling import load_any, sample_images, to_grid
model = load_any("digits")
x, nfe = sample_images(model, "dpm-solver++2m", 10, n=16, seed=0)
picture = to_grid(x, ncol=8)           # an (H, W) array for plt.imshow
""",
    "images-quality": """
from diffusion import figures
from diffusion.images.digits import digits_metrics
from diffusion.images.sampling import load_any, sample_images
model = load_any("digits")
N = 200
nfes, fd = [2, 4, 8], []
for k in nfes:
    x, nfe = sample_images(model, "ddim", k, n=N, seed=0)
    fd.append(digits_metrics(x)["fd"])
fig = figures.quality_curves({"teacher + ddim": (nfes, fd)}, metric="FD-200")
""",
}


def snippet_for(name: str) -> str | None:
    """The snippet of a figure, by its exact name or the longest name it starts with
    ('cm-steps-CD' -> 'cm-steps'); None when there is none."""
    if name in SNIPPETS:
        return SNIPPETS[name].strip()
    keys = [k for k in SNIPPETS if name.startswith(k + "-")]
    return SNIPPETS[max(keys, key=len)].strip() if keys else None


def show_code(name: str) -> None:
    """The figure's code in a 'Show the code' expander (nothing if it has none)."""
    code = snippet_for(name)
    if code is None:
        return
    box = folded("Show the code", f"code.{name}")
    if box:
        with box:
            st.code(code, language="python")
