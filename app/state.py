"""Objects shared by every page: the store (one per server) and the user's current ligand."""
from __future__ import annotations

import streamlit as st

from core.ligands import Ligand
from core.store import Store, default_db_path

LIGAND_KEY = "ligand"


@st.cache_resource
def get_store(path: str | None = None) -> Store:
    """The result store of this server (``$REESCREEN_DB`` or ./reescreen.db)."""
    return Store(path or default_db_path())


def current_ligand() -> Ligand | None:
    """The ligand chosen on the Design page in this browser session, if any."""
    return st.session_state.get(LIGAND_KEY)


def set_current_ligand(ligand: Ligand | None) -> None:
    st.session_state[LIGAND_KEY] = ligand


@st.cache_resource
def get_job_manager(path: str | None = None) -> "JobManager":
    """The background job queue of this server (one Dask client, created on the first job)."""
    from core.jobs import JobManager

    return JobManager(path or default_db_path())


@st.cache_resource
def get_model(name: str, force_cpu: bool = False):
    """A model from the trusted model folder, loaded once per server and device (never from an upload)."""
    from core.model import load_model, models_dir

    return load_model(models_dir() / name, force_cpu=force_cpu)
