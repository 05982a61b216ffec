"""Expanders whose content reaches the browser only while they are open.

A closed ``st.expander`` still sends its content, and the browser still renders it: the
code blocks under the figures load Streamlit's syntax highlighter (1.5 MB of script,
about 200 ms of a fresh tab's main thread on the 2-core class machine), and every deep
dive, answer and table adds its markdown and formulas to each rerun. A fold sends its
content only once a student opens it (the expander is a widget that reruns the script,
a cached rerun of about 25 ms) and keeps it while it stays open.
"""

from __future__ import annotations

import hashlib

import streamlit as st

__all__ = ["fold_key", "folded"]


def fold_key(key: str) -> str:
    """The widget key of the fold named ``key`` (its open state in session_state)."""
    return "fold." + hashlib.sha1(key.encode()).hexdigest()[:12]


def folded(title: str, key: str, *, expanded: bool = False):
    """An expander with ``title`` that returns its container while open, else None:

        box = folded("Show the code", "code.ddim-samples")
        if box:
            with box:
                st.code(...)

    ``key`` names it among the page's folds (a title may repeat, as "Answer" does)."""
    box = st.expander(title, expanded=expanded, key=fold_key(key), on_change="rerun")
    return box if box.open else None
