"""Results: ranked, filterable table of stored complexes and the lanthanide-series plot."""
import plotly.express as px
import streamlit as st

from app.state import get_store
from core.complexes import COORDINATION_TYPES
from core.constants import ENERGY_UNITS, LEVEL_OF_THEORY, REE_METALS

st.title("Results")
st.caption(f"All energies {LEVEL_OF_THEORY}, {ENERGY_UNITS}. E_bind = E_complex − E_ion − Σ E_ligand; "
           "E_exchange is against [M(H₂O)₈]³⁺ and is the one to compare metals with (the bare-ion "
           "reference cancels). Failed and QC-flagged complexes are listed with their reason, never ranked.")

df = get_store().results_frame()
if df.empty:
    st.info("No results yet. Screen a ligand first (CLI: `reescreen screen ...`).")
    st.stop()

col1, col2, col3 = st.columns(3)
ligands = col1.multiselect("Ligands", sorted(df["ligand"].unique()), key="results_ligands")
types = col2.multiselect("Coordination types", list(COORDINATION_TYPES), key="results_types")
show_flagged = col3.toggle("Show failed / QC-flagged", value=True, key="results_flagged")
view = df
if ligands:
    view = view[view["ligand"].isin(ligands)]
if types:
    view = view[view["type"].isin(types)]
if not show_flagged:
    view = view[view["status"] == "ok"]

energy_format = {c: st.column_config.NumberColumn(c, format="%.1f") for c in view.columns if "kcal/mol" in c}
st.dataframe(view.drop(columns=["row_id"]), hide_index=True, width="stretch", column_config=energy_format)
st.write(f"{len(view)} complexes; {int((view['status'] != 'ok').sum())} failed or QC-flagged.")

ok = view[(view["status"] == "ok") & view["E_exchange (kcal/mol)"].notna()].copy()
if not ok.empty:
    ok["metal"] = ok["metal"].astype(str)
    energy = st.radio("Energy", ["E_exchange (kcal/mol)", "E_bind (kcal/mol)"], horizontal=True,
                      key="results_energy")
    fig = px.line(ok, x="metal", y=energy, color="ligand", line_dash="type", markers=True,
                  category_orders={"metal": list(REE_METALS)},
                  title=f"Across the rare-earth series ({LEVEL_OF_THEORY})")
    st.plotly_chart(fig, width="stretch")
