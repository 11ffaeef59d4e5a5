"""Levels of theory: one object per method (see :mod:`core.levels.base`), looked up by the name stored with
every energy.  GFN2-xTB/ALPB(water) (:mod:`core.levels.xtb`) is the screening level."""
from __future__ import annotations

from core.levels.base import Attempt, LevelError, LevelOfTheory, LevelResult
from core.levels.xtb import ARCHITECTOR_RELAXATION, GFN2_XTB_ALPB

#: Every level reescreen can compute, by stored name.
LEVELS: dict[str, LevelOfTheory] = {GFN2_XTB_ALPB.name: GFN2_XTB_ALPB}
#: The level a screen runs at unless its settings name another.
DEFAULT_LEVEL: LevelOfTheory = GFN2_XTB_ALPB


def get_level(name: str) -> LevelOfTheory:
    """The level stored under ``name``; :class:`ValueError` names the known ones otherwise."""
    try:
        return LEVELS[name]
    except KeyError:
        raise ValueError(f"Unknown level of theory {name!r}; known: {', '.join(LEVELS)}.") from None


__all__ = ["ARCHITECTOR_RELAXATION", "Attempt", "DEFAULT_LEVEL", "LEVELS", "LevelError", "LevelOfTheory", "LevelResult", "get_level"]
