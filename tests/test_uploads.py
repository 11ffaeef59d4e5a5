"""Uploaded ligand tables: limits, encodings, formula-like cells, per-row errors."""
import pytest

from core.chemistry.ligands import make_ligand
from core.chemistry.uploads import (MAX_ROWS, MAX_UPLOAD_BYTES, UploadError, clean_name, parse_ligand_table,
                                   read_ligand_table)


def test_csv_with_header_gives_ligands_and_row_errors():
    data = ("name,smiles,donors\nmine,CNC(=O)c1ccc(Cl)c(=O)n1[O-],\nbad,C1CC(,\n"
            "cat,[O-]c1ccccc1[O-],0;7\nformula,=HYPERLINK(\"http://x\"),\n").encode()
    rows = parse_ligand_table(data)
    assert [r.line for r in rows] == [2, 3, 4, 5]
    assert rows[0].ligand is not None and rows[0].name == "mine"
    assert rows[1].ligand is None and "Invalid SMILES" in rows[1].error
    assert rows[2].ligand.donors == (0, 7)
    assert rows[3].ligand is None and "Invalid SMILES" in rows[3].error


def test_plain_list_of_smiles_without_header():
    rows = parse_ligand_table(b"[O-]c1ccccc1[O-]\nOc1ccccc1O\n")
    assert rows[0].ligand is not None and "No anionic donor" in rows[1].error


@pytest.mark.parametrize("data,message", [
    (b"x" * (MAX_UPLOAD_BYTES + 1), "limit is"),
    (("smiles\n" + "C\n" * (MAX_ROWS + 1)).encode(), "rows; the limit"),
    ("smiles\nCC[O-]\n".encode("utf-16"), "not UTF-8"),
    (b"\xff\xfe\x00bad", "not UTF-8"),
    (b"\n\n", "empty"),
])
def test_unusable_files_are_refused_with_a_reason(data, message):
    with pytest.raises(UploadError, match=message):
        parse_ligand_table(data)


def test_bad_donor_column_is_a_row_error():
    rows = parse_ligand_table(b"smiles,donors\n[O-]c1ccccc1[O-],one;two\n")
    assert rows[0].ligand is None and "two atom indices" in rows[0].error


def test_names_of_valid_rows_are_kept_and_name_the_ligand():
    table = read_ligand_table(b"name,smiles\nmy catecholate,[O-]c1ccccc1[O-]\n,CNC(=O)c1ccc(Cl)c(=O)n1[O-]\n")
    first, second = table.rows
    assert first.name == "my catecholate" and first.ligand.name == "my catecholate"
    assert second.ligand.name == "HOPO-chloro"  # no name given: recognised as the library scaffold
    assert first.ligand == make_ligand("[O-]c1ccccc1[O-]")  # the name is not part of its identity


def test_line_numbers_are_the_file_lines_blank_lines_counted():
    rows = parse_ligand_table(b"smiles\n\n[O-]c1ccccc1[O-]\n\n\nC1CC(\n")
    assert [r.line for r in rows] == [3, 6]


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_semicolon_tab_and_bar_separated_files_are_read(sep):
    text = sep.join(["name", "smiles", "donors"]) + "\n" + sep.join(["cat", "[O-]c1ccccc1[O-]", "0 7"]) + "\n"
    table = read_ligand_table(text.encode())
    assert table.separator == sep and table.rows[0].ligand.donors == (0, 7) and table.rows[0].name == "cat"
    assert "separated with a header" in table.describe()


def test_control_characters_in_names_are_dropped_and_long_names_cut():
    rows = parse_ligand_table(("name,smiles\n\x1b[31mred\x07 one," + "[O-]c1ccccc1[O-]\n").encode())
    assert rows[0].name == "[31mred one"
    assert len(clean_name("x" * 500)) == 80
