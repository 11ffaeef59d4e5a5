"""Store parts: a long build's results carried between machines or working sessions as append-only files.

A part is a gzip-compressed store file (the same SQLite/ASE format) holding the rows no earlier part in its
folder holds.  :func:`export_part` writes what a store has that the folder lacks; :func:`import_parts`
copies into a store every row it lacks from every part (rows are keyed by content, so this never makes a
duplicate).  Parts are never rewritten, so a folder of parts kept in git grows only by what is new, and a
build killed with its machine resumes on another from the parts plus whatever it had exported.

A row counts as held when the same key is held with the same status: a point that failed and was later
computed is exported again, and importing it replaces the failed row.
"""
from __future__ import annotations

import gzip
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from core.storage.records import OK
from core.storage.store import Store

PART_GLOB = "part-*.db.gz"


def _keyed_status(con: sqlite3.Connection) -> dict[str, tuple[int, str]]:
    """Row id and status of every content key in an open store file."""
    # Two scans of ASE's key index joined here: text_key_values has no index on id, so a self-join in SQL is
    # quadratic in the rows (minutes at a few thousand, growing with every part imported).
    status = dict(con.execute("SELECT id, value FROM text_key_values WHERE key = 'status'"))
    return {key: (row_id, status[row_id])
            for row_id, key in con.execute("SELECT id, value FROM text_key_values WHERE key = 'key'")
            if row_id in status}


def _open_part(path: Path, into: Path) -> Path:
    """Decompress part ``path`` into folder ``into``; returns the store file."""
    out = into / path.name.removesuffix(".gz")
    with gzip.open(path, "rb") as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return out


def parts(folder: str | Path) -> list[Path]:
    """The part files in ``folder``, oldest first (their names carry the time they were written)."""
    return sorted(Path(folder).glob(PART_GLOB))


def held_keys(folder: str | Path) -> set[tuple[str, str]]:
    """(key, status) of every row the parts in ``folder`` hold."""
    held: set[tuple[str, str]] = set()
    with tempfile.TemporaryDirectory() as tmp:
        for path in parts(folder):
            with sqlite3.connect(_open_part(path, Path(tmp))) as con:
                held |= {(key, status) for key, (_, status) in _keyed_status(con).items()}
    return held


def export_part(store: Store, folder: str | Path) -> tuple[Path | None, int]:
    """Write the rows of ``store`` that no part in ``folder`` holds as a new part; returns it (None when
    there was nothing new) and how many rows it holds."""
    import ase.db

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    held = held_keys(folder)
    with sqlite3.connect(f"file:{store.path}?mode=ro", uri=True, timeout=60) as con:
        new_ids = sorted(row_id for key, (row_id, status) in _keyed_status(con).items() if (key, status) not in held)
    if not new_ids:
        return None, 0
    now = time.time()  # microseconds in the name: two exports never share one, and names sort by time
    name = f"part-{time.strftime('%Y%m%d-%H%M%S', time.gmtime(now))}-{int(now % 1 * 1e6):06d}.db"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / name
        with ase.db.connect(str(out), type="db", append=True, use_lock_file=False) as dst:
            for row_id in new_ids:
                row = store.db.get(id=row_id)
                dst.write(row.toatoms(), key_value_pairs=row.key_value_pairs, data=row.data)
        ase.db.connect(str(out), type="db", use_lock_file=False).metadata = store.db.metadata
        partial = folder / (name + ".gz.partial")
        with open(out, "rb") as src, gzip.open(partial, "wb", compresslevel=9) as dst:
            shutil.copyfileobj(src, dst)
        target = folder / (name + ".gz")
        if target.exists():  # never rewrite a part
            partial.unlink()
            raise FileExistsError(f"store part {target} exists already")
        partial.rename(target)
    return target, len(new_ids)


def import_parts(store: Store, folder: str | Path) -> int:
    """Copy into ``store`` every row of the parts in ``folder`` that it lacks, or holds only as not OK while a
    part holds it OK; returns how many rows were written."""
    folder = Path(folder)
    if not parts(folder):
        return 0
    import ase.db

    written = 0
    if store.path.exists():
        with sqlite3.connect(f"file:{store.path}?mode=ro", uri=True, timeout=60) as con:
            ours = _keyed_status(con)
    else:
        ours = {}
    with tempfile.TemporaryDirectory() as tmp:
        for path in parts(folder):
            source_file = _open_part(path, Path(tmp))
            with sqlite3.connect(source_file) as con:
                theirs = _keyed_status(con)
            wanted = [(key, row_id) for key, (row_id, status) in theirs.items()
                      if key not in ours or (ours[key][1] != OK and status == OK)]
            if not wanted:
                continue
            source = ase.db.connect(str(source_file), type="db", use_lock_file=False)
            replaced = [ours[key][0] for key, _ in wanted if key in ours]
            db = store.db
            with db:
                if replaced:
                    db.delete(replaced)
                for key, row_id in wanted:
                    row = source.get(id=row_id)
                    ours[key] = (db.write(row.toatoms(), key_value_pairs=row.key_value_pairs, data=row.data),
                                 row.key_value_pairs["status"])
            written += len(wanted)
            source_file.unlink()
    store.ensure_read_model()
    return written
