"""Property-based fuzzing of the upload and donor-pair parsers: any bytes end in rows or a clear
UploadError, any donor text in a pair or a clear LigandError — never another exception."""
import csv

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.chemistry.ligands import LigandError, parse_donor_pair
from core.chemistry.uploads import MAX_UPLOAD_BYTES, UploadError, UploadRow, read_ligand_table

# Non-ASCII digits (superscripts, Arabic-Indic, full-width, Devanagari), separators, quotes, NUL, BOM.
ODD = "²³¹٣۴０１９५⁰₂①\x00\ufeff\u200b\u00a0\t;,| \"'\r\n\x1b"
SMILES_BITS = ["CNC(=O)c1ccc(Cl)c(=O)n1[O-]", "[O-]c1ccccc1[O-]", "C1CC(", "=cmd|' /C calc'!A0", "", "smiles",
               "name", "donors", "10;12", "0 7", "²;7", "x" * 150_000]
CASES = {"uploads": 0, "donors": 0}


def _check_upload(data: bytes) -> None:
    CASES["uploads"] += 1
    try:
        table = read_ligand_table(data)
    except UploadError as exc:
        assert str(exc)
        return
    assert all(isinstance(r, UploadRow) and (r.ligand is not None) != bool(r.error) for r in table.rows)
    assert table.describe()


def _check_donors(text: str) -> None:
    CASES["donors"] += 1
    try:
        pair = parse_donor_pair(text)
    except LigandError as exc:
        assert str(exc) and len(str(exc)) < 200  # short, whatever the input
        return
    assert pair is None or (len(pair) == 2 and all(isinstance(i, int) and i >= 0 for i in pair))


@st.composite
def tables(draw):
    sep = draw(st.sampled_from([",", ";", "\t", "|", " ", "\x00"]))
    header = draw(st.lists(st.sampled_from(["smiles", "name", "donors", "SMILES ", "x", "", "²"]), max_size=4))
    cells = st.one_of(st.sampled_from(SMILES_BITS), st.text(alphabet=ODD + "CNO[]()=-0123456789", max_size=12),
                      st.text(max_size=8))
    rows = draw(st.lists(st.lists(cells, max_size=4), max_size=6))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r", "\n\n"]))
    text = newline.join(sep.join(r) for r in [header, *rows])
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]))
    return text.encode(encoding, errors="replace")


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.one_of(tables(), st.binary(max_size=300)))
def test_any_uploaded_bytes_give_rows_or_a_clear_error(data):
    _check_upload(data)


@settings(max_examples=1000, deadline=None)
@given(st.one_of(st.text(alphabet=ODD + "0123456789 ,;-+.e", max_size=20), st.text(max_size=20),
                 st.integers(-10**9, 10**12).map(lambda i: f"{i},{i + 1}")))
def test_any_donor_text_gives_a_pair_or_a_clear_error(text):
    _check_donors(text)


def test_fuzzing_ran_its_thousand_cases_each():
    # pytest runs this file's tests in order: both generators above have run by now
    assert CASES["uploads"] >= 1000 and CASES["donors"] >= 1000, CASES


def test_donor_cell_with_a_superscript_digit_is_a_row_error_not_a_crash():
    rows = read_ligand_table("smiles,donors\n[O-]c1ccccc1[O-],²;7\n".encode()).rows
    assert rows[0].ligand is None and "digits 0-9" in rows[0].error


def test_a_150_kb_field_under_the_size_limit_is_a_row_error():
    field = "C" * 150_000
    assert len(field) > csv.field_size_limit() // 2 and len(field) + 100 < MAX_UPLOAD_BYTES
    rows = read_ligand_table(f"name,smiles\nhuge,{field}\nok,[O-]c1ccccc1[O-]\n".encode()).rows
    assert rows[0].ligand is None and "longer than 2000" in rows[0].error and rows[1].ligand is not None


def test_nul_bytes_are_refused_with_a_reason():
    try:
        read_ligand_table(b"smiles\n[O-]c1ccc\x00cc1[O-]\n")
    except UploadError as exc:
        assert "NUL" in str(exc)
    else:
        raise AssertionError("NUL bytes accepted")
