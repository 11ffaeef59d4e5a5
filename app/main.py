"""reescreen app entry point: `streamlit run app/main.py`."""
from pathlib import Path

import streamlit as st

from core.constants import ENERGY_UNITS, LEVEL_OF_THEORY

PAGES = Path(__file__).resolve().parents[1] / "pages"

st.set_page_config(page_title="reescreen", page_icon="⚗️", layout="wide")
navigation = st.navigation([
    st.Page(PAGES / "design.py", title="Design", default=True),
    st.Page(PAGES / "screen.py", title="Screen"),
    st.Page(PAGES / "library.py", title="Library"),
    st.Page(PAGES / "results.py", title="Results"),
    st.Page(PAGES / "structure.py", title="Structure"),
    st.Page(PAGES / "export.py", title="Export"),
    st.Page(PAGES / "model.py", title="Model"),
])
st.sidebar.caption(f"Energies: {LEVEL_OF_THEORY}, {ENERGY_UNITS}. Not DFT.")
navigation.run()
