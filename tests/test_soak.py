"""Soak test of the app server: 5 browser sessions submit screening jobs at once, 3 rounds.

Each round, sessions 1, 3, 5 screen one new ligand and sessions 2, 4 another (La, 1 L + 6 H2O, fast), so
the server gets overlapping requests from separate sessions.  Checked: every requested complex is stored
exactly once and never replaced; the health endpoint answers in < 1 s throughout; the server's memory
(its process and its Dask workers) does not grow from round 2 to round 3 (round 1 loads the model and
starts the cluster).  Loopback only.  It takes several minutes, so it runs on request:
``python -m pytest -m slow tests/test_soak.py``; its last output is committed in ``docs/soak.last.txt``.
"""
from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.request import urlopen

import psutil
import pytest
from conftest import stored_result_ids

from core.chemistry.ligands import library_ligand

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "docs" / "soak.last.txt"
CHROMIUM = "/usr/bin/chromium"
SESSIONS = 5
ROUNDS = [("methyl", "ethyl"), ("fluoro", "chloro"), ("methoxy", "hydroxyl")]
#: Allowed growth of the server's resident memory from round 2 to round 3 (MiB): allocator noise, caches.
GROWTH_MIB = 60

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mib(pid: int) -> float:
    proc = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 2**20


def _complexes(db: Path, smiles: str) -> int:
    con = sqlite3.connect(db, timeout=60)
    try:
        return con.execute("SELECT count(*) FROM reescreen_results_v2 WHERE ligand = ? AND kind = 'complex'",
                           (smiles,)).fetchone()[0]
    except sqlite3.OperationalError:  # no results table before the first write
        return 0
    finally:
        con.close()


class HealthProbe(threading.Thread):
    """Asks the server's health endpoint every 0.5 s and keeps the slowest answer."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url, self.worst, self.failures, self.n = url, 0.0, [], 0
        self.slow: list[tuple[float, float]] = []  # (seconds since start, latency) of checks over 0.5 s
        self.start_time = time.time()
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.5):
            t = time.perf_counter()
            try:
                urlopen(f"{self.url}/_stcore/health", timeout=5).read()
            except OSError as exc:
                self.failures.append(str(exc))
            latency = time.perf_counter() - t
            self.worst = max(self.worst, latency)
            if latency > 0.5:
                self.slow.append((time.time() - self.start_time, latency))
            self.n += 1


def _submit(context, url: str, smiles: str) -> None:
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("text=Design a ligand", timeout=60000)
    page.get_by_text("SMILES", exact=True).click()
    box = page.get_by_role("textbox", name="SMILES", exact=True)
    box.fill(smiles)
    box.press("Enter")
    page.wait_for_selector(f"text=Canonical SMILES {smiles}", timeout=30000)  # this ligand, not the default
    page.get_by_role("link", name="Screen").click()
    page.wait_for_selector(f"text={smiles}", timeout=30000)
    for label, value in (("Metals", "La"), ("Coordination types", "1L6W")):
        page.locator(f"div[data-testid='stMultiSelect']:has-text('{label}')").get_by_role(
            "button", name="Clear all").click()
        field = page.get_by_label(label)
        field.click()
        field.fill(value)
        field.press("Enter")
        page.keyboard.press("Escape")
    page.get_by_role("button", name="Screen", exact=True).click()  # waits until the choices enable it
    page.wait_for_selector("text=queued", timeout=30000)


def test_five_sessions_three_rounds_store_each_complex_once(tmp_path):
    from playwright.sync_api import sync_playwright

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    db = tmp_path / "soak.db"
    server = subprocess.Popen([str(Path(sys.executable).parent / "streamlit"), "run", "app/main.py",
                               "--server.port", str(port)], cwd=ROOT,
                              env={**os.environ, "REESCREEN_DB": str(db), "OMP_NUM_THREADS": "1"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    lines = [f"soak test: {SESSIONS} browser sessions x {len(ROUNDS)} rounds, La x 1L6W, fast; "
             f"{os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M')}"]
    probe = HealthProbe(url)
    try:
        deadline = time.time() + 60
        while True:
            try:
                urlopen(f"{url}/_stcore/health", timeout=2)
                break
            except OSError:
                assert time.time() < deadline, "server did not start"
                time.sleep(0.3)
        probe.start()
        seen: dict[str, int] = {}
        memory = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            contexts = [browser.new_context(viewport={"width": 1200, "height": 1000}) for _ in range(SESSIONS)]
            for number, groups in enumerate(ROUNDS, start=1):
                ligands = [library_ligand("HOPO", g) for g in groups]
                t0 = time.time()
                lines.append(f"round {number} starts at {t0 - probe.start_time:.0f} s")
                worst_before, probe.worst = probe.worst, 0.0
                for k, context in enumerate(contexts):
                    _submit(context, url, ligands[k % 2].smiles)
                submitted = time.time() - t0
                end = time.time() + 900
                while not all(_complexes(db, lig.smiles) for lig in ligands):
                    assert time.time() < end, f"round {number} did not finish"
                    time.sleep(1)
                time.sleep(5)  # the last jobs of the round (all cached) finish
                keys = stored_result_ids(db)  # asserts each result once
                assert all(keys[k] == i for k, i in seen.items()), "a stored result was replaced"
                seen = keys
                memory.append(_rss_mib(server.pid))
                lines.append(f"round {number}: {SESSIONS} jobs submitted in {submitted:.1f} s, finished after "
                             f"{time.time() - t0:.0f} s; {len(keys)} results stored, each once; server RSS "
                             f"{memory[-1]:.0f} MiB; slowest health check in the round {probe.worst * 1000:.0f} ms")
                probe.worst = max(probe.worst, worst_before)
                for context in contexts:
                    for page in context.pages:
                        page.close()
            browser.close()
    finally:
        probe.stop.set()
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    lines.append(f"health checks: {probe.n}, slowest {probe.worst * 1000:.0f} ms, failures {len(probe.failures)}; "
                 "over 0.5 s at: " + (", ".join(f"{t:.0f} s ({d * 1000:.0f} ms)" for t, d in probe.slow) or "none"))
    lines.append(f"memory round 2 -> 3: {memory[1]:.0f} -> {memory[2]:.0f} MiB (allowed growth {GROWTH_MIB} MiB)")
    REPORT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    assert not probe.failures and probe.worst < 1.0
    assert memory[2] <= memory[1] + GROWTH_MIB
