"""The wider training grid: library groups picked for diversity, a group hold-out drawn before training, and
a real (tiny) build whose frames say which group sits at which ring position."""
from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from core.model.holdout import group_of
from core.pipeline.group_grid import HOLDOUT_SPLIT, grid_groups, group_grid, held_out_groups, load_grid_spec
from core.storage.extxyz import read_frames

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def test_shipped_grid_adds_110_new_diverse_groups_and_holds_26_out_on_every_scaffold_and_position():
    spec = load_grid_spec(ROOT / "configs" / "group-grid.yaml")
    groups = grid_groups(spec)
    assert len(groups) == 110 and len({g.smiles for g in groups}) == 110
    assert not any(g.in_training_grid for g in groups)
    assert len(Counter(g.family for g in groups)) >= 15  # spread over the library's families
    assert grid_groups(spec) == groups  # the pick is fixed by its seed
    held = {g.smiles for g in held_out_groups(spec, groups)}
    assert len(held) == 26
    items = group_grid(spec)
    assert len(items) == 110 * 2 + 20 * 2
    assert {(i.ligand.scaffold, i.position) for i in items if i.group in held} <= \
        {("HOPO", "C3"), ("CAM", "C3"), ("HOPO", "C4"), ("CAM", "C4")}
    for item in items:
        assert (item.split == HOLDOUT_SPLIT) == (item.group in held)
    assert sum(i.split == HOLDOUT_SPLIT and i.position == "C3" for i in items) >= 50  # ligands to rank
    c4 = [i for i in items if i.position == "C4"]
    assert {i.group for i in c4} == {g.smiles for g in groups[:20]}
    assert all(i.ligand.substituent == f"4-{next(g.name for g in groups if g.smiles == i.group)}" for i in c4)
    assert 16 * 4 * len(items) == 16640


def test_a_tiny_group_grid_builds_and_writes_group_position_and_a_hold_out_shard(small_store_copy, tmp_path):
    (tmp_path / "groups.csv").write_text("name,smiles,family\nfluoro,*F,halogen\nmethoxy,*OC,oxygen\n"
                                         "chloro,*Cl,halogen\n")
    (tmp_path / "grid.yaml").write_text(
        f"groups: {tmp_path / 'groups.csv'}\nexclude_training_grid: false\nn_groups: 2\npick_seed: 1\n"
        "scaffolds: [HOPO]\nother_positions: [C4]\nn_other_position_groups: 1\ntypes: [1L6W]\nmetals: [La]\n"
        "n_held_out: 1\nhold_out_seed: 5\nroute: auto\nsettings: fast\n")
    run = subprocess.run([str(BIN / "reescreen"), "dataset", "build", "--grid", str(tmp_path / "grid.yaml"),
                          "--no-progress", "--workers", "2", "--db", str(small_store_copy),
                          "--out", str(tmp_path / "ds")], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    prov = json.loads((tmp_path / "ds" / "provenance.json").read_text())
    held = prov["build"]["grid"]["held_out_groups"]
    assert len(held) == 1 and len(prov["build"]["grid"]["groups"]) == 2
    frames = read_frames(tmp_path / "ds")
    assert {a.info["split"] for a in frames} == {"train", HOLDOUT_SPLIT}
    assert sum(c["included"] for c in prov["counts"].values()) == len(frames) == 3  # 2 groups at C3, 1 also at C4
    for atoms in frames:
        assert atoms.info["group"] == group_of(atoms) and atoms.info["position"] in ("C3", "C4")
        by_name = {g["name"]: g["smiles"] for g in prov["build"]["grid"]["groups"]}
        assert (atoms.info["split"] == HOLDOUT_SPLIT) == (atoms.info["group"] == by_name[held[0]])
    assert any(a.info["position"] == "C4" and a.info["substituent"].startswith("4-") for a in frames)
