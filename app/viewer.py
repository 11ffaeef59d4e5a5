"""3D view of a complex with py3Dmol, loading 3Dmol.js from this server (see app/assets.py)."""
from __future__ import annotations

import io

import ase.io
import py3Dmol
from ase import Atoms

from app.assets import THREEDMOL_URL
from core.chemistry.geometry import coordinating_atoms, fragments, metal_index

STYLES = {
    "Sticks": {"stick": {"radius": 0.15}},
    "Ball and stick": {"stick": {"radius": 0.12}, "sphere": {"scale": 0.25}},
    "Spheres": {"sphere": {"scale": 0.8}},
}


def donor_atoms(atoms: Atoms) -> list[int]:
    """Atoms bound to the metal (every ligand's and water's donors)."""
    return sorted(i for members in fragments(atoms) for i in coordinating_atoms(atoms, members))


def complex_view_html(atoms: Atoms, style: str = "Ball and stick", width: int = 700, height: int = 520) -> str:
    """Self-contained HTML of a py3Dmol view: metal as a large sphere, donor atoms highlighted."""
    xyz = io.StringIO()
    ase.io.write(xyz, atoms, format="xyz")
    view = py3Dmol.view(width=width, height=height, js=THREEDMOL_URL)
    view.addModel(xyz.getvalue(), "xyz")
    view.setStyle(STYLES[style])
    view.addStyle({"index": metal_index(atoms)}, {"sphere": {"scale": 0.55, "color": "#2e7d32"}})
    view.addStyle({"index": donor_atoms(atoms)}, {"sphere": {"scale": 0.35, "color": "#d32f2f"}})
    view.zoomTo()
    return view._make_html()
