"""Structure: 3D view of any stored complex, metal and donor atoms emphasised, XYZ download."""
import streamlit as st
import streamlit.components.v1 as components

from app.assets import has_3dmol
from app.state import get_store, results_table
from app.viewer import STYLES, complex_view_html, donor_atoms
from core.chemistry.constants import ENERGY_UNITS, REE_METALS
from core.storage.records import OK
from core.storage.results import E_BIND, ROW_ID, extxyz_text, structure

st.title("Structure")
df = results_table()
if df.empty:
    st.info("No complexes stored yet.")
    st.stop()

# Ligand first, then its complexes: a store can hold a library's worth of complexes.
c1, c2 = st.columns([2, 3])
ligand = c1.selectbox("Ligand", sorted(df["ligand"].unique()), key="structure_ligand")
rows = df[df["ligand"] == ligand].copy()
rows["metal_order"] = rows["metal"].map({m: i for i, m in enumerate(REE_METALS)})
rows = rows.sort_values(["type", "metal_order", "settings"])
labels = {int(r.row_id): f"{r.metal} · {r.type} · {r.status} · {r.settings}" for r in rows.itertuples()}
row_id = c2.selectbox("Complex", list(labels), format_func=labels.get, key="structure_row")
style = st.radio("Style", list(STYLES), index=1, horizontal=True, key="structure_style")
frame = structure(get_store(), row_id)
row = rows[rows[ROW_ID] == row_id].iloc[0]

left, right = st.columns([3, 1])
with left:
    if has_3dmol():
        components.html(complex_view_html(frame, style), height=540)
    else:
        st.warning("The 3D viewer's library is not installed: run `python -m app.assets` once.")
with right:
    st.metric("Metal", row["metal"])
    st.metric("Charge", f"{int(row['charge']):+d}")
    if row["status"] == OK:
        st.metric(f"E_bind ({ENERGY_UNITS})", f"{row[E_BIND]:.1f}")
    else:
        st.error(f"{row['status']}: {row['reason']}")
    st.caption(f"{frame.info['level_of_theory']}; green: metal, red: the {len(donor_atoms(frame))} donor atoms")
    st.download_button("Download XYZ", extxyz_text([frame]), key="structure_xyz",
                       file_name=f"{row['ligand']}-{row['metal']}-{row['type']}.xyz".replace("/", "_"))
