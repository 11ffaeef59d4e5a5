"""Library: batch screening of scaffolds × substituents, or of an uploaded table of SMILES."""
import pandas as pd
import streamlit as st

from app.state import get_job_manager
from core.chemistry.complexes import COORDINATION_TYPES
from core.chemistry.constants import REE_METALS
from core.chemistry.ligands import SCAFFOLDS, SUBSTITUENTS, library_ligand
from core.pipeline.settings import PRESETS
from core.chemistry.uploads import MAX_ROWS, MAX_UPLOAD_BYTES, UploadError, parse_ligand_table

st.title("Library screening")
source = st.radio("Ligands", ["Scaffolds × substituents", "Upload CSV"], horizontal=True, key="lib_source")
ligands = []
if source == "Scaffolds × substituents":
    scaffolds = st.multiselect("Scaffolds", list(SCAFFOLDS), default=["HOPO"], key="lib_scaffolds")
    substituents = st.multiselect("Substituents", list(SUBSTITUENTS), default=list(SUBSTITUENTS)[:5],
                                  key="lib_substituents")
    ligands = [library_ligand(s, r) for s in scaffolds for r in substituents]
else:
    st.caption(f"CSV with a `smiles` column (optional `name`, `donors` as `i;j`), or one SMILES per line; "
               f"at most {MAX_UPLOAD_BYTES // 1000} kB and {MAX_ROWS} rows, UTF-8.")
    upload = st.file_uploader("Ligand table", type=["csv", "txt"], key="lib_upload")
    if upload is not None:
        try:
            rows = parse_ligand_table(upload.getvalue())
        except UploadError as exc:
            st.error(str(exc))
            rows = []
        ligands = [r.ligand for r in rows if r.ligand is not None]
        bad = [r for r in rows if r.ligand is None]
        if bad:
            st.warning(f"{len(bad)} of {len(rows)} rows cannot be screened:")
            st.dataframe(pd.DataFrame([{"line": r.line, "name": r.name, "smiles": r.smiles, "problem": r.error}
                                       for r in bad]), hide_index=True)

metals = st.multiselect("Metals", list(REE_METALS), default=list(REE_METALS), key="lib_metals")
types = st.multiselect("Coordination types", list(COORDINATION_TYPES), default=list(COORDINATION_TYPES),
                       key="lib_types")
preset = st.radio("Settings", list(PRESETS), horizontal=True, key="lib_settings")
st.write(f"{len(ligands)} ligands × {len(metals)} metals × {len(types)} types = "
         f"{len(ligands) * len(metals) * len(types)} complexes (already stored ones are not recomputed).")
if st.button("Queue batch", type="primary", disabled=not (ligands and metals and types), key="lib_go"):
    jobs = [get_job_manager().submit(lig, metals, types, PRESETS[preset]) for lig in ligands]
    st.session_state["lib_batch"] = [j.id for j in jobs]


@st.fragment(run_every=2)
def batch_progress() -> None:
    ids = set(st.session_state.get("lib_batch", []))
    if not ids:
        return
    jobs = [j for j in get_job_manager().jobs() if j.id in ids]
    done = sum(j.status in ("done", "error") for j in jobs)
    st.progress(done / len(jobs), text=f"Batch: {done} of {len(jobs)} ligands finished, "
                f"{sum(j.status == 'error' for j in jobs)} with errors. See Results for the ranking.")


batch_progress()
