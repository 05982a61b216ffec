"""The app's pages under streamlit.testing.v1.AppTest, and its pure helpers.

Every page renders without an exception; moving the main control changes the
figure; URL parameters reach the widgets, invalid ones fall back to the default
with a visible note; live training runs in a background job. Point counts are
kept small through the URL so the whole file runs in a minute or two.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import page_figures
from streamlit.testing.v1 import AppTest

from diffusion import figures
from ui.pages import PAGES as APP_PAGES

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
PAGES = [p.file for p in APP_PAGES]
TIMEOUT = 240  # the CPU is shared with other jobs in CI; first renders fill the caches


def _app(params: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for k, v in (params or {}).items():
        at.query_params[k] = v
    return at


def _open(page: str, params: dict[str, str] | None = None, state: dict | None = None) -> AppTest:
    """Run the app, switch to ``page`` and render it with URL ``params``."""
    at = _app({"n": "200"})
    for k, v in (state or {}).items():
        at.session_state[k] = v
    at.run()
    at.switch_page(page)
    at.query_params.clear()
    for k, v in (params or {"n": "200"}).items():
        at.query_params[k] = v
    at.run()
    return at


def _figures(at: AppTest) -> list[dict]:
    return [fig for fig, _ in page_figures(at)]


def _fig(at: AppTest, name: str) -> dict:
    """The figure exported under ``name`` (its camera button's file name)."""
    for fig, config in page_figures(at):
        if config["toImageButtonOptions"]["filename"] == name:
            return fig
    raise AssertionError(f"no figure named {name!r} on the page")


def _arr(v) -> np.ndarray:
    """A plotly JSON array: a plain list, or {'bdata': base64, 'dtype': ...}."""
    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"])
    return np.asarray(v, dtype=float)


def _samples(fig: dict, panel: int = 0) -> str:
    """The raster that carries a samples figure's points in ``panel`` (a PNG data URI)."""
    return fig["layout"]["images"][panel]["source"]


def _errors(at: AppTest) -> list[str]:
    return [e.value for e in at.exception] + [e.value for e in at.error]


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_without_exception(page):
    # the Images page's live curve: one sampler keeps its first (uncached) render short
    at = _open(page, {"n": "200", "curve": "ddim"} if page.endswith("images.py") else None)
    assert not _errors(at), _errors(at)
    assert at.title, f"{page} shows no title"
    if page in (
        "chapters/1_why.py",
        "chapters/2_ddim.py",
        "chapters/3_solvers.py",
        "chapters/6_compare.py",
    ):
        assert _figures(at), f"{page} draws no figure"
    # plotly.js draws the figures as sent: a colour left to Streamlit's own plotly
    # template (placeholders "#000001"... that st.plotly_chart swaps in the browser)
    # would come out near-black
    for fig in _figures(at):
        found = re.findall(r'"#0000(?:0[1-9]|[1-3][0-9]|40)"', json.dumps(fig))
        assert not found, f"{page}: {found[:3]} in {fig['layout'].get('title')}"


@pytest.mark.parametrize("page", PAGES)
def test_page_has_no_stray_module_strings(page):
    """Streamlit's magic prints a bare string at a page's top level: only the module
    docstring (which magic skips) may be one."""
    import ast

    body = ast.parse((ROOT / page).read_text()).body
    stray = [
        n.lineno
        for n in body[1:]
        if isinstance(n, ast.Expr)
        and isinstance(n.value, ast.Constant)
        and isinstance(n.value.value, str)
    ]
    assert not stray, f"{page}: bare strings on lines {stray} would be shown on the page"


def test_ddim_steps_slider_changes_the_samples_and_the_url():
    at = _open("chapters/2_ddim.py", {"n": "200", "steps": "20"})
    before = {k: _fig(at, k) for k in ("ddim-timesteps", "ddim-samples")}
    at.select_slider(key="ddim.steps").set_value(5).run()
    after = {k: _fig(at, k) for k in ("ddim-timesteps", "ddim-samples")}
    assert not _errors(at)
    assert at.query_params["steps"] == ["5"] or at.query_params["steps"] == "5"
    # trace 2 of the timesteps figure: the grid's markers on the alpha_bar curve
    assert len(_arr(after["ddim-timesteps"]["data"][2]["x"])) == 5
    assert len(_arr(before["ddim-timesteps"]["data"][2]["x"])) == 20
    # the samples' raster differs
    assert _samples(after["ddim-samples"]) != _samples(before["ddim-samples"])


def test_ddim_eta_changes_the_samples():
    at = _open("chapters/2_ddim.py", {"n": "200", "steps": "10"})
    before = _samples(_fig(at, "ddim-samples"))
    at.slider(key="ddim.eta").set_value(1.0).run()
    assert not _errors(at)
    assert _samples(_fig(at, "ddim-samples")) != before


def test_ddim_quality_sweep_is_not_recomputed_when_steps_or_eta_move(monkeypatch):
    from ui import models

    at = _open("chapters/2_ddim.py", {"n": "200", "steps": "10"})
    at.toggle(key="ddim.quality").set_value(True).run()
    assert not _errors(at), _errors(at)
    curves = _fig(at, "ddim-quality")["data"]
    assert {c["name"] for c in curves} >= {"DDIM eta = 0", "DDIM eta = 1"}
    calls = []
    real = models.run_model
    monkeypatch.setattr(models, "run_model", lambda *a, **k: calls.append(k["n"]) or real(*a, **k))
    at.slider(key="ddim.eta").set_value(0.3).run()
    at.select_slider(key="ddim.steps").set_value(12).run()
    assert not _errors(at), _errors(at)
    assert calls, calls  # only the page's own runs, no sweep run
    assert set(calls) == {200}, calls
    assert json.dumps(_fig(at, "ddim-quality")["data"]) == json.dumps(curves)


def _figure_names(at) -> list[str]:
    """The export file names of the page's plotly figures (one per figure)."""
    return [config["toImageButtonOptions"]["filename"] for _, config in page_figures(at)]


def test_ddim_trajectories_are_drawn_when_asked_for():
    at = _open("chapters/2_ddim.py", {"n": "200", "steps": "6"})
    names = _figure_names(at)
    assert "ddim-samples" in names
    assert "ddim-trajectories" not in names
    at.toggle(key="ddim.trajectories").set_value(True).run()
    assert not _errors(at)
    frames = _fig(at, "ddim-trajectories")["frames"]
    assert len(frames) == 7  # x_T and one state per step
    assert at.query_params["trajectories"] in ("1", ["1"])
    linked = _open(
        "chapters/2_ddim.py", {"n": "200", "steps": "6", "trajectories": "1", "animate": "x0-hat"}
    )
    assert "x0-hat, S = 6" in json.dumps(_fig(linked, "ddim-trajectories")["layout"])


def test_leading_spacing_reports_that_t_max_is_never_evaluated():
    at = _open("chapters/2_ddim.py", {"n": "200", "steps": "10", "spacing": "leading"})
    assert any("never evaluates the model at t = T-1" in i.value for i in at.info)
    at.selectbox(key="ddim.spacing").set_value("trailing").run()
    assert not any("never evaluates" in i.value for i in at.info)


def test_invalid_url_parameter_falls_back_with_a_note():
    at = _open("chapters/2_ddim.py", {"n": "200", "steps": "7", "eta": "abc", "spacing": "nope"})
    notes = " ".join(w.value for w in at.warning)
    assert all(
        f"`{k}`=`{v}` ignored" in notes
        for k, v in (("steps", "7"), ("eta", "abc"), ("spacing", "nope"))
    ), notes
    assert at.session_state["ddim.steps"] == 20
    assert at.session_state["ddim.eta"] == 0.0
    assert not _errors(at)


@pytest.mark.parametrize("page", PAGES)
def test_every_url_parameter_of_every_page_falls_back_with_a_note(page):
    """Each page writes its controls to the URL; an invalid value for any of them is
    replaced by the control's default, with a visible note, and the page still renders."""
    images = page.endswith("images.py")
    at = _open(page, {"n": "200", "curve": "ddim"} if images else None)
    keys = [
        k for k in at.query_params if k not in ("lecture", "n") and not (images and k == "curve")
    ]  # n stays small; the Images curve stays cheap
    assert keys, f"{page} keeps no control in the URL"
    defaults = {k: at.query_params[k] for k in keys}  # the page writes its values back
    bad = {k: "@@bad" for k in keys} | {"n": "200"} | ({"curve": "ddim"} if images else {})
    if page == PAGES[0]:  # the default page reads the URL of the app's first run
        at = _app(bad)
        at.run()
    else:
        at = _open(page, bad)
    assert not _errors(at), _errors(at)
    notes = " ".join(w.value for w in at.warning)
    unnamed = [k for k in keys if f"`{k}`=`@@bad` ignored" not in notes]
    if unnamed:  # past the page's cap of named notes, the rest are counted
        assert f"{len(unnamed)} more URL parameters were ignored" in notes, (unnamed, notes)
    assert {k: at.query_params[k] for k in keys} == defaults


def test_url_parameters_set_the_controls():
    at = _open(
        "chapters/2_ddim.py", {"n": "300", "steps": "8", "eta": "0.5", "spacing": "quadratic"}
    )
    assert at.select_slider(key="ddim.steps").value == 8
    assert at.slider(key="ddim.eta").value == 0.5
    assert at.selectbox(key="ddim.spacing").value == "quadratic"
    assert list(_fig(at, "ddim-samples")["layout"]["meta"]["points"].values()) == [300]


def test_lecturer_mode_enlarges_the_figure_fonts():
    at = _open("chapters/1_why.py", {"n": "200"})
    small = _figures(at)[0]["layout"]["font"]["size"]
    # AppTest drops the main script's sidebar widgets on reruns under st.navigation,
    # so the toggle is driven through its session-state key (the browser test clicks it).
    at.session_state["lecture"] = True
    at.run()
    assert _figures(at)[0]["layout"]["font"]["size"] > small
    assert at.query_params["lecture"] in ("1", ["1"])
    lectured = _app({"n": "200", "lecture": "1"})  # a shared link opens page 1 lectured
    lectured.run()
    assert _figures(lectured)[0]["layout"]["font"]["size"] > small


def test_solver_page_nfe_changes_the_samples():
    at = _open("chapters/3_solvers.py", {"n": "200", "nfe": "10", "solvers": "ddim,heun"})
    before = _figures(at)[0]
    at.selectbox(key="solvers.nfe").set_value(4).run()
    after = _figures(at)[0]
    assert not _errors(at)
    assert _samples(after) != _samples(before)
    # Heun at NFE 4 can afford 2 steps (2*2-1 = 3 NFE), shown in its subtitle
    assert "NFE 3" in json.dumps(after["layout"]["annotations"])


def test_compare_trajectories_are_drawn_when_asked_for():
    at = _open("chapters/6_compare.py", {"n": "200", "methods": "DDIM", "nfe": "4"})
    names = _figure_names(at)
    assert "compare-samples" in names
    assert "compare-trajectories" not in names
    at.toggle(key="compare.trajectories").set_value(True).run()
    assert not _errors(at)
    assert len(_fig(at, "compare-trajectories")["frames"]) == 5  # x_T and 4 steps
    assert at.query_params["trajectories"] in ("1", ["1"])


def test_compare_page_methods_change_the_panels():
    at = _open("chapters/6_compare.py", {"n": "200", "methods": "DDIM", "nfe": "4"})
    assert len(_figures(at)[0]["layout"]["meta"]["points"]) == 1
    at.multiselect(key="compare.methods").select("Heun (EDM)").run()
    assert not _errors(at)
    panels = _figures(at)[0]["layout"]["meta"]["points"]
    assert len(panels) == 2
    assert any("Heun" in k for k in panels)


@pytest.mark.parametrize(("page", "stem"), [(p.file, p.state) for p in APP_PAGES])
def test_every_preset_applies(page, stem):
    presets = json.loads((ROOT / "assets" / "presets" / f"{stem}.json").read_text())
    at = _open(page, {"n": "200", "curve": "ddim"} if stem == "img" else None)
    for name, values in presets.items():
        at.button(key=f"{stem}.preset.{name}").click().run()
        assert not _errors(at), (name, _errors(at))
        for k, v in values.items():
            if k in ("methods", "solvers", "shown"):  # a model or round may be missing
                assert set(at.session_state[f"{stem}.{k}"]) <= set(v)
            else:
                assert at.session_state[f"{stem}.{k}"] == v, (name, k)


# ----- live training and the few-step pages ------------------------------------------------


@pytest.fixture(scope="module")
def trained():
    """A tiny 2-D DDPM, one PD round and a CD model, trained through the app's jobs."""
    from ui import live

    ddpm = live.train_ddpm("8gaussians", seconds=20.0, steps=150, seed=0).start()
    _wait(ddpm)
    assert ddpm.error is None, ddpm.error
    teacher = ddpm.result
    teacher.config = {**teacher.config, "kind": "diffusion", "dataset": "8gaussians"}
    state = {"live.models": {"session:t": teacher}}
    pd = _job_with_state(lambda: live.train_pd("session:t", 4, 1, 20, 10.0, 0), state)
    cd = _job_with_state(lambda: live.train_consistency("cd", "session:t", 30, 10.0, 0), state)
    for job in (pd, cd):
        _wait(job)
        assert job.error is None, job.error
    ((steps, student),) = pd.result
    student.config = {**student.config, "kind": "pd-student", "dataset": "8gaussians"}
    cd.result.config = {**cd.result.config, "kind": "consistency", "dataset": "8gaussians"}
    return teacher, steps, student, cd.result


def _job_with_state(make, state):
    import streamlit as st

    for k, v in state.items():
        st.session_state[k] = v
    return make().start()


def _wait(job, limit: float = 120.0) -> None:
    start = time.perf_counter()
    while job.running and time.perf_counter() - start < limit:
        time.sleep(0.05)
    assert not job.running, "training job did not finish"


def test_job_stop_ends_training_early():
    from ui import live

    job = live.train_ddpm("moons", seconds=60.0, steps=100_000, seed=1).start()
    time.sleep(0.5)
    job.stop()
    _wait(job, 60.0)
    assert job.stopped
    assert job.error is None
    assert job.result.config["training"]["steps"] < 100_000  # ended by Stop, kept the model


def test_train_button_runs_a_job_and_lists_the_model_in_this_session_only():
    at = _open("chapters/6_compare.py", {"n": "200", "methods": "DDIM", "nfe": "4"})
    at.slider(key="compare.train_secs").set_value(5)
    at.select_slider(key="compare.train_steps").set_value(500)
    at.selectbox(key="compare.train_ds").set_value("moons")
    at.button(key="compare.train").click().run()
    assert not _errors(at)
    assert at.get("progress"), "no progress bar while training"
    _wait(at.session_state["job.ddpm"])
    at.run()
    at.run()  # the job panel reruns the page once to list the new model
    assert not _errors(at)
    assert "session:moons-ddpm" in at.selectbox(key="compare.model").options
    other = _open("chapters/6_compare.py", {"n": "200", "methods": "DDIM", "nfe": "4"})
    assert "session:moons-ddpm" not in other.selectbox(key="compare.model").options


def test_progressive_page_shows_live_rounds(trained):
    teacher, steps, student, _ = trained
    state = {
        "live.models": {"session:t": teacher, "session:s": student},
        "pd.live": {"8gaussians": {steps: "session:s"}},
    }
    at = _open("chapters/4_progressive.py", {"n": "200", "dataset": "8gaussians"}, state)
    assert not _errors(at), _errors(at)
    figs = _figures(at)
    assert len(figs) >= 2  # samples per round, two-steps-vs-one
    assert any("student: 1 step" in json.dumps(f["data"]) for f in figs)


def test_consistency_page_shows_live_model(trained):
    teacher, _, _, cd = trained
    state = {
        "live.models": {"session:t": teacher, "session:cd": cd},
        "cm.live": {("8gaussians", "cd"): "session:cd"},
    }
    at = _open(
        "chapters/5_consistency.py", {"n": "200", "dataset": "8gaussians", "steps": "2"}, state
    )
    assert not _errors(at), _errors(at)
    figs = _figures(at)
    assert any("f(x_t, t)" in json.dumps(f["data"]) for f in figs)
    before = json.dumps(figs[1]["layout"]["images"])
    at.selectbox(key="consistency.steps").set_value(4).run()
    assert json.dumps(_figures(at)[1]["layout"]["images"]) != before


FEWSTEP = json.loads((ROOT / "assets" / "fewstep" / "manifest.json").read_text())["models"]
FEWSTEP_DATASETS = sorted({m["dataset"] for m in FEWSTEP})


@pytest.mark.parametrize("dataset", FEWSTEP_DATASETS)
def test_fewstep_pages_show_every_shipped_dataset(dataset):
    """Pages 4 and 5 list every dataset of the shipped few-step manifest and draw its
    PD rounds and its CD / CT models."""
    mine = [m for m in FEWSTEP if m["dataset"] == dataset]
    at = _open("chapters/4_progressive.py", {"n": "200", "dataset": dataset})
    assert not _errors(at), _errors(at)
    assert dataset in at.selectbox(key="progressive.dataset").options
    heads = json.dumps(_fig(at, "pd-rounds")["layout"]["annotations"])
    rounds = sorted(m["steps"] for m in mine if m["kind"] == "pd-student")
    for s in [r for r in rounds if r <= 8]:
        assert f"student, {s} step" in heads, (s, heads)
    at = _open("chapters/5_consistency.py", {"n": "200", "dataset": dataset, "steps": "2"})
    assert not _errors(at), _errors(at)
    assert dataset in at.selectbox(key="consistency.dataset").options
    for method in ("cd", "ct"):
        shipped = any(m["name"] == f"{dataset}-{method}" for m in mine)
        heads = [json.dumps(f["layout"].get("annotations")) for f in _figures(at)]
        drawn = any(f"{method.upper()}, 1 step" in h for h in heads)
        assert drawn == shipped, (method, shipped)


@pytest.mark.parametrize("name", [m["name"] for m in FEWSTEP if m.get("steps") in (1, None)])
def test_one_step_models_are_sampled_from_t_max(name):
    """The app samples every shipped one-step model (PD round 1, CD, CT) on the grid
    of diffusion.grids.few_step_timesteps: one evaluation at t = T-1, never t = 0."""
    from diffusion.checkpoints import load_model
    from ui import models

    model = load_model(name)
    sampler = "consistency" if model.config["kind"] == "consistency" else "ddim"
    out = models.run_model(model, sampler, 1, n=8, seed=0)
    assert out["timesteps"].tolist() == [model.schedule.T - 1]
    assert out["nfe"] == 1
    assert np.isfinite(out["x"]).all()


# ----- pure helpers of diffusion.figures ----------------------------------------------------


def test_trajectory_gif_export():
    xs = np.cumsum(np.random.default_rng(0).normal(size=(6, 50, 2)), axis=0)
    gif = figures.trajectory_gif({"a": xs, "b": xs[:3]}, n_show=50)
    assert gif[:6] in (b"GIF87a", b"GIF89a")


def test_trajectory_mp4_export():
    """The MP4 export needs the ffmpeg program, which ``./dev test`` installs from
    Debian next to chromium; a missing ffmpeg is a failure, not a skip."""
    if not figures.ffmpeg_available():
        assert figures.trajectory_mp4({"a": np.zeros((2, 3, 2))}) is None
        pytest.fail(
            "ffmpeg is not on PATH: install Debian's ffmpeg package "
            "(apt-get install -y ffmpeg; ./dev test does) to test the MP4 export"
        )
    xs = np.cumsum(np.random.default_rng(0).normal(size=(6, 50, 2)), axis=0)
    mp4 = figures.trajectory_mp4({"a": xs, "b": xs[:3]}, n_show=50, fps=4)
    assert mp4 is not None, mp4[:16]  # an ISO/MP4 file
    assert mp4[4:8] == b"ftyp", mp4[:16]
    probe = shutil.which("ffprobe")  # ships with Debian's ffmpeg
    assert probe, "ffprobe missing although ffmpeg is installed"
    with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
        f.write(mp4)
        f.flush()
        frames = subprocess.run(
            [
                probe,
                "-v",
                "error",
                "-count_frames",
                "-select_streams",
                "v:0",
                "-show_entries",
                "stream=nb_read_frames",
                "-of",
                "csv=p=0",
                f.name,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    assert int(frames) == 6  # one frame per recorded state of the longest run


def test_animation_pads_shorter_runs_and_keeps_the_noise_shared():
    xs = np.random.default_rng(0).normal(size=(5, 30, 2))
    fig = figures.trajectory_animation({"long": xs, "short": xs[[0, -1]]})
    assert len(fig.frames) == 5
    last = fig.frames[-1].data
    np.testing.assert_allclose(last[0].x, xs[-1, :, 0])
    np.testing.assert_allclose(last[1].x, xs[-1, :, 0])  # the short run waits on its samples
    with pytest.raises(ValueError, match="unknown export format 'jpeg'"):
        figures.export_config("f", "jpeg")


def test_published_tables_are_markdown_with_every_value():
    from ui.layout import DDIM_TABLE, FEWSTEP_TABLE, markdown_table

    ddim = markdown_table(DDIM_TABLE).splitlines()
    assert ddim[0].startswith("| steps S | eta = 0 (DDIM)")
    assert len(ddim) == 2 + 5
    assert ddim[2].split(" | ")[4] == "41.07"  # S = 10, the corrected eta = 1 column
    few = markdown_table(FEWSTEP_TABLE).splitlines()
    assert "|  |" in few[3]  # a missing figure is a blank cell, not "None"
    at = _open("chapters/2_ddim.py", {"n": "200"})
    # the table's fold is closed: its content is not sent until a student opens it
    assert not any("41.07" in m.value for m in at.markdown)
    from ui.folds import fold_key

    at.session_state[fold_key("published.Published: DDIM on CIFAR-10 (FID, lower is better)")] = (
        True
    )
    at.run()
    assert any("41.07" in m.value for m in at.markdown)


def test_points_raster_puts_each_point_on_its_pixel():
    lim, px = 2.0, 40
    x = np.array([[0.0, 0.0], [-1.95, 1.95], [1.0, -1.0], [np.nan, 0.0], [9.0, 9.0]])
    cover = figures.points_raster(x, lim, px=px, radius=1.0)
    assert cover.shape == (px, px)
    assert cover.max() == 1.0
    assert cover.min() == 0.0

    def pixel(p):  # row 0 is y = +lim
        return int((lim - p[1]) / (2 * lim) * px), int((p[0] + lim) / (2 * lim) * px)

    for p in x[:3]:
        assert cover[pixel(p)] > 0.5, p
    assert cover[pixel((-1.0, -1.0))] == 0.0  # nothing drawn where no point is
    # the NaN point is dropped and the one outside the view draws nothing
    assert np.count_nonzero(cover) == np.count_nonzero(
        figures.points_raster(x[:3], lim, px=px, radius=1.0)
    )


def test_coverage_png_keeps_the_colour_and_the_coverage_as_alpha():
    from PIL import Image

    cover = np.zeros((8, 8), dtype=np.float32)
    cover[2, 3], cover[5, 5] = 1.0, 0.5
    uri = figures.coverage_png(cover, color="#D55E00", opacity=1.0)
    assert uri.startswith("data:image/png;base64,")
    img = np.asarray(
        Image.open(__import__("io").BytesIO(base64.b64decode(uri.split(",")[1]))).convert("RGBA")
    )
    assert tuple(img[2, 3]) == (0xD5, 0x5E, 0x00, 255)
    assert abs(int(img[5, 5, 3]) - 128) <= 1
    assert img[0, 0, 3] == 0


def test_samples_grid_draws_every_panel_on_its_own_axes():
    rng = np.random.default_rng(0)
    panels = {"a": rng.normal(size=(50, 2)), "b": rng.normal(size=(70, 2))}
    fig = figures.samples_grid(panels, data=rng.normal(size=(100, 2)), subtitles={"b": "NFE 3"})
    images = fig.layout.images  # the two panels' samples, then their data densities
    assert [im.xref for im in images] == ["x", "x2", "x", "x2"]
    assert [im.yref for im in images] == ["y", "y2", "y", "y2"]
    assert [im.layer for im in images] == ["above", "above", "below", "below"]
    assert images[0].source != images[1].source
    assert images[2].source == images[3].source
    assert fig.layout.meta["points"] == {"a": 50, "b": 70}
    assert fig.layout.xaxis2.domain[0] > fig.layout.xaxis.domain[1]  # side by side
    assert "NFE 3" in fig.layout.annotations[1].text
    assert fig.layout.yaxis2.scaleanchor == "x2"  # square panels
    assert {tr.name for tr in fig.data} == {"data", "samples"}  # legend entries only
    big = figures.samples_grid(panels, lecture=True)
    assert big.layout.font.size > fig.layout.font.size
    assert big.layout.height > fig.layout.height
    with pytest.raises(ValueError, match="at least one panel"):
        figures.samples_grid({})


def test_damaged_shipped_checkpoint_is_one_line_on_the_page_and_the_app_keeps_running(
    monkeypatch,
):
    """A checkpoint that fails its sha256 check raises ValueError in the library; the app
    shows that one line instead of a traceback, and the other pages still render."""
    import streamlit as st

    from ui import models

    real = models.load_model  # diffusion.checkpoints.load_model, as the app calls it

    def damaged(spec, *a, **kw):
        if "-pd@" in str(spec):
            raise ValueError(f"{spec}: weights fail their sha256 check (file damaged)")
        return real(spec, *a, **kw)

    st.cache_resource.clear()
    monkeypatch.setattr(models, "load_model", damaged)
    try:
        at = _open("chapters/4_progressive.py")
        assert not at.exception, [e.value for e in at.exception]
        assert len(at.error) == 1
        assert "sha256" in at.error[0].value
        assert len(at.error[0].value.splitlines()) == 1
        at.switch_page("chapters/1_why.py")
        at.run()
        assert not _errors(at), _errors(at)
    finally:
        st.cache_resource.clear()  # no model loaded under the patch outlives this test
