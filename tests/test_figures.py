"""Figure data: selectivity and water-exchange arithmetic on a hand-made results table."""
import pandas as pd
import pytest

from app import figures


def _table():
    rows = []
    values = {("L1", "La", "4L"): -100.0, ("L1", "Lu", "4L"): -130.0, ("L2", "La", "4L"): -90.0,
              ("L2", "Lu", "4L"): -95.0, ("L1", "La", "3L2W"): -80.0, ("L1", "Lu", "3L2W"): -120.0}
    for (lig, metal, ctype), e in values.items():
        rows.append({"ligand": lig, "smiles": lig, "scaffold": "HOPO", "substituent": lig, "metal": metal,
                     "type": ctype, "status": "ok", figures.BIND: e - 1000, figures.EXCH: e})
    rows.append({"ligand": "L2", "smiles": "L2", "scaffold": "HOPO", "substituent": "L2", "metal": "Eu",
                 "type": "4L", "status": "qc_failed", figures.BIND: -5000.0, figures.EXCH: -500.0})
    return pd.DataFrame(rows)


def test_selectivity_is_a_minus_b_per_ligand_and_ignores_qc_failures():
    table = figures.selectivity_table(_table(), "Lu", "La", "4L")
    assert dict(zip(table["ligand"], table["selectivity (kcal/mol)"])) == {"L1": -30.0, "L2": -5.0}
    assert figures.selectivity_table(_table(), "Eu", "La", "4L").empty


def test_water_exchange_is_the_difference_of_binding_energies_between_types():
    table = figures.water_exchange_table(_table(), "L1")
    assert list(table["step"]) == ["3L2W → 4L", "3L2W → 4L"]
    assert dict(zip(table["metal"], table["ΔE (kcal/mol)"])) == {"La": pytest.approx(-20.0),
                                                                  "Lu": pytest.approx(-10.0)}


def test_every_figure_builds_from_a_results_table():
    df = _table()
    for fig in (figures.series_plot(df), figures.heatmap(df, "4L"), figures.substituent_ranking(df, "La", "HOPO", "4L"),
                figures.selectivity_plot(df, "Lu", "La", "4L"), figures.water_exchange_plot(df, "L1")):
        assert fig.data
    assert list(figures.heatmap(df, "4L").data[0].x) == ["La", "Lu"]  # series order, QC failure dropped
