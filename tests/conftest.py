"""Shared fixtures: one small real screening (Architector + tblite + Dask) reused by many tests."""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# Tests run GFN2-xTB in this process too: one thread, as in the workers.
os.environ.setdefault("OMP_NUM_THREADS", "1")

SMALL_METALS = ["La", "Lu"]
SMALL_TYPES = ["1L6W"]
ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DATA = ROOT / "data" / "dataset"


@pytest.fixture(autouse=True)
def _main_module_restored():
    """AppTest runs page scripts as ``__main__``, and a Dask worker spawned by a later test re-runs the
    parent's ``__main__`` file: every test leaves ``__main__`` as it found it."""
    main = sys.modules.get("__main__")
    yield
    sys.modules["__main__"] = main


@pytest.fixture(scope="session")
def hopo_methyl():
    from core.chemistry.ligands import library_ligand

    return library_ligand("HOPO", "methyl")


@pytest.fixture(scope="session")
def client():
    import types

    from core.pipeline.cluster import make_client

    # Spawned workers re-run the parent's __main__ file; under AppTest that can be a page script.
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        c = make_client(n_workers=2)
    finally:
        sys.modules["__main__"] = main
    with c:
        yield c


@pytest.fixture(scope="session")
def small_screen(tmp_path_factory, client, hopo_methyl):
    """HOPO-methyl × {La, Lu} × 1 L + 6 H2O at fast settings, in a real SQLite store."""
    from core.pipeline.runner import run_screen
    from core.pipeline.settings import FAST
    from core.storage.store import Store

    path = tmp_path_factory.mktemp("store") / "small.db"
    # the Architector route (templates, La complex, swap chain), which the engine tests below inspect
    summary = run_screen(hopo_methyl, Store(path), client, FAST.with_changes(route="architector"), SMALL_METALS,
                         SMALL_TYPES)
    return path, summary


@pytest.fixture(scope="session")
def la_complex(small_screen, hopo_methyl):
    """The optimised La complex of the small screen, as a Record."""
    from core.pipeline.settings import FAST
    from core.storage.records import Kind
    from core.storage.store import Store

    store = Store(small_screen[0])
    return store.record(store.get(Kind.COMPLEX, FAST, ligand=hopo_methyl.smiles, metal="La", ctype="1L6W"))


@pytest.fixture
def small_store_copy(small_screen, tmp_path):
    """A private copy of the small store, to add to or break."""
    path = tmp_path / "copy.db"
    shutil.copy(small_screen[0], path)
    return path


def store_a_complex_passed_by_an_older_qc(store, metal: str) -> int:
    """Give the small store's HOPO-methyl 1L6W complex of ``metal`` a water that lost a proton, stored as if
    QC version 1 had passed it (status ok, no ``qc_version``).  Returns its row id."""
    from core.pipeline.settings import FAST

    row = store.get("complex", FAST, ligand="CNC(=O)c1ccc(C)c(=O)n1[O-]", metal=metal, ctype="1L6W")
    atoms = row.toatoms()
    symbols = atoms.get_chemical_symbols()
    water_h = next(i for i, s in enumerate(symbols) if s == "H" and any(
        symbols[j] == "O" and atoms.get_distance(i, j) < 1.1 and
        sum(symbols[k] == "H" and atoms.get_distance(j, k) < 1.1 for k in range(len(atoms))) == 2
        for j in range(len(atoms))))
    atoms.positions[water_h] += [5.0, 5.0, 5.0]
    store.update(row.id, atoms=atoms, delete_keys=("qc_version",))
    return row.id


def tiny_frames() -> list:
    """HOPO-methyl 1 L + 6 H2O for every metal in the shipped dataset, plus three HDEV complexes (copies)."""
    from ase.calculators.singlepoint import SinglePointCalculator

    copies = []
    for atoms in _tiny_frames_read_once():
        copy = atoms.copy()
        copy.calc = SinglePointCalculator(copy, **atoms.calc.results)  # the label ASE read from `energy=`
        copies.append(copy)
    return copies


@functools.lru_cache(maxsize=1)
def shipped_frames() -> tuple:
    """Every frame of the shipped dataset, read once per test session (do not modify them)."""
    from core.storage.extxyz import read_frames

    return tuple(read_frames(DATA))


@functools.lru_cache(maxsize=1)
def _tiny_frames_read_once() -> tuple:
    frames = shipped_frames()
    train = [a for a in frames if a.info["split"] == "train" and a.info["scaffold"] == "HOPO"
             and a.info["substituent"] == "methyl" and a.info["type"] == "1L6W"]
    hdev = [a for a in frames if a.info["split"] == "hdev"][:3]
    return tuple(train + hdev)


def train_tiny(tmp: Path, config: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "reescreen"), "train", str(ROOT / "configs" / config), "--data",
                           str(tmp / "tiny.extxyz"), "--out", str(tmp / "run"), "--set", "max_epochs=2",
                           "--set", "reescreen.level_of_theory=GFN2-xTB/ALPB(water)", *extra],
                          capture_output=True, text=True, cwd=tmp, timeout=600)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A real 2-epoch Strategy-2 training on 19 shipped frames, packaged and evaluated by `reescreen train`."""
    tmp = tmp_path_factory.mktemp("tiny-model")
    import ase.io

    ase.io.write(str(tmp / "tiny.extxyz"), tiny_frames(), format="extxyz")
    done = train_tiny(tmp, "allegro-binding.yaml")
    assert done.returncode == 0, done.stderr[-3000:]
    return tmp, done




@pytest.fixture(scope="session")
def tiny_prescreen_ensemble(tmp_path_factory):
    """A real 1-epoch, 2-member pre-screen ensemble (grafted inputs) on the tiny frames, four of them held out
    as if their group had been drawn for the group hold-out; the members trained side by side (--parallel 2);
    packaged, evaluated and carded by `reescreen train`."""
    import ase.io

    tmp = tmp_path_factory.mktemp("tiny-prescreen")
    frames = tiny_frames()
    for atoms in frames[:4]:
        atoms.info["split"] = "group-holdout"
    ase.io.write(str(tmp / "tiny.extxyz"), frames, format="extxyz")
    done = train_tiny(tmp, "allegro-prescreen.yaml", "--members", "2", "--parallel", "2", "--set", "max_epochs=1")
    assert done.returncode == 0, done.stderr[-3000:]
    return tmp / "run" / "model", tmp


def stored_result_ids(db) -> dict[str, int]:
    """Row id of every stored result by its content key; fails if any key is stored twice."""
    import sqlite3

    con = sqlite3.connect(db, timeout=60)
    try:
        rows = con.execute("SELECT t.value, s.id FROM systems s JOIN text_key_values t ON t.id = s.id "
                           "WHERE t.key = 'key'").fetchall()
    finally:
        con.close()
    ids: dict[str, int] = {}
    for key, row_id in rows:
        assert key not in ids, f"result {key} stored twice"
        ids[key] = row_id
    return ids


@pytest.fixture(scope="session")
def dataset_store(tmp_path_factory) -> Path:
    """The shipped library build store (115 ligands × 16 REEs × 4 types, fast, GFN2-xTB), read-only use."""
    import gzip

    path = tmp_path_factory.mktemp("dataset") / "dataset-store.db"
    with gzip.open(ROOT / "data" / "build-store" / "dataset-store.db.gz", "rb") as src, open(path, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return path


@pytest.fixture
def dataset_store_copy(dataset_store, tmp_path) -> Path:
    """A private copy of the library build store, to name ligands in or add to."""
    path = tmp_path / "dataset-copy.db"
    shutil.copy(dataset_store, path)
    return path
