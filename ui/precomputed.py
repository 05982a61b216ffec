"""The shipped curves (assets/curves/, see diffusion/precomputed.py) for the pages.

A page draws the shipped curve on first view, with no computation, and keeps a
"recompute live" control for other settings. Reading a file takes milliseconds; the
result is shared by every session.
"""

from __future__ import annotations

import streamlit as st

from diffusion import precomputed


@st.cache_data(max_entries=16, show_spinner=False)
def curve(name: str) -> dict | None:
    """The shipped curve ``name``, or None when it is missing or damaged."""
    try:
        return precomputed.load(name)
    except (OSError, ValueError):
        return None


@st.cache_data(max_entries=1, ttl=3600, show_spinner=False)
def _stale() -> dict[str, str]:
    return precomputed.stale()


def caption(name: str) -> str:
    """One line under a shipped figure: where it comes from and whether it is current."""
    entry = precomputed.read_manifest()["curves"].get(name, {})
    note = (f"Shipped with the app (`{entry.get('command', 'scripts/precompute_curves.py')}`, "
            f"seed {entry.get('seed', precomputed.SEED)}, code version "
            f"{entry.get('code_version', '?')}).")
    if name in _stale():
        note += " The code has changed since: recompute live, or rerun the script."
    return note
