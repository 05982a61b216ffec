"""The server's figure memo (ui/figures.py): equal inputs by value give the figure
built before, other inputs a new one, and the memo stays bounded."""

from __future__ import annotations

import numpy as np
import pytest

from diffusion import figures as library
from ui import figures


@pytest.fixture(autouse=True)
def _empty_memo():
    figures._memo.clear()
    yield
    figures._memo.clear()


def _points(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(50, 2)).astype(np.float32)


def test_equal_inputs_by_value_return_the_figure_built_before():
    a = figures.samples_grid({"DDIM": _points(0)}, data=_points(1), lecture=False)
    b = figures.samples_grid({"DDIM": _points(0).copy()}, data=_points(1), lecture=False)
    assert b is a
    assert (
        a.to_json()
        == library.samples_grid({"DDIM": _points(0)}, data=_points(1), lecture=False).to_json()
    )


@pytest.mark.parametrize(
    "other",
    [
        {"panels": {"DDIM": _points(2)}},  # other samples
        {"panels": {"DDIM ": _points(0)}},  # another title
        {"panels": {"DDIM": _points(0)}, "lecture": True},
        {"panels": {"DDIM": _points(0).astype(np.float64)}},  # same values, other dtype
    ],
)
def test_other_inputs_build_another_figure(other):
    base = figures.samples_grid({"DDIM": _points(0)}, data=_points(1))
    fig = figures.samples_grid(other.pop("panels"), data=_points(1), **other)
    assert fig is not base


def test_the_fingerprint_tells_containers_and_types_apart():
    assert figures.fingerprint([1]) != figures.fingerprint((1,))
    assert figures.fingerprint("1") != figures.fingerprint(1)
    assert figures.fingerprint({"a": 1, "b": 2}) != figures.fingerprint({"b": 2, "a": 1})
    with pytest.raises(TypeError, match="cannot fingerprint"):
        figures.fingerprint(object())


def test_the_memo_is_bounded_and_drops_the_oldest(monkeypatch):
    monkeypatch.setattr(figures, "MAX_FIGURES", 3)
    built = [
        figures.quality_curves({"ddim": ([1, 2], [float(i), 1.0])}, metric="W2") for i in range(4)
    ]
    assert len(figures._memo) == 3
    # the first is gone (rebuilt: a new object), the last is still there
    assert figures.quality_curves({"ddim": ([1, 2], [0.0, 1.0])}, metric="W2") is not built[0]
    assert figures.quality_curves({"ddim": ([1, 2], [3.0, 1.0])}, metric="W2") is built[3]
