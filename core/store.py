"""The result store: one ASE database (SQLite) file holding every structure with its results.

Rows are keyed by content: kind, canonical ligand, metal, coordination type and the settings
fingerprint.  Asking for something already in the store returns it without computing.  Every row
carries its level of theory, units, code version and settings; the database metadata holds the package
versions.  Location: ``--db PATH``, else ``$REESCREEN_DB``, else ``reescreen.db`` in the working folder.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from importlib import metadata
from pathlib import Path

import ase.db
import pandas as pd
from ase import Atoms

from core import __version__
from core.complexes import AQUA, get_coordination_type
from core.constants import ENERGY_UNITS, LEVEL_OF_THEORY, REE_METALS
from core.energies import complex_binding_energy, exchange_energy
from core.ligands import Ligand
from core.qc import QC_VERSION, check_complex
from core.settings import ScreeningSettings
from core.tasks import FAILED, OK, QC_FAILED, Record

DEFAULT_DB = "reescreen.db"
WRITE_ATTEMPTS = 5
PACKAGES = ("architector", "tblite", "ase", "rdkit", "dask", "distributed", "numpy", "xtb")


#: Results-table column of the bundled model's E_bind prediction (its label level is in the `model` column).
MODEL_COLUMN = "E_bind model (kcal/mol)"


def default_db_path() -> Path:
    """``$REESCREEN_DB`` if set, else ``reescreen.db`` in the working folder."""
    return Path(os.environ.get("REESCREEN_DB") or DEFAULT_DB)


def package_versions() -> dict[str, str]:
    """Versions of the packages that produce our numbers."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(value):
    """Text a spreadsheet would run as a formula (=, +, -, @, tab, CR first) gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def results_csv(df: pd.DataFrame) -> str:
    """CSV text of a results table: a header line with code version, units and level of theory, units in
    the column names, and every text cell made safe against spreadsheet formula injection."""
    df = df.copy()
    for col in [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]:
        df[col] = df[col].map(neutralise_formula)
    header = f"# reescreen {__version__}; energies in {ENERGY_UNITS} at {LEVEL_OF_THEORY}\n"
    return header + df.to_csv(index=False)


def extxyz_text(frames: list[Atoms]) -> str:
    """Extended XYZ text of ``frames`` (one frame per complex, ``energy`` = E_bind in kcal/mol)."""
    import io

    import ase.io

    buffer = io.StringIO()
    ase.io.write(buffer, frames, format="extxyz")
    return buffer.getvalue()


def record_key(kind: str, ligand: str, metal: str, ctype: str, settings: ScreeningSettings, rank: int = 0) -> str:
    """Content key of a result."""
    text = "|".join([kind, ligand, metal, ctype, settings.fingerprint(), LEVEL_OF_THEORY, str(rank)])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _key_of(record: Record, settings: ScreeningSettings) -> str:
    return record_key(record.kind, record.ligand, record.metal, record.ctype, settings, record.rank)


class Store:
    """Results in one ASE SQLite database file.  Safe for several processes writing at once."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path else default_db_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # No ASE lock file: a process killed while holding it would leave it behind and every later writer
        # would wait forever (found by the killed-server test).  SQLite's own locks die with their process.
        self.db = ase.db.connect(str(self.path), type="db", append=True, use_lock_file=False)
        if not self.db.metadata:
            self.db.metadata = {"created_by": f"reescreen {__version__}", "packages": package_versions(),
                                "level_of_theory": LEVEL_OF_THEORY, "energy_units": ENERGY_UNITS}

    # -- writing ---------------------------------------------------------------------------------------
    def save(self, record: Record, settings: ScreeningSettings, names: dict[str, str] | None = None) -> int:
        """Write ``record`` (replacing an older row with the same key).  Returns the row id."""
        key = _key_of(record, settings)
        kv = {
            "key": key, "kind": record.kind, "ligand": record.ligand, "metal": record.metal,
            "ctype": record.ctype, "status": record.status, "reason": record.reason,
            "settings": settings.name, "settings_hash": settings.fingerprint(),
            "level_of_theory": LEVEL_OF_THEORY, "units": ENERGY_UNITS, "code_version": __version__,
            "total_charge": int(record.charge), "n_steps": int(record.n_steps),
            "converged": bool(record.converged), "electronic_temperature": float(record.electronic_temperature),
            "wall_s": float(record.wall_s), "rank": int(record.rank),
        }
        if record.energy is not None:
            kv["energy_kcal"] = float(record.energy)
        if record.kind == "complex":
            kv["qc_version"] = QC_VERSION
        for name, value in (names or {}).items():
            if value:
                kv[name] = value
        atoms = record.atoms if record.atoms is not None else Atoms()
        data = {"settings": json.loads(settings.to_json()), "extra": record.extra}

        def write() -> int:
            for row in self.db.select(key=key):
                self.db.delete([row.id])
            return self.db.write(atoms, key_value_pairs=kv, data=data)
        return self._transaction(write)

    def annotate(self, updates: dict[int, dict]) -> None:
        """Add key-value pairs to existing rows (e.g. a model's prediction) in one transaction."""
        def write() -> None:
            for row_id, kv in updates.items():
                self.db.update(row_id, **kv)
        if updates:
            self._transaction(write)

    def recheck_qc(self, settings: ScreeningSettings, ligand: Ligand) -> int:
        """Re-check ``ligand``'s stored complexes that passed an older, laxer QC (see ``QC_VERSION``).

        Complexes that now fail become QC-failed with the reason (kept, not recomputed); the others are
        marked as checked.  Returns how many now fail.
        """
        updates: dict[int, dict] = {}
        for row in self.db.select(kind="complex", ligand=ligand.smiles, settings_hash=settings.fingerprint(),
                                  status=OK):
            if row.get("qc_version", 1) >= QC_VERSION or not row.natoms:
                continue
            qc = check_complex(row.toatoms(), ligand.smiles, ligand.charge, get_coordination_type(row.ctype))
            updates[row.id] = {"qc_version": QC_VERSION} if qc.passed else \
                {"qc_version": QC_VERSION, "status": QC_FAILED, "reason": qc.reason}
        self.annotate(updates)
        return sum(u.get("status") == QC_FAILED for u in updates.values())

    def _transaction(self, write):
        for attempt in range(WRITE_ATTEMPTS):
            try:
                with self.db:
                    return write()
            except sqlite3.OperationalError as exc:
                # another process (app job, CLI job) holds the write lock for longer than SQLite waits
                if "locked" not in str(exc) or attempt == WRITE_ATTEMPTS - 1:
                    raise
                time.sleep(0.5 * (attempt + 1))
        raise AssertionError("unreachable")

    # -- reading ---------------------------------------------------------------------------------------
    def get(self, kind: str, settings: ScreeningSettings, ligand: str = "", metal: str = "",
            ctype: str = "", rank: int = 0):
        """The stored row for this content key, or None."""
        rows = list(self.db.select(key=record_key(kind, ligand, metal, ctype, settings, rank)))
        return rows[-1] if rows else None

    def has(self, kind: str, settings: ScreeningSettings, ligand: str = "", metal: str = "", ctype: str = "",
            retry_failed: bool = False) -> bool:
        """Whether the result is stored (failed results count as stored unless ``retry_failed``)."""
        row = self.get(kind, settings, ligand, metal, ctype)
        return row is not None and not (retry_failed and row.status == FAILED)

    def record(self, row) -> Record:
        """A stored row back as a :class:`Record` (structure included)."""
        return Record(kind=row.kind, ligand=row.get("ligand", ""), metal=row.get("metal", ""),
                      ctype=row.get("ctype", ""), status=row.status, reason=row.get("reason", ""),
                      energy=row.get("energy_kcal"), atoms=row.toatoms() if row.natoms else None,
                      charge=row.get("total_charge", 0), n_steps=row.get("n_steps", 0),
                      converged=row.get("converged", True), rank=row.get("rank", 0),
                      electronic_temperature=row.get("electronic_temperature", 0.0), wall_s=row.get("wall_s", 0.0))

    def templates(self, settings: ScreeningSettings, ligand: str, ctype: str) -> list[Record]:
        """Stored La templates of one ligand and type, best first."""
        rows = [r for r in self.db.select(kind="template", ligand=ligand, ctype=ctype,
                                          settings_hash=settings.fingerprint())] if ligand else [
            r for r in self.db.select(kind="template", ctype=ctype, settings_hash=settings.fingerprint())
            if not r.get("ligand")]
        return [self.record(r) for r in sorted(rows, key=lambda r: r.get("rank", 0))]

    def rows(self, **selection) -> Iterator:
        """Rows matching ASE-db key=value selection."""
        return self.db.select(**selection)

    # -- energies --------------------------------------------------------------------------------------
    def _reference_energy(self, kind: str, settings: ScreeningSettings, ligand: str = "", metal: str = ""):
        row = self.get(kind, settings, ligand=ligand, metal=metal)
        return row.get("energy_kcal") if row is not None and row.status == OK else None

    def fill_binding_energies(self, settings: ScreeningSettings, ligand: str) -> int:
        """Compute E_bind (and the exchange energy, once the aqua ion is known) for the complexes of
        ``ligand`` (and the aqua ions) whose references are now stored.  Returns rows updated."""
        e_water = self._reference_energy("water", settings)
        if e_water is None:
            return 0
        e_lig = self._reference_energy("ligand", settings, ligand=ligand) if ligand else None
        updated = 0
        sel = {"kind": "complex", "settings_hash": settings.fingerprint()}
        aqua_rows = list(self.db.select(**sel, ctype=AQUA.name))  # first: the complexes need them
        ligand_rows = list(self.db.select(**sel, ligand=ligand)) if ligand else []
        for row in aqua_rows + ligand_rows:
            if row.status != OK or "energy_kcal" not in row:
                continue
            ctype = get_coordination_type(row.ctype)
            changes = {}
            if "e_bind_kcal" not in row:
                e_ion = self._reference_energy("ion", settings, metal=row.metal)
                if e_ion is None or (ctype.n_ligands and e_lig is None):
                    continue
                changes["e_bind_kcal"] = complex_binding_energy(row.energy_kcal, e_ion, e_lig or 0.0,
                                                                ctype.n_ligands, e_water, ctype.n_waters)
            e_bind = changes.get("e_bind_kcal", row.get("e_bind_kcal"))
            if "e_exchange_kcal" not in row and ctype.n_ligands:
                aqua = self.get("complex", settings, metal=row.metal, ctype=AQUA.name)
                if aqua is not None and aqua.status == OK and "e_bind_kcal" in aqua:
                    changes["e_exchange_kcal"] = exchange_energy(e_bind, aqua.e_bind_kcal)
            if changes:
                self.db.update(row.id, **changes)
                updated += 1
        return updated

    # -- tables and export ----------------------------------------------------------------------------
    def results_frame(self, ligands: Iterable[str] | None = None, settings: ScreeningSettings | None = None,
                      metals: Iterable[str] | None = None, ctypes: Iterable[str] | None = None) -> pd.DataFrame:
        """Complex results as a table, ranked by E_bind within each ligand and coordination type.

        Failed and QC-flagged rows are included with their reasons and no rank.
        """
        ligands = set(ligands) if ligands is not None else None
        metals = set(metals) if metals is not None else None
        ctypes = set(ctypes) if ctypes is not None else None
        sel = {"kind": "complex"}
        if settings is not None:
            sel["settings_hash"] = settings.fingerprint()
        rows = []
        for r in self.db.select(**sel):
            if not r.get("ligand"):
                continue  # aqua-ion references are not results
            if (ligands is not None and r.ligand not in ligands) or (metals is not None and r.metal not in metals) \
                    or (ctypes is not None and r.ctype not in ctypes):
                continue
            rows.append({
                "ligand": r.get("ligand_name", r.ligand), "smiles": r.ligand,
                "scaffold": r.get("scaffold", ""), "substituent": r.get("substituent", ""),
                "metal": r.metal, "type": r.ctype, "status": r.status,
                "qc": "passed" if r.status == OK else ("failed" if r.status == "qc_failed" else "n/a"),
                "E_bind (kcal/mol)": r.get("e_bind_kcal"), "E_exchange (kcal/mol)": r.get("e_exchange_kcal"),
                "E_complex (kcal/mol)": r.get("energy_kcal"), "charge": r.get("total_charge"),
                "converged": r.get("converged"), "steps": r.get("n_steps"), "reason": r.get("reason", ""),
                "level of theory": r.level_of_theory, "settings": r.settings, "row_id": r.id,
                MODEL_COLUMN: r.get("model_e_bind_kcal"), "model": r.get("model_name", ""),
                "model domain": r.get("model_domain", ""),
            })
        columns = ["rank", "ligand", "smiles", "scaffold", "substituent", "metal", "type", "status", "qc",
                   "E_bind (kcal/mol)", MODEL_COLUMN, "E_exchange (kcal/mol)", "E_complex (kcal/mol)", "charge",
                   "converged", "steps", "reason", "level of theory", "model", "model domain", "settings", "row_id"]
        if not rows:
            return pd.DataFrame(columns=columns)
        df = pd.DataFrame(rows)
        df["metal_order"] = df["metal"].map({m: i for i, m in enumerate(REE_METALS)})
        rankable = (df["status"] == OK) & df["E_bind (kcal/mol)"].notna()
        df["rank"] = pd.Series(pd.NA, index=df.index, dtype="Int64")
        df.loc[rankable, "rank"] = (df[rankable].groupby(["smiles", "type"])["E_bind (kcal/mol)"]
                                    .rank(method="min").astype("Int64"))
        df = df.sort_values(["smiles", "type", "rank", "metal_order"], na_position="last")
        return df[columns].reset_index(drop=True)

    def export_csv(self, path: str | os.PathLike, **filters) -> int:
        """Write the results table to CSV (see :func:`results_csv`).  Returns rows written."""
        df = self.results_frame(**filters)
        Path(path).write_text(results_csv(df), encoding="utf-8")
        return len(df)

    def frames_for_rows(self, row_ids: Iterable[int]) -> list[Atoms]:
        """Frames (see :meth:`frames`) of the complexes with these row ids, in that order."""
        wanted = [int(i) for i in row_ids]
        by_id = {int(a.info["row_id"]): a for a in self.frames(include_failed=True)}
        return [by_id[i] for i in wanted if i in by_id]

    def frames(self, include_failed: bool = False, **filters) -> list[Atoms]:
        """Complexes as Atoms in the public dataset's layout: ``info['energy']`` is E_bind and
        ``info['absolute_energy']`` the complex's total energy (both kcal/mol, GFN2-xTB/ALPB(water))."""
        df = self.results_frame(**filters)
        frames = []
        for _, r in df.iterrows():
            if r["status"] != OK and not include_failed:
                continue
            atoms = self.db.get(id=int(r["row_id"])).toatoms()
            info = {"metal": r["metal"], "ligand": r["smiles"], "scaffold": r["scaffold"],
                    "substituent": r["substituent"], "type": r["type"], "charge": int(r["charge"]),
                    "qc": r["qc"], "status": r["status"], "level_of_theory": LEVEL_OF_THEORY,
                    "energy_units": ENERGY_UNITS}
            for key, col in (("energy", "E_bind (kcal/mol)"), ("absolute_energy", "E_complex (kcal/mol)"),
                             ("exchange_energy", "E_exchange (kcal/mol)")):
                if pd.notna(r[col]):
                    info[key] = float(r[col])
            info["row_id"] = int(r["row_id"])
            atoms.info = info
            frames.append(atoms)
        return frames

    def export_extxyz(self, path: str | os.PathLike, include_failed: bool = False, **filters) -> int:
        """Write complexes as extended XYZ, one frame per complex (see :meth:`frames`); ``.gz`` compresses."""
        import ase.io

        frames = self.frames(include_failed=include_failed, **filters)
        ase.io.write(str(path), frames, format="extxyz")
        return len(frames)
