"""Ligand names chosen by users, kept in the store file beside the results (one name per ligand SMILES).

A name is a label, never part of a result's identity: renaming a ligand changes no stored result, and
every table, plot and export shows the newest name.  Names live in the store so that everyone using a
shared store (the app server, the CLI, a cluster run) sees the same ones.
"""
from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from typing import TYPE_CHECKING

from core.chemistry.uploads import clean_name

if TYPE_CHECKING:
    from core.storage.store import Store

TABLE = "reescreen_ligand_names"


def _connect(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(path, timeout=60, isolation_level=None)
    con.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (smiles TEXT PRIMARY KEY, name TEXT NOT NULL, "
                "named_at REAL NOT NULL)")
    return con


def set_ligand_name(store: "Store", smiles: str, name: str) -> str:
    """Give the ligand ``smiles`` (canonical) the name ``name`` in ``store``; an empty name removes it.
    Returns the name kept (cleaned: one line, no control characters, at most 80 characters)."""
    name = clean_name(name)
    store.db  # noqa: B018 - creates the store as an ASE database first, so the file stays a valid store
    con = _connect(store.path)
    try:
        if name:
            con.execute(f"INSERT INTO {TABLE} (smiles, name, named_at) VALUES (?, ?, ?) ON CONFLICT(smiles) "
                        "DO UPDATE SET name = excluded.name, named_at = excluded.named_at", (smiles, name, time.time()))
        else:
            con.execute(f"DELETE FROM {TABLE} WHERE smiles = ?", (smiles,))
    finally:
        con.close()
    return name


def ligand_names(path: str | os.PathLike) -> dict[str, str]:
    """Every user-given name in the store: canonical SMILES -> name (empty when the store has none)."""
    path = Path(path)
    if not path.exists():
        return {}
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return dict(con.execute(f"SELECT smiles, name FROM {TABLE}").fetchall())
    except sqlite3.OperationalError:  # no name given yet: the table does not exist
        return {}
    finally:
        con.close()
