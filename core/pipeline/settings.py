"""Named screening settings.  A settings object is part of every result's key: change it, get new results."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace

from core.levels import DEFAULT_LEVEL, get_level


@dataclass(frozen=True)
class ScreeningSettings:
    """How hard to search, how tightly to optimise, and at which level of theory.

    ``level`` names the level of theory (:mod:`core.levels`) every energy is computed at; it is part of
    every stored result's key on its own, so two levels of one complex live side by side in one store.

    Architector (La templates): ``n_symmetries`` metal-centre symmetries, ``n_templates`` relaxed
    templates kept per coordination type (each is re-optimised at the level; the lowest wins).
    Optimisation: LBFGS to ``fmax`` (eV/Å) within ``max_steps``; SCF at
    ``electronic_temperature`` (K), retried once at ``retry_temperature`` (K) if it does not converge
    within ``scf_max_iterations``.  ``ligand_conformers`` RDKit conformers of the free ligand are
    optimised and the lowest is its reference.
    """

    name: str = "fast"
    n_symmetries: int = 1
    n_templates: int = 1
    fmax: float = 0.05
    max_steps: int = 400
    electronic_temperature: float = 300.0
    retry_temperature: float = 1000.0
    scf_max_iterations: int = 250
    ligand_conformers: int = 3
    seed: int = 42
    #: Wall-clock limit (s) for one Architector template build: Architector has no limit of its own and
    #: was seen running > 8 min on a La 4 L complex of a tri-tert-butylmethyl HOPO.  A template that hits it
    #: is stored as a failure with that reason (``--retry-failed`` reruns it).
    template_timeout_s: float = 900.0
    level: str = DEFAULT_LEVEL.name
    #: How a complex's starting structure is built: ``architector`` (default) builds La templates with
    #: Architector; ``auto`` grafts the ligand onto the shipped complex of its scaffold when it has one
    #: (:mod:`core.chemistry.grafting`) and uses Architector otherwise; ``graft`` only grafts.  Grafting is
    #: 2.5x faster but not the default: on ten library ligands its minima lie 5 kcal/mol above Architector's
    #: on average (benchmarks/compare_routes.py), so mixing routes would bias a ranking.
    route: str = "architector"

    def __post_init__(self) -> None:
        if self.route not in ROUTES:
            raise ValueError(f"Unknown route {self.route!r}; choose from {', '.join(ROUTES)}.")

    def fingerprint(self) -> str:
        """Short content hash of every setting that changes results (the name included), used in result keys.

        Time limits are left out: they decide whether a result is computed, not what it is.  So is ``route``:
        it says how a missing complex's starting structure is built; a stored complex is reused whatever
        built it, and its ``route`` column says which.  The level is
        left out too: it is keyed on its own (see :func:`core.storage.store.record_key`), which keeps keys
        of results stored before levels were a setting unchanged.
        """
        values = {k: v for k, v in asdict(self).items() if k not in _OPERATIONAL}
        text = json.dumps(values, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def to_json(self) -> str:
        """The settings as a JSON object (stored with every result)."""
        return json.dumps(asdict(self), sort_keys=True)

    def with_changes(self, **changes: object) -> "ScreeningSettings":
        """A copy with some settings changed (its fingerprint changes with them)."""
        return replace(self, **changes)

    @property
    def level_of_theory(self):
        """The :class:`core.levels.LevelOfTheory` these settings compute at."""
        return get_level(self.level)


ROUTES = ("auto", "architector", "graft")
_OPERATIONAL = frozenset({"template_timeout_s", "level", "route"})

FAST = ScreeningSettings()
# Closer to the paper: up to 10 metal-centre symmetries and three templates per type, tighter forces.
THOROUGH = ScreeningSettings(name="thorough", n_symmetries=10, n_templates=3, fmax=0.03, max_steps=1500,
                             ligand_conformers=10, template_timeout_s=3600.0)
PRESETS: dict[str, ScreeningSettings] = {"fast": FAST, "thorough": THOROUGH}


def get_settings(name: str) -> ScreeningSettings:
    """The named preset (``fast`` or ``thorough``)."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"Unknown settings {name!r}; choose from {', '.join(PRESETS)}.") from None
