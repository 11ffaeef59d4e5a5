"""Make a large result store for benchmarks and the big-store app test: the shipped build store's complexes
cloned under new ligand keys until the store holds the number of complexes asked for.

Every clone is a real stored complex (structure, energies, QC) with ``#k`` appended to its ligand, name and
content key, written with plain SQL into the ASE schema (writing 100,000 rows through ASE takes minutes;
cloning takes seconds).  ``python scripts/big_store.py OUT.db --complexes 100000``
"""
from __future__ import annotations

import argparse
import gzip
import shutil
import sqlite3
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD_STORE = ROOT / "data" / "build-store" / "dataset-store.db.gz"
RENAMED = ("ligand", "key", "ligand_name")


def _complex_ids(con: sqlite3.Connection) -> list[int]:
    return [i for (i,) in con.execute(
        "SELECT id FROM systems WHERE json_extract(key_value_pairs, '$.kind') = 'complex' "
        "AND coalesce(json_extract(key_value_pairs, '$.ligand'), '') != '' ORDER BY id")]


def make_big_store(out: str | Path, complexes: int, source: str | Path = BUILD_STORE) -> int:
    """Write a store with at least ``complexes`` ligand complexes to ``out``; returns how many it holds."""
    out = Path(out)
    with gzip.open(source, "rb") as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst)
    con = sqlite3.connect(out)
    base = _complex_ids(con)
    columns = [c[1] for c in con.execute("PRAGMA table_info(systems)")]
    copies = max(0, -(-complexes // len(base)) - 1)
    offset_step = con.execute("SELECT max(id) FROM systems").fetchone()[0]
    con.execute("CREATE TEMP TABLE base(id INTEGER PRIMARY KEY)")
    con.executemany("INSERT INTO base VALUES (?)", [(i,) for i in base])
    kvp = "key_value_pairs"
    renamed_kvp = f"json_set({kvp}, " + ", ".join(
        f"'$.{k}', coalesce(json_extract({kvp}, '$.{k}'), '') || :sfx" for k in RENAMED) + ")"
    select = ", ".join({"id": "id + :off", "unique_id": "unique_id || :sfx", kvp: renamed_kvp}.get(c, c)
                       for c in columns)
    with con:
        for k in range(1, copies + 1):
            p = {"off": k * offset_step, "sfx": f" #{k}"}
            con.execute(f"INSERT INTO systems ({', '.join(columns)}) SELECT {select} FROM systems "
                        "WHERE id IN (SELECT id FROM base)", p)
            con.execute("INSERT INTO text_key_values SELECT key, CASE WHEN key IN ('ligand', 'key', 'ligand_name') "
                        "THEN value || :sfx ELSE value END, id + :off FROM text_key_values "
                        "WHERE id IN (SELECT id FROM base)", p)
            for table, cols in (("number_key_values", "key, value"), ("keys", "key"), ("species", "Z, n")):
                con.execute(f"INSERT INTO {table} SELECT {cols}, id + :off FROM {table} "
                            "WHERE id IN (SELECT id FROM base)", p)
    n = len(_complex_ids(con))
    con.close()
    return n


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="store file to write (replaced)")
    parser.add_argument("--complexes", type=int, default=100_000, help="ligand complexes wanted (default 100,000)")
    args = parser.parse_args()
    print(f"{make_big_store(args.out, args.complexes)} complexes in {args.out}")
