"""Objects shared by every page: the store (one per server), its cached results table, the user's ligand."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.chemistry.ligands import Ligand
from core.storage.results import results_frame
from core.storage.store import Store, default_db_path

LIGAND_KEY = "ligand"


@st.cache_resource
def get_store(path: str | None = None) -> Store:
    """The result store of this server (``$REESCREEN_DB`` or ./reescreen.db)."""
    return Store(path or default_db_path())


@st.cache_data(show_spinner=False, max_entries=2)
def _results_table(path: str, version: tuple[int, int]) -> pd.DataFrame:
    return results_frame(get_store(path))


def results_table() -> pd.DataFrame:
    """Every stored complex result (see :func:`core.storage.results.results_frame`), cached until the store
    changes: the cache key is the store file's modification time and size, which every committed write moves."""
    store = get_store()
    store.ensure_read_model()
    return _results_table(str(store.path), store.version())


def current_ligand() -> Ligand | None:
    """The ligand chosen on the Design page in this browser session, if any."""
    return st.session_state.get(LIGAND_KEY)


def set_current_ligand(ligand: Ligand | None) -> None:
    st.session_state[LIGAND_KEY] = ligand


@st.cache_resource
def get_job_manager(path: str | None = None) -> "JobManager":  # noqa: F821
    """The background job queue of this server (one Dask client, created on the first job)."""
    from core.pipeline.jobs import JobManager

    return JobManager(path or default_db_path())


@st.cache_resource
def get_model(name: str, force_cpu: bool = False):
    """A model from the trusted model folder, loaded once per server and device (never from an upload)."""
    from core.model.inference import load_model, models_dir

    return load_model(models_dir() / name, force_cpu=force_cpu)
