"""Compare: 2–6 ligands side by side across the series (E_exchange) and as selectivity curves for a metal
pair, with the template-noise band measured by `benchmarks/template_noise.py`."""
import streamlit as st

from app import figures
from app.state import results_table, show_figure
from core.chemistry.complexes import COORDINATION_TYPES
from core.chemistry.constants import DEFAULT_PAIR, ENERGY_UNITS, LANTHANIDES, SERIES_ORDER, metal_label
from core.chemistry.noise import template_noise
from core.storage.results import levels_in

MAX_COMPARED = 6

st.title("Compare ligands")
df = figures.passed(results_table())
if df.empty:
    st.info("No results yet. Screen two or more ligands first.")
    st.stop()
names = sorted(df["ligand"].unique())
chosen = st.multiselect(f"Ligands (2–{MAX_COMPARED})", names, max_selections=MAX_COMPARED, key="compare_ligands",
                        default=names[:2] if len(names) >= 2 else names)
if len(chosen) < 2:
    st.info("Choose at least two ligands.")
    st.stop()
view = df[df["ligand"].isin(chosen)]
present_types = [t for t in COORDINATION_TYPES if t in set(view["type"])]
noise = template_noise()
use_band = st.toggle("Template-noise band", value=noise is not None, disabled=noise is None, key="compare_band")
band = noise["half_width_kcal"] if noise and use_band else None
if noise:
    st.caption(f"Band: ± {noise['half_width_kcal']:.1f} {ENERGY_UNITS} around each complex (± that × √2 for a "
               f"difference of two): the pooled standard deviation of the minima that different Architector "
               f"templates of one complex reach, {noise['n_minima']} minima of {noise['n_complexes']} La complexes of "
               f"{', '.join(sorted({c['ligand'] for c in noise['complexes']}))}, "
               f"`{noise['settings']}` preset, {noise['level_of_theory']}, measured {noise['measured']} by "
               f"`{noise['command']}`. Differences inside the band are not resolved by the screen.")
else:
    st.caption("No template-noise measurement is shipped (data/template_noise.json): run "
               "`python benchmarks/template_noise.py` to measure it.")

ctypes = st.multiselect("Coordination types", present_types, default=present_types[:1], key="compare_types")  # 4L
show_figure(figures.series_plot(view[view["type"].isin(ctypes)], figures.EXCH, band=band), "compare_series")
table = view[view["type"].isin(ctypes)].pivot_table(index=["ligand", "type"], columns="metal", values=figures.EXCH)
table = table[[m for m in SERIES_ORDER if m in table.columns]].rename(columns=metal_label)
st.dataframe(table.round(1), width="stretch", key="compare_table")

st.subheader("Selectivity for a metal pair")
present = [m for m in SERIES_ORDER if m in set(view["metal"])]
lanthanides = [m for m in present if m in LANTHANIDES] or present
c1, c2 = st.columns(2)
a = c1.selectbox("Metal A", present, index=present.index(DEFAULT_PAIR[0] if DEFAULT_PAIR[0] in present
                                                         else lanthanides[0]), key="compare_a", format_func=metal_label)
b = c2.selectbox("Metal B", present, index=present.index(DEFAULT_PAIR[1] if DEFAULT_PAIR[1] in present
                                                         else lanthanides[-1]), key="compare_b", format_func=metal_label)
show_figure(figures.selectivity_curves(view, a, b, figures.EXCH, band=band), "compare_selectivity")
st.caption(f"E_exchange({a}) − E_exchange({b}) per coordination type ({levels_in(view)}): below zero the ligand "
           f"prefers {a}.")
