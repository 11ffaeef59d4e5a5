"""Screen: queue the current ligand against chosen metals and coordination types; follow this browser's jobs
(stage, complexes stored, time left), cancel them, and see the finished complexes."""
import time

import streamlit as st

from app.state import current_ligand, get_job_manager, md_escape, owner_token, results_table
from core.chemistry.complexes import COORDINATION_TYPES
from core.chemistry.constants import ENERGY_UNITS, REE_METALS, SERIES_ORDER, Y_NOTE, metal_label
from core.pipeline.eta import format_duration
from core.pipeline.settings import PRESETS
from core.storage.results import E_BIND, E_EXCHANGE, LEVEL, MODEL_COLUMN, RANK, RANKED_OF, levels_in

st.title("Screen")
ligand = current_ligand()
if ligand is None:
    st.info("Choose a ligand on the Design page first.")
else:
    st.write(f"Ligand **{md_escape(ligand.name)}**" + ("" if ligand.name == ligand.smiles else f" · `{ligand.smiles}`")
             + f" · charge {ligand.charge:+d} · donors {ligand.donors[0]}, {ligand.donors[1]}")
    metals = st.multiselect("Metals", list(SERIES_ORDER), default=list(SERIES_ORDER), key="screen_metals",
                            format_func=metal_label)
    types = st.multiselect("Coordination types", list(COORDINATION_TYPES), default=list(COORDINATION_TYPES),
                           key="screen_types")
    preset = st.radio("Settings", list(PRESETS), horizontal=True, key="screen_settings",
                      help="fast: 1 Architector symmetry, 1 template; thorough: 10 symmetries, 3 templates")
    if st.button("Screen", type="primary", disabled=not (metals and types), key="screen_go"):
        job = get_job_manager().submit(ligand, [m for m in REE_METALS if m in metals], types, PRESETS[preset],
                                       owner=owner_token())
        st.toast(f"Job {job.id} queued: {ligand.name}, {len(metals) * len(types)} complexes")


def _job_line(job) -> str:
    """One line per job: complexes stored of asked, stage, time left or taken."""
    done, total = job.complexes_done, job.n_complexes
    parts = [f"Job {job.id} · {md_escape(job.ligand.name)} · {job.status}", f"{done} of {total} complexes"]
    p = job.progress
    if job.status == "running" and p is not None:
        if p.stage and p.stage != "done":
            parts.append(p.stage)
        if p.eta_s:
            parts.append(f"about {format_duration(p.eta_s)} left")
        if p.failed or p.qc_failed:
            parts.append(f"{p.failed} failed, {p.qc_failed} QC-flagged")
    elif job.finished and job.started_at and job.finished_at:
        parts.append(f"took {format_duration(job.finished_at - job.started_at)}")
        if job.summary is not None:
            parts.append(f"{job.summary.cached} were stored already; {job.summary.failed} failed, "
                         f"{job.summary.qc_failed} QC-flagged")
    return " · ".join(parts)


@st.fragment(run_every=2)
def job_panel() -> None:
    manager = get_job_manager()
    mine = manager.jobs(owner_token())
    others = [j for j in manager.jobs() if j.owner != owner_token() and not j.finished]
    if others:
        st.caption(f"{len(others)} job(s) of other users on this server are queued or running; jobs run one "
                   "at a time, in the order queued.")
    if not mine:
        return
    st.subheader("Your jobs")
    for job in mine:
        left, right = st.columns([6, 1])
        left.progress(job.fraction, text=_job_line(job))
        if not job.finished and right.button("Cancel", key=f"cancel_{job.id}",
                                             help="Stops the job; complexes already finished stay stored."):
            manager.cancel(job.id)
            st.toast(f"Job {job.id} cancelled; its finished complexes are kept.")
            time.sleep(0.2)
            st.rerun(scope="fragment")
        if job.error:
            st.error(f"Job {job.id}: {job.error} (a rerun computes only what is missing)")
    newest = mine[0]
    df = results_table()
    df = df[(df["smiles"] == newest.ligand.smiles) & (df["settings"] == newest.settings.name)
            & (df[LEVEL] == newest.settings.level) & df["metal"].isin(newest.metals) & df["type"].isin(newest.ctypes)]
    if df.empty:
        return
    st.caption(f"Complexes of job {newest.id} ({levels_in(df)}, {ENERGY_UNITS}), La → Lu then Y. `rank` of `of`: "
               "this ligand's place among the stored ligands with the same metal and type (1 = strongest). "
               "Compare metals with E_exchange, never with E_bind.")
    columns = ["metal", "type", RANK, RANKED_OF, E_EXCHANGE, E_BIND, "qc", "reason"]
    if df[MODEL_COLUMN].notna().any():
        columns.insert(6, MODEL_COLUMN)
        st.caption(f"{MODEL_COLUMN}: Allegro prediction ({', '.join(sorted(set(df['model']) - {''}))}), trained on "
                   f"{levels_in(df)} labels; see the Model page.")
    view = df[columns].assign(metal=df["metal"].map(metal_label))
    st.dataframe(view, hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(c, format="%.1f") for c in columns if "kcal" in c})
    if (df["metal"] == "Y").any():
        st.caption(Y_NOTE)


job_panel()
