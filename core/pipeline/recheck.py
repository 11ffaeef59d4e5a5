"""Pipeline step: re-check stored complexes that passed an older, laxer QC (see ``QC_VERSION``).

Run before a ligand is screened again and before the dataset is written; nothing is recomputed.
"""
from __future__ import annotations

from core.chemistry.complexes import get_coordination_type
from core.chemistry.ligands import Ligand
from core.chemistry.qc import QC_VERSION, check_complex
from core.pipeline.settings import ScreeningSettings
from core.storage.records import OK, QC_FAILED, Kind
from core.storage.store import Store


def recheck_qc(store: Store, settings: ScreeningSettings, ligand: Ligand) -> int:
    """Re-check ``ligand``'s stored complexes that passed an older QC.

    Complexes that now fail become QC-failed with the reason (kept, not recomputed); the others are
    marked as checked.  Returns how many now fail.
    """
    updates: dict[int, dict] = {}
    for row in store.settings_rows(settings, kind=Kind.COMPLEX, ligand=ligand.smiles, status=OK):
        if row.get("qc_version", 1) >= QC_VERSION or not row.natoms:
            continue
        qc = check_complex(row.toatoms(), ligand.smiles, ligand.charge, get_coordination_type(row.ctype))
        updates[row.id] = {"qc_version": QC_VERSION} if qc.passed else \
            {"qc_version": QC_VERSION, "status": str(QC_FAILED), "reason": qc.reason}
    store.annotate(updates)
    return sum(u.get("status") == QC_FAILED for u in updates.values())

