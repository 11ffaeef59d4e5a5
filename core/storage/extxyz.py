"""The one extended-XYZ reader: dataset shards, training data and structures from elsewhere."""
from __future__ import annotations

from pathlib import Path

EXTENSIONS = (".extxyz.gz", ".extxyz", ".xyz", ".xyz.gz")


def read_frames(path: str | Path, split: str | None = None) -> list:
    """Every frame of an extxyz file (``.extxyz``, ``.xyz``, optionally gzipped) or of a folder of them,
    optionally only those whose ``split`` is ``split``.  :class:`FileNotFoundError` if there are none."""
    import ase.io

    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.name.endswith(EXTENSIONS))
    elif path.exists():
        files = [path]
    else:
        files = []
    if not files:
        raise FileNotFoundError(f"No extxyz files in {path}.")
    frames = [a for f in files for a in ase.io.read(str(f), index=":", format="extxyz")]
    return [a for a in frames if split is None or a.info.get("split") == split]
