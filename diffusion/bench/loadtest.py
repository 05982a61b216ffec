"""A classroom at the server: N sessions that speak Streamlit's own websocket protocol.

Each simulated student opens ``/_stcore/stream`` as the browser does (subprotocol
"streamlit"), sends the ``BackMsg.rerun_script`` that loads a page, then moves one slider
``moves`` times with a think time between moves. For every move it records the time from
sending the new widget state to the ``script_finished`` ForwardMsg, i.e. the server's whole
rerun including the serialisation of its figures, but no browser. It counts errors
(exceptions shown on the page, unexpected finishes) and dropped sessions (connection lost,
no answer in time), and samples the server's resident memory (VmRSS in /proc) throughout.
Students start a little apart (``ramp_s``), as a class does.

``python -m diffusion.bench.loadtest --n 10 20 40 [--processes 2] [--train]`` starts its own
server(s) on loopback, runs each N once and prints JSON. With ``--processes 2``, sessions
are spread over two server processes, one fixed per session, as a reverse proxy with
sticky sessions does (docs/deploy.md). ``--train`` makes one more session start the
compare page's live training and keeps it running during the measurement.

This module never imports streamlit at import time; the protobuf classes are loaded when
a session starts, from the streamlit package the server uses.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

FIGURE = "diffusion.figure"
"""The app's figure component (``ui.plot.COMPONENT``); its data carries the figure."""

ROOT = Path(__file__).resolve().parents[2]

DEFAULT_PAGE = "ddim"
DEFAULT_SLIDER = "Steps S"
DEFAULT_VALUES = ("5", "10", "20", "50")
"""The DDIM page's steps slider, moved between these values; each student has one of ten
seeds in the URL, so the shared cache is partly warm as in a real class."""


def _protos():
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    return BackMsg, ForwardMsg


@dataclass
class Session:
    """What one simulated student saw."""

    load_s: float | None = None
    reruns: list[float] = field(default_factory=list)
    values: list[str] = field(default_factory=list)  # the slider's value at each move
    figures: list[list[str]] = field(default_factory=list)  # plotly specs after each move
    errors: list[str] = field(default_factory=list)
    dropped: bool = False


class _Client:
    """One websocket session: send BackMsgs, read ForwardMsgs until a script finishes."""

    def __init__(self, ws, page: str, query: str) -> None:
        self.ws, self.page, self.query = ws, page, query
        self.widgets: dict[str, object] = {}  # label -> proto of the widget (slider, button)
        self.figures: list[str] = []  # the plotly specs (JSON) of the last run
        BackMsg, ForwardMsg = _protos()
        self.BackMsg, self.ForwardMsg = BackMsg, ForwardMsg

    async def rerun(
        self,
        widget_id: str | None = None,
        *,
        strings: list[str] | None = None,
        trigger: bool = False,
        numbers: dict[str, float] | None = None,
        timeout_s: float = 120.0,
    ) -> tuple[float, list[str]]:
        """Send one rerun request; (seconds to script_finished, exceptions shown).
        ``numbers``: other sliders' values sent with it (widget id -> value)."""
        msg = self.BackMsg()
        cs = msg.rerun_script
        cs.query_string = self.query
        cs.page_name = self.page
        if widget_id is not None:
            ws_ = cs.widget_states.widgets.add()
            ws_.id = widget_id
            if trigger:
                ws_.trigger_value = True
            else:
                ws_.string_array_value.data.extend(strings or [])
        for other, value in (numbers or {}).items():
            w = cs.widget_states.widgets.add()
            w.id = other
            w.double_array_value.data.append(float(value))
        self.figures = []
        t0 = time.perf_counter()
        await self.ws.send(msg.SerializeToString())
        errors = await asyncio.wait_for(self._until_finished(), timeout_s)
        return time.perf_counter() - t0, errors

    async def _until_finished(self) -> list[str]:
        errors = []
        while True:
            raw = await self.ws.recv()
            fm = self.ForwardMsg()
            fm.ParseFromString(raw)
            kind = fm.WhichOneof("type")
            if kind == "delta" and fm.delta.WhichOneof("type") == "new_element":
                el = fm.delta.new_element
                which = el.WhichOneof("type")
                if which == "exception":
                    errors.append(f"{el.exception.type}: {el.exception.message[:120]}")
                elif which == "plotly_chart":
                    self.figures.append(el.plotly_chart.spec)
                elif which == "bidi_component" and el.bidi_component.component_name == FIGURE:
                    self.figures.append(json.loads(el.bidi_component.json)["spec"])
                elif which in ("slider", "button"):
                    widget = getattr(el, which)
                    self.widgets[widget.label] = widget
            elif kind == "script_finished":
                status = fm.script_finished
                if status == self.ForwardMsg.FINISHED_SUCCESSFULLY:
                    return errors
                if status == self.ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                    return [*errors, "script failed to compile"]
                # FINISHED_EARLY_FOR_RERUN / fragment runs: keep reading

    def find(self, label: str):
        for text, widget in self.widgets.items():
            if text.startswith(label):
                return widget
        raise KeyError(f"no widget labelled {label!r}; the page has: {', '.join(self.widgets)}")


async def _session(url: str, out: Session, timeout_s: float, body) -> Session:
    """Run ``await body(ws)`` in a websocket session with the server at ``url``, opened
    as a browser opens it. A refused or lost connection, or a timeout, ends it: ``out``
    is marked dropped, with the reason among its errors. Returns ``out``."""
    import websockets

    ws_url = url.replace("http://", "ws://") + "/_stcore/stream"
    try:
        async with websockets.connect(
            ws_url,
            subprotocols=["streamlit"],
            max_size=None,
            open_timeout=timeout_s,
            ping_interval=None,
        ) as ws:
            await body(ws)
    except (TimeoutError, asyncio.TimeoutError):
        out.dropped = True
        out.errors.append("no answer within the timeout")
    except Exception as err:  # connection refused or closed: the session is lost
        out.dropped = True
        out.errors.append(f"{type(err).__name__}: {str(err)[:120]}")
    return out


async def open_page(url: str, page: str, query: str = "", timeout_s: float = 300.0) -> Session:
    """One session that loads ``page`` (with ``query``) once and leaves: its load time,
    the exceptions the page showed and its plotly specs (``figures[0]``). The server's
    warm-up (ui/serve.py) and the app benchmark's figure count use it."""
    out = Session()

    async def load(ws) -> None:
        client = _Client(ws, page, query)
        out.load_s, out.errors = await client.rerun(timeout_s=timeout_s)
        out.figures.append(client.figures)

    return await _session(url, out, timeout_s, load)


async def student(
    url: str,
    i: int,
    *,
    page: str = DEFAULT_PAGE,
    slider: str = DEFAULT_SLIDER,
    values: tuple[str, ...] = DEFAULT_VALUES,
    moves: int = 10,
    think_s: tuple[float, float] = (1.0, 3.0),
    delay_s: float = 0.0,
    timeout_s: float = 120.0,
    keep_figures: bool = False,
) -> Session:
    """One student: open the page (seed i % 10), then ``moves`` slider moves."""
    out = Session()
    rng = random.Random(i)
    await asyncio.sleep(delay_s)

    async def lesson(ws) -> None:
        client = _Client(ws, page, f"seed={i % 10}")
        out.load_s, errs = await client.rerun(timeout_s=timeout_s)
        out.errors += errs
        widget = client.find(slider)
        current = list(widget.value) and widget.options[int(widget.value[0])]
        for _ in range(moves):
            await asyncio.sleep(rng.uniform(*think_s))
            choice = rng.choice([v for v in values if v != current])
            seconds, errs = await client.rerun(widget.id, strings=[choice], timeout_s=timeout_s)
            out.reruns.append(seconds)
            out.values.append(choice)
            out.figures.append(client.figures if keep_figures else [])
            out.errors += errs
            current = choice

    return await _session(url, out, timeout_s, lesson)


async def trainer(
    url: str,
    stop: asyncio.Event,
    *,
    page: str = "compare",
    button: str = "Train a DDPM",
    seconds_slider: str = "Time limit",
    timeout_s: float = 120.0,
) -> Session:
    """One session that presses the compare page's live-training button and stays."""
    out = Session()

    async def train(ws) -> None:
        client = _Client(ws, page, "")
        out.load_s, errs = await client.rerun(timeout_s=timeout_s)
        out.errors += errs
        limit = client.find(seconds_slider)  # train as long as the page allows
        seconds, errs = await client.rerun(
            client.find(button).id,
            trigger=True,
            numbers={limit.id: limit.max},
            timeout_s=timeout_s,
        )
        out.reruns.append(seconds)
        out.errors += errs
        while not stop.is_set():  # the progress fragment keeps rerunning: drain it
            with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.5)

    return await _session(url, out, timeout_s, train)


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MiB, from /proc/<pid>/status."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise ValueError(f"no VmRSS for pid {pid}")


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))] if xs else float("nan")


async def classroom(
    urls: list[str],
    pids: list[int],
    n: int,
    *,
    moves: int = 10,
    think_s: tuple[float, float] = (1.0, 3.0),
    ramp_s: float = 5.0,
    train: bool = False,
    timeout_s: float = 120.0,
    detail: bool = False,
    **kw,
) -> dict:
    """N students spread over the servers (student i on server i % len(urls)), started
    over ``ramp_s`` seconds; the summary of what they saw and of the servers' memory
    (with ``detail``, also each Session under "sessions")."""
    base = sum(rss_mb(p) for p in pids)
    peak = [base]
    done = asyncio.Event()

    async def watch() -> None:
        while not done.is_set():
            with contextlib.suppress(OSError, ValueError):
                peak.append(sum(rss_mb(p) for p in pids))
            await asyncio.sleep(0.25)

    watcher = asyncio.create_task(watch())
    stop = asyncio.Event()
    coach = asyncio.create_task(trainer(urls[0], stop, timeout_s=timeout_s)) if train else None
    if coach is not None:
        await asyncio.sleep(3.0)  # training has started before the class moves
    t0 = time.perf_counter()
    sessions = await asyncio.gather(
        *(
            student(
                urls[i % len(urls)],
                i,
                moves=moves,
                think_s=think_s,
                delay_s=ramp_s * i / max(n, 1),
                timeout_s=timeout_s,
                **kw,
            )
            for i in range(n)
        )
    )
    wall = time.perf_counter() - t0
    after = sum(rss_mb(p) for p in pids)
    stop.set()
    coach_out = await coach if coach is not None else None
    done.set()
    await watcher
    reruns = [r for s in sessions for r in s.reruns]
    loads = [s.load_s for s in sessions if s.load_s is not None]
    errors = [e for s in sessions for e in s.errors]
    out = {
        "n": n,
        "processes": len(urls),
        "moves": moves,
        "wall_s": round(wall, 1),
        "reruns": len(reruns),
        "rerun_p50_s": round(percentile(reruns, 0.5), 3),
        "rerun_p95_s": round(percentile(reruns, 0.95), 3),
        "rerun_max_s": round(max(reruns, default=float("nan")), 3),
        "load_p50_s": round(percentile(loads, 0.5), 3),
        "load_p95_s": round(percentile(loads, 0.95), 3),
        "errors": len(errors),
        "dropped": sum(s.dropped for s in sessions),
        "error_kinds": sorted(set(errors))[:5],
        "rss_before_mb": round(base, 1),
        "rss_after_mb": round(after, 1),
        "rss_peak_mb": round(max(peak), 1),
        "mb_per_session": round((max(peak) - base) / max(n, 1), 2),  # an upper bound
    }
    if coach_out is not None:
        out["trainer_errors"] = coach_out.errors
        out["trainer_dropped"] = coach_out.dropped
    if detail:
        out["sessions"] = sessions
    return out


# ----- servers -----------------------------------------------------------------------------
@contextlib.contextmanager
def servers(count: int = 1, script: str = "app.py") -> Iterator[tuple[list[str], list[int]]]:
    """``count`` Streamlit servers of ``script`` on loopback: (urls, pids)."""
    from .app import streamlit_process

    with contextlib.ExitStack() as stack:
        # the app as ./dev app starts it (ui/serve.py: every page warm before "ready")
        serve = script == "app.py"
        procs = [
            stack.enter_context(streamlit_process(ROOT, timeout_s=240, script=script, serve=serve))
            for _ in range(count)
        ]
        yield [u for u, _ in procs], [p.pid for _, p in procs]


async def _warm(urls: list[str]) -> None:
    """One visit per server first, so the measured sessions see loaded models."""
    await asyncio.gather(*(student(u, 0, moves=0) for u in urls))


def measure(
    ns: list[int],
    processes: int = 1,
    train: bool = False,
    moves: int = 10,
    script: str = "app.py",
    **kw,
) -> list[dict]:
    """Each N in turn against the same server(s), started here."""
    results = []
    with servers(processes, script) as (urls, pids):
        asyncio.run(_warm(urls))
        for n in ns:
            results.append(asyncio.run(classroom(urls, pids, n, moves=moves, train=train, **kw)))
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    return results


def summary_line(r: dict) -> str:
    return (
        f"N={r['n']} p50 {r['rerun_p50_s']:.3f} s p95 {r['rerun_p95_s']:.3f} s "
        f"errors {r['errors']} dropped {r['dropped']}"
    )


def _row(label: str, r: dict) -> list[str]:
    return [
        label,
        str(r["n"]),
        f"{r['rerun_p50_s']:.2f}",
        f"{r['rerun_p95_s']:.2f}",
        f"{r['rerun_max_s']:.2f}",
        f"{r['load_p95_s']:.2f}",
        str(r["errors"]),
        str(r["dropped"]),
        f"{r['rss_peak_mb']:.0f}",
        f"{r['mb_per_session']:.1f}",
    ]


def _knee_line(k: int | None, ns: list[int], at: dict[int, dict]) -> str:
    head = "Knee (largest N with p95 <= 1 s and no error): "
    if k is None:
        return head + f"below {ns[0]}."
    if k == ns[-1]:
        return head + (
            f"beyond the largest N measured, {k} (p95 {at[k]['rerun_p95_s']:.2f} s there)."
        )
    return head + f"{k}."


def knee(results: list[dict], limit_s: float = 1.0) -> int | None:
    """The largest N whose p95 rerun stays within ``limit_s`` with no error."""
    ok = [
        r["n"]
        for r in results
        if r["rerun_p95_s"] <= limit_s and not r["errors"] and not r["dropped"]
    ]
    return max(ok) if ok else None


def run(quick: bool = False) -> str:
    """The classroom section of BENCHMARKS.md (Markdown)."""
    from .common import machine_info, md_table

    ns = [2, 5] if quick else [10, 20, 40, 80]
    two = ns[-2] if quick else 40
    busy = ns[0] if quick else 20
    moves = 3 if quick else 10
    load = os.getloadavg()
    one = measure(ns, 1, moves=moves)
    pair = measure([two], 2, moves=moves)[0]
    trained = measure([busy], 1, train=True, moves=moves)[0]
    at = {r["n"]: r for r in one}
    k = knee(one)
    target = at.get(40)
    head = [
        "case",
        "N",
        "p50 rerun (s)",
        "p95 rerun (s)",
        "max (s)",
        "p95 page load (s)",
        "errors",
        "dropped",
        "peak RSS (MiB)",
        "MiB per session",
    ]
    out = [
        f"Machine: {machine_info()}",
        "",
        f"Load average when the section started: {load[0]:.1f} (1 min), {load[1]:.1f} "
        "(5 min) on 2 cores.",
        "",
        "Each simulated student speaks Streamlit's websocket protocol "
        "(`diffusion/bench/loadtest.py`): opens the DDIM page (one of ten seeds in the "
        f"URL), then moves the steps slider {moves} times between 5, 10, 20 and 50 with "
        "1-3 s think time. Students start over 5 s. A rerun is timed from the widget "
        "change sent to the `script_finished` message: the server's whole rerun, "
        "figures serialised, no browser. Memory is the server's VmRSS; MiB per session = "
        "(peak RSS during the class - RSS before it) / N, an upper bound that includes the "
        "reruns' passing allocations (the glibc heap also hands memory back between runs, "
        "so RSS before a run can exceed RSS after it).",
        "",
        md_table(
            head,
            [_row("1 process", r) for r in one]
            + [
                _row("2 processes, sticky", pair),
                _row("1 process, one more session training live", trained),
            ],
        ),
        "",
        _knee_line(k, ns, at),
    ]
    if target is not None:
        out += [
            "",
            md_table(
                ["target at N = 40", "measured", "status"],
                [
                    [
                        "p95 rerun <= 1 s",
                        f"{target['rerun_p95_s']:.2f} s",
                        "met" if target["rerun_p95_s"] <= 1.0 else "not met",
                    ],
                    [
                        "0 errors, 0 dropped",
                        f"{target['errors']} / {target['dropped']}",
                        "met" if not target["errors"] and not target["dropped"] else "not met",
                    ],
                    ["memory per session", f"{target['mb_per_session']:.1f} MiB", "reported"],
                ],
            ),
        ]
    base = at.get(busy)
    if base is not None:
        out += [
            "",
            f"While one session trains live (compare page, 2-D DDPM), the other {busy} "
            f"see p95 {trained['rerun_p95_s']:.2f} s against {base['rerun_p95_s']:.2f} s "
            "without training.",
        ]
    out += [
        "",
        "Two processes: students are assigned to one of two servers each, as a "
        "reverse proxy with sticky sessions does (docs/deploy.md).",
    ]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, nargs="+", default=[10, 20, 40])
    p.add_argument("--processes", type=int, default=1, choices=[1, 2, 3, 4])
    p.add_argument("--moves", type=int, default=10)
    p.add_argument("--train", action="store_true")
    args = p.parse_args(argv)
    if any(n < 1 or n > 400 for n in args.n):
        p.error("--n: each between 1 and 400")
    out = measure(args.n, args.processes, args.train, args.moves)
    print(json.dumps({"load": os.getloadavg(), "results": out}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
