"""Structure: 3D view of any stored complex, metal and donor atoms emphasised, XYZ download."""
import streamlit as st
import streamlit.components.v1 as components

from app.assets import has_3dmol
from app.state import get_store
from app.viewer import STYLES, complex_view_html, donor_atoms
from core.constants import ENERGY_UNITS, LEVEL_OF_THEORY
from core.store import extxyz_text

st.title("Structure")
store = get_store()
df = store.results_frame()
if df.empty:
    st.info("No complexes stored yet.")
    st.stop()

labels = {int(r.row_id): f"{r.ligand} · {r.metal} · {r.type} · {r.status}" for r in df.itertuples()}
row_id = st.selectbox("Complex", list(labels), format_func=labels.get, key="structure_row")
style = st.radio("Style", list(STYLES), index=1, horizontal=True, key="structure_style")
frame = store.frames_for_rows([row_id])[0]
row = df[df["row_id"] == row_id].iloc[0]

left, right = st.columns([3, 1])
with left:
    if has_3dmol():
        components.html(complex_view_html(frame, style), height=540)
    else:
        st.warning("The 3D viewer's library is not installed: run `python -m app.assets` once.")
with right:
    st.metric("Metal", row["metal"])
    st.metric("Charge", f"{int(row['charge']):+d}")
    if row["status"] == "ok":
        st.metric(f"E_bind ({ENERGY_UNITS})", f"{row['E_bind (kcal/mol)']:.1f}")
    else:
        st.error(f"{row['status']}: {row['reason']}")
    st.caption(f"{LEVEL_OF_THEORY}; green: metal, red: the {len(donor_atoms(frame))} donor atoms")
    st.download_button("Download XYZ", extxyz_text([frame]), key="structure_xyz",
                       file_name=f"{row['ligand']}-{row['metal']}-{row['type']}.xyz".replace("/", "_"))
