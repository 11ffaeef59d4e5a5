"""The architecture holds: a store that only stores, one seam for the level of theory, a fast results read."""
from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from ase.build import molecule
from ase.calculators.lj import LennardJones

from core.levels import DEFAULT_LEVEL, LEVELS, Attempt, LevelError, LevelOfTheory
from core.pipeline.settings import FAST
from core.pipeline.tasks import compute_water_reference
from core.storage import read_model
from core.storage.records import OK, Kind, Record, Status
from core.storage.results import E_BIND, LEVEL, ROW_ID, results_frame, structure
from core.storage.store import Store

ROOT = Path(__file__).resolve().parents[1]


class LennardJonesLevel(LevelOfTheory):
    """A second, real level of theory (ASE's Lennard-Jones calculator) to exercise the seam."""

    name = "LJ(test)"
    slug = "ljtest"
    short_name = "LJ"

    def attempts(self, settings):
        return [Attempt("default")]

    def calculator(self, charge, multiplicity, settings, attempt):
        return LennardJones(sigma=1.0, epsilon=0.01, rc=4.0)


@pytest.fixture
def lj_settings(monkeypatch):
    level = LennardJonesLevel()
    monkeypatch.setitem(LEVELS, level.name, level)
    return FAST.with_changes(level=level.name)


def test_importing_the_store_loads_no_quantum_chemistry_architector_or_torch():
    code = ("import sys, core.storage.store; "
            "print(sorted(m for m in ('tblite', 'architector', 'torch', 'xtb', 'ase.db', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_nothing_outside_the_levels_package_names_xtb():
    offenders = []
    for folder in ("core", "app", "pages"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.is_relative_to(ROOT / "core" / "levels"):
                continue
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if re.search(r"xtb|tblite", line, re.IGNORECASE):
                    offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_the_screening_level_makes_an_ase_calculator_and_states_its_retry_policy():
    attempts = DEFAULT_LEVEL.attempts(FAST)
    assert [a.options["electronic_temperature"] for a in attempts] == [FAST.electronic_temperature,
                                                                      FAST.retry_temperature]
    water = molecule("H2O")
    water.calc = DEFAULT_LEVEL.calculator(0, 1, FAST, attempts[0])
    assert np.isfinite(water.get_potential_energy())
    assert DEFAULT_LEVEL.multiplicity(molecule("H2O"), 0) == 1


def test_a_level_that_fails_every_attempt_says_which_attempts_failed():
    with pytest.raises(LevelError, match="300 K.*1000 K"):
        DEFAULT_LEVEL.single_point(molecule("H2O"), 0, FAST.with_changes(scf_max_iterations=1))


def test_two_levels_of_one_complex_live_side_by_side_in_one_store(tmp_path, lj_settings, la_complex):
    store = Store(tmp_path / "two-levels.db")
    water_xtb = compute_water_reference(FAST)
    water_lj = compute_water_reference(lj_settings)
    assert water_xtb.status == OK and water_lj.status == OK and water_lj.level == "LJ(test)"
    store.save(water_xtb, FAST)
    store.save(water_lj, lj_settings)
    assert store.energy(Kind.WATER, FAST) == pytest.approx(water_xtb.energy)
    assert store.energy(Kind.WATER, lj_settings) == pytest.approx(water_lj.energy)
    assert store.energy(Kind.WATER, FAST) != store.energy(Kind.WATER, lj_settings)

    complex_ = Record(Kind.COMPLEX, ligand="CNC(=O)c1ccc(C)c(=O)n1[O-]", metal="La", ctype="1L6W",
                      energy=-1.0, atoms=la_complex.atoms, charge=2)
    store.save(complex_, FAST)
    store.save(complex_, lj_settings)
    table = results_frame(store)
    assert sorted(table[LEVEL]) == sorted([DEFAULT_LEVEL.name, "LJ(test)"])
    assert list(results_frame(store, settings=lj_settings)[LEVEL]) == ["LJ(test)"]
    assert set(table["rank"].dropna()) <= {1}  # ranked within a level, never across levels


def test_the_results_read_model_follows_every_write(tmp_path, la_complex):
    store = Store(tmp_path / "rm.db")
    rec = Record(Kind.COMPLEX, ligand="L", metal="La", ctype="1L6W", energy=-5.0, atoms=la_complex.atoms, charge=2)
    row_id = store.save(rec, FAST, {"ligand_name": "HOPO-methyl"})
    store.annotate({row_id: {"e_bind_kcal": -123.4}})
    table = results_frame(store)
    assert table.loc[0, E_BIND] == -123.4 and table.loc[0, "ligand"] == "HOPO-methyl"
    store.update(row_id, status=Status.QC_FAILED, reason="test")
    table = results_frame(store)
    assert table.loc[0, "status"] == "qc_failed" and pd_isna(table.loc[0, "rank"])
    new_id = store.save(rec, FAST)  # same key: replaces the row
    assert list(results_frame(store)[ROW_ID]) == [new_id]


def pd_isna(value) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


def test_a_store_without_the_read_model_gets_one_on_first_read(small_store_copy):
    with sqlite3.connect(small_store_copy) as con:
        con.execute(f"DROP TABLE IF EXISTS {read_model.TABLE}")
        ids = [i for (i,) in con.execute("SELECT id FROM systems WHERE key_value_pairs LIKE '%\"kind\": \"complex\"%' "
                                         "AND key_value_pairs LIKE '%\"ligand\": \"C%'")]
    table = results_frame(Store(small_store_copy))
    assert sorted(table[ROW_ID]) == sorted(ids) and len(ids) == 2


def test_one_complex_by_id_is_read_without_decoding_the_others(small_screen):
    store = Store(small_screen[0])
    table = results_frame(store)
    atoms = structure(store, int(table.loc[0, ROW_ID]))
    assert atoms.info["metal"] == table.loc[0, "metal"] and atoms.info["energy"] == pytest.approx(table.loc[0, E_BIND])
    with sqlite3.connect(small_screen[0]) as con:
        plan = " ".join(str(r) for r in con.execute("EXPLAIN QUERY PLAN SELECT * FROM systems WHERE id = 1"))
    assert "USING INTEGER PRIMARY KEY" in plan


@pytest.fixture(scope="module")
def big_store(tmp_path_factory):
    sys.path.insert(0, str(ROOT / "scripts"))
    from big_store import make_big_store

    path = tmp_path_factory.mktemp("big") / "big.db"
    n = make_big_store(path, 100_000)
    assert n >= 100_000
    return path


def test_results_structure_and_export_pages_stay_fast_on_a_100k_store(big_store, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from app.state import get_store

    monkeypatch.setenv("REESCREEN_DB", str(big_store))
    get_store.clear()
    timings = {}
    for page in ("results", "structure", "export"):
        for run in ("first", "again"):
            start = time.perf_counter()
            at = AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=120).run()
            timings[f"{page} {run}"] = time.perf_counter() - start
            assert not at.exception, (page, at.exception)
    out = ROOT / "test-artifacts"
    out.mkdir(exist_ok=True)
    (out / "big-store-pages.txt").write_text("\n".join(f"{k}: {v:.2f} s" for k, v in timings.items()) + "\n")
    # the page scripts themselves, with the table cached: seconds, not the minutes a full decode took
    assert max(v for k, v in timings.items() if k.endswith("again")) < 10, timings
    assert at.metric or at.dataframe


def test_readme_layout_names_every_core_module():
    readme = (ROOT / "README.md").read_text()
    layout = readme[readme.index("## Layout"):readme.index("## Benchmark")]
    for package in sorted(p for p in (ROOT / "core").iterdir() if p.is_dir() and (p / "__init__.py").exists()):
        row = next((line for line in layout.splitlines() if f"`core/{package.name}/`" in line), "")
        assert row, f"core/{package.name}/ has no row in the README's layout table"
        for module in package.glob("*.py"):
            if module.name != "__init__.py" or package.name in ("levels", "cli"):
                assert f"`{module.name}`" in row, f"core/{package.name}/{module.name} missing from the README layout"
