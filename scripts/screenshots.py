"""Screenshots of every app page for the README: a real `streamlit run` server driven by Debian's Chromium.

    python scripts/screenshots.py --db reescreen.db [--out docs] [--pages Library,Model]
        [--ligands HOPO-methyl,CAM-methyl] [--ligand 'CNC(=O)c1ccc(C(C)C)c(=O)n1O']

The store given with --db is only read (the pages are opened, nothing is submitted).  ``--ligands`` are
chosen on the Results and Compare pages; ``--ligand`` opens the app on that ligand (through the URL).
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from browser_helpers import choose_options, wait_until_idle  # this folder: run as a script

ROOT = Path(__file__).resolve().parents[1]
PAGES = {"Design": "Design a ligand", "Screen": "Screen", "Library": "Library", "Results": "Results",
         "Compare": "Compare ligands", "Structure": "Structure", "Export": "Export", "Model": "Model"}
#: The ligand multiselect of each page that has one.
LIGAND_BOXES = {"Results": "Ligands", "Compare": "Ligands (2–6)"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--out", default=str(ROOT / "docs"))
    parser.add_argument("--pages", default=",".join(PAGES))
    parser.add_argument("--ligands", help="comma-separated ligand names to choose on Results and Compare")
    parser.add_argument("--ligand", help="SMILES the app opens on (as a shared link would)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "REESCREEN_DB": str(Path(args.db).resolve()), "OMP_NUM_THREADS": "1"}
    server = subprocess.Popen([str(Path(sys.executable).parent / "streamlit"), "run", "app/main.py", "--server.port",
                               str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        chromium = shutil.which("chromium") or "/usr/bin/chromium"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--use-gl=swiftshader", "--enable-unsafe-swiftshader"])
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            from urllib.parse import quote

            page.goto(f"http://127.0.0.1:{port}" + (f"/?ligand={quote(args.ligand)}" if args.ligand else ""))
            page.wait_for_selector("text=Design a ligand", timeout=60000)
            for name in args.pages.split(","):
                page.get_by_role("link", name=name, exact=True).click()
                page.wait_for_selector(f"h1:has-text('{PAGES[name]}')", timeout=60000)
                wait_until_idle(page, 1000)  # the script has finished when Streamlit's running indicator is gone
                if args.ligands and name in LIGAND_BOXES:
                    choose_options(page, LIGAND_BOXES[name], args.ligands.split(","))
                    wait_until_idle(page, 1000)
                page.wait_for_timeout(3000)
                path = Path(args.out) / f"screenshot-{name.lower()}.png"
                page.screenshot(path=str(path), full_page=True)
                print(path)
            browser.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
