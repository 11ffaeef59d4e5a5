"""Claims: which run is computing what, so that runs sharing a store never compute one result twice.

A claim is a row (unit of work, owner, heartbeat) in the store's own SQLite file.  A run claims a unit
before it submits the unit's tasks, renews the heartbeat of its claims every ``HEARTBEAT_S`` while it runs
and drops each claim once the unit's results are stored.  A run that finds a unit claimed waits for the
owner's results; if the owner is dead it takes the unit over and computes what is still missing.  An
owner is dead when its process is gone (owners on this machine, checked at once) or when its heartbeat is
older than ``STALE_S`` (owners elsewhere, e.g. a run on another login node sharing the file).
"""
from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

TABLE = "reescreen_claims"
HEARTBEAT_S = 5.0
#: A claim whose heartbeat is older than this is abandoned (seconds); overridable for tests.
STALE_S = float(os.environ.get("REESCREEN_CLAIM_STALE_S", "60"))


@dataclass(frozen=True)
class Owner:
    """A run: the machine, its process and that process's start time (so a reused pid is not mistaken)."""

    host: str
    pid: int
    started: float
    run: str

    @classmethod
    def this_process(cls) -> "Owner":
        import psutil

        return cls(socket.gethostname(), os.getpid(), psutil.Process().create_time(), uuid.uuid4().hex[:12])

    def alive(self, heartbeat: float, now: float) -> bool:
        """Whether this owner may still be computing its claims."""
        if self.host == socket.gethostname():
            import psutil

            try:
                return psutil.Process(self.pid).create_time() == self.started
            except psutil.Error:
                return False
        return now - heartbeat < STALE_S

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}"


class Claims:
    """The claims of one run (``owner``) in the store file at ``path``."""

    def __init__(self, path: str | os.PathLike, owner: Owner | None = None):
        self.path = Path(path)
        self.owner = owner or Owner.this_process()
        self._mine: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        con.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (unit TEXT PRIMARY KEY, host TEXT, pid INTEGER, "
                    "started REAL, run TEXT, heartbeat REAL)")
        return con

    def claim(self, unit: str) -> tuple[Owner | None, bool]:
        """Claim ``unit``.  Returns (None, taken_over) when this run now owns it, ``taken_over`` telling
        whether a dead run's claim was replaced; or (the live owner, False) when another run holds it."""
        now = time.time()
        me = self.owner
        con = self._connect()
        try:
            con.execute("BEGIN IMMEDIATE")  # one claimant at a time decides
            row = con.execute(f"SELECT host, pid, started, run, heartbeat FROM {TABLE} WHERE unit = ?",
                              (unit,)).fetchone()
            holder = Owner(row[0], row[1], row[2], row[3]) if row else None
            if holder is not None and holder != me and holder.alive(row[4], now):
                con.execute("ROLLBACK")
                return holder, False
            con.execute(f"INSERT OR REPLACE INTO {TABLE} VALUES (?, ?, ?, ?, ?, ?)",
                        (unit, me.host, me.pid, me.started, me.run, now))
            con.execute("COMMIT")
        finally:
            con.close()
        with self._lock:
            self._mine.add(unit)
        return None, holder is not None and holder != me

    def release(self, unit: str) -> None:
        """Drop this run's claim on ``unit`` (its results are stored, or it needed nothing)."""
        with self._lock:
            self._mine.discard(unit)
        self._delete("unit = ? AND run = ?", (unit, self.owner.run))

    def release_all(self) -> None:
        """Drop every claim of this run."""
        with self._lock:
            self._mine.clear()
        self._delete("run = ?", (self.owner.run,))

    def _delete(self, where: str, args: tuple) -> None:
        con = self._connect()
        try:
            con.execute(f"DELETE FROM {TABLE} WHERE {where}", args)
        finally:
            con.close()

    def beat(self) -> None:
        """Renew the heartbeat of every claim of this run."""
        with self._lock:
            if not self._mine:
                return
        con = self._connect()
        try:
            con.execute(f"UPDATE {TABLE} SET heartbeat = ? WHERE run = ?", (time.time(), self.owner.run))
        finally:
            con.close()

    def _beat_forever(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                self.beat()
            except sqlite3.Error:  # a busy store: the next beat will do; STALE_S allows many misses
                pass

    def __enter__(self) -> "Claims":
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat_forever, name="reescreen-claims", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=HEARTBEAT_S + 1)
        self.release_all()


def claims_in(path: str | os.PathLike) -> list[tuple[str, Owner, float]]:
    """Every claim in the store file: (unit, owner, heartbeat)."""
    if not Path(path).exists():
        return []
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        rows = con.execute(f"SELECT unit, host, pid, started, run, heartbeat FROM {TABLE}").fetchall()
    except sqlite3.OperationalError:  # no claims table yet
        return []
    finally:
        con.close()
    return [(r[0], Owner(r[1], r[2], r[3], r[4]), r[5]) for r in rows]
