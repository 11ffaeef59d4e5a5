"""GFN2-xTB in ALPB implicit water through tblite's ASE calculator: the level every screen runs at.

GFN2-xTB keeps the lanthanide 4f shell in the core: every REE(III) contributes three valence electrons,
so all our complexes, ions and ligands are closed shell and run with multiplicity 1.  The true 4f spin
(e.g. seven unpaired electrons on Gd³⁺) must never be passed to xTB.  An SCF that does not converge is
retried at ``settings.retry_temperature`` (K).
"""
from __future__ import annotations

from core.levels.base import Attempt, LevelOfTheory

#: Architector relaxes its templates with its own GFN2-xTB in the same implicit solvent (closed shell).
ARCHITECTOR_RELAXATION = {"xtb_solvent": "water", "full_spin": 0}


class GFN2xTBALPB(LevelOfTheory):
    """GFN2-xTB/ALPB(water) via tblite (closed shell, 4f in core)."""

    name = "GFN2-xTB/ALPB(water)"
    slug = "gfn2xtb"
    short_name = "GFN2-xTB"
    method = "GFN2-xTB"
    solvation = ("alpb", "water")
    packages = ("tblite", "xtb")
    caveat = ("E_bind comes out about five times the DFT/SMD scale, because ALPB under-solvates the bare M³⁺ "
              "ion; the error is shared by every ligand of one metal, so compare "
              "metals through exchange energies against the aqua ion.")

    def attempts(self, settings) -> list[Attempt]:
        return [Attempt(f"{t:.0f} K", {"electronic_temperature": float(t)})
                for t in (settings.electronic_temperature, settings.retry_temperature)]

    def calculator(self, charge: int, multiplicity: int, settings, attempt: Attempt):
        from tblite.ase import TBLite  # imported here: the store and the app load levels without tblite

        return TBLite(method=self.method, charge=int(charge), multiplicity=1, solvation=self.solvation,
                      electronic_temperature=attempt.options["electronic_temperature"],
                      max_iterations=settings.scf_max_iterations, verbosity=0)


GFN2_XTB_ALPB = GFN2xTBALPB()
