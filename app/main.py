"""reescreen app entry point: `streamlit run app/main.py`."""
from pathlib import Path

import streamlit as st

from app.state import PLOT_FORMAT_KEY, PLOT_FORMATS, owner_token, restore_from_url, sync_url
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
    st.Page(PAGES / "compare.py", title="Compare"),
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
st.sidebar.caption(f"Screening energies: {DEFAULT_LEVEL.name}, {ENERGY_UNITS}" + ("" if DEFAULT_LEVEL.is_dft else
                   ", not DFT. DFT refinements (Results page) carry their own level, B3LYP-D4/…"))
st.sidebar.radio("Plot downloads", PLOT_FORMATS, format_func=str.upper, horizontal=True, key=PLOT_FORMAT_KEY,
                 help="The camera button in each plot's toolbar saves it in this format.")
restore_from_url()
owner_token()
sync_url()
navigation.run()
