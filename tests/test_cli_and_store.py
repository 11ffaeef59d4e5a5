"""The `reescreen` command and the store: help, bad input, cache, provenance, CSV and extxyz export."""
import subprocess
import sys
import time
from pathlib import Path

import ase.io
import pandas as pd
import pytest
from ase.build import molecule

from core.storage.records import Record
from core.storage.results import export_csv, results_frame
from core.cli import main
from core.pipeline.runner import run_screen
from core.pipeline.settings import FAST, THOROUGH
from core.storage.store import Store, package_versions
from tests.conftest import store_a_complex_passed_by_an_older_qc

BIN = Path(sys.executable).parent


def test_help_lists_every_command_and_option():
    out = subprocess.run([str(BIN / "reescreen"), "--help"], capture_output=True, text=True, check=True).stdout
    for cmd in ("screen", "ligands", "results", "export"):
        assert cmd in out
    out = subprocess.run([str(BIN / "reescreen"), "screen", "--help"], capture_output=True, text=True,
                         check=True).stdout
    for opt in ("--smiles", "--scaffold", "--substituent", "--donors", "--metals", "--types", "--settings",
                "--scheduler", "--db", "--retry-failed"):
        assert opt in out


def test_ligands_command_lists_scaffolds_and_substituents(capsys):
    assert main(["ligands"]) == 0
    out = capsys.readouterr().out
    assert "HOPO" in out and "thio-CAM" in out and "2-hydroxypyridine" in out
    assert main(["ligands", "--scaffold", "CAM"]) == 0
    assert "CAM-phosphonate" in capsys.readouterr().out


@pytest.mark.parametrize("args,message", [
    (["--smiles", "C1CC("], "Invalid SMILES"),
    (["--smiles", "OCc1ccccc1O"], "No anionic donor"),
    (["--smiles", "[O-]c1ccccc1[O-]", "--metals", "Fe"], "unknown metals"),
    (["--smiles", "[O-]c1ccccc1[O-]", "--types", "5L"], "unknown coordination types"),
    (["--scaffold", "HOPO"], "needs --substituent"),
])
def test_bad_screen_input_fails_fast_with_a_clear_message(tmp_path, args, message):
    proc = subprocess.run([str(BIN / "reescreen"), "screen", *args, "--db", str(tmp_path / "x.db")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_results_command_prints_ranked_table_with_level_of_theory(small_screen, capsys):
    assert main(["results", "--db", str(small_screen[0])]) == 0
    out = capsys.readouterr().out
    assert "GFN2-xTB/ALPB(water)" in out and "kcal/mol" in out and "1L6W" in out
    assert "La" in out and "Lu" in out


def test_cached_screen_returns_at_once_and_computes_nothing(small_screen, client, hopo_methyl):
    store = Store(small_screen[0])
    start = time.perf_counter()
    summary = run_screen(hopo_methyl, store, client, FAST, ["La", "Lu"], ["1L6W"])
    assert summary.computed == 0 and summary.cached == 2
    assert time.perf_counter() - start < 1.0


def test_rescreening_rechecks_complexes_an_older_qc_passed_without_recomputing_them(small_store_copy, client,
                                                                                  hopo_methyl):
    store = Store(small_store_copy)
    lu = store_a_complex_passed_by_an_older_qc(store, "Lu")
    summary = run_screen(hopo_methyl, store, client, FAST, ["La", "Lu"], ["1L6W"])
    assert summary.computed == 0
    df = results_frame(store).set_index("metal")
    assert df.loc["Lu", "qc"] == "failed" and "proton" in df.loc["Lu", "reason"] and pd.isna(df.loc["Lu", "rank"])
    assert df.loc["La", "qc"] == "passed" and df.loc["La", "rank"] == 1
    assert store.db.get(id=lu).qc_version >= 2


def test_rescreening_recovers_results_an_older_qc_rejected_without_cause(small_store_copy, client, hopo_methyl):
    """QC version 2 read some unchanged ligands as other molecules (a perceived resonance form): their stored
    complexes pass on the re-check, without being recomputed, and a free ligand it rejected is computed again."""
    store = Store(small_store_copy)
    la = store.get("complex", FAST, ligand=hopo_methyl.smiles, metal="La", ctype="1L6W")
    e_bind = la.e_bind_kcal
    store.update(la.id, delete_keys=("e_bind_kcal", "e_exchange_kcal"), status="qc_failed", qc_version=2,
                 reason="ligand changed connectivity (InChIKey VULCPXFBQXMPAZ-UQNILYIBNA-L ≠ QABRMXQLIOBFNP-RUPMFNC)")
    free = store.get("ligand", FAST, ligand=hopo_methyl.smiles)
    e_free = free.energy_kcal
    store.update(free.id, delete_keys=("energy_kcal", "qc_version"), status="failed",
                 reason="free ligand changed connectivity on optimisation")
    summary = run_screen(hopo_methyl, store, client, FAST, ["La", "Lu"], ["1L6W"])
    assert summary.computed == 1 and summary.cached == 2  # the free ligand; no complex
    assert store.energy("ligand", FAST, ligand=hopo_methyl.smiles) == pytest.approx(e_free, abs=1e-3)
    row = store.get("complex", FAST, ligand=hopo_methyl.smiles, metal="La", ctype="1L6W")
    assert row.id == la.id and row.status == "ok" and "reason" not in row and row.qc_version >= 3
    assert row.e_bind_kcal == pytest.approx(e_bind, abs=1e-3) and "e_exchange_kcal" in row
    df = results_frame(store).set_index("metal")
    assert (df["qc"] == "passed").all() and df.loc["La", "E_bind (kcal/mol)"] == pytest.approx(e_bind, abs=1e-3)


def test_results_are_keyed_by_settings(small_screen, hopo_methyl):
    store = Store(small_screen[0])
    assert store.has("complex", FAST, ligand=hopo_methyl.smiles, metal="La", ctype="1L6W")
    assert not store.has("complex", THOROUGH, ligand=hopo_methyl.smiles, metal="La", ctype="1L6W")
    assert FAST.fingerprint() != FAST.with_changes(fmax=0.02).fingerprint()


def test_store_keeps_provenance(small_screen):
    store = Store(small_screen[0])
    meta = store.db.metadata
    assert meta["packages"] == package_versions() and meta["level_of_theory"] == "GFN2-xTB/ALPB(water)"
    row = next(store.rows(kind="complex"))
    assert row.code_version and row.settings == "fast" and row.data["settings"]["fmax"] == FAST.fmax


def test_store_location_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("REESCREEN_DB", str(tmp_path / "env.db"))
    assert Store().path == tmp_path / "env.db"


def test_csv_export_has_units_and_level_of_theory(small_screen, tmp_path):
    out = tmp_path / "short.csv"
    assert main(["export", str(out), "--db", str(small_screen[0])]) == 0
    df = pd.read_csv(out)  # plain: the metadata are in the file beside it
    assert len(df) == 2 and "E_bind (kcal/mol, GFN2-xTB/ALPB(water))" in df.columns
    meta = pd.read_csv(tmp_path / "short.metadata.csv").set_index("field")["value"]
    assert meta["level of theory"] == "GFN2-xTB/ALPB(water)" and meta["software"].startswith("reescreen")


def test_extxyz_export_one_frame_per_complex_with_binding_energy(small_screen, tmp_path):
    out = tmp_path / "set.xyz"
    assert main(["export", str(out), "--db", str(small_screen[0])]) == 0
    frames = ase.io.read(out, index=":")
    df = results_frame(Store(small_screen[0]))
    assert len(frames) == len(df) == 2
    for atoms in frames:
        row = df[(df["metal"] == atoms.info["metal"])].iloc[0]
        assert atoms.get_potential_energy() == pytest.approx(row["E_bind (kcal/mol)"])
        assert atoms.info["absolute_energy"] == pytest.approx(row["E_complex (kcal/mol)"])
        assert atoms.info["type"] == "1L6W" and atoms.info["charge"] == 2 and atoms.info["qc"] == "passed"
        assert len(atoms) == 1 + 22 + 6 * 3


def test_csv_export_neutralises_spreadsheet_formulas(small_store_copy, tmp_path):
    from core.storage.results import neutralise_formula

    assert neutralise_formula("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")"
    assert neutralise_formula("@SUM(A1)") == "'@SUM(A1)" and neutralise_formula("CCO") == "CCO"
    assert neutralise_formula(-1234.5) == -1234.5  # numbers stay numbers
    from core.storage.names import set_ligand_name

    store = Store(small_store_copy)
    row = next(store.rows(kind="complex", metal="Lu", ctype="1L6W"))
    set_ligand_name(store, row.get("ligand"), "=cmd|' /C calc'!A0")  # a user's name for the ligand
    out = tmp_path / "x.csv"
    export_csv(store, out)
    df = pd.read_csv(out)
    assert "'=cmd|' /C calc'!A0" in set(df["ligand"])
    assert not any(str(v).startswith("=") for v in df.select_dtypes(exclude="number").to_numpy().ravel())
    assert df["E_bind (kcal/mol, GFN2-xTB/ALPB(water))"].dtype.kind == "f"


WRITER = """
import sys
from ase.build import molecule
from core.pipeline.settings import FAST
from core.storage.store import Store
from core.storage.records import Record
store = Store(sys.argv[1])
for i in range(int(sys.argv[3])):
    store.save(Record("ligand", ligand=f"writer{sys.argv[2]}-{i}", energy=-float(i), atoms=molecule("H2O")), FAST)
"""


def test_store_survives_two_writers_at_once(tmp_path):
    import sqlite3

    path = tmp_path / "shared.db"
    Store(path)
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(w), "150"], stderr=subprocess.PIPE,
                              text=True) for w in (1, 2)]
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
    names = [r.ligand for r in Store(path).rows(kind="ligand")]
    assert len(names) == len(set(names)) == 300
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_lock_file_left_by_a_killed_writer_does_not_block_the_store(small_store_copy):
    """A process SIGKILLed mid-write leaves ASE's `<db>.lock` behind; the store must not wait on it."""
    Path(str(small_store_copy) + ".lock").write_text("")
    code = ("from core.storage.store import Store; from core.pipeline.settings import FAST; from core.storage.records import Record; "
            f"s = Store({str(small_store_copy)!r}); "
            "print(s.save(Record('ligand', ligand='[O-]c1ccccc1[O-]', energy=-1.0), FAST))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout.strip()) > 0


LONG_READER = """
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("BEGIN")
con.execute("SELECT count(*) FROM systems").fetchall()  # holds the read lock until the transaction ends
print("reading", flush=True)
time.sleep(float(sys.argv[2]))
con.execute("ROLLBACK")
"""


def test_a_reader_holding_the_store_longer_than_sqlite_waits_delays_a_write_but_never_breaks_the_store(tmp_path):
    """A long query elsewhere (the app, a sqlite3 shell) makes the commit itself time out after SQLite's 20 s;
    the write is retried, and the Store keeps working (a group-grid build once died of this)."""
    path = tmp_path / "busy.db"
    store = Store(path)
    store.save(Record("ligand", ligand="before", energy=-1.0, atoms=molecule("H2O")), FAST)
    reader = subprocess.Popen([sys.executable, "-c", LONG_READER, str(path), "22"], stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "reading"
        store.save(Record("ligand", ligand="during", energy=-2.0, atoms=molecule("H2O")), FAST)
    finally:
        reader.wait(timeout=60)
    store.save(Record("ligand", ligand="after", energy=-3.0, atoms=molecule("H2O")), FAST)
    assert sorted(r.ligand for r in Store(path).rows(kind="ligand")) == ["after", "before", "during"]
