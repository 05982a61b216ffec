"""The app benchmark's peer: a bare Streamlit page with one slider. Its render and
slider times, measured in the same run, are the floor that the framework and the
browser set on the machine (see diffusion/bench/app.py)."""

import streamlit as st

st.title("Peer")
with st.sidebar:
    steps = st.select_slider("Steps", [1, 2, 5, 10, 12, 20, 50, 100], value=10)
st.write(f"steps = {steps}")
