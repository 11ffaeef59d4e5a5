"""Shared fixtures: one small real screening (Architector + tblite + Dask) reused by many tests."""
from __future__ import annotations

import os
import shutil

import pytest

# Tests run GFN2-xTB in this process too: one thread, as in the workers.
os.environ.setdefault("OMP_NUM_THREADS", "1")

SMALL_METALS = ["La", "Lu"]
SMALL_TYPES = ["1L6W"]


@pytest.fixture(scope="session")
def hopo_methyl():
    from core.ligands import library_ligand

    return library_ligand("HOPO", "methyl")


@pytest.fixture(scope="session")
def client():
    from core.runner import make_client

    with make_client(n_workers=2) as c:
        yield c


@pytest.fixture(scope="session")
def small_screen(tmp_path_factory, client, hopo_methyl):
    """HOPO-methyl × {La, Lu} × 1 L + 6 H2O at fast settings, in a real SQLite store."""
    from core.runner import run_screen
    from core.settings import FAST
    from core.store import Store

    path = tmp_path_factory.mktemp("store") / "small.db"
    summary = run_screen(hopo_methyl, Store(path), client, FAST, SMALL_METALS, SMALL_TYPES)
    return path, summary


@pytest.fixture
def small_store_copy(small_screen, tmp_path):
    """A private copy of the small store, to add to or break."""
    path = tmp_path / "copy.db"
    shutil.copy(small_screen[0], path)
    return path
