"""3D view of a complex with py3Dmol, loading 3Dmol.js from this server (see app/assets.py).

The view is py3Dmol's own HTML, shown by ``streamlit.components.v1.html``.  The design card named stmol,
whose ``showmol`` is that same call; stmol itself is not used (see the README, "Why not stmol").
"""
from __future__ import annotations

import io

import ase.io
import pandas as pd
import py3Dmol
from ase import Atoms

from app.assets import THREEDMOL_URL
from core.chemistry.geometry import coordinating_atoms, fragments, metal_index

STYLES = {
    "Sticks": {"stick": {"radius": 0.15}},
    "Ball and stick": {"stick": {"radius": 0.12}, "sphere": {"scale": 0.25}},
    "Spheres": {"sphere": {"scale": 0.8}},
}
#: Donor atoms in magenta and the metal in gold: no element has either colour in 3Dmol's Jmol scheme, so
#: a donor O is told from every other O at a glance.
DONOR_COLOUR = "#ff00ff"
METAL_COLOUR = "#ffb300"


def donor_atoms(atoms: Atoms) -> list[int]:
    """Atoms bound to the metal (every ligand's and water's donors)."""
    return sorted(i for members in fragments(atoms) for i in coordinating_atoms(atoms, members))


def metal_donor_table(atoms: Atoms) -> pd.DataFrame:
    """One row per donor atom: its index, element, the molecule it belongs to (ligand 1 … n or water) and
    its distance to the metal in Å, shortest first."""
    m = metal_index(atoms)
    symbols = atoms.get_chemical_symbols()
    rows, n_ligands, n_waters = [], 0, 0
    for members in sorted(fragments(atoms), key=len, reverse=True):
        donors = coordinating_atoms(atoms, members)
        if not donors:
            continue
        is_water = len(members) == 3 and sorted(symbols[i] for i in members) == ["H", "H", "O"]
        if is_water:
            n_waters += 1
        else:
            n_ligands += 1
        owner = f"water {n_waters}" if is_water else f"ligand {n_ligands}"
        rows += [{"atom": int(i), "element": symbols[i], "in": owner,
                  f"{symbols[m]}–donor (Å)": round(float(atoms.get_distance(m, int(i))), 3)} for i in donors]
    return pd.DataFrame(rows).sort_values(f"{symbols[m]}–donor (Å)").reset_index(drop=True)


def complex_view_html(atoms: Atoms, style: str = "Ball and stick", width: int = 700, height: int = 520,
                      labels: bool = False, png_name: str = "complex.png") -> str:
    """Self-contained HTML of a py3Dmol view: metal as a large gold sphere, donors in magenta, optional atom
    labels (element and index), and a button that saves the current view as a PNG."""
    xyz = io.StringIO()
    ase.io.write(xyz, atoms, format="xyz")
    view = py3Dmol.view(width=width, height=height, js=THREEDMOL_URL)
    view.addModel(xyz.getvalue(), "xyz")
    view.setStyle(STYLES[style])
    view.addStyle({"index": metal_index(atoms)}, {"sphere": {"scale": 0.55, "color": METAL_COLOUR}})
    donors = donor_atoms(atoms)
    view.addStyle({"index": donors}, {"sphere": {"scale": 0.35, "color": DONOR_COLOUR}})
    if labels:
        shown = set(donors) | {metal_index(atoms)} | {i for i, s in enumerate(atoms.get_chemical_symbols())
                                                      if s not in ("H", "C")}
        for i in sorted(shown):
            x, y, z = (float(v) for v in atoms.positions[i])
            view.addLabel(f"{atoms[i].symbol}{i}", {"position": {"x": x, "y": y, "z": z}, "fontSize": 11,
                                                      "backgroundOpacity": 0.6, "inFront": True})
    view.zoomTo()
    viewer = f"viewer_{view.uniqueid}"
    # 3Dmol draws into a canvas; pngURI() is its own snapshot of what the user sees (rotation included)
    save = (f'<button id="png_{view.uniqueid}" style="margin-top:4px" onclick="(function(){{'
            f'if(!{viewer}) return; var a=document.createElement(\'a\'); a.href={viewer}.pngURI(); '
            f'a.download={png_name!r}; document.body.appendChild(a); a.click(); a.remove();}})()">'
            "Save view as PNG</button>")
    loading = (f'<p id="loading_{view.uniqueid}" style="position:absolute;top:8px;left:8px;color:#555">'
               "Loading the 3D view…</p>")
    gone = (f"<script>$3Dmolpromise.then(function(){{var p=document.getElementById('loading_{view.uniqueid}');"
            "if(p) p.remove();});</script>")
    return f'<div style="position:relative">{loading}{view._make_html()}</div>{save}{gone}'


def snapshot_png(atoms: Atoms, rotation: str = "-70x,20y", size_px: int = 520) -> bytes:
    """A still image of the complex (ASE's matplotlib renderer, no browser needed) for reports: donors in
    magenta, metal in gold, the rest in Jmol colours."""
    from ase.data import atomic_numbers
    from ase.data.colors import jmol_colors

    colours = [tuple(jmol_colors[atomic_numbers[s]]) for s in atoms.get_chemical_symbols()]
    for i in donor_atoms(atoms):
        colours[i] = DONOR_COLOUR
    colours[metal_index(atoms)] = METAL_COLOUR
    extent = float((atoms.positions.max(axis=0) - atoms.positions.min(axis=0)).max()) or 1.0
    buffer = io.BytesIO()
    ase.io.write(buffer, atoms, format="png", rotation=rotation, colors=colours, scale=size_px / (extent + 3.0),
                 radii=0.45)
    return buffer.getvalue()
