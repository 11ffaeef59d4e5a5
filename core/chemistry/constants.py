"""Fixed chemistry and units shared by every part of reescreen."""
from __future__ import annotations

from ase import units

#: Units of every energy reescreen stores or shows.
ENERGY_UNITS = "kcal/mol"
#: Multiply an energy in eV by this to get kcal/mol.
EV_TO_KCAL_PER_MOL = 1.0 / (units.kcal / units.mol)

#: The 16 rare-earth elements, in the order of the series (Y first, then La–Lu).
REE_METALS: tuple[str, ...] = (
    "Y", "La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu",
)
#: The lanthanides in periodic order, La → Lu: the order every series plot and table follows.
LANTHANIDES: tuple[str, ...] = REE_METALS[1:]
#: Display order of the rare earths: the lanthanide series, then Y apart (it is not part of the series).
SERIES_ORDER: tuple[str, ...] = LANTHANIDES + ("Y",)
#: Why Y is shown apart and flagged wherever it appears.
Y_NOTE = ("Y is a 4d ion with no 4f electrons: its exchange energies at the screening level lie off the lanthanide "
          "trend (in the shipped library build, stronger than every lanthanide's in 1L6W for 85 of 91 ligands and "
          "weaker than every lanthanide's in 4L for 91 of 103), so it is shown apart; compare it with care.")
#: The metal pair selectivity views open with: neighbours-but-two in the series that chemists separate.
DEFAULT_PAIR: tuple[str, str] = ("Nd", "Dy")


def metal_label(metal: str) -> str:
    """A metal's name for menus and legends: Y carries its flag."""
    return "Y (4d, off trend)" if metal == "Y" else metal


def series_position(metal: str) -> int:
    """Sort key of a metal in :data:`SERIES_ORDER` (unknown names last)."""
    return SERIES_ORDER.index(metal) if metal in SERIES_ORDER else len(SERIES_ORDER)


def pair_name(first: str, second: str) -> str:
    """The name of a metal pair in evaluations: the two metals in REE order (Y, La … Lu), e.g. ``Nd-Dy``."""
    return "-".join(sorted((first, second), key=REE_METALS.index))


#: The metal the Architector templates are built with.
TEMPLATE_METAL = "La"
#: Every REE is screened as M(III).
METAL_OXIDATION_STATE = 3

#: Shannon (1976) effective ionic radii of M(III) at coordination number 8, in Å.  The swap from the La
#: template moves every ligand by the radius difference, so the new metal starts near its own M–O distance.
SHANNON_RADIUS_CN8: dict[str, float] = {
    "Y": 1.019, "La": 1.160, "Ce": 1.143, "Pr": 1.126, "Nd": 1.109, "Pm": 1.093, "Sm": 1.079,
    "Eu": 1.066, "Gd": 1.053, "Tb": 1.040, "Dy": 1.027, "Ho": 1.015, "Er": 1.004, "Tm": 0.994,
    "Yb": 0.985, "Lu": 0.977,
}

WATER_SMILES = "O"


def ev_to_kcal(energy_ev: float) -> float:
    """Convert an energy from eV to kcal/mol."""
    return float(energy_ev) * EV_TO_KCAL_PER_MOL
