"""Objects shared by every page: the store (one per server), its cached results table, the user's ligand,
this browser's owner token for its jobs, and the plot download format.

The ligand and the owner token are mirrored in the page URL (``?ligand=SMILES&name=…&owner=…``), so a
reload, a bookmark or a second tab of the same URL comes back to the same ligand and the same job list.
"""
from __future__ import annotations

import dataclasses
import secrets

import pandas as pd
import streamlit as st

from core.chemistry.ligands import Ligand, LigandError, binding_form, make_ligand
from core.storage.results import results_frame
from core.storage.store import Store, default_db_path

LIGAND_KEY = "ligand"
OWNER_KEY = "owner"
PLOT_FORMAT_KEY = "plot_format"
PLOT_FORMATS = ("png", "svg")


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
    sync_url()


def owner_token() -> str:
    """This browser session's job-owner token (kept in the URL, so a reload keeps the job list)."""
    if OWNER_KEY not in st.session_state:
        given = st.query_params.get(OWNER_KEY, "")
        st.session_state[OWNER_KEY] = given if given.isalnum() and 8 <= len(given) <= 32 else secrets.token_hex(8)
    return st.session_state[OWNER_KEY]


def restore_from_url() -> None:
    """On a new session, take the ligand from the URL (a reload or a shared link); bad input is ignored."""
    if LIGAND_KEY in st.session_state or "ligand" not in st.query_params:
        return
    try:
        ligand = make_ligand(binding_form(st.query_params["ligand"][:2000]))
    except LigandError:
        return
    name = st.query_params.get("name", "")[:80]
    st.session_state[LIGAND_KEY] = dataclasses.replace(ligand, label=name) if name else ligand


def sync_url() -> None:
    """Write the current ligand and owner token into the URL (every page run, as page changes drop them)."""
    wanted = {OWNER_KEY: owner_token()}
    ligand = current_ligand()
    if ligand is not None:
        wanted["ligand"] = ligand.smiles
        if ligand.label:
            wanted["name"] = ligand.label
    if {k: st.query_params.get(k) for k in ("ligand", "name", OWNER_KEY)} != {**{"ligand": None, "name": None},
                                                                           **wanted}:
        st.query_params.from_dict(wanted)


def md_escape(text: str) -> str:
    """``text`` safe to put in Markdown (a user's ligand name, a SMILES): every Markdown character escaped."""
    return "".join("\\" + ch if ch in "\\`*_{}[]()#+-.!<>|~$" else ch for ch in text)


def show_figure(fig, key: str) -> None:
    """A Plotly figure whose toolbar camera saves it as PNG or SVG (the format chosen in the sidebar)."""
    fmt = st.session_state.get(PLOT_FORMAT_KEY, "png")
    st.plotly_chart(fig, key=key, width="stretch",
                    config={"displaylogo": False, "displayModeBar": True,
                            "toImageButtonOptions": {"format": fmt, "filename": f"reescreen-{key}", "scale": 2}})


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
