"""The results read model: tables, structures by id and exports, read straight from the store's SQLite file.

The results table is read from stored columns (the rows' key-value pairs, through SQLite's JSON functions)
without decoding a single structure, so it stays fast when a store holds a library's worth of complexes;
one complex's structure is one indexed lookup.  Every column name is a constant here.
"""
from __future__ import annotations

import io
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from core import __version__
from core.chemistry.constants import ENERGY_UNITS, REE_METALS
from core.pipeline.settings import ScreeningSettings
from core.storage import read_model
from core.storage.records import OK, QC_FAILED, Kind
from core.storage.store import Store

if TYPE_CHECKING:
    from ase import Atoms

#: Results-table columns (energies in kcal/mol; the level of theory is in its own column).
E_BIND = "E_bind (kcal/mol)"
E_EXCHANGE = "E_exchange (kcal/mol)"
E_COMPLEX = "E_complex (kcal/mol)"
#: The bundled model's E_bind prediction (its label level is in the ``model`` column and on its card).
MODEL_COLUMN = "E_bind model (kcal/mol)"
LEVEL = "level of theory"
#: Route of complexes stored before routes were recorded: Architector built every one of them.
LEGACY_ROUTE = "architector"
MODEL_DOMAIN = "model domain"
ROW_ID = "row_id"
COLUMNS = ["rank", "ligand", "smiles", "scaffold", "substituent", "metal", "type", "status", "qc",
           E_BIND, MODEL_COLUMN, E_EXCHANGE, E_COMPLEX, "charge", "converged", "steps", "reason", LEVEL,
           "model", MODEL_DOMAIN, "route", "settings", ROW_ID]

#: Read-model column -> results-table column.
_STORED = {"ligand_name": "ligand_name", "ligand": "smiles", "scaffold": "scaffold", "substituent": "substituent",
           "metal": "metal", "ctype": "type", "status": "status", "e_bind_kcal": E_BIND,
           "e_exchange_kcal": E_EXCHANGE, "energy_kcal": E_COMPLEX, "total_charge": "charge",
           "converged": "converged", "n_steps": "steps", "reason": "reason", "level_of_theory": LEVEL,
           "settings": "settings", "model_e_bind_kcal": MODEL_COLUMN, "model_name": "model",
           "model_domain": MODEL_DOMAIN, "route": "route"}


def _complex_rows(store: Store, settings: ScreeningSettings | None, level: str | None) -> pd.DataFrame:
    """Every stored complex that has a ligand, as stored columns, from the read model (no structures)."""
    if not store.ensure_read_model():
        return pd.DataFrame(columns=["id", *_STORED.values()])
    where = ["kind = ?", "coalesce(ligand, '') != ''"]
    params: list = [str(Kind.COMPLEX)]
    if settings is not None:
        where.append("settings_hash = ?")
        params.append(settings.fingerprint())
    if level is not None:
        where.append("level_of_theory = ?")
        params.append(level)
    with store.connect() as con:
        rows = con.execute(f"SELECT id, {', '.join(_STORED)} FROM {read_model.TABLE} WHERE {' AND '.join(where)}",
                           params).fetchall()
    return pd.DataFrame.from_records(rows, columns=["id", *_STORED.values()])


def results_frame(store: Store, ligands: Iterable[str] | None = None, settings: ScreeningSettings | None = None,
                  metals: Iterable[str] | None = None, ctypes: Iterable[str] | None = None,
                  level: str | None = None) -> pd.DataFrame:
    """Complex results as a table, ranked by E_bind within each ligand, coordination type and level of theory.

    Failed and QC-flagged rows are included with their reasons and no rank.  With ``settings``, only
    results of those settings at their level; ``level`` picks one level of theory.
    """
    raw = _complex_rows(store, settings, settings.level if settings is not None and level is None else level)
    for values, column in ((ligands, "smiles"), (metals, "metal"), (ctypes, "type")):
        if values is not None:
            raw = raw[raw[column].isin(set(values))]
    if raw.empty:
        return pd.DataFrame(columns=COLUMNS)
    df = raw.rename(columns={"id": ROW_ID})
    df["ligand"] = df["ligand_name"].where(df["ligand_name"].notna(), df["smiles"])
    for col in ("scaffold", "substituent", "reason", "model", MODEL_DOMAIN):
        df[col] = df[col].fillna("")
    df["route"] = df["route"].fillna(LEGACY_ROUTE)
    df["qc"] = df["status"].map({str(OK): "passed", str(QC_FAILED): "failed"}).fillna("n/a")
    df["converged"] = df["converged"].astype("boolean")
    for col in (E_BIND, E_EXCHANGE, E_COMPLEX, MODEL_COLUMN):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    df["metal_order"] = df["metal"].map({m: i for i, m in enumerate(REE_METALS)})
    rankable = (df["status"] == str(OK)) & df[E_BIND].notna()
    df["rank"] = pd.Series(pd.NA, index=df.index, dtype="Int64")
    df.loc[rankable, "rank"] = (df[rankable].groupby(["smiles", "type", LEVEL])[E_BIND]
                                .rank(method="min").astype("Int64"))
    df = df.sort_values(["smiles", "type", LEVEL, "rank", "metal_order"], na_position="last")
    return df[COLUMNS].reset_index(drop=True)


def passed(df: pd.DataFrame) -> pd.DataFrame:
    """Rows that passed QC and carry a binding energy."""
    return df[(df["status"] == str(OK)) & df[E_BIND].notna()]


# -- structures -------------------------------------------------------------------------------------------
def structure(store: Store, row_id: int) -> "Atoms":
    """The stored structure of one result with its results in ``info`` (one indexed lookup): ``energy`` is
    E_bind and ``absolute_energy`` the complex's total energy (kcal/mol at ``level_of_theory``)."""
    row = store.row(row_id)
    atoms = row.toatoms()
    info = {"metal": row.get("metal", ""), "ligand": row.get("ligand", ""), "scaffold": row.get("scaffold", ""),
            "substituent": row.get("substituent", ""), "type": row.get("ctype", ""),
            "charge": int(row.get("total_charge", 0)),
            "qc": "passed" if row.status == OK else ("failed" if row.status == QC_FAILED else "n/a"),
            "status": row.status, "level_of_theory": row.get("level_of_theory", ""), "energy_units": ENERGY_UNITS,
            "route": row.get("route", "")}
    for key, stored in (("energy", "e_bind_kcal"), ("absolute_energy", "energy_kcal"),
                        ("exchange_energy", "e_exchange_kcal")):
        if row.get(stored) is not None:
            info[key] = float(row.get(stored))
    info["row_id"] = int(row.id)
    atoms.info = info
    return atoms


def frames_for_rows(store: Store, row_ids: Iterable[int]) -> list["Atoms"]:
    """Structures (see :func:`structure`) of these rows, in that order; ids not in the store are skipped."""
    out = []
    for row_id in row_ids:
        try:
            out.append(structure(store, int(row_id)))
        except KeyError:
            continue
    return out


def frames(store: Store, include_failed: bool = False, **filters) -> list["Atoms"]:
    """Complexes as Atoms in the public dataset's layout (see :func:`structure`), in results-table order."""
    df = results_frame(store, **filters)
    if not include_failed:
        df = df[df["status"] == str(OK)]
    return frames_for_rows(store, df[ROW_ID])


# -- exports ----------------------------------------------------------------------------------------------
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(value):
    """Text a spreadsheet would run as a formula (=, +, -, @, tab, CR first) gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def levels_in(df: pd.DataFrame) -> str:
    """The levels of theory of a results table, as one string."""
    found = sorted(set(df[LEVEL].dropna())) if LEVEL in df else []
    return ", ".join(found) or "no stored level"


def results_csv(df: pd.DataFrame) -> str:
    """CSV text of a results table: a header line with code version, units and level of theory, units in
    the column names, and every text cell made safe against spreadsheet formula injection."""
    df = df.copy()
    for col in [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]:
        df[col] = df[col].map(neutralise_formula)
    header = f"# reescreen {__version__}; energies in {ENERGY_UNITS} at {levels_in(df)}\n"
    return header + df.to_csv(index=False)


def extxyz_text(structures: Sequence["Atoms"]) -> str:
    """Extended XYZ text (one frame per complex, ``energy`` = E_bind in kcal/mol)."""
    import ase.io

    buffer = io.StringIO()
    ase.io.write(buffer, list(structures), format="extxyz")
    return buffer.getvalue()


def export_csv(store: Store, path: str | os.PathLike, **filters) -> int:
    """Write the results table to CSV (see :func:`results_csv`).  Returns rows written."""
    df = results_frame(store, **filters)
    Path(path).write_text(results_csv(df), encoding="utf-8")
    return len(df)


def export_extxyz(store: Store, path: str | os.PathLike, include_failed: bool = False, **filters) -> int:
    """Write complexes as extended XYZ, one frame per complex (see :func:`frames`); ``.gz`` compresses."""
    import ase.io

    found = frames(store, include_failed=include_failed, **filters)
    ase.io.write(str(path), found, format="extxyz")
    return len(found)
