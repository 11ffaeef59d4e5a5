"""Results: the stored complexes, each ligand ranked among the others for one metal and type; the series,
heat map, substituent, selectivity and water-exchange figures."""
import streamlit as st

from app import figures
from app.refine import both_levels, refine_form, refine_jobs
from app.state import results_table, show_figure
from core.chemistry.complexes import COORDINATION_TYPES
from core.chemistry.constants import DEFAULT_PAIR, ENERGY_UNITS, LANTHANIDES, SERIES_ORDER, Y_NOTE, metal_label
from core.model.inference import NEW_GROUP, NEW_SCAFFOLD, model_domain_text, models_dir
from core.storage.records import OK
from core.levels import DEFAULT_LEVEL, LEVELS
from core.storage.results import LEVEL, MODEL_COLUMN, MODEL_DOMAIN, RANK, RANKED_OF, ROW_ID, levels_in, rank_ligands

MAX_PLOTTED_LIGANDS = 30

st.title("Results")
df = all_levels = results_table()
stored_levels = sorted(set(df[LEVEL].dropna()), key=lambda name: (name != DEFAULT_LEVEL.name, name))
if len(stored_levels) > 1:  # one level at a time: figures and ranks never mix levels
    chosen = st.selectbox("Level of theory", stored_levels, key="results_level",
                          help="DFT refinements (B3LYP-D4 single points on the screening geometries) are stored beside "
                               "the screening level; tables, ranks and figures show one level at a time.")
    df = df[df[LEVEL] == chosen]
st.caption(f"All energies {levels_in(df)}, {ENERGY_UNITS}. E_bind = E_complex − E_ion − Σ E_ligand; "
           "E_exchange is against [M(H₂O)₈]³⁺ and is the one to compare metals with (the bare-ion "
           "reference cancels). `rank` of `of`: the ligand's place among the stored ligands with the same metal, "
           "type and settings (1 = strongest); metals are never ranked against each other. Failed and "
           "QC-flagged complexes are listed with their reason, never ranked.")

if df.empty:
    st.info("No results yet. Screen a ligand first.")
    st.stop()

col1, col2, col3, col4 = st.columns([3, 2, 2, 2])
ligands = col1.multiselect("Ligands", sorted(df["ligand"].unique()), key="results_ligands")
metals = col2.multiselect("Metals", [m for m in SERIES_ORDER if m in set(df["metal"])], key="results_metals",
                          format_func=metal_label)
types = col3.multiselect("Coordination types", list(COORDINATION_TYPES), key="results_types")
rank_by = col4.radio("Rank ligands by", [figures.EXCH, figures.BIND], key="results_rank_by",
                     help="Within one metal and type both give the same order (they differ by a constant); "
                          "E_exchange is missing where the aqua ion failed.")
show_flagged = st.toggle("Show failed / QC-flagged", value=True, key="results_flagged")
df = rank_ligands(df, rank_by)
view = df
if ligands:
    view = view[view["ligand"].isin(ligands)]
if metals:
    view = view[view["metal"].isin(metals)]
if types:
    view = view[view["type"].isin(types)]
if not show_flagged:
    view = view[view["status"] == OK]

energy_format = {c: st.column_config.NumberColumn(c, format="%.1f") for c in view.columns if "kcal/mol" in c}
energy_format["reason"] = st.column_config.TextColumn("reason", width="large")
hidden = [ROW_ID] + ([MODEL_COLUMN, "model", MODEL_DOMAIN] if view[MODEL_COLUMN].isna().all() else [])
picked = st.dataframe(view.drop(columns=hidden).assign(metal=view["metal"].map(metal_label)), hide_index=True,
                      width="stretch", column_config=energy_format, key="results_table", on_select="rerun",
                      selection_mode="multi-row")
st.write(f"{len(view)} complexes; {int((view['status'] != OK).sum())} failed or QC-flagged.")
both_levels(view, all_levels)
if not (LEVELS.get(levels_in(view)) and LEVELS[levels_in(view)].is_dft):
    refine_form(view.iloc[list(picked.selection.rows)] if picked is not None else view.iloc[[]])
refine_jobs()
if (view["metal"] == "Y").any():
    st.caption(Y_NOTE)
if view["model"].astype(bool).any():
    st.caption(f"`{MODEL_COLUMN}`: the Allegro model's prediction (model in the `model` column), trained on "
               f"{levels_in(view)} labels, not DFT; ranks use the computed energies, never the model's.")
    for name in sorted({m.split("@")[0] for m in view["model"] if m}):
        st.caption(f"`{MODEL_DOMAIN}` for {name}: " + model_domain_text(models_dir() / name))
    if (view[MODEL_DOMAIN] == NEW_SCAFFOLD).any():
        st.warning("Some ligands are not one group on a scaffold the model was trained on (`new scaffold`): "
                   "their model predictions are extrapolations.")
    if (view[MODEL_DOMAIN] == NEW_GROUP).any():
        st.warning("Some ligands carry a group the model was never trained on (`new group`): expect the error "
                   "measured on held-out groups, not the test split's (see the caption above).")

if figures.passed(view).empty:
    st.stop()
present_types = [t for t in COORDINATION_TYPES if t in set(view["type"])]
present_metals = [m for m in SERIES_ORDER if m in set(view["metal"])]
lanthanides = [m for m in present_metals if m in LANTHANIDES] or present_metals


def _default(metal: str, fallback: int) -> int:
    """Index of ``metal`` in the menu, else of a lanthanide (never Y unless it is all there is)."""
    if metal in present_metals:
        return present_metals.index(metal)
    return present_metals.index(lanthanides[min(fallback, len(lanthanides) - 1)])


st.subheader("Ligands ranked for one metal and type")
c1, c2 = st.columns(2)
rmetal = c1.selectbox("Metal", present_metals, index=_default(DEFAULT_PAIR[0], 0), key="ranked_metal",
                      format_func=metal_label)
rtype = c2.selectbox("Type", present_types, key="ranked_type")  # 4L first: the fully ligated complex
board = figures.passed(view[(view["metal"] == rmetal) & (view["type"] == rtype)]).sort_values(RANK)
other = figures.BIND if rank_by == figures.EXCH else figures.EXCH
st.dataframe(board[[RANK, RANKED_OF, "ligand", rank_by, other, "scaffold", "substituent", "smiles"]],
             hide_index=True, width="stretch", key="ranked_board",
             column_config={c: st.column_config.NumberColumn(c, format="%.1f") for c in (figures.BIND, figures.EXCH)})
st.caption(f"By {rank_by} for {metal_label(rmetal)}, {rtype}: each rank is among all stored ligands of this metal "
           "and type; the filters above only choose which are shown.")

n_ligands = view["ligand"].nunique()
if n_ligands > MAX_PLOTTED_LIGANDS:  # one trace per ligand: thousands of traces freeze the browser
    st.info(f"{n_ligands} ligands in the table: choose up to {MAX_PLOTTED_LIGANDS} under Ligands to plot them.")
    st.stop()
energy = st.radio("Energy in the figures", [figures.EXCH, figures.BIND], horizontal=True, key="results_energy",
                  help="E_exchange compares metals; E_bind only compares ligands for one metal.")
if energy == figures.BIND:
    st.caption("E_bind across metals carries the bare-ion solvation error of the implicit solvent: read the "
               "series and heat map along ligands for one metal, not along the series.")
series, heat, ranking, select, water = st.tabs(["Series", "Heat map", "Substituents", "Selectivity",
                                                "Water exchange"])
with series:
    show_figure(figures.series_plot(view, energy), "series")
with heat:
    ctype = st.selectbox("Type", present_types, key="heat_type")
    show_figure(figures.heatmap(view, ctype, energy), "heatmap")
with ranking:
    c1, c2, c3 = st.columns(3)
    scaffolds = sorted(s for s in view["scaffold"].unique() if s)
    if scaffolds:
        metal = c1.selectbox("Metal", present_metals, index=_default(DEFAULT_PAIR[0], 0), key="rank_metal",
                             format_func=metal_label)
        scaffold = c2.selectbox("Scaffold", scaffolds, key="rank_scaffold")
        stype_r = c3.selectbox("Type", present_types, key="rank_type")
        show_figure(figures.substituent_ranking(view, metal, scaffold, stype_r, energy), "substituents")
        st.caption("Pasted and drawn ligands built on a library scaffold are included (recognised by "
                   "substructure match).")
    else:
        st.info("Substituent ranking needs ligands built on a library scaffold.")
with select:
    c1, c2, c3 = st.columns(3)
    metal_a = c1.selectbox("Metal A", present_metals, index=_default(DEFAULT_PAIR[0], 0), key="sel_a",
                           format_func=metal_label)
    metal_b = c2.selectbox("Metal B", present_metals, index=_default(DEFAULT_PAIR[1], len(lanthanides) - 1),
                           key="sel_b", format_func=metal_label)
    stype = c3.selectbox("Type", present_types, key="sel_type")
    st.caption("Selectivity uses the exchange energy by default: E_bind differences between metals carry the "
               "bare-ion reference error of the implicit solvent.")
    show_figure(figures.selectivity_plot(view, metal_a, metal_b, stype, energy), "selectivity")
    st.dataframe(figures.selectivity_table(view, metal_a, metal_b, stype, energy), hide_index=True,
                 column_config={c: st.column_config.NumberColumn(c, format="%.1f")
                                for c in (metal_a, metal_b, "selectivity (kcal/mol)")})
with water:
    names = view.drop_duplicates("smiles").set_index("smiles")["ligand"].to_dict()
    choice = st.selectbox("Ligand", sorted(names, key=names.get), format_func=names.get, key="water_ligand")
    table = figures.water_exchange_table(view, choice)
    if table.empty:
        st.info("Needs at least two coordination types of this ligand.")
    else:
        show_figure(figures.water_exchange_plot(view, choice), "water_exchange")
