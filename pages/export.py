"""Export: pick rows (or the top N per metal) and download a CSV shortlist or extended XYZ."""
import streamlit as st

from app.state import get_store, results_table
from core.chemistry.constants import ENERGY_UNITS
from core.storage.records import OK
from core.storage.results import E_BIND, E_EXCHANGE, ROW_ID, extxyz_text, frames_for_rows, levels_in, results_csv

st.title("Export a shortlist")
df = results_table()
st.caption(f"Energies {levels_in(df)}, {ENERGY_UNITS}; the CSV header line and column names say so. Text "
           "cells that a spreadsheet would run as formulas are neutralised.")

if df.empty:
    st.info("No results to export yet.")
    st.stop()

mode = st.radio("Rows", ["Top N per metal", "Choose rows"], horizontal=True, key="export_mode")
ranked = df[df["status"] == OK].sort_values(E_BIND)
if mode == "Top N per metal":
    n = st.number_input("N", min_value=1, max_value=1000, value=5, key="export_n")
    basis = st.radio("Rank by", [E_EXCHANGE, E_BIND], horizontal=True, key="export_by")
    chosen = ranked.sort_values(basis).groupby("metal", sort=False).head(int(n))
else:
    picked = st.dataframe(df.drop(columns=[ROW_ID]), hide_index=True, on_select="rerun",
                          selection_mode="multi-row", key="export_table")
    chosen = df.iloc[picked.selection.rows] if picked and picked.selection.rows else df.iloc[0:0]

st.write(f"{len(chosen)} complexes selected.")
st.dataframe(chosen.drop(columns=[ROW_ID]), hide_index=True, width="stretch")
if not chosen.empty:
    st.download_button("Download CSV", results_csv(chosen), file_name="reescreen-shortlist.csv", mime="text/csv",
                       key="export_csv")
    frames = frames_for_rows(get_store(), chosen[ROW_ID])
    st.download_button("Download extended XYZ", extxyz_text(frames), file_name="reescreen-shortlist.extxyz",
                       mime="chemical/x-xyz", key="export_xyz")
