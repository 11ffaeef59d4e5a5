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
from core.chemistry.constants import ENERGY_UNITS, series_position
from core.pipeline.settings import ScreeningSettings
from core.storage import read_model
from core.storage.names import ligand_names
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
#: Rank of a ligand among the stored ligands with one metal, coordination type, level and settings (1 = binds
#: most strongly), and how many ligands that rank is out of.  Metals are never ranked against each other.
RANK = "rank"
RANKED_OF = "of"
RANK_GROUP = ["metal", "type", LEVEL, "settings"]
COLUMNS = [RANK, RANKED_OF, "ligand", "metal", "type", E_EXCHANGE, E_BIND, MODEL_COLUMN, "qc", "status", "reason",
           "scaffold", "substituent", "smiles", E_COMPLEX, "charge", "converged", "steps", LEVEL,
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
    """Complex results as a table, ordered by ligand, type and the series (La … Lu, then Y).

    ``rank`` ranks each ligand among all stored ligands with the same metal, coordination type, level of
    theory and settings, by E_bind (the same order as E_exchange: within one metal and type the two differ
    by a constant).  Metals are never ranked against each other.  Failed and QC-flagged rows are included
    with their reasons and no rank.  With ``settings``, only results of those settings at their level;
    ``level`` picks one level of theory.  Ligand names: the user's name for it in this store, else the name
    stored with the result, else the library-style name of a recognised scaffold, else the SMILES.
    """
    raw = _complex_rows(store, settings, settings.level if settings is not None and level is None else level)
    if raw.empty:
        return pd.DataFrame(columns=COLUMNS)
    df = raw.rename(columns={"id": ROW_ID})
    for col in ("scaffold", "substituent", "reason", "model", MODEL_DOMAIN):
        df[col] = df[col].fillna("")
    _name_ligands(df, ligand_names(store.path))
    df["route"] = df["route"].fillna(LEGACY_ROUTE)
    df["qc"] = df["status"].map({str(OK): "passed", str(QC_FAILED): "failed"}).fillna("n/a")
    df["converged"] = df["converged"].astype("boolean")
    for col in (E_BIND, E_EXCHANGE, E_COMPLEX, MODEL_COLUMN):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    df = rank_ligands(df, E_BIND)
    # ranks are among every stored ligand; the filters only choose the rows shown
    for values, column in ((ligands, "smiles"), (metals, "metal"), (ctypes, "type")):
        if values is not None:
            df = df[df[column].isin(set(values))]
    df = df.assign(metal_order=df["metal"].map(series_position))
    df = df.sort_values(["smiles", "type", LEVEL, "settings", "metal_order"], na_position="last")
    return df[COLUMNS].reset_index(drop=True)


def rank_ligands(df: pd.DataFrame, energy: str = E_BIND) -> pd.DataFrame:
    """``df`` with ``rank`` and ``of`` recomputed: each ligand's rank by ``energy`` (most negative first) among
    the rows of the same metal, coordination type, level of theory and settings; rows without that energy
    (failed, QC-flagged, no aqua reference) are not ranked."""
    df = df.copy()
    rankable = (df["status"] == str(OK)) & df[energy].notna()
    df[RANK] = pd.Series(pd.NA, index=df.index, dtype="Int64")
    df[RANKED_OF] = pd.Series(pd.NA, index=df.index, dtype="Int64")
    if rankable.any():
        groups = df[rankable].groupby(RANK_GROUP, dropna=False)[energy]
        df.loc[rankable, RANK] = groups.rank(method="min").astype("Int64")
        df.loc[rankable, RANKED_OF] = groups.transform("count").astype("Int64")
    return df


def _name_ligands(df: pd.DataFrame, user_names: dict[str, str]) -> None:
    """Fill ``ligand`` (and a recognised scaffold and substituent) in place, once per distinct SMILES."""
    from core.chemistry.naming import recognise

    names, scaffolds, substituents = {}, {}, {}
    for smiles, block in df.groupby("smiles", sort=False):
        stored = [n for n in block["ligand_name"].dropna() if n and n != smiles]
        scaffold = next((x for x in block["scaffold"] if x), "")
        substituent = next((x for x in block["substituent"] if x), "")
        if not scaffold:
            scaffold, substituent = recognise(smiles) or ("", "")
        library_name = f"{scaffold}-{substituent}" if scaffold and substituent else ""
        names[smiles] = user_names.get(smiles) or (stored[-1] if stored else "") or library_name or smiles
        scaffolds[smiles], substituents[smiles] = scaffold, substituent
    df["ligand"] = df["smiles"].map(names)
    df["scaffold"] = df["smiles"].map(scaffolds)
    df["substituent"] = df["smiles"].map(substituents)


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


#: Decimals energies are exported with: the screening level's energies are not meaningful below 0.1 kcal/mol.
ENERGY_DECIMALS = 1


def export_table(df: pd.DataFrame) -> pd.DataFrame:
    """The results table as exported: energies rounded to 0.1 kcal/mol, the level of theory in the computed
    energies' column names when the table has one level (``E_bind (kcal/mol, LEVEL)``; the
    ``level of theory`` column stays), every text cell made safe against spreadsheet formula injection,
    internal columns dropped."""
    df = df.drop(columns=[c for c in (ROW_ID,) if c in df]).copy()
    for col in [c for c in df.columns if ENERGY_UNITS in c]:
        df[col] = pd.to_numeric(df[col], errors="coerce").round(ENERGY_DECIMALS)
    levels = sorted(set(df[LEVEL].dropna())) if LEVEL in df else []
    if len(levels) == 1:
        df = df.rename(columns={c: c.replace(f"({ENERGY_UNITS})", f"({ENERGY_UNITS}, {levels[0]})")
                                for c in (E_BIND, E_EXCHANGE, E_COMPLEX) if c in df})
    for col in [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]:
        df[col] = df[col].map(neutralise_formula)
    return df


def results_csv(df: pd.DataFrame) -> str:
    """CSV text of a results table (see :func:`export_table`): a plain header row with units in the column
    names, so ``pandas.read_csv`` and spreadsheets read it as it is; the metadata go to
    :func:`results_metadata_csv`."""
    return export_table(df).to_csv(index=False)


def results_metadata(df: pd.DataFrame) -> dict[str, str]:
    """What a reader of an exported table needs to know, as (field, value) pairs."""
    from datetime import datetime, timezone

    return {
        "software": f"reescreen {__version__}",
        "exported (UTC)": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        "rows": str(len(df)),
        "level of theory": levels_in(df),
        "energy units": ENERGY_UNITS,
        "energy decimals": str(ENERGY_DECIMALS),
        "settings": ", ".join(sorted(set(df["settings"].dropna()))) if "settings" in df else "",
        "E_bind": "E_complex - E_ion - sum of E_ligand (waters included), implicit water",
        "E_exchange": "vs the aqua ion [M(H2O)8]3+; the bare-ion reference cancels: compare metals with it",
        "rank": "the ligand's place among the stored ligands with the same metal, type, level and settings "
                "(1 = strongest); 'of' = how many; metals are never ranked against each other",
        "Y": "4d ion, no 4f electrons; its exchange energies lie off the lanthanide trend",
    }


def results_metadata_csv(df: pd.DataFrame) -> str:
    """:func:`results_metadata` as a two-column CSV (field, value), the companion file of an export."""
    meta = pd.DataFrame(list(results_metadata(df).items()), columns=["field", "value"])
    meta["value"] = meta["value"].map(neutralise_formula)
    return meta.to_csv(index=False)


def metadata_path(csv_path: str | os.PathLike) -> Path:
    """Where an exported CSV's metadata go: ``NAME.metadata.csv`` beside ``NAME.csv``."""
    path = Path(csv_path)
    return path.with_name(path.stem + ".metadata.csv")


def extxyz_text(structures: Sequence["Atoms"]) -> str:
    """Extended XYZ text (one frame per complex, ``energy`` = E_bind in kcal/mol)."""
    import ase.io

    buffer = io.StringIO()
    ase.io.write(buffer, list(structures), format="extxyz")
    return buffer.getvalue()


def export_csv(store: Store, path: str | os.PathLike, **filters) -> int:
    """Write the results table to CSV (see :func:`results_csv`) and its metadata beside it
    (:func:`metadata_path`).  Returns rows written."""
    df = results_frame(store, **filters)
    Path(path).write_text(results_csv(df), encoding="utf-8")
    metadata_path(path).write_text(results_metadata_csv(df), encoding="utf-8")
    return len(df)


def export_extxyz(store: Store, path: str | os.PathLike, include_failed: bool = False, **filters) -> int:
    """Write complexes as extended XYZ, one frame per complex (see :func:`frames`); ``.gz`` compresses."""
    import ase.io

    found = frames(store, include_failed=include_failed, **filters)
    ase.io.write(str(path), found, format="extxyz")
    return len(found)


# -- two levels of one complex ----------------------------------------------------------------------------
def level_column(energy: str, level: str) -> str:
    """An energy column named with its level, e.g. ``E_bind (kcal/mol, <level name>)``."""
    return energy.replace(f"({ENERGY_UNITS})", f"({ENERGY_UNITS}, {level})")


def levels_side_by_side(store: Store, settings: ScreeningSettings, high, ligands: Iterable[str] | None = None,
                        metals: Iterable[str] | None = None, ctypes: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per complex screened with ``settings``: E_bind and E_exchange at the screening level and at
    ``high`` (a DFT level refining those geometries), side by side, and the DFT row's status and reason.
    Complexes not refined have empty DFT columns."""
    low_level = settings.level
    low = results_frame(store, ligands, settings, metals, ctypes)
    high_df = results_frame(store, ligands, settings.with_changes(level=high.name), metals, ctypes)
    keys = ["smiles", "metal", "type"]
    merged = low[["ligand", *keys, E_BIND, E_EXCHANGE, "status"]].merge(
        high_df[[*keys, E_BIND, E_EXCHANGE, "status", "reason"]], on=keys, how="left", suffixes=("", " DFT"))
    out = pd.DataFrame({
        "ligand": merged["ligand"], "metal": merged["metal"], "type": merged["type"],
        level_column(E_BIND, low_level): merged[E_BIND],
        level_column(E_BIND, high.name): merged[f"{E_BIND} DFT"],
        level_column(E_EXCHANGE, low_level): merged[E_EXCHANGE],
        level_column(E_EXCHANGE, high.name): merged[f"{E_EXCHANGE} DFT"],
        "DFT status": merged["status DFT"].fillna("not refined"),
        "DFT reason": merged["reason"].fillna(""),
        "smiles": merged["smiles"]})
    out.attrs["levels"] = (low_level, high.name)
    return out


def two_level_frames(store: Store, settings: ScreeningSettings, high, ligands: Iterable[str] | None = None,
                     metals: Iterable[str] | None = None, ctypes: Iterable[str] | None = None) -> list["Atoms"]:
    """Complexes with E_bind at both the screening level and ``high``, as frames for Δ-ML
    (``configs/allegro-delta-binding.yaml``): the screening-level geometry, ``energy_low`` and ``energy_high``
    (E_bind, kcal/mol) and ``level_low`` / ``level_high`` in ``info``."""
    low = results_frame(store, ligands, settings, metals, ctypes)
    high_df = results_frame(store, ligands, settings.with_changes(level=high.name), metals, ctypes)
    keys = ["smiles", "metal", "type"]
    both = low[low["status"] == str(OK)].merge(high_df[high_df["status"] == str(OK)][[*keys, E_BIND]], on=keys,
                                               suffixes=("", " high")).dropna(subset=[E_BIND, f"{E_BIND} high"])
    frames_out = []
    for rec in both.to_dict("records"):
        atoms = structure(store, rec[ROW_ID])
        atoms.info.update(energy_low=float(rec[E_BIND]), energy_high=float(rec[f"{E_BIND} high"]),
                          level_low=settings.level, level_high=high.name, energy=float(rec[E_BIND]))
        atoms.info = {k: v for k, v in atoms.info.items() if v != ""}  # extended XYZ cannot hold an empty value
        frames_out.append(atoms)
    return frames_out


def write_two_level_frames(store: Store, settings: ScreeningSettings, high, path: str | os.PathLike,
                           ligands: Iterable[str] | None = None, metals: Iterable[str] | None = None,
                           ctypes: Iterable[str] | None = None) -> int:
    """Write :func:`two_level_frames` as extended XYZ; returns how many frames."""
    import ase.io

    found = two_level_frames(store, settings, high, ligands, metals, ctypes)
    ase.io.write(str(path), found, format="extxyz")
    return len(found)


def dft_levels_in(df: pd.DataFrame) -> list:
    """The DFT levels (level objects) that have rows in a results table."""
    from core.levels import LEVELS

    return [LEVELS[n] for n in sorted(set(df[LEVEL].dropna())) if n in LEVELS and LEVELS[n].is_dft]


def refined_levels(store: Store) -> list:
    """The DFT levels (level objects) that hold complex results in ``store``."""
    return dft_levels_in(results_frame(store))


def refined_side_by_side(store: Store) -> pd.DataFrame:
    """Every refined complex, E_bind and E_exchange at the screening level and at its DFT level(s), one row
    per complex and DFT level (see :func:`levels_side_by_side`)."""
    from core.pipeline.settings import get_settings

    parts = []
    for level in refined_levels(store):
        refined = results_frame(store, level=level.name)
        for settings_name, block in refined.groupby("settings"):
            table = levels_side_by_side(store, get_settings(settings_name), level, sorted(set(block["smiles"])),
                                        sorted(set(block["metal"])), sorted(set(block["type"])))
            parts.append(table[table["DFT status"] != "not refined"].assign(settings=settings_name))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def refined_two_level_frames(store: Store) -> list["Atoms"]:
    """:func:`two_level_frames` of every refined complex, for every DFT level stored."""
    from core.pipeline.settings import get_settings

    out = []
    for level in refined_levels(store):
        refined = results_frame(store, level=level.name)
        for settings_name, block in refined.groupby("settings"):
            out += two_level_frames(store, get_settings(settings_name), level, sorted(set(block["smiles"])))
    return out
