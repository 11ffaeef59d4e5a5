"""Dataset shards: writing, reading back, provenance, QC exclusions, resumable build command."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.storage.results import results_frame
from core.pipeline.dataset import dataset_grid, write_dataset
from core.storage.extxyz import read_frames
from core.chemistry.ligands import SUBSTITUENTS
from core.pipeline.settings import FAST
from core.storage.store import Store
from tests.conftest import store_a_complex_passed_by_an_older_qc

BIN = Path(sys.executable).parent
DATA_DIR = Path(__file__).resolve().parents[1] / "data"
SMALL = dict(substituents=["methyl"], scaffolds=["HOPO"], ctypes=["1L6W"], include_hdev=False)


def test_grid_is_the_papers_grid_plus_hdev_out_of_sample():
    grid = dataset_grid()
    train = [g for g in grid if g.split == "train"]
    hdev = [g for g in grid if g.split == "hdev"]
    assert len(train) == 4 * len(SUBSTITUENTS) and all(len(g.ctypes) == 4 for g in train)
    assert len(hdev) == len(SUBSTITUENTS) and all(g.ctypes == ("4L",) and g.ligand.scaffold == "HDEV" for g in hdev)
    # 4 x 23 x 4 x 16 + 23 x 16 complexes, as in the paper's range
    assert 5000 <= 16 * sum(len(g.ctypes) for g in grid) <= 6500
    # substituent-major: a partial build already covers every scaffold
    assert {g.ligand.scaffold for g in grid[:4]} == {"HOPO", "CAM", "thio-HOPO", "thio-CAM"}


def test_shards_round_trip_with_energies_labels_and_provenance(small_store_copy, tmp_path):
    store = Store(small_store_copy)
    prov = write_dataset(store, FAST, dataset_grid(**SMALL), tmp_path / "ds", ["La", "Lu"])
    frames = read_frames(tmp_path / "ds")
    assert len(frames) == 2 == prov["counts"]["train"]["included"]
    df = results_frame(store)
    for atoms in frames:
        row = df[df["metal"] == atoms.info["metal"]].iloc[0]
        assert atoms.get_potential_energy() == pytest.approx(row["E_bind (kcal/mol)"])
        assert atoms.info["absolute_energy"] == pytest.approx(row["E_complex (kcal/mol)"])
        assert atoms.info["scaffold"] == "HOPO" and atoms.info["substituent"] == "methyl"
        assert atoms.info["type"] == "1L6W" and atoms.info["charge"] == 2 and atoms.info["qc"] == "passed"
    saved = json.loads((tmp_path / "ds" / "provenance.json").read_text())
    assert saved["level_of_theory"] == "GFN2-xTB/ALPB(water)" and saved["energy_units"] == "kcal/mol"
    assert saved["settings"]["name"] == "fast" and "tblite" in saved["packages"] and saved["qc_version"] >= 2
    assert saved["compute_s"]["complex"] > 0 and saved["compute_s"]["total"] >= saved["compute_s"]["template"] > 0
    again = write_dataset(store, FAST, dataset_grid(**SMALL), tmp_path / "ds", ["La", "Lu"])
    assert again["sha256"] == prov["sha256"]


def test_qc_failed_complexes_are_excluded_and_counted(small_store_copy, tmp_path):
    store = Store(small_store_copy)
    row = store.get("complex", FAST, ligand="CNC(=O)c1ccc(C)c(=O)n1[O-]", metal="Lu", ctype="1L6W")
    store.update(row.id, status="qc_failed", reason="test: ligand changed connectivity")
    prov = write_dataset(store, FAST, dataset_grid(**SMALL), tmp_path / "ds", ["La", "Lu"])
    assert prov["counts"]["train"]["included"] == 1 and prov["counts"]["train"]["qc_failed"] == 1
    assert prov["qc_rejections"][0]["metal"] == "Lu"
    assert [a.info["metal"] for a in read_frames(tmp_path / "ds")] == ["La"]


def test_complexes_passed_by_an_older_qc_are_rechecked_before_writing(small_store_copy, tmp_path):
    store = Store(small_store_copy)
    lu = store_a_complex_passed_by_an_older_qc(store, "Lu")
    prov = write_dataset(store, FAST, dataset_grid(**SMALL), tmp_path / "ds", ["La", "Lu"])
    assert prov["counts"]["train"]["qc_failed"] == 1 and prov["qc_rejections"][0]["metal"] == "Lu"
    row = store.db.get(id=lu)
    assert row.status == "qc_failed" and row.reason and row.qc_version >= 2
    la = store.get("complex", FAST, ligand="CNC(=O)c1ccc(C)c(=O)n1[O-]", metal="La", ctype="1L6W")
    assert la.status == "ok"


def test_dataset_build_command_reuses_the_store(small_store_copy, tmp_path):
    out = subprocess.run([str(BIN / "reescreen"), "dataset", "build", "--substituents", "methyl", "--scaffolds",
                          "HOPO", "--types", "1L6W", "--metals", "La,Lu", "--no-hdev", "--no-progress",
                          "--workers", "1", "--db", str(small_store_copy), "--out", str(tmp_path / "ds")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "train: 2 frames written of 2 requested" in out.stdout
    prov = json.loads((tmp_path / "ds" / "provenance.json").read_text())
    assert prov["build"]["tasks_computed_now"] == 0
    rewrite = subprocess.run([str(BIN / "reescreen"), "dataset", "build", "--write-only", "--substituents", "methyl",
                              "--scaffolds", "HOPO", "--types", "1L6W", "--metals", "La,Lu", "--no-hdev",
                              "--db", str(small_store_copy), "--out", str(tmp_path / "ds")],
                             capture_output=True, text=True, timeout=300)
    assert rewrite.returncode == 0, rewrite.stderr
    again = json.loads((tmp_path / "ds" / "provenance.json").read_text())
    assert again["build"] == prov["build"] and again["sha256"] == prov["sha256"]  # the build's record is kept


def test_a_stopped_build_stops_its_concurrent_ligands_and_starts_no_more(small_store_copy):
    """SIGTERM (a session's end, `kill`) reaches only the main thread: the ligands screened beside it in
    threads must stop too, with what finished stored, instead of the build going on ligand after ligand."""
    import signal
    import sqlite3
    import time

    def ligands_stored() -> set[str]:
        with sqlite3.connect(small_store_copy, timeout=60) as con:
            return {v for (v,) in con.execute("SELECT value FROM text_key_values WHERE key = 'ligand_name'")}

    before = ligands_stored()
    names = ["methyl", "ethyl", "methoxy", "amino", "fluoro", "chloro", "thiol", "nitrile"]
    child = subprocess.Popen([str(BIN / "reescreen"), "dataset", "build", "--substituents", ",".join(names),
                              "--scaffolds", "HOPO", "--types", "1L6W", "--metals", "La,Lu", "--no-hdev",
                              "--no-progress", "--workers", "2", "--concurrent-ligands", "2",
                              "--db", str(small_store_copy), "--out", str(small_store_copy.parent / "ds")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while len(ligands_stored() - before) < 1 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)  # a second ligand has been stored: the screens run two at a time
    at_stop = ligands_stored()
    child.send_signal(signal.SIGTERM)
    stopped = time.monotonic()
    _, err = child.communicate(timeout=120)
    assert time.monotonic() - stopped < 30 and child.returncode != 0 and "interrupted" in err
    after = ligands_stored()
    # the two running screens may store what they were finishing; no ligand after them was started
    assert len(after - at_stop) <= 2 and len(after) < len(before | {f"HOPO-{n}" for n in names})


def test_ligands_screened_concurrently_are_all_stored_once(small_store_copy, client):
    from core.pipeline.dataset import build_dataset

    store = Store(small_store_copy)
    before = {r.key: r.id for r in store.db.select(kind="complex")}
    grid = dataset_grid(substituents=["methyl", "hydrogen"], scaffolds=["HOPO"], ctypes=["1L6W"], include_hdev=False)
    info = build_dataset(store, client, FAST, grid, ["La", "Lu"], concurrent=2)
    assert not info["errors"] and info["concurrent_ligands"] == 2
    keys = [r.key for r in store.db.select(kind="complex")]
    assert len(keys) == len(set(keys))  # nothing stored twice
    df = results_frame(store)
    assert len(df) == 4 and (df["status"] == "ok").all()
    assert all(store.db.get(key=k).id == i for k, i in before.items())  # earlier results untouched


def test_reading_more_shards_than_the_shipped_datasets_again_parses_none_of_them_twice(tmp_path):
    import ase.io
    from ase.build import molecule

    from core.storage.extxyz import PARSED_FILES, _read_file, frame_files

    shipped = len(frame_files(DATA_DIR / "dataset")) + len(frame_files(DATA_DIR / "dataset-groups"))
    assert PARSED_FILES > shipped
    for k in range(shipped + 2):
        water = molecule("H2O")
        water.info["shard"] = k
        ase.io.write(tmp_path / f"part-{k:03d}.extxyz", water, format="extxyz")
    read_frames(tmp_path)
    before = _read_file.cache_info()
    again = read_frames(tmp_path)
    after = _read_file.cache_info()
    assert [a.info["shard"] for a in again] == list(range(shipped + 2))
    assert after.misses == before.misses and after.hits - before.hits == shipped + 2


def test_a_gzipped_shard_reads_the_same_frames_labels_and_metadata_as_the_plain_file(tmp_path):
    import gzip
    import shutil

    import ase.io
    import numpy as np

    plain = read_frames(DATA_DIR / "dataset" / "reescreen-gfn2xtb-hdev-000.extxyz.gz")[:40]
    ase.io.write(str(tmp_path / "shard.extxyz"), plain, format="extxyz")
    with open(tmp_path / "shard.extxyz", "rb") as src, gzip.open(tmp_path / "shard.extxyz.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    a, b = read_frames(tmp_path / "shard.extxyz"), read_frames(tmp_path / "shard.extxyz.gz")
    assert len(a) == len(b) == 40
    for x, y, z in zip(a, b, plain):
        assert np.array_equal(x.positions, y.positions) and x.get_chemical_symbols() == y.get_chemical_symbols()
        assert x.info == y.info and x.info["ligand"] == z.info["ligand"]
        assert x.get_potential_energy() == y.get_potential_energy() == pytest.approx(z.get_potential_energy())
