"""Browser assets the app serves itself: 3Dmol.js from the npm registry, never from a CDN.

Run once after installing the Python packages: ``python -m app.assets``.  It fetches the ``3dmol``
npm package of the version py3Dmol expects and puts ``3Dmol-min.js`` in ``app/static/``, which
Streamlit serves at ``/app/static/`` (``enableStaticServing`` in ``.streamlit/config.toml``).
"""
from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
from importlib import metadata
from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"
THREEDMOL_JS = STATIC / "3Dmol-min.js"
THREEDMOL_URL = "/app/static/3Dmol-min.js"


def threedmol_version() -> str:
    """The 3Dmol.js version py3Dmol is written for (py3Dmol releases follow 3Dmol.js)."""
    return metadata.version("py3Dmol")


def has_3dmol() -> bool:
    """Whether the local 3Dmol.js of the expected version is installed."""
    marker = STATIC / "3Dmol.version"
    return THREEDMOL_JS.exists() and marker.exists() and marker.read_text().strip() == threedmol_version()


def install_3dmol() -> Path:
    """Fetch ``3dmol@<py3Dmol version>`` with ``npm pack`` and unpack its minified build into app/static/."""
    version = threedmol_version()
    STATIC.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        name = subprocess.run(["npm", "pack", f"3dmol@{version}", "--silent"], cwd=tmp, check=True,
                              capture_output=True, text=True).stdout.strip().splitlines()[-1]
        with tarfile.open(Path(tmp) / name) as tar:
            member = tar.extractfile("package/build/3Dmol-min.js")
            if member is None:
                raise RuntimeError(f"3dmol@{version} has no build/3Dmol-min.js")
            THREEDMOL_JS.write_bytes(member.read())
    (STATIC / "3Dmol.version").write_text(version)
    return THREEDMOL_JS


if __name__ == "__main__":
    if has_3dmol():
        print(f"3Dmol.js {threedmol_version()} already in {THREEDMOL_JS}")
    else:
        print(f"installed 3Dmol.js {threedmol_version()} to {install_3dmol()}")
    sys.exit(0)
