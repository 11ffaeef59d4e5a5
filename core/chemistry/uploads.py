"""Ligand tables uploaded by a user: size and row limits, encoding, one clear message per bad row."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from core.chemistry.ligands import Ligand, LigandError, make_ligand, parse_donor_pair

MAX_UPLOAD_BYTES = 200_000
MAX_ROWS = 500


class UploadError(ValueError):
    """The file as a whole cannot be used (too large, not text, no SMILES column)."""


@dataclass(frozen=True)
class UploadRow:
    """One row of an upload: the ligand, or the reason it was refused."""

    line: int
    name: str
    smiles: str
    ligand: Ligand | None
    error: str = ""


def parse_ligand_table(data: bytes) -> list[UploadRow]:
    """Read a CSV with a ``smiles`` column (optional ``name``, ``donors`` as ``i;j`` or ``i j``).

    A file without a header is read as one SMILES per line.  Every row ends as a ligand or an error.
    """
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadError(f"The file is {len(data):,} bytes; the limit is {MAX_UPLOAD_BYTES:,}.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UploadError(f"The file is not UTF-8 text (byte {exc.start}); save it as UTF-8 CSV.") from None
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise UploadError("The file is empty.")
    header = [h.strip().lower() for h in next(csv.reader([lines[0]]))]
    if "smiles" in header:
        records = list(csv.DictReader(io.StringIO("\n".join(lines)), fieldnames=header))[1:]
        first_line = 2
    else:
        records = [{"smiles": ln.strip()} for ln in lines]
        first_line = 1
    if len(records) > MAX_ROWS:
        raise UploadError(f"The file has {len(records)} rows; the limit is {MAX_ROWS}.")
    rows = []
    for k, rec in enumerate(records):
        smiles = (rec.get("smiles") or "").strip()
        name = (rec.get("name") or "").strip()
        try:
            donors = parse_donor_pair(rec.get("donors"))
            ligand = make_ligand(smiles, donors)
            rows.append(UploadRow(first_line + k, name or ligand.smiles, smiles, ligand))
        except LigandError as exc:
            rows.append(UploadRow(first_line + k, name, smiles, None, str(exc)))
    return rows

