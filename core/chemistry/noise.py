"""The measured template noise of the screen (``data/template_noise.json``, written by
``benchmarks/template_noise.py``): how far apart the minima of different Architector templates of one complex
lie, in kcal/mol.  Differences between ligands smaller than this are not resolved by the screen."""
from __future__ import annotations

import json
from pathlib import Path

NOISE_FILE = Path(__file__).resolve().parents[2] / "data" / "template_noise.json"


def template_noise(path: Path = NOISE_FILE) -> dict | None:
    """The measurement (``half_width_kcal`` and how it was measured), or None when none is shipped."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data.get("half_width_kcal"), (int, float)) and data["half_width_kcal"] > 0 else None
