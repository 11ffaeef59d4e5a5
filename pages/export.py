"""Export: pick rows (or the top N ligands per metal and type) and download a CSV shortlist with its metadata,
extended XYZ, or a one-ligand HTML report."""
import streamlit as st

from app.state import current_ligand, get_store, results_table
from core.chemistry.constants import ENERGY_UNITS
from core.storage.records import OK
from core.storage.results import (E_BIND, E_EXCHANGE, RANK, ROW_ID, export_table, extxyz_text, frames_for_rows,
                                  dft_levels_in, levels_in, rank_ligands, refined_side_by_side, refined_two_level_frames,
                                  results_csv, results_metadata_csv)

st.title("Export a shortlist")
df = results_table()
st.caption(f"Energies {levels_in(df)}, {ENERGY_UNITS}, to 0.1 {ENERGY_UNITS}; units and level of theory are in the "
           "column names, and version, settings and definitions in the metadata file beside the CSV. Text cells "
           "that a spreadsheet would run as formulas are neutralised.")

if df.empty:
    st.info("No results to export yet.")
    st.stop()

mode = st.radio("Rows", ["Top N ligands per metal and type", "Choose rows"], horizontal=True, key="export_mode")
if mode.startswith("Top N"):
    c1, c2 = st.columns(2)
    n = c1.number_input("N", min_value=1, max_value=1000, value=5, key="export_n")
    basis = c2.radio("Rank by", [E_EXCHANGE, E_BIND], horizontal=True, key="export_by")
    ranked = rank_ligands(df, basis)
    chosen = ranked[(ranked["status"] == OK) & ranked[RANK].notna() & (ranked[RANK] <= int(n))]
    chosen = chosen.sort_values(["type", "metal", RANK])
else:
    picked = st.dataframe(df.drop(columns=[ROW_ID]), hide_index=True, on_select="rerun",
                          selection_mode="multi-row", key="export_table")
    chosen = df.iloc[picked.selection.rows] if picked and picked.selection.rows else df.iloc[0:0]

st.write(f"{len(chosen)} complexes selected.")
st.dataframe(export_table(chosen), hide_index=True, width="stretch")
if not chosen.empty:
    c1, c2, c3 = st.columns(3)
    c1.download_button("Download CSV", results_csv(chosen), file_name="reescreen-shortlist.csv", mime="text/csv",
                       key="export_csv")
    c2.download_button("Download metadata (CSV)", results_metadata_csv(chosen),
                       file_name="reescreen-shortlist.metadata.csv", mime="text/csv", key="export_meta")
    frames = frames_for_rows(get_store(), chosen[ROW_ID])
    c3.download_button("Download extended XYZ", extxyz_text(frames), file_name="reescreen-shortlist.extxyz",
                       mime="chemical/x-xyz", key="export_xyz")

refined = refined_side_by_side(get_store()) if dft_levels_in(df) else df.iloc[0:0]
if not refined.empty:
    st.subheader("DFT-refined complexes, both levels")
    st.caption(f"{len(refined)} complexes with B3LYP-D4 single points on their screening-level geometries: E_bind and "
               "E_exchange at both levels side by side. The extended XYZ holds E_bind at both levels as "
               "`energy_low` / `energy_high`, the layout configs/allegro-delta-binding.yaml trains on.")
    c1, c2 = st.columns(2)
    c1.download_button("Download both levels (CSV)", export_table(refined).to_csv(index=False),
                       file_name="reescreen-refined.csv", mime="text/csv", key="export_refined_csv")
    c2.download_button("Download two-level frames (extended XYZ)",
                       extxyz_text(refined_two_level_frames(get_store())),
                       file_name="reescreen-two-level.extxyz", mime="chemical/x-xyz", key="export_refined_xyz")

st.subheader("Report of one ligand")
names = df.drop_duplicates("smiles").set_index("smiles")["ligand"].to_dict()
order = sorted(names, key=names.get)
mine = current_ligand()
report_for = st.selectbox("Ligand", order, format_func=names.get, key="export_report_ligand",
                          index=order.index(mine.smiles) if mine is not None and mine.smiles in names else 0)
if st.button("Build HTML report", key="export_report_build",
             help="Tables, plots, a 3D snapshot, level of theory, settings and versions in one file."):
    from app.report import ligand_report_html

    with st.spinner("Building the report…"):
        st.session_state["export_report"] = (report_for, ligand_report_html(df, report_for, get_store()))
built = st.session_state.get("export_report")
if built and built[0] == report_for:
    st.download_button("Download report (HTML)", built[1], key="export_report_html", mime="text/html",
                       file_name=f"reescreen-{names[report_for]}.html".replace("/", "_").replace(" ", "_"))
