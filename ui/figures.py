"""The figure builders of ``diffusion.figures``, memoised for the server.

Building a plotly figure is the largest share of a cached rerun: plotly validates every
property as it is set (about 11 ms for a 2,000-point samples panel on the 2-core class
machine), while serialising the built figure takes well under a millisecond. A page
reruns from the top on every widget change, so without a memo each figure on it is
rebuilt from the same inputs again and again. Pages call these builders exactly as the
library's (``from ui import figures``); a call whose arguments (arrays by content) match
an earlier one returns the figure built then.

The memo is one bounded LRU per server process, shared by every session, and the
figures in it are read-only: a page shows them (``ui.layout.show``) and never changes
them. Code that edits a figure after building it (the presenter's slides) uses
``diffusion.figures`` directly.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import plotly.graph_objects as go

from diffusion import figures as _library

__all__ = [
    "MAX_FIGURES",
    "consistency_property",
    "error_vs_nfe",
    "fingerprint",
    "heun_step",
    "quality_curves",
    "samples_grid",
    "schedule_timesteps",
    "trajectory_animation",
    "two_steps_vs_one",
]

MAX_FIGURES = 96
"""Figures kept per server process (a few MB: the largest, with its density images,
is about 200 kB)."""

_memo: OrderedDict[tuple, go.Figure] = OrderedDict()
_lock = threading.Lock()


def _feed(h, obj) -> None:
    """Feed ``obj`` into the hash ``h``, with a type tag so that [1] and (1,) or "1"
    and 1 differ. TypeError for a value that has no content-based identity here."""
    if isinstance(obj, np.ndarray):
        a = np.ascontiguousarray(obj)
        h.update(f"nd{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    elif hasattr(obj, "detach") and hasattr(obj, "numpy"):  # a torch tensor
        _feed(h, obj.detach().cpu().numpy())
    elif isinstance(obj, dict):
        h.update(b"{")
        for k, v in obj.items():  # in order: a figure's legend follows it
            _feed(h, k)
            _feed(h, v)
        h.update(b"}")
    elif isinstance(obj, list | tuple):
        h.update(b"[" if isinstance(obj, list) else b"(")
        for v in obj:
            _feed(h, v)
        h.update(b"]")
    elif obj is None or isinstance(obj, bool | int | float | str | np.generic):
        h.update(f"{type(obj).__name__}:{obj!r};".encode())
    else:
        raise TypeError(f"cannot fingerprint a {type(obj).__name__}")


def fingerprint(*args, **kwargs) -> str:
    """A digest of the arguments by value: equal inputs, equal digest."""
    h = hashlib.blake2b(digest_size=20)
    _feed(h, args)
    _feed(h, sorted(kwargs.items()))
    return h.hexdigest()


def _memoised(builder: Callable[..., go.Figure]) -> Callable[..., go.Figure]:
    @functools.wraps(builder)
    def build(*args, **kwargs) -> go.Figure:
        try:
            key = (builder.__name__, fingerprint(*args, **kwargs))
        except TypeError:
            return builder(*args, **kwargs)
        with _lock:
            fig = _memo.get(key)
            if fig is not None:
                _memo.move_to_end(key)
                return fig
        fig = builder(*args, **kwargs)  # outside the lock: other sessions go on meanwhile
        with _lock:
            _memo[key] = fig
            while len(_memo) > MAX_FIGURES:
                _memo.popitem(last=False)
        return fig

    return build


consistency_property = _memoised(_library.consistency_property)
error_vs_nfe = _memoised(_library.error_vs_nfe)
heun_step = _memoised(_library.heun_step)
quality_curves = _memoised(_library.quality_curves)
samples_grid = _memoised(_library.samples_grid)
schedule_timesteps = _memoised(_library.schedule_timesteps)
trajectory_animation = _memoised(_library.trajectory_animation)
two_steps_vs_one = _memoised(_library.two_steps_vs_one)
