"""Library: batch screening of scaffolds × substituents, or of an uploaded table of SMILES."""
import pandas as pd
import streamlit as st

from app.state import get_job_manager, owner_token
from core.chemistry.complexes import COORDINATION_TYPES
from core.chemistry.constants import REE_METALS
from core.chemistry.ligands import SCAFFOLDS, SUBSTITUENTS, library_ligand
from core.pipeline.settings import PRESETS
from core.chemistry.uploads import MAX_ROWS, MAX_UPLOAD_BYTES, UploadError, read_ligand_table


MAX_PROBLEMS_SHOWN_IN_FULL = 50


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


st.title("Library screening")
source = st.radio("Ligands", ["Scaffolds × substituents", "Upload CSV", "Rank with the model"], horizontal=True,
                  key="lib_source")
if source == "Rank with the model":
    from app.rank import rank_section

    rank_section()
    st.stop()
ligands = []
if source == "Scaffolds × substituents":
    scaffolds = st.multiselect("Scaffolds", list(SCAFFOLDS), default=["HOPO"], key="lib_scaffolds")
    substituents = st.multiselect("Substituents", list(SUBSTITUENTS), default=list(SUBSTITUENTS)[:5],
                                  key="lib_substituents")
    ligands = [library_ligand(s, r) for s in scaffolds for r in substituents]
else:
    st.caption(f"A table with a `smiles` column (optional `name`, `donors` as `i;j`), separated by commas, "
               f"semicolons or tabs, or one SMILES per line; at most {MAX_UPLOAD_BYTES // 1000} kB and {MAX_ROWS} "
               "rows, UTF-8.")
    upload = st.file_uploader("Ligand table", type=["csv", "tsv", "txt"], key="lib_upload")
    if upload is not None:
        table = None
        try:
            table = read_ligand_table(upload.getvalue())
        except UploadError as exc:
            st.error(str(exc))
        except Exception as exc:  # noqa: BLE001 - the page boundary: a message, never a traceback
            st.error(f"This file could not be read ({type(exc).__name__}); nothing was queued. Save it as a UTF-8 "
                     "CSV with a `smiles` column and try again.")
        if table is not None:
            ligands = table.ligands
            st.caption(table.describe())
            if ligands:
                st.dataframe(pd.DataFrame([{"line": r.line, "name": r.name, "smiles": r.ligand.smiles}
                                           for r in table.rows if r.ligand is not None]), hide_index=True,
                             height=min(35 * (len(ligands) + 1) + 3, 300), key="lib_upload_ok")
            if table.refused:
                st.warning(f"{len(table.refused)} of {len(table.rows)} rows cannot be screened:")
                problems = pd.DataFrame([{"line": r.line, "name": r.name, "smiles": _short(r.smiles, 40),
                                          "problem": r.error} for r in table.refused])
                if len(problems) <= MAX_PROBLEMS_SHOWN_IN_FULL:  # a table wraps the reasons; a grid cut them off
                    st.table(problems.set_index("line"))
                else:
                    st.dataframe(problems, hide_index=True, key="lib_upload_refused",
                                 column_config={"problem": st.column_config.TextColumn(width="large")})

metals = st.multiselect("Metals", list(REE_METALS), default=list(REE_METALS), key="lib_metals")
types = st.multiselect("Coordination types", list(COORDINATION_TYPES), default=list(COORDINATION_TYPES),
                       key="lib_types")
preset = st.radio("Settings", list(PRESETS), horizontal=True, key="lib_settings")
st.write(f"{len(ligands)} ligands × {len(metals)} metals × {len(types)} types = "
         f"{len(ligands) * len(metals) * len(types)} complexes (already stored ones are not recomputed).")
if st.button("Queue batch", type="primary", disabled=not (ligands and metals and types), key="lib_go"):
    jobs = [get_job_manager().submit(lig, metals, types, PRESETS[preset], owner=owner_token()) for lig in ligands]
    st.session_state["lib_batch"] = [j.id for j in jobs]


@st.fragment(run_every=2)
def batch_progress() -> None:
    ids = set(st.session_state.get("lib_batch", []))
    if not ids:
        return
    jobs = [j for j in get_job_manager().jobs() if j.id in ids]
    done = sum(j.finished for j in jobs)
    stored, asked = sum(j.complexes_done for j in jobs), sum(j.n_complexes for j in jobs)
    st.progress(stored / asked if asked else 1.0,
                text=f"Batch: {stored} of {asked} complexes stored; {done} of {len(jobs)} ligands finished, "
                     f"{sum(j.status == 'error' for j in jobs)} with errors, {sum(j.status == 'cancelled' for j in jobs)} "
                     "cancelled (Screen page). See Results for the ranking.")


batch_progress()
