"""Plotly figures of screening results.  Each takes the store's results table (``Store.results_frame``)
and uses only rows that passed QC; energies in kcal/mol at the level of theory stored with them (in titles)."""
from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from core.chemistry.complexes import COORDINATION_TYPES
from core.chemistry.constants import LANTHANIDES, SERIES_ORDER, metal_label
from core.storage.results import E_BIND, E_EXCHANGE, MODEL_COLUMN, levels_in, passed

EXCH = E_EXCHANGE
BIND = E_BIND
TYPE_ORDER = list(COORDINATION_TYPES)
EXCHANGE_PAIRS = list(zip(TYPE_ORDER[::-1], TYPE_ORDER[::-1][1:]))  # 1L6W→2L4W, 2L4W→3L2W, 3L2W→4L
EXCHANGE_STEPS = [f"{a} → {b}" for a, b in EXCHANGE_PAIRS]
#: One colour per ligand, as far apart as Plotly's qualitative palettes go (48 before they repeat).
PALETTE = px.colors.qualitative.Dark24 + px.colors.qualitative.Light24
DASHES = {"1L6W": "dot", "2L4W": "dashdot", "3L2W": "dash", "4L": "solid"}
LEGEND_CHARS = 40
Y_AXIS_LABEL = "Y (4d)"


def legend_name(name: str) -> str:
    """A ligand's name as a legend shows it (long SMILES shortened; the full name is in the hover text)."""
    return name if len(name) <= LEGEND_CHARS else name[:LEGEND_CHARS - 1] + "…"


def ligand_colours(names) -> dict[str, str]:
    """A distinct colour for each ligand, in order of first appearance."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(dict.fromkeys(names))}


def _series_axis(fig: go.Figure, present: set[str]) -> None:
    """Metals in periodic order La … Lu, with Y after a divider and labelled as the 4d ion it is."""
    order = [m if m != "Y" else Y_AXIS_LABEL for m in SERIES_ORDER if m in present]
    fig.update_xaxes(categoryorder="array", categoryarray=order, title="metal (La → Lu; Y apart)")
    if "Y" in present and present & set(LANTHANIDES):
        fig.add_vline(x=len(order) - 1.5, line=dict(color="grey", dash="dot", width=1))


def series_plot(df: pd.DataFrame, energy: str = EXCH, band: float | None = None) -> go.Figure:
    """Energy across the series in periodic order, one colour per ligand and one dash per type; the
    lanthanides are joined La → Lu, Y stands apart unjoined.  ``band`` (kcal/mol) shades ± that much around
    each line (the template noise, see the Compare page)."""
    rows = passed(df)
    fig = go.Figure()
    colours = ligand_colours(rows["ligand"])
    present = set(rows["metal"])
    for (ligand, ctype), block in rows.groupby(["ligand", "type"], sort=False):
        block = block.assign(order=block["metal"].map({m: i for i, m in enumerate(SERIES_ORDER)})).sort_values("order")
        ln, y = block[block["metal"] != "Y"], block[block["metal"] == "Y"]
        name, colour = f"{legend_name(ligand)} · {ctype}", colours[ligand]
        hover = f"{ligand} · {ctype}<br>%{{x}}: %{{y:.1f}} kcal/mol<extra></extra>"
        if band and not ln.empty:
            x = list(ln["metal"]) + list(ln["metal"])[::-1]
            yb = list(ln[energy] + band) + list(ln[energy] - band)[::-1]
            fig.add_trace(go.Scatter(x=x, y=yb, fill="toself", fillcolor=colour, opacity=0.15, line=dict(width=0),
                                     hoverinfo="skip", showlegend=False, legendgroup=name))
        fig.add_trace(go.Scatter(x=ln["metal"], y=ln[energy], mode="lines+markers", name=name, legendgroup=name,
                                 line=dict(color=colour, dash=DASHES.get(ctype, "solid")), hovertemplate=hover))
        if not y.empty:
            fig.add_trace(go.Scatter(x=[Y_AXIS_LABEL], y=y[energy], mode="markers", name=name, legendgroup=name,
                                     showlegend=ln.empty, marker=dict(color=colour, symbol="diamond-open", size=10),
                                     hovertemplate=hover))
    _series_axis(fig, present)
    fig.update_layout(title=f"{energy} across the series ({levels_in(df)})", yaxis_title=energy,
                      legend_title="ligand · type")
    return fig


def heatmap(df: pd.DataFrame, ctype: str, energy: str = EXCH) -> go.Figure:
    """Ligand × metal heat map of one coordination type, metals La → Lu then Y; the colour scale spans the
    lanthanides only, so Y (off their trend) does not wash them out (its cells clip at the scale's ends)."""
    table = passed(df[df["type"] == ctype]).pivot_table(index="ligand", columns="metal", values=energy)
    table = table.reindex(columns=[m for m in SERIES_ORDER if m in table.columns])
    scale = table[[m for m in table.columns if m != "Y"]] if len(table.columns) > ("Y" in table.columns) else table
    table = table.rename(columns={"Y": Y_AXIS_LABEL}, index=legend_name)
    fig = px.imshow(table, aspect="auto", color_continuous_scale="RdBu", labels={"color": energy},
                    zmin=float(scale.min().min()), zmax=float(scale.max().max()),
                    title=f"{energy}, {ctype} ({levels_in(df)}); colour scale: lanthanides")
    return fig


def substituent_ranking(df: pd.DataFrame, metal: str, scaffold: str, ctype: str, energy: str = BIND) -> go.Figure:
    """Substituents of one scaffold ranked by binding to one metal (the paper's Eu–CAM figure)."""
    rows = passed(df[(df["metal"] == metal) & (df["scaffold"] == scaffold) & (df["type"] == ctype)])
    rows = rows.sort_values(energy, ascending=False)  # strongest at the top of a horizontal bar chart
    return px.bar(rows, x=energy, y="substituent", orientation="h", hover_name="ligand",
                  title=f"{scaffold} substituents ranked for {metal_label(metal)}, {ctype} ({levels_in(df)})")


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
    return px.bar(table.iloc[::-1], x="selectivity (kcal/mol)", y="ligand", orientation="h",
                  title=f"{energy.split(' ')[0]}({metal_label(metal_a)}) − {energy.split(' ')[0]}"
                        f"({metal_label(metal_b)}), {ctype}: negative prefers {metal_a}")


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
    out["metal_order"] = out["metal"].map({m: i for i, m in enumerate(SERIES_ORDER)})
    out["step_order"] = out["step"].map({s: i for i, s in enumerate(EXCHANGE_STEPS)})
    out = out.sort_values(["metal_order", "step_order"])
    return out.drop(columns=["metal_order", "step_order"]).reset_index(drop=True)


def water_exchange_plot(df: pd.DataFrame, smiles: str) -> go.Figure:
    """Grouped bars of :func:`water_exchange_table`."""
    return px.bar(water_exchange_table(df, smiles), x="metal", y="ΔE (kcal/mol)", color="step", barmode="group",
                  category_orders={"metal": list(SERIES_ORDER), "step": EXCHANGE_STEPS},
                  title=f"Replacing two waters by one more ligand ({levels_in(df)})")


def model_parity(df: pd.DataFrame) -> go.Figure:
    """The model's prediction against the computed E_bind of the user's own stored results (QC passed)."""
    rows = passed(df)
    rows = rows[rows[MODEL_COLUMN].notna()]
    fig = px.scatter(rows, x=BIND, y=MODEL_COLUMN, color="metal", symbol="type", hover_name="ligand",
                     category_orders={"metal": list(SERIES_ORDER), "type": TYPE_ORDER},
                     title=f"Model vs {levels_in(df)} on your stored results (kcal/mol)")
    # 16 metals × 4 types made 64 legend entries that ran off the plot: one entry per metal, one per type
    symbols: dict[str, str] = {}
    seen: set[str] = set()
    for trace in fig.data:
        metal, _, ctype = trace.name.partition(", ")
        symbols.setdefault(ctype.strip(), trace.marker.symbol)
        trace.update(name=metal, legendgroup=metal, showlegend=metal not in seen)
        seen.add(metal)
    for ctype in [t for t in TYPE_ORDER if t in symbols]:
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=ctype, legendgroup=f"type {ctype}",
                                 marker=dict(symbol=symbols[ctype], color="grey")))
    fig.update_layout(legend=dict(title="metal; type (symbol)", font=dict(size=10)))
    if not rows.empty:
        lo = float(min(rows[BIND].min(), rows[MODEL_COLUMN].min()))
        hi = float(max(rows[BIND].max(), rows[MODEL_COLUMN].max()))
        fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", line=dict(color="grey", dash="dot"),
                                 name="y = x", showlegend=False))
    return fig


def selectivity_curves(df: pd.DataFrame, metal_a: str, metal_b: str, energy: str = EXCH,
                       band: float | None = None) -> go.Figure:
    """Per ligand, energy(A) − energy(B) against the coordination type (1L6W → 4L): how the preference for A
    builds as ligands replace waters.  ``band`` (kcal/mol, one complex's noise) shades ± band·√2 around each
    curve, the noise of a difference of two complexes."""
    rows = passed(df[df["metal"].isin([metal_a, metal_b])])
    wide = rows.pivot_table(index=["ligand", "type"], columns="metal", values=energy)
    fig = go.Figure()
    if metal_a in wide and metal_b in wide:
        diff = (wide[metal_a] - wide[metal_b]).dropna().reset_index(name="d")
        colours = ligand_colours(df["ligand"])
        for ligand, block in diff.groupby("ligand", sort=False):
            block = block.assign(order=block["type"].map(TYPE_ORDER[::-1].index)).sort_values("order")
            if band:
                x = list(block["type"]) + list(block["type"])[::-1]
                half = band * 2 ** 0.5
                fig.add_trace(go.Scatter(x=x, y=list(block["d"] + half) + list(block["d"] - half)[::-1],
                                         fill="toself", fillcolor=colours[ligand], opacity=0.15, line=dict(width=0),
                                         hoverinfo="skip", showlegend=False, legendgroup=ligand))
            fig.add_trace(go.Scatter(x=block["type"], y=block["d"], mode="lines+markers", name=legend_name(ligand),
                                     legendgroup=ligand, line=dict(color=colours[ligand]),
                                     hovertemplate=f"{ligand}<br>%{{x}}: %{{y:.1f}} kcal/mol<extra></extra>"))
    fig.add_hline(y=0, line=dict(color="grey", width=1))
    short = energy.split(" ")[0]
    fig.update_xaxes(categoryorder="array", categoryarray=TYPE_ORDER[::-1], title="coordination type")
    fig.update_layout(title=f"{short}({metal_label(metal_a)}) − {short}({metal_label(metal_b)}) ({levels_in(df)}); "
                            f"below 0: prefers {metal_a}", yaxis_title=f"Δ{short} (kcal/mol)", legend_title="ligand")
    return fig


def per_metal_error(metrics: dict, split: str = "test") -> go.Figure:
    """MAE per metal from a model's metrics.json (kcal/mol)."""
    per = metrics.get(split, {}).get("per_metal", {})
    order = [m for m in SERIES_ORDER if m in per]
    return px.bar(x=order, y=[per[m]["mae"] for m in order], labels={"x": "metal", "y": "MAE (kcal/mol)"},
                  title=f"Model error per metal, {split} set")
