"""reescreen app entry point: `streamlit run app/main.py`."""
from pathlib import Path

import streamlit as st

from core.chemistry.constants import ENERGY_UNITS
from core.levels import DEFAULT_LEVEL
from core.storage.store import StoreError, check_store_path, default_db_path

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
try:
    check_store_path(default_db_path())
except StoreError as exc:  # a folder, a damaged or foreign file: say so, touch nothing, run no page
    st.error(f"The result store cannot be used: {exc}. Set REESCREEN_DB to a reescreen store or a new file "
             "name and restart the app.")
    st.stop()
st.sidebar.caption(f"Energies: {DEFAULT_LEVEL.name}, {ENERGY_UNITS}" + ("" if DEFAULT_LEVEL.is_dft else ". Not DFT."))
navigation.run()
