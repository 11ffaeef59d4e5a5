"""Store parts: a long build carried between sessions as append-only files, with nothing lost or duplicated."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from core.pipeline.settings import FAST
from core.storage.parts import export_part, import_parts, parts
from core.storage.records import FAILED, OK
from core.storage.store import Store
from tests.conftest import stored_result_ids

BIN = Path(sys.executable).parent


def _content(db: Path) -> dict[str, tuple]:
    """Status, energy and positions of every stored result by its content key."""
    store = Store(db)
    out = {}
    for key in stored_result_ids(db):
        row = store.db.get(key=key)
        out[key] = (row.get("status"), row.get("energy_kcal"), row.toatoms().positions.round(8).tobytes())
    return out


def test_exported_parts_rebuild_the_store_and_a_second_export_adds_nothing(small_store_copy, tmp_path):
    folder = tmp_path / "parts"
    first, n = export_part(Store(small_store_copy), folder)
    assert first is not None and n == len(stored_result_ids(small_store_copy)) and n >= 10
    assert export_part(Store(small_store_copy), folder) == (None, 0)
    rebuilt = tmp_path / "rebuilt.db"
    assert import_parts(Store(rebuilt), folder) == n
    assert _content(rebuilt) == _content(small_store_copy)
    assert import_parts(Store(rebuilt), folder) == 0  # nothing twice
    with sqlite3.connect(rebuilt) as con:  # the results table is in step with the rows
        assert con.execute("SELECT count(*) FROM systems").fetchone()[0] == n


def test_a_point_computed_after_it_failed_goes_into_a_new_part_and_replaces_the_failed_row(small_store_copy, tmp_path):
    folder = tmp_path / "parts"
    store = Store(small_store_copy)
    row = next(r for r in store.rows(kind="complex", status=OK))
    store.update(row.id, delete_keys=("energy_kcal",), status=str(FAILED), reason="SCF did not converge")
    export_part(store, folder)
    elsewhere = tmp_path / "elsewhere.db"
    import_parts(Store(elsewhere), folder)
    assert Store(elsewhere).db.get(key=row.key).get("status") == FAILED
    store.update(row.id, status=str(OK), reason="", energy_kcal=row.energy_kcal)  # computed on a rerun
    second, n = export_part(store, folder)
    assert second is not None and n == 1 and len(parts(folder)) == 2
    assert import_parts(Store(elsewhere), folder) == 1
    fixed = Store(elsewhere).db.get(key=row.key)
    assert fixed.get("status") == OK and fixed.get("energy_kcal") == row.energy_kcal
    assert len(stored_result_ids(elsewhere)) == len(stored_result_ids(small_store_copy))


def test_dataset_build_write_only_with_parts_imports_then_exports_what_is_new(small_store_copy, tmp_path):
    folder = tmp_path / "parts"
    export_part(Store(small_store_copy), folder)
    fresh = tmp_path / "fresh.db"
    run = subprocess.run([str(BIN / "reescreen"), "dataset", "build", "--write-only", "--substituents", "methyl",
                          "--scaffolds", "HOPO", "--no-hdev", "--parts", str(folder), "--db", str(fresh),
                          "--out", str(tmp_path / "shards")], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert f"{len(stored_result_ids(small_store_copy))} rows imported" in run.stderr
    assert "new rows exported" not in run.stderr and len(parts(folder)) == 1
    assert (tmp_path / "shards" / "provenance.json").is_file()
    assert Store(fresh).get("complex", FAST, ligand="CNC(=O)c1ccc(C)c(=O)n1[O-]", metal="La", ctype="1L6W")


def test_reading_the_keys_of_a_part_is_linear_so_a_long_build_resumes_in_seconds(tmp_path):
    """The group grid's store and parts hold ~20,000 rows; reading their keys once took minutes (a self-join
    of ASE's key table, which has no index on the row id) and grew with the square of the rows."""
    import gzip
    import time

    from core.storage.parts import held_keys

    n = 20_000
    part = tmp_path / "part.db"
    with sqlite3.connect(part) as con:  # ASE's key table and index, as a store file has them
        con.execute("CREATE TABLE text_key_values (key TEXT, value TEXT, id INTEGER)")
        con.execute("CREATE INDEX text_index ON text_key_values(key)")
        con.executemany("INSERT INTO text_key_values VALUES (?, ?, ?)",
                        [(k, f"{k}-{i}" if k == "key" else ("ok" if i % 3 else "qc_failed"), i)
                         for i in range(1, n + 1) for k in ("key", "status", "ligand")])
    folder = tmp_path / "parts"
    folder.mkdir()
    with open(part, "rb") as src, gzip.open(folder / "part-20261205-000000-000000.db.gz", "wb") as dst:
        dst.write(src.read())
    start = time.perf_counter()
    held = held_keys(folder)
    assert time.perf_counter() - start < 5
    assert len(held) == n and ("key-3", "qc_failed") in held and ("key-4", "ok") in held
