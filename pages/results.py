"""Results: ranked, filterable table of stored complexes and the figures."""
import streamlit as st

from app import figures
from app.state import get_store
from core.complexes import COORDINATION_TYPES
from core.constants import ENERGY_UNITS, LEVEL_OF_THEORY, REE_METALS
from core.model import (NEW_SCAFFOLD, domain_mae, domain_neighbour_mae, models_dir,
                        new_scaffold_error_is_mostly_offset, read_metrics)
from core.store import MODEL_COLUMN

st.title("Results")
st.caption(f"All energies {LEVEL_OF_THEORY}, {ENERGY_UNITS}. E_bind = E_complex − E_ion − Σ E_ligand; "
           "E_exchange is against [M(H₂O)₈]³⁺ and is the one to compare metals with (the bare-ion "
           "reference cancels). Failed and QC-flagged complexes are listed with their reason, never ranked.")

df = get_store().results_frame()
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
    view = view[view["status"] == "ok"]

energy_format = {c: st.column_config.NumberColumn(c, format="%.1f") for c in view.columns if "kcal/mol" in c}
hidden = ["row_id"] + ([MODEL_COLUMN, "model", "model domain"] if view[MODEL_COLUMN].isna().all() else [])
st.dataframe(view.drop(columns=hidden), hide_index=True, width="stretch", column_config=energy_format)
st.write(f"{len(view)} complexes; {int((view['status'] != 'ok').sum())} failed or QC-flagged.")
if view["model"].astype(bool).any():
    st.caption("`E_bind model (kcal/mol)`: the Allegro model's prediction (model in the `model` column), trained on "
               "GFN2-xTB/ALPB(water) labels, not DFT; ranks use the xTB E_bind.")
    for name in sorted({m.split("@")[0] for m in view["model"] if m}):
        mae, neighbours = domain_mae(models_dir() / name), domain_neighbour_mae(models_dir() / name)
        if mae:
            st.caption(f"`model domain` for {name}: measured E_bind MAE against xTB "
                       + "; ".join(f"{domain} {value:.1f} kcal/mol" for domain, value in mae.items())
                       + " (test split; out-of-sample HDEV scaffold)"
                       + ("; differences between neighbouring lanthanides for one ligand: "
                          + "; ".join(f"{domain} {value:.1f} kcal/mol" for domain, value in neighbours.items())
                          if neighbours else "")
                       + (". On a new scaffold its error is mostly an offset per ligand, so its ranking of metals "
                          "is more reliable than its ranking of ligands: check the latter with xTB."
                          if new_scaffold_error_is_mostly_offset(read_metrics(models_dir() / name))
                          else ". Check predictions for new scaffolds with xTB."))
    if (view["model domain"] == NEW_SCAFFOLD).any():
        st.warning("Some ligands are not C3 variants of a scaffold the model was trained on (`new scaffold`): "
                   "their model predictions are extrapolations.")

if figures.passed(view).empty:
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
               "bare-ion reference error of ALPB.")
    st.plotly_chart(figures.selectivity_plot(view, metal_a, metal_b, stype, energy), width="stretch")
    st.dataframe(figures.selectivity_table(view, metal_a, metal_b, stype, energy), hide_index=True)
with water:
    choice = st.selectbox("Ligand", sorted(view["smiles"].unique()), key="water_ligand")
    table = figures.water_exchange_table(view, choice)
    if table.empty:
        st.info("Needs at least two coordination types of this ligand.")
    else:
        st.plotly_chart(figures.water_exchange_plot(view, choice), width="stretch")
