"""Streamlit glue for the teaching app: URL state, lecturer mode, caching and live
training jobs. The maths lives in the ``diffusion`` package; pages call in here."""
