"""Pipeline step: binding and exchange energies of stored complexes, once their references are stored.

The formulas are in :mod:`core.chemistry.energies`; this step looks up the references (free ligand,
water, bare ion, aqua ion) computed with the same settings and level of theory, and writes E_bind and
E_exchange (kcal/mol) onto each complex's row.
"""
from __future__ import annotations

from core.chemistry.complexes import AQUA, get_coordination_type
from core.chemistry.energies import complex_binding_energy, exchange_energy
from core.pipeline.settings import ScreeningSettings
from core.storage.records import OK, Kind
from core.storage.store import Store


def fill_binding_energies(store: Store, settings: ScreeningSettings, ligand: str) -> int:
    """Compute E_bind (and the exchange energy, once the aqua ion is known) for the complexes of ``ligand``
    (and the aqua ions) whose references are now stored.  Returns the number of rows updated."""
    e_water = store.energy(Kind.WATER, settings)
    if e_water is None:
        return 0
    e_lig = store.energy(Kind.LIGAND, settings, ligand=ligand) if ligand else None
    aqua_rows = list(store.settings_rows(settings, kind=Kind.COMPLEX, ctype=AQUA.name))  # first: complexes need them
    ligand_rows = list(store.settings_rows(settings, kind=Kind.COMPLEX, ligand=ligand)) if ligand else []
    aqua_bind: dict[str, float] = {}
    updates: dict[int, dict] = {}
    for row in aqua_rows + ligand_rows:
        if row.status != OK or "energy_kcal" not in row:
            continue
        ctype = get_coordination_type(row.ctype)
        changes = {}
        e_bind = row.get("e_bind_kcal")
        if e_bind is None:
            e_ion = store.energy(Kind.ION, settings, metal=row.metal)
            if e_ion is None or (ctype.n_ligands and e_lig is None):
                continue
            e_bind = changes["e_bind_kcal"] = complex_binding_energy(row.energy_kcal, e_ion, e_lig or 0.0,
                                                                     ctype.n_ligands, e_water, ctype.n_waters)
        if not ctype.n_ligands:
            aqua_bind[row.metal] = e_bind
        elif "e_exchange_kcal" not in row and row.metal in aqua_bind:
            changes["e_exchange_kcal"] = exchange_energy(e_bind, aqua_bind[row.metal])
        if changes:
            updates[row.id] = changes
    store.annotate(updates)
    return len(updates)
