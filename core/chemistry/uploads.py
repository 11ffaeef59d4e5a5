"""Ligand tables uploaded by a user: size and row limits, encoding, separator, one clear message per bad row.

Any bytes give either an :class:`UploadError` (the file as a whole is unusable) or one :class:`UploadRow` per
non-blank line; nothing else is raised (``tests/test_fuzz_uploads.py`` checks this on generated files).
"""
from __future__ import annotations

import csv
import dataclasses
import unicodedata
from dataclasses import dataclass

from core.chemistry.ligands import Ligand, LigandError, make_ligand, parse_donor_pair

MAX_UPLOAD_BYTES = 200_000
MAX_ROWS = 500
MAX_NAME_CHARS = 80
#: Separators a spreadsheet may write; the header line decides which one the file uses.
SEPARATORS = (",", ";", "\t", "|")
SEPARATOR_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "vertical bar"}

# One field may be as large as the whole file: the size limit is MAX_UPLOAD_BYTES, not csv's 128 kB default.
csv.field_size_limit(max(csv.field_size_limit(), MAX_UPLOAD_BYTES + 1))


class UploadError(ValueError):
    """The file as a whole cannot be used (too large, not text, empty, too many rows)."""


@dataclass(frozen=True)
class UploadRow:
    """One row of an upload: its line in the file, the user's name for it, the ligand or why it was refused."""

    line: int
    name: str
    smiles: str
    ligand: Ligand | None
    error: str = ""


@dataclass(frozen=True)
class LigandTable:
    """A parsed upload: its rows and how it was read (separator, whether it had a header)."""

    rows: list[UploadRow]
    separator: str
    has_header: bool

    @property
    def ligands(self) -> list[Ligand]:
        return [r.ligand for r in self.rows if r.ligand is not None]

    @property
    def refused(self) -> list[UploadRow]:
        return [r for r in self.rows if r.ligand is None]

    def describe(self) -> str:
        """How the file was read, in one line."""
        how = f"{SEPARATOR_NAMES[self.separator]}-separated with a header" if self.has_header else \
            "one SMILES per line (no `smiles` header)"
        return f"Read as {how}: {len(self.ligands)} of {len(self.rows)} rows usable."


def clean_name(text: str) -> str:
    """A user's ligand name made safe to show and store: control characters dropped, whitespace collapsed,
    at most ``MAX_NAME_CHARS`` characters."""
    kept = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    name = " ".join(kept.split())
    return name if len(name) <= MAX_NAME_CHARS else name[:MAX_NAME_CHARS - 1] + "…"


def _decode(data: bytes) -> str:
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadError(f"The file is {len(data):,} bytes; the limit is {MAX_UPLOAD_BYTES:,}.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UploadError(f"The file is not UTF-8 text (byte {exc.start}); save it as UTF-8 CSV.") from None
    if "\x00" in text:
        raise UploadError(f"The file contains NUL bytes (first at character {text.index(chr(0))}): it is not a "
                          "text table; save it as UTF-8 CSV.")
    return text


def _fields(line: str, separator: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=separator, strict=False), [])
    except csv.Error:  # e.g. a stray quote: read the line as plain separated text
        return line.split(separator)


def _header(line: str) -> tuple[str, list[str]] | None:
    """(separator, lower-case column names) when ``line`` is a header with a ``smiles`` column."""
    for sep in SEPARATORS:
        names = [h.strip().lower() for h in _fields(line, sep)]
        if "smiles" in names:
            return sep, names
    return None


def table_rows(data: bytes) -> tuple[list[tuple[int, dict[str, str]]], str, bool]:
    """The non-blank rows of an uploaded table as (line in the file, cells by lower-case column name), its
    separator and whether it had a header with a ``smiles`` column.  A file without such a header is one
    SMILES per line (each row's only cell is ``smiles``).  Raises :class:`UploadError` for an unusable file.
    """
    text = _decode(data)
    lines = [(number, line) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise UploadError("The file is empty.")
    header = _header(lines[0][1])
    body = lines[1:] if header else lines
    if len(body) > MAX_ROWS:
        raise UploadError(f"The file has {len(body)} rows; the limit is {MAX_ROWS}.")
    if header is None:
        return [(number, {"smiles": line.strip()}) for number, line in body], ",", False
    separator, names = header
    return [(number, dict(zip(names, (c.strip() for c in _fields(line, separator))))) for number, line in body], \
        separator, True


def read_ligand_table(data: bytes) -> LigandTable:
    """Read a table with a ``smiles`` column (optional ``name``, ``donors`` as ``i;j`` or ``i j``), separated by
    commas, semicolons, tabs or bars; a file without such a header is one SMILES per line.

    Line numbers are those of the file (blank lines counted).  Every row ends as a ligand, named by its
    ``name`` cell when given, or as an error.
    """
    rows, separator, has_header = table_rows(data)
    return LigandTable([_row(number, cells.get("smiles", ""), cells.get("name", ""), cells.get("donors"))
                        for number, cells in rows], separator, has_header)


def parse_ligand_table(data: bytes) -> list[UploadRow]:
    """The rows of :func:`read_ligand_table`."""
    return read_ligand_table(data).rows


def _row(line: int, smiles: str, name: str, donors: str | None) -> UploadRow:
    name = clean_name(name)
    try:
        ligand = make_ligand(smiles, parse_donor_pair(donors))
    except LigandError as exc:
        return UploadRow(line, name, smiles, None, str(exc))
    if name:
        ligand = dataclasses.replace(ligand, label=name)
    return UploadRow(line, ligand.name, smiles, ligand)
