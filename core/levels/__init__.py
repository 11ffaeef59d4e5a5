"""Levels of theory: one object per method (see :mod:`core.levels.base`), looked up by the name stored with
every energy.  GFN2-xTB/ALPB(water) (:mod:`core.levels.xtb`) is the screening level; B3LYP-D4 single points
with PySCF (:mod:`core.levels.dft`) refine a shortlist on its geometries."""
from __future__ import annotations

from core.levels.base import Attempt, LevelError, LevelOfTheory, LevelResult
from core.levels.dft import SOLVENTS, DFTLevel, DFTOptions
from core.levels.xtb import ARCHITECTOR_RELAXATION, GFN2_XTB_ALPB

#: The refinement level a shortlist gets unless asked otherwise (4f in core, def2-SVP, SMD water).
DEFAULT_DFT = DFTLevel()
#: Every level reescreen can compute, by stored name.
LEVELS: dict[str, LevelOfTheory] = {GFN2_XTB_ALPB.name: GFN2_XTB_ALPB}
for _options in (DFTOptions(open_shell=o, diffuse=d, solvent=s)
                 for o in (False, True) for d in (False, True) for s in SOLVENTS):
    _level = DFTLevel(_options)
    LEVELS[_level.name] = _level
#: The level a screen runs at unless its settings name another.
DEFAULT_LEVEL: LevelOfTheory = GFN2_XTB_ALPB


def dft_level(open_shell: bool = False, diffuse: bool = False, solvent: str = "smd") -> DFTLevel:
    """The registered DFT level with these options."""
    return LEVELS[DFTLevel(DFTOptions(open_shell=open_shell, diffuse=diffuse, solvent=solvent)).name]


def get_level(name: str) -> LevelOfTheory:
    """The level stored under ``name``; :class:`ValueError` names the known ones otherwise."""
    try:
        return LEVELS[name]
    except KeyError:
        raise ValueError(f"Unknown level of theory {name!r}; known: {', '.join(LEVELS)}.") from None


__all__ = ["ARCHITECTOR_RELAXATION", "Attempt", "DEFAULT_DFT", "DEFAULT_LEVEL", "DFTLevel", "DFTOptions", "dft_level", "LEVELS", "LevelError", "LevelOfTheory", "LevelResult", "get_level"]
