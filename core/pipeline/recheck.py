"""Pipeline step: re-check stored results that an older QC judged (see ``QC_VERSION``).

Run before a ligand is screened again and before the dataset is written.  Complexes are checked again from
their stored structures, nothing is recomputed: one an older, laxer check passed may now fail, and one an
older check rejected without cause (QC version 3: a perceived resonance form read as another molecule) may
now pass, and gets its binding energy.  A free ligand whose optimisation an older check rejected has no
structure stored, so it is forgotten and the next screen of the ligand computes it again.
"""
from __future__ import annotations

from core.chemistry.complexes import get_coordination_type
from core.chemistry.ligands import Ligand
from core.chemistry.qc import QC_VERSION, check_complex
from core.pipeline.fill_energies import fill_binding_energies
from core.pipeline.settings import ScreeningSettings
from core.storage.records import FAILED, OK, QC_FAILED, Kind
from core.storage.store import Store

#: How a free ligand's failure read when the connectivity check rejected every optimised conformer.
_FREE_LIGAND_CHECK_FAILURES = ("free ligand changed connectivity", "a proton moved within a free ligand")


def recheck_qc(store: Store, settings: ScreeningSettings, ligand: Ligand) -> int:
    """Re-check ``ligand``'s stored results that an older QC judged; returns how many complexes now fail.

    Complexes that now fail become QC-failed with the reason, those that now pass become OK (reason
    dropped, E_bind filled in); each is marked with the current QC version.
    """
    updates: dict[int, dict] = {}
    passed: list[int] = []
    for row in store.settings_rows(settings, kind=Kind.COMPLEX, ligand=ligand.smiles):
        if row.status not in (OK, QC_FAILED) or row.get("qc_version", 1) >= QC_VERSION or not row.natoms:
            continue
        qc = check_complex(row.toatoms(), ligand.smiles, ligand.charge, get_coordination_type(row.ctype))
        if qc.passed and row.status == QC_FAILED:
            passed.append(row.id)
        elif qc.passed:
            updates[row.id] = {"qc_version": QC_VERSION}
        else:
            updates[row.id] = {"qc_version": QC_VERSION, "status": str(QC_FAILED), "reason": qc.reason}
    store.annotate(updates)
    for row_id in passed:
        store.update(row_id, delete_keys=("reason",), status=str(OK), qc_version=QC_VERSION)
    free = store.get(Kind.LIGAND, settings, ligand=ligand.smiles)
    if free is not None and free.status == FAILED and free.get("qc_version", 1) < QC_VERSION \
            and str(free.get("reason", "")).startswith(_FREE_LIGAND_CHECK_FAILURES):
        store.delete([free.id])
    if passed:
        fill_binding_energies(store, settings, ligand.smiles)
    return sum(u.get("status") == QC_FAILED for u in updates.values())
