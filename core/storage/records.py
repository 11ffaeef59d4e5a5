"""What the store holds: record kinds, result statuses and the :class:`Record` of one computed thing."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ase import Atoms


class Kind(StrEnum):
    """What a stored row is."""

    TEMPLATE = "template"   # an Architector La template (structure only)
    COMPLEX = "complex"     # an optimised complex (or an aqua ion, which has no ligand)
    LIGAND = "ligand"       # the optimised free ligand (reference)
    WATER = "water"         # the optimised water molecule (reference)
    ION = "ion"             # the bare M³⁺ ion (reference)


class Status(StrEnum):
    """How a computation ended.  Only ``OK`` results are ranked; the others are kept with their reason."""

    OK = "ok"
    FAILED = "failed"        # the calculation did not finish (Architector, SCF, embedding)
    QC_FAILED = "qc_failed"  # it finished, but a ligand or water changed or came off


OK, FAILED, QC_FAILED = Status.OK, Status.FAILED, Status.QC_FAILED


@dataclass
class Record:
    """One computed thing: a template, a complex, or a reference (ligand, water, ion).

    ``energy`` is the absolute energy in kcal/mol at ``level`` (None when failed).  Identity fields
    (``kind``, ``ligand``, ``metal``, ``ctype``, ``rank``) plus the settings fingerprint and the level of
    theory key the store.
    """

    kind: str
    ligand: str = ""
    metal: str = ""
    ctype: str = ""
    status: str = OK
    reason: str = ""
    energy: float | None = None
    atoms: Atoms | None = None
    charge: int = 0
    n_steps: int = 0
    converged: bool = True
    electronic_temperature: float = 0.0
    wall_s: float = 0.0
    rank: int = 0
    extra: dict = field(default_factory=dict)
    level: str = ""
