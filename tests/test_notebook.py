"""The take-home notebook runs end to end from a fresh kernel, and is stored clean.

notebooks/accelerated_sampling.ipynb is executed cell by cell with nbclient in a new
kernel of this interpreter; any cell that raises fails the test with the cell's error.
Its run time is in BENCHMARKS.md ("Notebook"), not asserted here.
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat  # the test extras install these three; a missing one is an error
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "accelerated_sampling.ipynb"


def _load():
    return nbformat.read(NOTEBOOK, as_version=4)


def test_notebook_is_stored_without_outputs():
    nb = _load()
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "the notebook has no code cells"
    for cell in code:
        assert cell.outputs == [], cell.source[:60]
        assert cell.execution_count is None, cell.source[:60]


def test_notebook_sections_each_end_with_an_exercise():
    nb = _load()
    text = [c.source for c in nb.cells if c.cell_type == "markdown"]
    sections = [t for t in text if t.startswith("## ")]
    assert [s.split("\n")[0][3:5] for s in sections] == [f"{i}." for i in range(1, 8)]
    assert sum("**Exercise" in t for t in text) >= len(sections)


def test_notebook_runs_from_a_fresh_kernel(tmp_path):
    nb = _load()
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    start = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as err:
        pytest.fail(f"a notebook cell failed: {err}")
    seconds = time.perf_counter() - start
    figures = sum(
        1
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "image/png" in o.get("data", {})
    )
    assert figures >= 8, f"only {figures} figures were drawn"
    print(f"notebook ran in {seconds:.1f} s")
