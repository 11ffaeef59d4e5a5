"""Nothing leaks, nothing crashes: what the embedded cluster exposes, interrupted runs, broken stores,
unreachable schedulers and two runs on one store — each with the real CLI in its own process."""
from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest
from conftest import stored_result_ids

from core.cli.common import csv_list

ROOT = Path(__file__).resolve().parents[1]
REESCREEN = str(Path(sys.executable).parent / "reescreen")
#: Inherited by every process a test's CLI run starts (fork and exec alike): how the test finds them.
TEST_MARK = "REESCREEN_TEST_MARK"
SMALL = ["--metals", "La,Lu", "--types", "1L6W", "--no-progress", "--no-model"]


def _env(mark: str, **extra: str) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", TEST_MARK: mark, **extra}


def _marked(mark: str) -> list[str]:
    """Processes still alive that carry ``mark`` in their environment."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(TEST_MARK) == mark and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(f"{proc.pid} {' '.join(proc.cmdline())[:100]}")
        except psutil.Error:
            continue
    return found


def _wait_until_none_left(mark: str, limit_s: float = 10.0) -> list[str]:
    end = time.time() + limit_s
    while (left := _marked(mark)) and time.time() < end:
        time.sleep(0.5)
    return left


def _stacks_of(run: subprocess.Popen) -> str:
    """Where every thread of a CLI run that did not stop is (its SIGUSR1 stack dump), then the run stopped."""
    try:
        run.send_signal(signal.SIGUSR1)
        time.sleep(2)
    finally:
        os.killpg(run.pid, signal.SIGKILL)
    return run.communicate(timeout=60)[1][-6000:]


def _screen(db: Path, mark: str, *args: str, substituent: str = "ethyl", **popen) -> subprocess.Popen:
    return subprocess.Popen([REESCREEN, "screen", "--scaffold", "HOPO", "--substituent", substituent, *SMALL,
                             "--db", str(db), *args], cwd=ROOT, env=_env(mark), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def _rows(db: Path) -> int:
    if not db.exists():
        return 0
    con = sqlite3.connect(db, timeout=30)
    try:
        return con.execute("SELECT count(*) FROM systems").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()


def _wait_for(condition, limit_s: float, what: str) -> None:
    end = time.time() + limit_s
    while not condition():
        assert time.time() < end, f"timed out waiting for {what}"
        time.sleep(0.3)


def _one_line_error(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip() and not ln.startswith("Ligand ")]
    assert "Traceback" not in stderr and len(lines) == 1 and lines[0].startswith("reescreen: error:"), stderr
    return lines[0]


# -- 1. exposure ----------------------------------------------------------------------------------------
def test_embedded_cluster_and_its_dashboard_listen_on_loopback_only(monkeypatch):
    from core.pipeline.cluster import DASHBOARD_ENV, dashboard_address, make_client

    monkeypatch.delenv(DASHBOARD_ENV, raising=False)
    with make_client(n_workers=1) as client:
        me = psutil.Process()
        listening = [(p.pid, c.laddr) for p in [me, *me.children(recursive=True)]
                     for c in p.net_connections("inet") if c.status == psutil.CONN_LISTEN]
        assert client.dashboard_link.startswith("http://127.0.0.1:")
    assert listening and all(addr.ip == "127.0.0.1" for _, addr in listening), listening
    assert dashboard_address("off") is None and dashboard_address("127.0.0.1:8787") == "127.0.0.1:8787"
    monkeypatch.setenv(DASHBOARD_ENV, "off")
    assert dashboard_address() is None


# -- 3. interrupted runs ----------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm", "sigkill"])
def test_interrupted_screen_says_what_it_kept_and_leaves_no_process(tmp_path, how):
    mark = uuid.uuid4().hex
    db = tmp_path / "run.db"
    # as a terminal's foreground job: with SIGINT at its default even when pytest itself was started in the
    # background by a non-interactive shell, which ignores SIGINT for it (and an ignored SIGINT is inherited)
    run = _screen(db, mark, start_new_session=True,
                  preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # mid-run: references stored, Architector building templates in a worker's fork-server child
    _wait_for(lambda: _rows(db) >= 2 and any("forkserver" in p for p in _marked(mark)), 240, "a run mid-way")
    if how == "ctrl-c":
        os.killpg(run.pid, signal.SIGINT)  # a terminal sends Ctrl-C to the whole foreground group
    else:
        run.send_signal(signal.SIGTERM if how == "sigterm" else signal.SIGKILL)
    left = _wait_until_none_left(mark)  # the command itself included
    if left:
        where = _stacks_of(run)
        assert not left, f"processes of the run still alive 10 s after {how}: {left}\nthe command's threads:\n{where}"
    out, err = run.communicate(timeout=60)
    if how == "sigkill":
        return
    assert run.returncode == 130 and "Traceback" not in err, err
    assert f"reescreen: interrupted; {_rows(db)} results saved, rerun to finish." in err.splitlines()
    assert len([ln for ln in err.splitlines() if ln.strip()]) == 2, err  # the ligand line and that one


# -- 4. storage and cluster errors -------------------------------------------------------------------------
def _damaged(tmp_path: Path, kind: str) -> Path:
    if kind == "folder":
        return tmp_path
    path = tmp_path / f"{kind}.db"
    if kind == "not-sqlite":
        path.write_text("name,smiles\nmethyl,C\n" * 20)
    elif kind in ("truncated", "foreign-sqlite"):
        con = sqlite3.connect(path)
        con.execute("CREATE TABLE t (x)")
        con.executemany("INSERT INTO t VALUES (?)", [("x" * 500,)] * 200)
        con.commit()
        con.close()
        if kind == "truncated":
            path.write_bytes(path.read_bytes()[:5000])
    return path


@pytest.mark.parametrize("kind", ["folder", "not-sqlite", "truncated", "foreign-sqlite", "/proc/self/status",
                                  "/proc/reescreen.db"])
@pytest.mark.parametrize("command", ["screen", "results"])
def test_unusable_store_is_one_line_error_and_left_untouched(tmp_path, kind, command):
    db = Path(kind) if kind.startswith("/") else _damaged(tmp_path, kind)
    before = hashlib.sha256(db.read_bytes()).hexdigest() if db.is_file() and not kind.startswith("/") else None
    files = sorted(tmp_path.iterdir())
    args = ["screen", "--scaffold", "HOPO", "--substituent", "methyl", *SMALL] if command == "screen" else ["results"]
    done = subprocess.run([REESCREEN, *args, "--db", str(db)], cwd=ROOT, env=_env("x"), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    assert "store" in _one_line_error(done.stderr)
    assert sorted(tmp_path.iterdir()) == files  # nothing created beside it
    if before:
        assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_unreachable_scheduler_is_reported_within_15_s_and_creates_no_store(tmp_path):
    db = tmp_path / "never.db"
    start = time.time()
    done = subprocess.run([REESCREEN, "screen", "--scaffold", "HOPO", "--substituent", "methyl", *SMALL, "--db",
                           str(db), "--scheduler", "tcp://127.0.0.1:1"], cwd=ROOT, env=_env("x"),
                          capture_output=True, text=True, timeout=120)
    assert time.time() - start < 15
    assert done.returncode == 2 and "cannot reach the Dask scheduler" in _one_line_error(done.stderr)
    assert not db.exists()


def test_export_to_a_missing_folder_is_one_line_error(small_store_copy, tmp_path):
    done = subprocess.run([REESCREEN, "export", str(tmp_path / "no" / "such" / "x.csv"), "--db",
                           str(small_store_copy)], cwd=ROOT, env=_env("x"), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and "does not exist" in _one_line_error(done.stderr)


# -- 7. CLI niggles -----------------------------------------------------------------------------------------
def test_empty_metal_list_is_refused_before_anything_runs(tmp_path):
    db = tmp_path / "x.db"
    done = subprocess.run([REESCREEN, "screen", "--scaffold", "HOPO", "--substituent", "methyl", "--metals", "",
                           "--db", str(db)], cwd=ROOT, env=_env("x"), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "no metals given" in done.stderr and not db.exists()


def test_repeated_metals_and_types_are_requested_once():
    assert csv_list("La, Lu,La,,Lu", ["La", "Lu"], "metals") == ["La", "Lu"]


def test_cached_rerun_closes_the_cluster_quietly(small_store_copy):
    done = subprocess.run([REESCREEN, "screen", "--scaffold", "HOPO", "--substituent", "methyl", "--metals",
                           "La,La,Lu", "--types", "1L6W,1L6W", "--no-progress", "--no-model", "--db",
                           str(small_store_copy)], cwd=ROOT, env=_env("x"), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "2 metals x 1 types" in done.stderr and "2 complexes requested: 2 from the store" in done.stderr
    for noise in ("Traceback", "CommClosedError", "WARNING", "ERROR"):
        assert noise not in done.stderr, done.stderr


# -- 5. two runs on one store -------------------------------------------------------------------------------
def test_second_run_of_the_same_ligand_waits_for_the_first_and_computes_nothing_twice(tmp_path):
    mark = uuid.uuid4().hex
    db = tmp_path / "shared.db"
    first = _screen(db, mark, "--workers", "1")
    from core.storage.claims import claims_in

    _wait_for(lambda: any(o.pid == first.pid for _, o, _ in claims_in(db)), 120, "the first run's claims")
    second = _screen(db, mark, "--workers", "1")
    out1, err1 = first.communicate(timeout=600)
    after_first = stored_result_ids(db)
    out2, err2 = second.communicate(timeout=600)
    assert first.returncode == 0 and second.returncode == 0, err1 + err2
    assert "0 computed" in err2 and "(0 tasks" in err2 and f"waited for the run of pid {first.pid}" in err2, err2
    assert stored_result_ids(db) == after_first  # nothing recomputed, nothing replaced
    assert out1 == out2  # both print the same table
    assert claims_in(db) == []


def test_run_taking_over_from_a_killed_run_finishes_its_work_once(tmp_path):
    mark = uuid.uuid4().hex
    db = tmp_path / "shared.db"
    first = _screen(db, mark, "--workers", "1")
    from core.storage.claims import claims_in

    _wait_for(lambda: _rows(db) >= 1 and any(o.pid == first.pid for _, o, _ in claims_in(db)), 180,
              "the first run mid-way")
    first.kill()
    first.communicate(timeout=60)
    assert not _wait_until_none_left(mark)
    second = _screen(db, uuid.uuid4().hex, "--workers", "1")
    out, err = second.communicate(timeout=600)
    assert second.returncode == 0, err
    assert "took over from a run that stopped" in err, err
    rows = stored_result_ids(db)  # asserts every result is stored once
    assert len(rows) >= 2 + 1 + 1 + 2  # two complexes, ligand, water, two ions (plus templates, aqua ions)
    assert claims_in(db) == []
