"""A one-file HTML report of one ligand's screen: ligand, level of theory, settings, package versions,
results table, the series and water-exchange plots (interactive, Plotly's JavaScript inlined so it opens
offline), a still 3D snapshot with its metal–donor distances.  No Streamlit: the Export page and scripts
call :func:`ligand_report_html` alike."""
from __future__ import annotations

import base64
import html
from datetime import datetime, timezone

import pandas as pd

from app import figures
from app.viewer import metal_donor_table, snapshot_png
from core import __version__
from core.chemistry.complexes import COORDINATION_TYPES
from core.chemistry.constants import ENERGY_UNITS, LANTHANIDES, Y_NOTE
from core.chemistry.depiction import ligand_svg
from core.chemistry.ligands import LigandError, make_ligand
from core.pipeline.settings import PRESETS
from core.storage.results import export_table, levels_in, passed, structure
from core.storage.store import Store, package_versions

_STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}
th{background:#f3f3f3}.note{color:#555;font-size:13px}h1{margin-bottom:0}code{background:#f3f3f3}"""


def _table(df: pd.DataFrame) -> str:
    return df.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.1f}", escape=True)


def _snapshot_row(rows: pd.DataFrame) -> pd.Series | None:
    """The complex shown in 3D: the most ligands, the first lanthanide of the series (La if present)."""
    ok = passed(rows)
    for ctype in reversed(list(COORDINATION_TYPES)):
        for metal in LANTHANIDES + ("Y",):
            hit = ok[(ok["type"] == ctype) & (ok["metal"] == metal)]
            if not hit.empty:
                return hit.iloc[0]
    return None


def ligand_report_html(results: pd.DataFrame, smiles: str, store: Store) -> str:
    """The report of ligand ``smiles`` from the results table ``results`` (all its stored rows)."""
    rows = results[results["smiles"] == smiles]
    if rows.empty:
        raise ValueError(f"no stored results for {smiles}")
    name = str(rows["ligand"].iloc[0])
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>reescreen report: {e(name)}</title>"
             f"<style>{_STYLE}</style></head><body>",
             f"<h1>{e(name)}</h1><p><code>{e(smiles)}</code></p>"]
    try:
        ligand = make_ligand(smiles)
        parts.append(f"<div>{ligand_svg(ligand)}</div><p>charge {ligand.charge:+d} · formula {e(ligand.formula)} · "
                     f"donor atoms {ligand.donors[0]}, {ligand.donors[1]}"
                     + (f" · scaffold {e(ligand.scaffold)}, substituent {e(ligand.substituent)}" if ligand.scaffold
                        else "") + "</p>")
    except LigandError as exc:
        parts.append(f"<p class='note'>Depiction unavailable: {e(str(exc))}</p>")
    level = levels_in(rows)
    parts.append(f"<h2>Level of theory</h2><p>{e(level)}; energies in {ENERGY_UNITS}. Not DFT. E_bind = E_complex − "
                 "E_ion − Σ E_ligand (waters included); E_exchange is against [M(H₂O)₈]³⁺ (the bare-ion reference "
                 "cancels): compare metals with E_exchange only. <code>rank</code> of <code>of</code>: this ligand's "
                 "place among the ligands stored with the same metal and type.</p>")
    if (rows["metal"] == "Y").any():
        parts.append(f"<p class='note'>{e(Y_NOTE)}</p>")
    table = export_table(rows.drop(columns=["smiles"]))
    parts.append(f"<h2>Results ({len(rows)} complexes)</h2>{_table(table)}")
    first_js = True
    for title, fig in (("Across the series", figures.series_plot(rows, figures.EXCH)),
                       ("Replacing two waters by one more ligand", figures.water_exchange_plot(rows, smiles))):
        if not fig.data:
            continue
        parts.append(f"<h2>{title}</h2>" + fig.to_html(full_html=False, include_plotlyjs="inline" if first_js else False))
        first_js = False
    shown = _snapshot_row(rows)
    if shown is not None:
        atoms = structure(store, int(shown["row_id"]))
        png = base64.b64encode(snapshot_png(atoms)).decode()
        parts.append(f"<h2>Structure: {e(shown['metal'])}, {e(shown['type'])}</h2><p class='note'>gold: metal; "
                     "magenta: donor atoms</p>"
                     f"<img alt='3D snapshot' src='data:image/png;base64,{png}'>{_table(metal_donor_table(atoms))}")
    settings = [PRESETS[s] for s in sorted(set(rows["settings"])) if s in PRESETS]
    parts.append("<h2>Settings</h2>" + "".join(f"<p><b>{e(s.name)}</b> <code>{e(s.to_json())}</code></p>"
                                                for s in settings))
    versions = {"reescreen": __version__, **package_versions()}
    parts.append("<h2>Versions</h2>" + _table(pd.DataFrame(list(versions.items()), columns=["package", "version"])))
    parts.append(f"<p class='note'>Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by reescreen "
                 f"{e(__version__)}.</p></body></html>")
    return "".join(parts)
