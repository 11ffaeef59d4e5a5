"""Helpers shared by the sub-commands: list arguments, the store option, the results table as text."""
from __future__ import annotations

import argparse

import pandas as pd

from core.chemistry.constants import ENERGY_UNITS, Y_NOTE
from core.model.inference import NEW_GROUP, NEW_SCAFFOLD
from core.storage.results import E_BIND, E_EXCHANGE, MODEL_COLUMN, MODEL_DOMAIN, RANK, RANKED_OF, levels_in

TABLE_COLUMNS = ["rank", "ligand", "metal", "type", E_BIND, E_EXCHANGE, "qc", "converged", "route", "reason"]


def csv_list(text: str, allowed, what: str) -> list[str]:
    """Comma-separated items, each one of ``allowed``, each kept once in the order given; none is an error."""
    items = list(dict.fromkeys(x.strip() for x in text.split(",") if x.strip()))
    bad = [x for x in items if x not in allowed]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown {what}: {', '.join(bad)} (choose from {', '.join(allowed)})")
    if not items:
        raise argparse.ArgumentTypeError(f"no {what} given (choose from {', '.join(allowed)})")
    return items


def add_db(p: argparse.ArgumentParser) -> None:
    """The ``--db`` option every command that reads or writes the store has."""
    p.add_argument("--db", help="result store (SQLite file); default $REESCREEN_DB or ./reescreen.db")


def format_table(df: pd.DataFrame) -> str:
    """Text table of results with the level of theory and units in a header line."""
    if df.empty:
        return "No results."
    columns = list(TABLE_COLUMNS)
    has_model = MODEL_COLUMN in df and df[MODEL_COLUMN].notna().any()
    if has_model:
        columns.insert(columns.index(E_BIND) + 1, MODEL_COLUMN)
        columns.insert(columns.index(MODEL_COLUMN) + 1, MODEL_DOMAIN)
    view = df[columns].copy()
    for col in (E_BIND, E_EXCHANGE) + ((MODEL_COLUMN,) if has_model else ()):
        view[col] = view[col].map(lambda v: "" if pd.isna(v) else f"{v:.1f}")
    view[RANK] = [("" if pd.isna(r) else f"{r}/{n}") for r, n in zip(df[RANK], df[RANKED_OF])]
    view["metal"] = view["metal"].map(lambda m: "Y*" if m == "Y" else m)
    view["reason"] = view["reason"].fillna("").str.slice(0, 60)
    head = (f"Binding energies, {levels_in(df)}, {ENERGY_UNITS}. E_bind = E_complex - E_ion - sum E_ligand "
            "(waters included); E_exchange = vs [M(H2O)8]3+ (bare-ion reference cancels; use it to compare "
            "metals).\nrank: this ligand's place among the stored ligands with the same metal and type "
            "(1 = strongest; the same order by E_bind or E_exchange); metals are not ranked against each other.")
    if has_model:
        models = ", ".join(sorted(set(df["model"].dropna()) - {""}))
        head += f"\n{MODEL_COLUMN}: predicted by {models} (see its model card for its label level of theory)."
        outside = [d for d in (NEW_GROUP, NEW_SCAFFOLD) if MODEL_DOMAIN in df and (df[MODEL_DOMAIN] == d).any()]
        if outside:
            from core.model.inference import model_domain_text, models_dir

            head += f"\nWarning: some ligands are a {' or a '.join(outside)} for the model. " + " ".join(
                model_domain_text(models_dir() / name.split("@")[0]) for name in sorted(set(df["model"]) - {""}))
    parts = [head]
    for ctype, block in view.groupby(df["type"], sort=False):
        parts.append(f"\n{ctype}\n" + block.to_string(index=False))
    if (df["metal"] == "Y").any():
        parts.append("\n* " + Y_NOTE.replace("−", "-").replace("…", "..."))
    return "\n".join(parts)


def format_two_levels(df: pd.DataFrame) -> str:
    """The side-by-side table of :func:`core.storage.results.levels_side_by_side` as text: short column
    names, the two levels spelled out in the header."""
    if df.empty:
        return "No screened complexes to compare."
    from core.levels import get_level
    from core.storage.results import E_BIND, E_EXCHANGE, level_column

    levels = df.attrs["levels"]
    screening = get_level(levels[0]).short_name
    short = {level_column(energy, level): f"{energy.split(' ')[0]} {tag}"
             for energy in (E_BIND, E_EXCHANGE) for level, tag in zip(levels, (screening, "DFT"))}
    energy_cols = list(short)
    view = df[["ligand", "metal", "type", *energy_cols, "DFT status", "DFT reason"]].rename(columns=short)
    for col in short.values():
        view[col] = view[col].map(lambda v: "" if pd.isna(v) else f"{v:.1f}")
    view["DFT reason"] = view["DFT reason"].str.slice(0, 60)
    head = (f"Energies in {ENERGY_UNITS}. {screening} = {levels[0]}; DFT = {levels[-1]} (single points on the "
            f"{screening} geometries). E_exchange = vs [M(H2O)8]3+: compare metals and levels with it; E_bind is dominated "
            "by the bare-ion reference, whose solvation differs between the two implicit solvents.")
    return head + "\n" + view.to_string(index=False)
