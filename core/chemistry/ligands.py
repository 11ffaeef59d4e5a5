"""Ligands: the scaffold and substituent libraries, validation of drawn ligands and donor-pair detection.

Every ligand is held in its binding form: deprotonated, as a canonical RDKit SMILES, with its formal
charge and the indices (in that canonical SMILES) of the two atoms that bind the metal.

Deprotonation state of CAM (catecholamide): both phenolic oxygens are deprotonated, so CAM and thio-CAM
bind as dianions (−2).  Lanthanide ions displace both catechol protons on chelation (the catecholate
dianion is the species found in Ln/An–catecholamide complexes, e.g. Raymond's CAM sequestering agents),
and the monoanion would leave one donor as a neutral O–H, which is not the O,O-chelate the protocol
describes.  The paper also finds CAM binding more strongly than HOPO, which the dianion reproduces.
HOPO, thio-HOPO and HDEV lose their single N–OH proton and bind as monoanions (−1), e.g.
[Y(HOPO-OH)4]⁻.  The charge always comes from the SMILES, so it is consistent everywhere downstream.
"""
from __future__ import annotations

import re

from dataclasses import dataclass, field
from functools import lru_cache
from itertools import combinations

from rdkit import Chem, RDLogger
from rdkit.Chem.rdMolDescriptors import CalcMolFormula

#: Largest ligand we accept, in heavy atoms (a 4 L complex of such ligands is already ~2,000 atoms).
MAX_HEAVY_ATOMS = 120

#: Elements a ligand may contain; anything else (metals, noble gases) is refused.
LIGAND_ELEMENTS = frozenset({"H", "B", "C", "N", "O", "F", "Si", "P", "S", "Cl", "Se", "Br", "I"})

#: Scaffolds in their binding form; ``*`` marks ring carbon C3, where the substituent goes.
SCAFFOLDS: dict[str, str] = {
    # 1-hydroxy-2-pyridinone, N-methyl carboxamide at C6; binds through N1–O⁻ and C2=O.
    "HOPO": "CNC(=O)c1ccc(*)c(=O)n1[O-]",
    "thio-HOPO": "CNC(=O)c1ccc(*)c(=S)n1[O-]",
    # catecholamide dianion (see module docstring), binds through the two phenolates.
    "CAM": "CNC(=O)c1ccc(*)c([O-])c1[O-]",
    "thio-CAM": "CNC(=O)c1ccc(*)c([S-])c1[O-]",
    # positional isomer of HOPO: N–O⁻ and C=O swapped relative to the side chain (out-of-sample set).
    "HDEV": "CNC(=O)c1ccc(*)n([O-])c1=O",
}
#: Scaffolds used for training; HDEV is kept out of sample.
TRAINING_SCAFFOLDS: tuple[str, ...] = ("HOPO", "CAM", "thio-HOPO", "thio-CAM")

#: Neutral substituents at C3: name -> SMILES written from the atom bonded to the ring.
SUBSTITUENTS: dict[str, str] = {
    "hydrogen": "[H]",
    "methyl": "C",
    "ethyl": "CC",
    "hydroxyl": "O",
    "methoxy": "OC",
    "hydroxymethyl": "CO",
    "amino": "N",
    "dimethylamino": "N(C)C",
    "thiol": "S",
    "methylthio": "SC",
    "fluoro": "F",
    "chloro": "Cl",
    "trifluoromethyl": "C(F)(F)F",
    "nitrile": "C#N",
    "aldehyde": "C=O",
    "acetyl": "C(C)=O",
    "carboxylic acid": "C(=O)O",
    "ester": "C(=O)OC",
    "amide": "C(N)=O",
    "phosphonate": "P(=O)(O)O",
    "phenyl": "c1ccccc1",
    # 2-carboxybenzyl: 2-methylbenzoic acid bonded through its methyl carbon.
    "2-methylbenzoic acid": "Cc1ccccc1C(=O)O",
    # 2-hydroxypyridin-3-yl.
    "2-hydroxypyridine": "c1cccnc1O",
}


class LigandError(ValueError):
    """A ligand that cannot be screened; the message says what is wrong and what to do."""


@dataclass(frozen=True)
class Ligand:
    """A ligand in its binding form.

    ``donors`` index atoms of ``smiles`` (the canonical SMILES, hydrogens implicit), which is the
    numbering Architector's ``coordList`` uses.
    """

    smiles: str
    charge: int
    donors: tuple[int, int]
    scaffold: str = ""
    substituent: str = ""
    formula: str = field(default="", compare=False)
    #: The user's name for it (an upload's ``name`` column); not part of its identity.
    label: str = field(default="", compare=False)

    @property
    def name(self) -> str:
        """Readable name: the user's label if given, ``HOPO-methyl`` for library ligands, else the SMILES."""
        if self.label:
            return self.label
        if self.scaffold and self.substituent:
            return f"{self.scaffold}-{self.substituent}"
        return self.smiles


@dataclass(frozen=True)
class DonorPair:
    """A candidate bidentate donor pair and the chelate ring it would close with the metal."""

    atoms: tuple[int, int]
    ring_size: int
    kind: str


def parse_ligand_smiles(smiles: str) -> Chem.Mol:
    """Parse and check a ligand SMILES; raise :class:`LigandError` with the reason if it is unusable."""
    text = (smiles or "").strip()
    if not text:
        raise LigandError("Empty SMILES: paste or draw a ligand.")
    if len(text) > 2000:
        raise LigandError("SMILES longer than 2000 characters: that is far above the ligand size limit.")
    RDLogger.DisableLog("rdApp.*")
    try:
        mol = Chem.MolFromSmiles(text)
    finally:
        RDLogger.EnableLog("rdApp.*")
    if mol is None:
        raise LigandError(f"Invalid SMILES {text!r}: RDKit cannot parse it (check brackets, ring closures "
                          "and valences).")
    if mol.GetNumAtoms() == 0:
        raise LigandError("The SMILES holds no atoms.")
    bad = sorted({a.GetSymbol() for a in mol.GetAtoms() if a.GetSymbol() not in LIGAND_ELEMENTS})
    if bad:
        raise LigandError(f"The ligand contains {', '.join(bad)}: metals and other unsupported elements "
                          "cannot be part of a ligand (the metal is added by reescreen).")
    if any(a.GetNumRadicalElectrons() for a in mol.GetAtoms()):
        raise LigandError("The ligand is a radical (an atom has unpaired electrons): draw a closed-shell "
                          "molecule.")
    if len(Chem.GetMolFrags(mol)) > 1:
        raise LigandError("The SMILES holds several disconnected molecules ('.'): give one ligand, "
                          "without counter-ions or solvent.")
    if mol.GetNumHeavyAtoms() > MAX_HEAVY_ATOMS:
        raise LigandError(f"The ligand has {mol.GetNumHeavyAtoms()} heavy atoms; the limit is "
                          f"{MAX_HEAVY_ATOMS}.")
    return mol


def _is_anionic_donor(atom: Chem.Atom) -> bool:
    return atom.GetSymbol() in ("O", "S") and atom.GetFormalCharge() == -1 and atom.GetDegree() == 1


def _is_neutral_donor(atom: Chem.Atom) -> bool:
    """Carbonyl / thiocarbonyl O or S, or a pyridine-type N (two neighbours, no H, not charged)."""
    if atom.GetFormalCharge() != 0:
        return False
    if atom.GetSymbol() in ("O", "S") and atom.GetDegree() == 1:
        return any(b.GetBondType() == Chem.BondType.DOUBLE for b in atom.GetBonds())
    if atom.GetSymbol() == "N":
        return atom.GetDegree() == 2 and atom.GetTotalNumHs() == 0 and atom.GetIsAromatic()
    return False


# Preference among pairs closing rings of the same size: two anionic donors (catecholate), then an
# anionic donor with a C=O / C=S (hydroxypyridinone, hydroxamate, maltol), then with an N (picolinate-like).
_KIND_RANK = {"anionic+anionic": 0, "anionic+carbonyl": 1, "anionic+N": 2}


def candidate_donor_pairs(mol: Chem.Mol) -> list[DonorPair]:
    """All pairs (anionic O⁻/S⁻, second donor) that close a 5- or 6-membered chelate ring with a metal."""
    anionic = [a.GetIdx() for a in mol.GetAtoms() if _is_anionic_donor(a)]
    neutral = [a.GetIdx() for a in mol.GetAtoms() if _is_neutral_donor(a)]
    pairs: list[DonorPair] = []
    for i, j in combinations(sorted(set(anionic) | set(neutral)), 2):
        if i not in anionic and j not in anionic:
            continue
        path = Chem.GetShortestPath(mol, i, j)
        ring = len(path) + 1  # the metal closes the ring
        if ring not in (5, 6):
            continue
        other = j if i in anionic else i
        if other in anionic:
            kind = "anionic+anionic"
        elif mol.GetAtomWithIdx(other).GetSymbol() == "N":
            kind = "anionic+N"
        else:
            kind = "anionic+carbonyl"
        pairs.append(DonorPair((i, j), ring, kind))
    pairs.sort(key=lambda p: (p.ring_size, _KIND_RANK[p.kind], p.atoms))
    return pairs


def find_donor_pair(mol: Chem.Mol) -> tuple[int, int]:
    """The bidentate donor pair of ``mol``, or :class:`LigandError` if there is none or it is ambiguous.

    Pairs closing 5-membered chelate rings are preferred over 6-membered ones, and two anionic donors
    over an anionic donor with a carbonyl, over one with a pyridine N.  Symmetry-equivalent pairs (the
    same pair up to a graph automorphism) count as one.
    """
    pairs = candidate_donor_pairs(mol)
    if not pairs:
        if not any(_is_anionic_donor(a) for a in mol.GetAtoms()):
            raise LigandError("No anionic donor (O⁻ or S⁻) found: draw the ligand in its deprotonated binding "
                              "form, e.g. N–[O-] for a hydroxypyridinone or two [O-] for a catecholate.")
        raise LigandError("No bidentate donor pair: no second donor (O⁻, S⁻, C=O, C=S or pyridine N) closes "
                          "a 5- or 6-membered chelate ring with the anionic donor. Give the pair by hand.")
    best = [p for p in pairs if (p.ring_size, p.kind) == (pairs[0].ring_size, pairs[0].kind)]
    ranks = list(Chem.CanonicalRankAtoms(mol, breakTies=False))
    distinct = {tuple(sorted((ranks[p.atoms[0]], ranks[p.atoms[1]]))) for p in best}
    if len(distinct) > 1:
        listed = "; ".join(f"atoms {p.atoms[0]},{p.atoms[1]} ({p.kind}, {p.ring_size}-ring)" for p in best)
        raise LigandError(f"Several equally good donor pairs: {listed}. Choose the pair by hand.")
    return best[0].atoms


# Acidic O–H / S–H groups that a metal deprotonates on chelation: the N–OH of a hydroxypyridinone or
# hydroxamate, and both OH/SH of a catechol-like pair on adjacent aromatic carbons.
_CHELATING_ACIDS = (Chem.MolFromSmarts("[OX2H1]-[#7]"), Chem.MolFromSmarts("[OX2H1,SX2H1]-c:c-[OX2H1,SX2H1]"))


def deprotonate_chelating_groups(smiles: str) -> str:
    """The binding form of a ligand drawn neutral: N–OH and catechol-type OH/SH pairs become O⁻/S⁻.

    Molecules that already carry an anionic O⁻/S⁻ are returned unchanged (the user chose the form), and
    other acidic groups (carboxylic or phosphonic acids on the substituent) are left protonated, as in
    the library.  Raises :class:`LigandError` for unusable input.
    """
    mol = parse_ligand_smiles(smiles)
    if any(_is_anionic_donor(a) for a in mol.GetAtoms()):
        return Chem.MolToSmiles(mol)
    acidic = {idx for pattern in _CHELATING_ACIDS for match in mol.GetSubstructMatches(pattern)
              for idx in match if mol.GetAtomWithIdx(idx).GetSymbol() in ("O", "S")}
    rw = Chem.RWMol(mol)
    for idx in acidic:
        atom = rw.GetAtomWithIdx(idx)
        atom.SetFormalCharge(-1)
        atom.SetNoImplicit(True)
        atom.SetNumExplicitHs(0)
    Chem.SanitizeMol(rw)
    return Chem.MolToSmiles(rw)


def binding_form(smiles: str) -> str:
    """``smiles`` as given when it already carries an anionic donor, else with its chelating N–OH /
    catechol OH/SH groups deprotonated (:func:`deprotonate_chelating_groups`); stripped of whitespace."""
    text = (smiles or "").strip()
    mol = parse_ligand_smiles(text)
    if any(_is_anionic_donor(a) for a in mol.GetAtoms()) or Chem.GetFormalCharge(mol) < 0:
        return text
    deprotonated = deprotonate_chelating_groups(text)
    return deprotonated if Chem.GetFormalCharge(Chem.MolFromSmiles(deprotonated)) < 0 else text


def make_ligand(smiles: str, donors: tuple[int, int] | None = None, scaffold: str = "",
                substituent: str = "") -> Ligand:
    """Validate a drawn or pasted ligand and return it in canonical form with its donor pair.

    ``donors`` (indices in the *canonical* SMILES, see :func:`canonical_smiles`) overrides detection.
    """
    mol = parse_ligand_smiles(smiles)
    canonical = Chem.MolToSmiles(mol)
    mol = Chem.MolFromSmiles(canonical)  # atom order of the canonical SMILES, which Architector sees
    charge = Chem.GetFormalCharge(mol)
    if donors is None:
        pair = find_donor_pair(mol)
    else:
        pair = _check_given_donors(mol, donors)
    if charge >= 0:
        raise LigandError(_not_anionic(mol, charge))
    if not scaffold:
        from core.chemistry.naming import recognise  # naming builds on grafting, which builds on this module

        scaffold, substituent = recognise(canonical) or ("", "")
    return Ligand(canonical, charge, (min(pair), max(pair)), scaffold, substituent, formula_text(mol))


def formula_text(mol: Chem.Mol) -> str:
    """Molecular formula with the charge written as chemists do: ``C8H6FNO3²⁻`` (RDKit writes ``C8H6FNO3-2``)."""
    plain = CalcMolFormula(mol)
    charge = Chem.GetFormalCharge(mol)
    if charge == 0:
        return plain
    body = re.sub(r"[+-]\d*$", "", plain)
    digits = str(abs(charge)) if abs(charge) > 1 else ""
    return body + digits.translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")) + ("⁻" if charge < 0 else "⁺")


def _not_anionic(mol: Chem.Mol, charge: int) -> str:
    """Why a neutral or cationic ligand is refused, in words that match what was drawn."""
    plus = sum(a.GetFormalCharge() > 0 for a in mol.GetAtoms())
    minus = sum(a.GetFormalCharge() < 0 for a in mol.GetAtoms())
    if plus and minus:
        total = "neutral overall" if charge == 0 else f"{charge:+d} overall"
        return (f"The ligand is a zwitterion ({plus} positive and {minus} negative atoms, {total}): reescreen "
                "screens anionic chelators. Deprotonate the chelating group without the cationic site, or draw "
                "the neutral form and let reescreen deprotonate it.")
    if charge == 0:
        return ("The ligand is neutral: reescreen screens anionic chelators. Draw it deprotonated (N–O⁻, "
                "catecholate), or paste the neutral N–OH / catechol form and let reescreen deprotonate it.")
    return f"The ligand's net charge is {charge:+d}: reescreen screens anionic chelators; draw it deprotonated."


def parse_donor_pair(text: str | None) -> tuple[int, int] | None:
    """Two atom indices written as ``10,12``, ``10;12`` or ``10 12``; None for empty text."""
    if text is None or not str(text).strip():
        return None
    parts = str(text).replace(";", " ").replace(",", " ").split()
    # ASCII digits only: str.isdigit() also accepts '²' or '٣', which int() then refuses or reads differently
    if len(parts) != 2 or not all(re.fullmatch(r"[0-9]{1,6}", p) for p in parts):
        shown = str(text) if len(str(text)) <= 40 else str(text)[:39] + "…"
        raise LigandError(f"Donor pair {shown!r} must be two atom indices written with the digits 0-9, e.g. 10,12.")
    return int(parts[0]), int(parts[1])


def _check_given_donors(mol: Chem.Mol, donors: tuple[int, int]) -> tuple[int, int]:
    try:
        i, j = (int(x) for x in donors)
    except (TypeError, ValueError):
        raise LigandError("Donor pair must be two atom indices, e.g. 10,12.") from None
    n = mol.GetNumAtoms()
    if i == j or not (0 <= i < n and 0 <= j < n):
        raise LigandError(f"Donor indices must be two different atoms between 0 and {n - 1}.")
    for k in (i, j):
        if mol.GetAtomWithIdx(k).GetSymbol() not in ("O", "S", "N"):
            raise LigandError(f"Atom {k} is {mol.GetAtomWithIdx(k).GetSymbol()}: donors must be O, S or N.")
    return i, j


def canonical_smiles(smiles: str) -> str:
    """RDKit canonical SMILES of a valid ligand (the numbering donor indices refer to)."""
    return Chem.MolToSmiles(parse_ligand_smiles(smiles))


def assemble_smiles(scaffold: str, substituent: str) -> str:
    """SMILES of ``scaffold`` with ``substituent`` at C3 (both names from the libraries)."""
    if scaffold not in SCAFFOLDS:
        raise LigandError(f"Unknown scaffold {scaffold!r}; choose from {', '.join(SCAFFOLDS)}.")
    if substituent not in SUBSTITUENTS:
        raise LigandError(f"Unknown substituent {substituent!r}; see `reescreen ligands`.")
    if SUBSTITUENTS[substituent] == "[H]":
        return Chem.MolToSmiles(Chem.MolFromSmiles(SCAFFOLDS[scaffold].replace("(*)", "")))
    core = Chem.MolFromSmiles(SCAFFOLDS[scaffold].replace("*", "[*:1]"))
    group = Chem.MolFromSmiles("[*:1]" + SUBSTITUENTS[substituent])
    joined = Chem.RemoveHs(Chem.molzip(core, group))
    return Chem.MolToSmiles(joined)


@lru_cache(maxsize=None)
def _scaffold_core(scaffold: str) -> tuple[Chem.Mol, int]:
    """The scaffold without its ``*`` attachment point and the index of ring carbon C3 in it."""
    with_attachment = Chem.MolFromSmiles(SCAFFOLDS[scaffold])
    attachment = next(a for a in with_attachment.GetAtoms() if a.GetAtomicNum() == 0)  # RDKit reads * as Z=0
    c3 = attachment.GetNeighbors()[0].GetIdx()
    core = Chem.RWMol(with_attachment)
    core.RemoveAtom(attachment.GetIdx())
    return core.GetMol(), c3 - (c3 > attachment.GetIdx())  # removing an earlier atom shifts C3 down by one


def scaffold_of(smiles: str) -> str | None:
    """The library scaffold ``smiles`` is built on, or None.

    A ligand belongs to a scaffold when it contains the scaffold in the same binding form and its only
    change is one group (any group, or hydrogen) at ring carbon C3: every other scaffold atom keeps its
    heavy-atom neighbours.  Substituents outside the library still count; a second substituent or a
    different ring (e.g. the HDEV isomer for HOPO) does not.
    """
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return None
    for name in SCAFFOLDS:
        core, c3 = _scaffold_core(name)
        for match in mol.GetSubstructMatches(core, uniquify=False):
            if all(mol.GetAtomWithIdx(m).GetDegree() == core.GetAtomWithIdx(i).GetDegree()
                   for i, m in enumerate(match) if i != c3) and mol.GetAtomWithIdx(match[c3]).GetDegree() <= 3:
                return name
    return None


def library_ligand(scaffold: str, substituent: str) -> Ligand:
    """The library ligand ``scaffold``-``substituent`` in its binding form."""
    return make_ligand(assemble_smiles(scaffold, substituent), scaffold=scaffold, substituent=substituent)


def library() -> list[Ligand]:
    """Every scaffold × substituent combination of the library."""
    return [library_ligand(s, r) for s in SCAFFOLDS for r in SUBSTITUENTS]
