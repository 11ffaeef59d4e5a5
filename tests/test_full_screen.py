"""Full-size run (16 REEs × 4 types): on request only, `python -m pytest -m slow`."""
import pytest

from core.storage.results import results_frame
from core.chemistry.constants import REE_METALS
from core.chemistry.ligands import library_ligand
from core.pipeline.runner import run_screen
from core.pipeline.settings import FAST
from core.storage.store import Store


@pytest.mark.slow
def test_hopo_methyl_full_screen_ranks_all_sixteen_metals_in_four_types(tmp_path, client):
    store = Store(tmp_path / "full.db")
    summary = run_screen(library_ligand("HOPO", "methyl"), store, client, FAST)
    assert summary.errors == []
    df = results_frame(store)
    assert len(df) == 64 and set(df["metal"]) == set(REE_METALS)
    ok = df[df["status"] == "ok"]
    assert len(ok) >= 60 and ok["E_bind (kcal/mol)"].notna().all() and ok["rank"].notna().all()
    assert df[df["status"] != "ok"]["rank"].isna().all()
