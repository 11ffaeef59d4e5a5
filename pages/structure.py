"""Structure: 3D view of any stored complex (metal gold, donors magenta), metal–donor distances, atom labels
on demand, PNG and XYZ downloads."""
import streamlit as st
import streamlit.components.v1 as components

from app.assets import has_3dmol
from app.state import current_ligand, get_store, results_table
from app.viewer import DONOR_COLOUR, METAL_COLOUR, STYLES, complex_view_html, metal_donor_table
from core.chemistry.constants import ENERGY_UNITS, Y_NOTE, metal_label, series_position
from core.storage.records import OK
from core.storage.results import E_BIND, E_EXCHANGE, ROW_ID, extxyz_text, structure

st.title("Structure")
df = results_table()
if df.empty:
    st.info("No complexes stored yet.")
    st.stop()

# Ligand first, then its complexes: a store can hold a library's worth of complexes.
c1, c2 = st.columns([2, 3])
names = sorted(df["ligand"].unique())
mine = current_ligand()
start = names.index(mine.name) if mine is not None and mine.name in names else 0
ligand = c1.selectbox("Ligand", names, index=start, key="structure_ligand")
rows = df[df["ligand"] == ligand].copy()
rows["metal_order"] = rows["metal"].map(series_position)
rows = rows.sort_values(["type", "metal_order", "settings"])
labels = {int(r.row_id): f"{metal_label(r.metal)} · {r.type} · {r.status} · {r.settings}" for r in rows.itertuples()}
row_id = c2.selectbox("Complex", list(labels), format_func=labels.get, key="structure_row")
s1, s2 = st.columns([3, 1])
style = s1.radio("Style", list(STYLES), index=1, horizontal=True, key="structure_style")
show_labels = s2.toggle("Atom labels", key="structure_labels", help="Element and index of the metal, the donors "
                        "and every heteroatom")
row = rows[rows[ROW_ID] == row_id].iloc[0]

left, right = st.columns([3, 1])
with left:
    with st.spinner("Loading the structure…"):
        frame = structure(get_store(), row_id)
        name = f"{row['ligand']}-{row['metal']}-{row['type']}".replace("/", "_").replace(" ", "_")
        if has_3dmol():
            components.html(complex_view_html(frame, style, labels=show_labels, png_name=f"{name}.png"), height=580)
        else:
            st.warning("The 3D viewer's library is not installed: run `python -m app.assets` once.")
with right:
    st.metric("Metal", metal_label(row["metal"]))
    st.metric("Charge", f"{int(row['charge']):+d}")
    if row["status"] == OK:
        st.metric(f"E_bind ({ENERGY_UNITS})", f"{row[E_BIND]:.1f}")
        if row[E_EXCHANGE] == row[E_EXCHANGE]:  # not NaN
            st.metric(f"E_exchange ({ENERGY_UNITS})", f"{row[E_EXCHANGE]:.1f}")
    else:
        st.error(f"{row['status']}: {row['reason']}")
    st.markdown(f"<span style='color:{METAL_COLOUR}'>●</span> metal &nbsp; "
                f"<span style='color:{DONOR_COLOUR}'>●</span> donor atoms", unsafe_allow_html=True)
    st.caption(f"{frame.info['level_of_theory']}; built by {row['route']}")
    if row["metal"] == "Y":
        st.caption(Y_NOTE)
    st.download_button("Download XYZ", extxyz_text([frame]), key="structure_xyz", file_name=f"{name}.xyz")

distances = metal_donor_table(frame)
st.subheader(f"{row['metal']}–donor distances")
st.dataframe(distances, hide_index=True, key="structure_distances",
             column_config={c: st.column_config.NumberColumn(c, format="%.3f") for c in distances.columns if "Å" in c})
