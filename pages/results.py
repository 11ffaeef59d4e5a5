"""Results: ranked, filterable table of stored complexes and the figures."""
import streamlit as st

from app import figures
from app.state import results_table
from core.chemistry.complexes import COORDINATION_TYPES
from core.chemistry.constants import ENERGY_UNITS, REE_METALS
from core.model.inference import NEW_SCAFFOLD, model_domain_text, models_dir
from core.storage.records import OK
from core.storage.results import MODEL_COLUMN, MODEL_DOMAIN, ROW_ID, levels_in

MAX_PLOTTED_LIGANDS = 30

st.title("Results")
df = results_table()
st.caption(f"All energies {levels_in(df)}, {ENERGY_UNITS}. E_bind = E_complex − E_ion − Σ E_ligand; "
           "E_exchange is against [M(H₂O)₈]³⁺ and is the one to compare metals with (the bare-ion "
           "reference cancels). Failed and QC-flagged complexes are listed with their reason, never ranked.")

if df.empty:
    st.info("No results yet. Screen a ligand first.")
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
    view = view[view["status"] == OK]

energy_format = {c: st.column_config.NumberColumn(c, format="%.1f") for c in view.columns if "kcal/mol" in c}
hidden = [ROW_ID] + ([MODEL_COLUMN, "model", MODEL_DOMAIN] if view[MODEL_COLUMN].isna().all() else [])
st.dataframe(view.drop(columns=hidden), hide_index=True, width="stretch", column_config=energy_format)
st.write(f"{len(view)} complexes; {int((view['status'] != OK).sum())} failed or QC-flagged.")
if view["model"].astype(bool).any():
    st.caption(f"`{MODEL_COLUMN}`: the Allegro model's prediction (model in the `model` column), trained on "
               f"{levels_in(view)} labels, not DFT; ranks use the computed E_bind.")
    for name in sorted({m.split("@")[0] for m in view["model"] if m}):
        st.caption(f"`{MODEL_DOMAIN}` for {name}: " + model_domain_text(models_dir() / name))
    if (view[MODEL_DOMAIN] == NEW_SCAFFOLD).any():
        st.warning("Some ligands are not C3 variants of a scaffold the model was trained on (`new scaffold`): "
                   "their model predictions are extrapolations.")

if figures.passed(view).empty:
    st.stop()
n_ligands = view["ligand"].nunique()
if n_ligands > MAX_PLOTTED_LIGANDS:  # one trace per ligand: thousands of traces freeze the browser
    st.info(f"{n_ligands} ligands in the table: choose up to {MAX_PLOTTED_LIGANDS} under Ligands to plot them.")
    st.stop()
energy = st.radio("Energy", [figures.EXCH, figures.BIND], horizontal=True, key="results_energy")
present_types = [t for t in COORDINATION_TYPES if t in set(view["type"])]
present_metals = [m for m in REE_METALS if m in set(view["metal"])]
series, heat, ranking, select, water = st.tabs(["Series", "Heat map", "Substituents", "Selectivity",
                                                "Water exchange"])
with series:
    st.plotly_chart(figures.series_plot(view, energy), width="stretch")
with heat:
    ctype = st.selectbox("Type", present_types, key="heat_type")
    st.plotly_chart(figures.heatmap(view, ctype, energy), width="stretch")
with ranking:
    c1, c2, c3 = st.columns(3)
    scaffolds = sorted(s for s in view["scaffold"].unique() if s)
    if scaffolds:
        metal = c1.selectbox("Metal", present_metals, key="rank_metal")
        scaffold = c2.selectbox("Scaffold", scaffolds, key="rank_scaffold")
        rtype = c3.selectbox("Type", present_types, key="rank_type")
        st.plotly_chart(figures.substituent_ranking(view, metal, scaffold, rtype, energy), width="stretch")
    else:
        st.info("Substituent ranking needs library ligands (scaffold + substituent).")
with select:
    c1, c2, c3 = st.columns(3)
    metal_a = c1.selectbox("Metal A", present_metals, key="sel_a")
    metal_b = c2.selectbox("Metal B", present_metals, index=len(present_metals) - 1, key="sel_b")
    stype = c3.selectbox("Type", present_types, key="sel_type")
    st.caption("Selectivity uses the exchange energy by default: E_bind differences between metals carry the "
               "bare-ion reference error of the implicit solvent.")
    st.plotly_chart(figures.selectivity_plot(view, metal_a, metal_b, stype, energy), width="stretch")
    st.dataframe(figures.selectivity_table(view, metal_a, metal_b, stype, energy), hide_index=True)
with water:
    choice = st.selectbox("Ligand", sorted(view["smiles"].unique()), key="water_ligand")
    table = figures.water_exchange_table(view, choice)
    if table.empty:
        st.info("Needs at least two coordination types of this ligand.")
    else:
        st.plotly_chart(figures.water_exchange_plot(view, choice), width="stretch")
