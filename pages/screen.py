"""Screen: queue the current ligand against chosen metals and coordination types; follow progress."""
import streamlit as st

from app.state import current_ligand, get_job_manager, results_table
from core.chemistry.complexes import COORDINATION_TYPES
from core.chemistry.constants import ENERGY_UNITS, REE_METALS
from core.pipeline.settings import PRESETS
from core.storage.results import E_BIND, E_EXCHANGE, LEVEL, MODEL_COLUMN, levels_in

st.title("Screen")
ligand = current_ligand()
if ligand is None:
    st.info("Choose a ligand on the Design page first.")
else:
    st.write(f"Ligand **{ligand.name}** `{ligand.smiles}` (charge {ligand.charge:+d}, donors "
             f"{ligand.donors[0]}, {ligand.donors[1]})")
    metals = st.multiselect("Metals", list(REE_METALS), default=list(REE_METALS), key="screen_metals")
    types = st.multiselect("Coordination types", list(COORDINATION_TYPES), default=list(COORDINATION_TYPES),
                           key="screen_types")
    preset = st.radio("Settings", list(PRESETS), horizontal=True, key="screen_settings",
                      help="fast: 1 Architector symmetry, 1 template; thorough: 10 symmetries, 3 templates")
    if st.button("Screen", type="primary", disabled=not (metals and types), key="screen_go"):
        job = get_job_manager().submit(ligand, metals, types, PRESETS[preset])
        st.toast(f"Job {job.id} queued: {ligand.name}, {len(metals)} metals x {len(types)} types")


@st.fragment(run_every=2)
def job_panel() -> None:
    jobs = get_job_manager().jobs()
    if not jobs:
        return
    st.subheader("Jobs on this server")
    for job in jobs:
        p, summary = job.progress, job.summary
        if summary is not None:
            counts = (f"{summary.cached} of {summary.requested} complexes from the store, {summary.computed} tasks "
                      f"computed, {summary.failed} failed, {summary.qc_failed} QC-flagged")
        elif p is not None:
            counts = f"{p.done}/{p.total} tasks, {p.failed} failed, {p.qc_failed} QC-flagged"
            if p.last.startswith("waiting"):  # another run on this store computes part of it
                counts += f" · {p.last}"
        else:
            counts = "waiting"
        st.progress(job.fraction, text=f"Job {job.id} · {job.ligand.name} · {job.status} · {counts}")
        if job.error:
            st.error(f"Job {job.id}: {job.error} (a rerun computes only what is missing)")
    newest = jobs[0]
    df = results_table()
    df = df[(df["smiles"] == newest.ligand.smiles) & (df["settings"] == newest.settings.name)
            & (df[LEVEL] == newest.settings.level) & df["metal"].isin(newest.metals) & df["type"].isin(newest.ctypes)]
    st.caption(f"Finished complexes of job {newest.id} ({levels_in(df)}, {ENERGY_UNITS})")
    columns = ["rank", "metal", "type", E_BIND, E_EXCHANGE, "qc", "reason"]
    if df[MODEL_COLUMN].notna().any():
        columns.insert(4, MODEL_COLUMN)
        st.caption(f"{MODEL_COLUMN}: Allegro prediction ({', '.join(sorted(set(df['model']) - {''}))}), trained on "
                   f"{levels_in(df)} labels; see the Model page.")
    st.dataframe(df[columns], hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(c, format="%.1f") for c in columns if "kcal" in c})


job_panel()
