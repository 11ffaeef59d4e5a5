"""2D depictions of ligands with their donor atoms highlighted (RDKit SVG), for the app and reports."""
from __future__ import annotations

from rdkit import Chem
from rdkit.Chem.Draw import rdMolDraw2D

from core.chemistry.ligands import Ligand

DONOR_COLOUR = (0.85, 0.2, 0.2)


def ligand_svg(ligand: Ligand, width: int = 420, height: int = 300) -> str:
    """SVG of ``ligand`` with the two donor atoms highlighted and their indices shown."""
    mol = Chem.MolFromSmiles(ligand.smiles)
    drawer = rdMolDraw2D.MolDraw2DSVG(width, height)
    opts = drawer.drawOptions()
    for i in ligand.donors:
        atom = mol.GetAtomWithIdx(i)
        charge = "<sup>-</sup>" if atom.GetFormalCharge() < 0 else ""
        opts.atomLabels[i] = f"{atom.GetSymbol()}{charge}:{i}"
    rdMolDraw2D.PrepareAndDrawMolecule(drawer, mol, highlightAtoms=list(ligand.donors),
                                       highlightAtomColors={i: DONOR_COLOUR for i in ligand.donors})
    drawer.FinishDrawing()
    return drawer.GetDrawingText()
