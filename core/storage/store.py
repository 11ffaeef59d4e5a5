"""The result store: one ASE database (SQLite) file holding every structure with its results.  It only stores.

Rows are keyed by content: kind, canonical ligand, metal, coordination type, the settings fingerprint and
the level of theory, so two levels of one complex live side by side.  Asking for something already in the
store returns it without computing.  Every row carries its level of theory, units, code version and
settings; the database metadata holds the package versions.  Location: ``--db PATH``, else
``$REESCREEN_DB``, else ``reescreen.db`` in the working folder.

Computing (energies, QC) happens in :mod:`core.pipeline`; tables and exports are in
:mod:`core.storage.results`.  Importing this module loads no quantum chemistry, Architector or torch.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

from functools import cached_property
from typing import TYPE_CHECKING

from core import __version__
from core.chemistry.constants import ENERGY_UNITS
from core.pipeline.settings import ScreeningSettings
from core.storage import read_model
from core.storage.records import OK, FAILED, Kind, Record

if TYPE_CHECKING:
    import ase.db.core

DEFAULT_DB = "reescreen.db"
WRITE_ATTEMPTS = 5
PACKAGES = ("architector", "ase", "rdkit", "dask", "distributed", "numpy")
#: ASE indexes key-value tables by key only; every content-key lookup then scans all rows.  These make
#: ``get`` one indexed lookup however large the store grows.
INDEXES = ("CREATE INDEX IF NOT EXISTS reescreen_text_kv ON text_key_values(key, value)",
           "CREATE INDEX IF NOT EXISTS reescreen_number_kv ON number_key_values(key, value)")


#: First bytes of every SQLite 3 database file.
SQLITE_MAGIC = b"SQLite format 3\x00"


class StoreError(ValueError):
    """The store file cannot be used (a folder, not SQLite, damaged, not writable); it is left untouched."""


def check_store_path(path: Path) -> None:
    """Refuse a path that cannot hold a store, without creating or changing anything.

    A missing file is fine when its folder exists or can be made (it is created on first write).  An
    existing one must be a SQLite database that is whole (its header's page count fits the file) and, if it
    holds tables, an ASE database.  Damaged files are refused rather than repaired: SQLite would otherwise
    write into them.
    """
    if path.is_dir():
        raise StoreError(f"store {path} is a folder; give a file path, e.g. {path / DEFAULT_DB}")
    if not path.exists():
        folder = next((p for p in path.absolute().parents if p.exists()), None)
        if folder is None or not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
            raise StoreError(f"store {path} cannot be created: {folder} is not a writable folder")
        return
    try:
        with open(path, "rb") as fh:
            header = fh.read(100)
        size = path.stat().st_size
    except OSError as exc:
        raise StoreError(f"store {path} cannot be read: {exc.strerror or exc}") from None
    if size == 0 and not header:
        return  # an empty file becomes a new store (files in /proc report size 0 but have content)
    if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
        raise StoreError(f"store {path} is not a SQLite database; give a reescreen store or a new file name")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    n_pages = int.from_bytes(header[28:32], "big")
    if page_size < 512 or size % page_size or n_pages * page_size > size:
        raise StoreError(f"store {path} is damaged (truncated: {size:,} bytes, its header says "
                         f"{n_pages * page_size:,}); restore it from a copy or give a new file name")
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as con:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"store {path} is damaged ({exc}); restore it from a copy or give a new file name") \
            from None
    if tables and "systems" not in tables:
        raise StoreError(f"store {path} is a SQLite database but not a reescreen (ASE) store; give a new file name")


def default_db_path() -> Path:
    """``$REESCREEN_DB`` if set, else ``reescreen.db`` in the working folder."""
    return Path(os.environ.get("REESCREEN_DB") or DEFAULT_DB)


def package_versions() -> dict[str, str]:
    """Versions of the packages that produce our numbers."""
    from core.levels import LEVELS

    out = {}
    for name in PACKAGES + tuple(p for level in LEVELS.values() for p in level.packages):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def record_key(kind: str, ligand: str, metal: str, ctype: str, settings: ScreeningSettings, rank: int = 0) -> str:
    """Content key of a result (the level of theory is part of it)."""
    text = "|".join([str(kind), ligand, metal, ctype, settings.fingerprint(), settings.level, str(rank)])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _plain(value):
    """Enum members (kinds, statuses) are stored as their plain string."""
    return str(value) if isinstance(value, str) else value


def _key_of(record: Record, settings: ScreeningSettings) -> str:
    return record_key(record.kind, record.ligand, record.metal, record.ctype, settings, record.rank)


class Store:
    """Results in one ASE SQLite database file.  Safe for several processes writing at once."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path else default_db_path()
        check_store_path(self.path)

    @cached_property
    def db(self) -> "ase.db.core.Database":
        """The ASE database, opened (and the file created) on first use: reading the results table needs
        only SQLite (:mod:`core.storage.results`), so pages that only read never load ``ase.db``."""
        import ase.db

        check_store_path(self.path)  # it may have changed since this Store was made
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # No ASE lock file: a process killed while holding it would leave it behind and every later writer
            # would wait forever (found by the killed-server test).  SQLite's own locks die with their process.
            db = ase.db.connect(str(self.path), type="db", append=True, use_lock_file=False)
            metadata = db.metadata
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"store {self.path} cannot be opened: {exc}") from None
        if not metadata:
            from core.levels import DEFAULT_LEVEL

            # the screening level; every row names its own level (a store may hold several)
            db.metadata = {"created_by": f"reescreen {__version__}", "packages": package_versions(),
                           "level_of_theory": DEFAULT_LEVEL.name, "energy_units": ENERGY_UNITS}
        for attempt in range(WRITE_ATTEMPTS):
            try:
                with sqlite3.connect(self.path, timeout=30) as con:
                    for statement in INDEXES:
                        con.execute(statement)
                    if not read_model.in_step(con):
                        read_model.rebuild(con)
                break
            except sqlite3.OperationalError:
                time.sleep(0.5 * (attempt + 1))
        return db

    def check_writable(self) -> None:
        """Raise :class:`StoreError` unless a result could be written now, without creating the store: a
        probe file is made and removed in its folder when the store does not exist yet."""
        import tempfile

        if self.path.exists():
            if not os.access(self.path, os.W_OK):
                raise StoreError(f"store {self.path} is read-only")
            return
        folder = next(p for p in self.path.absolute().parents if p.exists())
        try:
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".reescreen-probe-"):
                pass
        except OSError as exc:
            raise StoreError(f"store {self.path} cannot be created in {folder}: {exc.strerror or exc}") from None

    def check_exists(self) -> None:
        """Raise :class:`StoreError` when there is no store file to read."""
        if not self.path.exists():
            raise StoreError(f"no store at {self.path}: screen a ligand first, or give --db PATH "
                             "(or $REESCREEN_DB)")

    def ensure_read_model(self) -> bool:
        """Make sure the results read model (:mod:`core.storage.read_model`) matches the stored rows; False
        when there is no store file yet."""
        if not self.path.exists():
            return False
        with sqlite3.connect(self.path, timeout=30) as con:
            if not read_model.in_step(con):
                read_model.rebuild(con)
        return True

    def connect(self) -> sqlite3.Connection:
        """A plain read connection to the file (for the results read model)."""
        return sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)

    def version(self) -> tuple[int, int]:
        """Changes whenever a write is committed (the file's modification time and size): a cache key."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return 0, 0
        return st.st_mtime_ns, st.st_size

    # -- writing ---------------------------------------------------------------------------------------
    def save(self, record: Record, settings: ScreeningSettings, names: dict[str, str] | None = None) -> int:
        """Write ``record``, replacing an older failed row with the same key; a stored OK result is kept as it
        is (two runs that computed it both get the first one's row).  Returns the row id."""
        key = _key_of(record, settings)
        kv = {
            "key": key, "kind": str(record.kind), "ligand": record.ligand, "metal": record.metal,
            "ctype": record.ctype, "status": str(record.status), "reason": record.reason,
            "settings": settings.name, "settings_hash": settings.fingerprint(),
            "level_of_theory": settings.level, "units": ENERGY_UNITS, "code_version": __version__,
            "total_charge": int(record.charge), "n_steps": int(record.n_steps),
            "converged": bool(record.converged), "electronic_temperature": float(record.electronic_temperature),
            "wall_s": float(record.wall_s), "rank": int(record.rank),
        }
        if record.energy is not None:
            kv["energy_kcal"] = float(record.energy)
        for name, value in (names or {}).items():
            if value not in (None, ""):
                kv[name] = value
        from ase import Atoms

        atoms = record.atoms if record.atoms is not None else Atoms()
        data = {"settings": json.loads(settings.to_json()), "extra": record.extra}

        def write() -> int:
            rows = list(self.db.select(key=key))
            kept = [row.id for row in rows if row.get("status") == OK]
            if kept:  # first writer wins: a result someone may already have read is never replaced
                return kept[-1]
            old = [row.id for row in rows]
            self.db.delete(old)
            new = self.db.write(atoms, key_value_pairs=kv, data=data)
            read_model.refresh(self.db.connection, [*old, new])
            return new
        return self._transaction(write)

    def annotate(self, updates: dict[int, dict]) -> None:
        """Add or change key-value pairs of existing rows (energies, QC, a model's prediction) in one
        transaction."""
        def write() -> None:
            for row_id, kv in updates.items():
                self.db.update(row_id, **{k: _plain(v) for k, v in kv.items()})
            read_model.refresh(self.db.connection, updates)
        if updates:
            self._transaction(write)

    def update(self, row_id: int, atoms=None, delete_keys: tuple[str, ...] = (), **kv) -> None:
        """Change one row: its structure, key-value pairs to drop, key-value pairs to set."""
        def write() -> None:
            self.db.update(int(row_id), atoms=atoms, delete_keys=list(delete_keys), **{k: _plain(v) for k, v in kv.items()})
            read_model.refresh(self.db.connection, [row_id])
        self._transaction(write)

    def delete(self, row_ids: list[int]) -> None:
        """Remove rows: a result judged by a check since corrected, so that the next run computes it again."""
        def write() -> None:
            self.db.delete([int(i) for i in row_ids])
            read_model.refresh(self.db.connection, list(row_ids))
        if row_ids:
            self._transaction(write)

    def _transaction(self, write):
        for attempt in range(WRITE_ATTEMPTS):
            try:
                with self.db:
                    read_model.create(self.db.connection)
                    return write()
            except sqlite3.OperationalError as exc:
                self._close_failed_transaction()
                # another process (app job, CLI job) holds the write lock for longer than SQLite waits
                if "locked" not in str(exc) or attempt == WRITE_ATTEMPTS - 1:
                    raise
                time.sleep(0.5 * (attempt + 1))
        raise AssertionError("unreachable")

    def _close_failed_transaction(self) -> None:
        """Drop the connection ASE keeps when COMMIT itself fails.

        A reader in another process that holds its read lock longer than SQLite's 20 s wait (a long query in
        the app or a sqlite3 shell) makes the commit fail as "database is locked"; ASE's ``__exit__`` then
        never closes its connection, and every later ``with db`` of this Store fails an assertion (a
        group-grid build died so, 2026-12-05).  Closing rolls back the uncommitted write; the retry redoes it.
        """
        con = getattr(self.db, "connection", None)
        if con is not None:
            con.close()
            self.db.connection = None

    # -- reading ---------------------------------------------------------------------------------------
    def get(self, kind: str, settings: ScreeningSettings, ligand: str = "", metal: str = "",
            ctype: str = "", rank: int = 0):
        """The stored row for this content key, or None (one indexed lookup)."""
        rows = list(self.db.select(key=record_key(kind, ligand, metal, ctype, settings, rank)))
        return rows[-1] if rows else None

    def has(self, kind: str, settings: ScreeningSettings, ligand: str = "", metal: str = "", ctype: str = "",
            retry_failed: bool = False) -> bool:
        """Whether the result is stored (failed results count as stored unless ``retry_failed``)."""
        row = self.get(kind, settings, ligand, metal, ctype)
        return row is not None and not (retry_failed and row.status == FAILED)

    def energy(self, kind: str, settings: ScreeningSettings, ligand: str = "", metal: str = "",
               ctype: str = "") -> float | None:
        """The stored absolute energy (kcal/mol) of a result that finished OK, else None."""
        row = self.get(kind, settings, ligand=ligand, metal=metal, ctype=ctype)
        return row.get("energy_kcal") if row is not None and row.status == OK else None

    def record(self, row) -> Record:
        """A stored row back as a :class:`Record` (structure included)."""
        return Record(kind=row.kind, ligand=row.get("ligand", ""), metal=row.get("metal", ""),
                      ctype=row.get("ctype", ""), status=row.status, reason=row.get("reason", ""),
                      energy=row.get("energy_kcal"), atoms=row.toatoms() if row.natoms else None,
                      charge=row.get("total_charge", 0), n_steps=row.get("n_steps", 0),
                      converged=row.get("converged", True), rank=row.get("rank", 0),
                      electronic_temperature=row.get("electronic_temperature", 0.0), wall_s=row.get("wall_s", 0.0),
                      level=row.get("level_of_theory", ""), extra={"route": row.get("route", "")})

    def templates(self, settings: ScreeningSettings, ligand: str, ctype: str) -> list[Record]:
        """Stored La templates of one ligand and type, best first."""
        sel = {"kind": str(Kind.TEMPLATE), "ctype": ctype, "settings_hash": settings.fingerprint(),
               "level_of_theory": settings.level}
        rows = [r for r in self.db.select(ligand=ligand, **sel)] if ligand else [
            r for r in self.db.select(**sel) if not r.get("ligand")]
        return [self.record(r) for r in sorted(rows, key=lambda r: r.get("rank", 0))]

    def rows(self, **selection) -> Iterator:
        """Rows matching an ASE-db key=value selection."""
        return self.db.select(**{k: (str(v) if isinstance(v, str) else v) for k, v in selection.items()})

    def row(self, row_id: int):
        """One row by id (an indexed lookup)."""
        return self.db.get(id=int(row_id))

    def settings_rows(self, settings: ScreeningSettings, **selection) -> Iterator:
        """Rows computed with ``settings`` (its fingerprint and its level of theory)."""
        return self.rows(settings_hash=settings.fingerprint(), level_of_theory=settings.level, **selection)
