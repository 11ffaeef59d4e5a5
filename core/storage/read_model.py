"""The results read model: one narrow SQLite table beside ASE's, with a row per stored row and a column per
result field, so the results table is read without touching structures.

ASE keeps every key-value pair inside each row's JSON next to the structure blobs; reading them for a
100,000-complex store means reading the whole file (~1.4 s).  :class:`core.storage.store.Store` refreshes
this table in the same transaction as every write, and rebuilds it from ASE's rows when it is missing or
out of step (a store written by an older version or by ASE directly).
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterable

TABLE = "reescreen_results_v2"
#: Stored key-value pairs copied into the read model (column name = key).
FIELDS = ("kind", "ligand", "ligand_name", "scaffold", "substituent", "metal", "ctype", "status", "reason",
          "settings", "settings_hash", "level_of_theory", "e_bind_kcal", "e_exchange_kcal", "energy_kcal",
          "total_charge", "converged", "n_steps", "model_e_bind_kcal", "model_name", "model_domain", "route")
_COLUMNS = ", ".join(FIELDS)
_EXTRACT = ", ".join(f"json_extract(key_value_pairs, '$.{f}')" for f in FIELDS)


def create(con: sqlite3.Connection) -> None:
    """Create the table and its indexes if absent."""
    con.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id INTEGER PRIMARY KEY, {_COLUMNS})")
    con.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_ligand ON {TABLE}(ligand)")


def refresh(con: sqlite3.Connection, ids: Iterable[int]) -> None:
    """Copy these rows' key-value pairs from ASE's table (rows that no longer exist are dropped)."""
    ids = [(int(i),) for i in ids]
    con.executemany(f"DELETE FROM {TABLE} WHERE id = ?", ids)
    con.executemany(f"INSERT INTO {TABLE} (id, {_COLUMNS}) SELECT id, {_EXTRACT} FROM systems WHERE id = ?", ids)


def rebuild(con: sqlite3.Connection) -> None:
    """Fill the table from every ASE row (seconds for 100,000 rows; done once per out-of-step store)."""
    create(con)
    con.execute(f"DELETE FROM {TABLE}")
    con.execute(f"INSERT INTO {TABLE} (id, {_COLUMNS}) SELECT id, {_EXTRACT} FROM systems")


def in_step(con: sqlite3.Connection) -> bool:
    """Whether the table exists and holds one row per ASE row (same count, same largest id)."""
    try:
        ours = con.execute(f"SELECT count(*), max(id) FROM {TABLE}").fetchone()
    except sqlite3.OperationalError:
        return False
    try:
        theirs = con.execute("SELECT count(*), max(id) FROM systems").fetchone()
    except sqlite3.OperationalError:  # no ASE table yet: an empty store
        return ours[0] == 0
    return tuple(ours) == tuple(theirs)
