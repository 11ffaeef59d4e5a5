"""The Results page's DFT part: refine selected complexes with B3LYP-D4 (a background job), follow this
browser's refinement jobs, and show both levels side by side.  The science is in :mod:`core.pipeline.refine`."""
from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from app.state import get_job_manager, get_store, md_escape, owner_token
from core.chemistry.constants import ENERGY_UNITS, metal_label
from core.levels import dft_level
from core.levels.dft import SOLVENTS
from core.pipeline.eta import format_duration
from core.pipeline.settings import get_settings
from core.storage.results import LEVEL, dft_levels_in, levels_side_by_side

SOLVENT_LABELS = {"smd": "SMD water (default, as the paper)", "cpcm": "C-PCM water", "none": "gas phase"}


def refine_form(selected: pd.DataFrame) -> None:
    """Options, the cost estimate and the button for the complexes selected in the results table."""
    rows = selected[selected["status"] == "ok"]
    if rows.empty:
        st.caption("Select complexes that passed QC in the table above (tick their rows) to refine them with DFT.")
        return
    with st.expander(f"Refine {len(rows)} selected complex(es) with DFT (B3LYP-D4)", expanded=True):
        c1, c2, c3 = st.columns(3)
        open_shell = c1.toggle("Open shell (4f in valence)", key="dft_open_shell",
                               help="Default: Ce–Yb with 4f-in-core large-core ECPs (closed shell, as cheap as La), "
                                    "unlike the paper's open-shell 4f-in-valence setup. On: the paper's setup, "
                                    "high spin, about 5× the cost of a complex (Gd 1L6W: 2.6 against 0.4 CPU-h).")
        diffuse = c2.toggle("def2-SVPD on ligand atoms", key="dft_diffuse")
        solvent = c3.selectbox("Implicit water", SOLVENTS, format_func=SOLVENT_LABELS.get, key="dft_solvent")
        level = dft_level(open_shell=open_shell, diffuse=diffuse, solvent=solvent)
        plans = _plans(rows, level)
        todo = sum(len(p.todo) for p in plans)
        cpu_s = sum(p.estimated_cpu_s for p in plans)
        st.write(f"**{level.name}** · {todo} single points to run (complexes and every reference they need: "
                 f"free ligand, water, bare ions, aqua ions), {sum(p.stored for p in plans)} already stored · "
                 f"estimated **{_cpu_text(cpu_s)}** of CPU time, from costs measured on a 2-core machine.")
        missing = [m for p in plans for m in p.missing]
        if missing:
            st.caption("Not refinable: " + "; ".join(md_escape(m) for m in missing[:5]))
        if st.button("Refine with DFT", type="primary", disabled=not todo, key="dft_go"):
            for plan in plans:
                if plan.todo:
                    get_job_manager().submit_refinement(plan, owner=owner_token())
            st.toast(f"DFT refinement queued: {todo} single points.")


def _cpu_text(seconds: float) -> str:
    from core.pipeline.refine import format_cpu_time

    return format_cpu_time(seconds) if seconds == seconds else "an unknown amount (no measured costs)"


def _plans(rows: pd.DataFrame, level) -> list:
    """One plan per ligand and settings among the selected rows."""
    from core.pipeline.refine import plan_refinement

    plans = []
    for (smiles, settings_name), block in rows.groupby(["smiles", "settings"]):
        plans.append(plan_refinement(get_store(), get_settings(settings_name), level, [smiles],
                                     sorted(set(block["metal"])), sorted(set(block["type"]))))
    return plans


@st.fragment(run_every=3)
def refine_jobs() -> None:
    """This browser's DFT jobs: single points done of all, what is running, cancel."""
    from core.pipeline.jobs import RefineJob

    manager = get_job_manager()
    mine = manager.jobs(owner_token(), kind=RefineJob)
    if not mine:
        return
    st.caption("Your DFT refinements (each single point is stored as it finishes; a rerun skips them)")
    for job in mine:
        p = job.progress
        parts = [f"DFT job {job.id} · {job.status}",
                 f"{p.done if p else 0} of {len(job.plan.todo)} single points"]
        if p is not None and p.failed:
            parts.append(f"{p.failed} failed")
        if job.status == "running" and p is not None and p.running:
            parts.append(f"running: {p.running}")
        if job.finished and job.started_at and job.finished_at:
            parts.append(f"took {format_duration(job.finished_at - job.started_at)}")
        left, right = st.columns([6, 1])
        left.progress(job.fraction, text=" · ".join(parts))
        if not job.finished and right.button("Cancel", key=f"cancel_dft_{job.id}"):
            manager.cancel(job.id)
            time.sleep(0.2)
            st.rerun(scope="fragment")
        if job.error:
            st.error(f"DFT job {job.id}: {job.error}")


def both_levels(view: pd.DataFrame, all_rows: pd.DataFrame) -> None:
    """E_bind and E_exchange at the screening level and at each DFT level, for the refined complexes shown."""
    for level in dft_levels_in(all_rows):
        refined = all_rows[all_rows[LEVEL] == level.name]
        ligands = sorted(set(refined["smiles"]) & set(view["smiles"]))
        if not ligands:
            continue
        settings = get_settings(refined["settings"].iloc[0])
        table = levels_side_by_side(get_store(), settings, level, ligands, sorted(set(refined["metal"])),
                                    sorted(set(refined["type"])))
        table = table[table["DFT status"] != "not refined"]
        st.markdown(f"**Both levels** · {level.name}")
        st.dataframe(table.drop(columns=["smiles"]).assign(metal=table["metal"].map(metal_label)), hide_index=True,
                     width="stretch", column_config={c: st.column_config.NumberColumn(c, format="%.1f")
                                                     for c in table.columns if ENERGY_UNITS in c},
                     key=f"both_levels_{level.slug}")
        st.caption(f"{ENERGY_UNITS}. DFT single points on the {level.geometry_level.short_name} geometries. {level.caveat} E_bind at the two "
                   "levels differs mostly through the bare ion's solvation, which each implicit solvent models "
                   "differently: compare the levels through E_exchange.")
