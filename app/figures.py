"""Plotly figures of screening results.  Each takes the store's results table (``Store.results_frame``)
and uses only rows that passed QC; energies in kcal/mol at the level of theory stored with them (in titles)."""
from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from core.chemistry.complexes import COORDINATION_TYPES
from core.chemistry.constants import REE_METALS
from core.storage.results import E_BIND, E_EXCHANGE, MODEL_COLUMN, levels_in, passed

EXCH = E_EXCHANGE
BIND = E_BIND
TYPE_ORDER = list(COORDINATION_TYPES)
EXCHANGE_PAIRS = list(zip(TYPE_ORDER[::-1], TYPE_ORDER[::-1][1:]))  # 1L6W→2L4W, 2L4W→3L2W, 3L2W→4L
EXCHANGE_STEPS = [f"{a} → {b}" for a, b in EXCHANGE_PAIRS]


def series_plot(df: pd.DataFrame, energy: str = EXCH) -> go.Figure:
    """Energy across the rare-earth series, one line per ligand and type."""
    return px.line(passed(df), x="metal", y=energy, color="ligand", line_dash="type", markers=True,
                   category_orders={"metal": list(REE_METALS), "type": TYPE_ORDER},
                   title=f"Across the rare-earth series ({levels_in(df)})")


def heatmap(df: pd.DataFrame, ctype: str, energy: str = EXCH) -> go.Figure:
    """REE × ligand heat map of one coordination type."""
    table = passed(df[df["type"] == ctype]).pivot_table(index="ligand", columns="metal", values=energy)
    table = table.reindex(columns=[m for m in REE_METALS if m in table.columns])
    return px.imshow(table, aspect="auto", color_continuous_scale="RdBu", labels={"color": energy},
                     title=f"{energy}, {ctype} ({levels_in(df)})")


def substituent_ranking(df: pd.DataFrame, metal: str, scaffold: str, ctype: str, energy: str = BIND) -> go.Figure:
    """Substituents of one scaffold ranked by binding to one metal (the paper's Eu–CAM figure)."""
    rows = passed(df[(df["metal"] == metal) & (df["scaffold"] == scaffold) & (df["type"] == ctype)])
    rows = rows.sort_values(energy)
    return px.bar(rows, x=energy, y="substituent", orientation="h",
                  title=f"{scaffold} substituents with {metal}, {ctype} ({levels_in(df)})")


def selectivity_table(df: pd.DataFrame, metal_a: str, metal_b: str, ctype: str, energy: str = EXCH) -> pd.DataFrame:
    """Per ligand: energy with A, with B, and A − B (negative: the ligand prefers A), kcal/mol."""
    rows = passed(df[df["type"] == ctype])
    wide = rows.pivot_table(index="ligand", columns="metal", values=energy)
    if metal_a not in wide or metal_b not in wide:
        return pd.DataFrame(columns=["ligand", metal_a, metal_b, "selectivity (kcal/mol)"])
    out = wide[[metal_a, metal_b]].dropna().reset_index()
    out["selectivity (kcal/mol)"] = out[metal_a] - out[metal_b]
    return out.sort_values("selectivity (kcal/mol)").reset_index(drop=True)


def selectivity_plot(df: pd.DataFrame, metal_a: str, metal_b: str, ctype: str, energy: str = EXCH) -> go.Figure:
    """Bar chart of :func:`selectivity_table`."""
    table = selectivity_table(df, metal_a, metal_b, ctype, energy)
    return px.bar(table, x="selectivity (kcal/mol)", y="ligand", orientation="h",
                  title=f"{energy.split(' ')[0]}({metal_a}) − {energy.split(' ')[0]}({metal_b}), {ctype}: "
                        f"negative prefers {metal_a}")


def water_exchange_table(df: pd.DataFrame, smiles: str) -> pd.DataFrame:
    """Stepwise ligand-for-water exchange of one ligand, per metal, kcal/mol:
    [M L_n (H2O)_w] + L → [M L_(n+1) (H2O)_(w−2)] + 2 H2O, which is E_bind(n+1) − E_bind(n)."""
    rows = passed(df[df["smiles"] == smiles])
    wide = rows.pivot_table(index="metal", columns="type", values=BIND)
    steps = []
    for a, b in EXCHANGE_PAIRS:
        if a in wide and b in wide:
            for metal, value in (wide[b] - wide[a]).dropna().items():
                steps.append({"metal": metal, "step": f"{a} → {b}", "ΔE (kcal/mol)": value})
    out = pd.DataFrame(steps, columns=["metal", "step", "ΔE (kcal/mol)"])
    out["metal_order"] = out["metal"].map({m: i for i, m in enumerate(REE_METALS)})
    out["step_order"] = out["step"].map({s: i for i, s in enumerate(EXCHANGE_STEPS)})
    out = out.sort_values(["metal_order", "step_order"])
    return out.drop(columns=["metal_order", "step_order"]).reset_index(drop=True)


def water_exchange_plot(df: pd.DataFrame, smiles: str) -> go.Figure:
    """Grouped bars of :func:`water_exchange_table`."""
    return px.bar(water_exchange_table(df, smiles), x="metal", y="ΔE (kcal/mol)", color="step", barmode="group",
                  category_orders={"metal": list(REE_METALS), "step": EXCHANGE_STEPS},
                  title=f"Replacing two waters by one more ligand ({levels_in(df)})")


def model_parity(df: pd.DataFrame) -> go.Figure:
    """The model's prediction against the computed E_bind of the user's own stored results (QC passed)."""
    rows = passed(df)
    rows = rows[rows[MODEL_COLUMN].notna()]
    fig = px.scatter(rows, x=BIND, y=MODEL_COLUMN, color="metal", symbol="type", hover_name="ligand",
                     category_orders={"metal": list(REE_METALS), "type": TYPE_ORDER},
                     title=f"Model vs {levels_in(df)} on your stored results (kcal/mol)")
    if not rows.empty:
        lo = float(min(rows[BIND].min(), rows[MODEL_COLUMN].min()))
        hi = float(max(rows[BIND].max(), rows[MODEL_COLUMN].max()))
        fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", line=dict(color="grey", dash="dot"),
                                 name="y = x", showlegend=False))
    return fig


def per_metal_error(metrics: dict, split: str = "test") -> go.Figure:
    """MAE per metal from a model's metrics.json (kcal/mol)."""
    per = metrics.get(split, {}).get("per_metal", {})
    order = [m for m in REE_METALS if m in per]
    return px.bar(x=order, y=[per[m]["mae"] for m in order], labels={"x": "metal", "y": "MAE (kcal/mol)"},
                  title=f"Model error per metal, {split} set")
