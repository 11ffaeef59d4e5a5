"""Ranking candidate groups with the pre-screen model: graft, predict, rank; no quantum chemistry.

Each group is put on the scaffold at the chosen ring carbon, grafted onto the shipped complex of every
requested metal and coordination type (:func:`core.pipeline.scaffold_templates.grafted_series`), and the
pre-screen ensemble predicts E_bind with its spread.  E_exchange (vs [M(H₂O)₈]³⁺) is the predicted E_bind
minus the aqua ion's E_bind at the screening level, which the shipped templates carry (a fixed number per metal, not a
prediction).  Ligands are ranked per metal and type by E_exchange, or with a metal pair by the selectivity
ΔE_exchange = E_exchange(first) − E_exchange(second) (negative: the ligand prefers the first metal), whose
uncertainty is the spread of the members' own differences.  Energies in kcal/mol, labels at the screening level.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.chemistry.grafting import GraftError, plan_graft
from core.chemistry.groups import Group, GroupError, attach_group, canonical_group
from core.chemistry.ligands import LigandError, make_ligand
from core.levels import DEFAULT_LEVEL
from core.model.inference import NEW_GROUP, ModelError, domain_split
from core.pipeline.scaffold_templates import aqua_binding_energy, grafted_series
from core.pipeline.settings import FAST, ScreeningSettings

#: Columns of a ranking table (and its CSV), in order; ``selectivity`` columns are added with a metal pair.
COLUMNS = ["rank", "name", "smiles", "scaffold", "position", "metal", "type", "E_bind model (kcal/mol)",
           "E_exchange model (kcal/mol)", "uncertainty (kcal/mol)", "domain", "expected error (kcal/mol)"]
# what the `expected error` column holds, said the same way by the command line and the app
EXPECTED_ERROR_TEXT = ("`expected error`: the model's measured E_bind MAE for rows of that domain and coordination "
                       "type (training group: random test split; new group: groups held out whole; new scaffold: "
                       "HDEV); with a metal pair, `selectivity expected error` is the measured MAE of the two metals' "
                       "E_bind difference by the same rule")



def new_group_accuracy(model, pair: tuple[str, str] | None = None, types: Sequence[str] = ()) -> str:
    """What the model's evaluation measured on groups held out whole (kcal/mol), the case of most rows of a
    ranking of new groups; with a metal ``pair``, also for the ranking by selectivity between them in ``types``
    (all measured types when empty); "" when its evaluation has no group hold-out."""
    metrics = model.metrics() or {}
    held = metrics.get(domain_split(metrics, NEW_GROUP)) or {}
    if not held.get("n"):
        return ""
    per_type = ", ".join(f"{t} {v['mae']:.1f}" for t, v in (held.get("per_type") or {}).items())
    rank = held.get("ranking") or {}
    recall = (f", top-10 recall {rank['top10_recall_median']:.0%}" if "top10_recall_median" in rank else "")
    text = (f"On {held['n']} complexes of groups it never saw, the model's E_bind MAE is {held['mae']:.1f} "
            f"({per_type}); its ranking of ligands per metal and type has median Spearman "
            f"{rank.get('spearman_median', float('nan')):.2f}{recall}.")
    if pair:
        text += " " + _pair_accuracy(model, pair, types or tuple(held.get("per_type") or ()))
    return text + f" Confirm a shortlist with {DEFAULT_LEVEL.short_name} before trusting a rank."


def _pair_accuracy(model, pair: tuple[str, str], types: Sequence[str]) -> str:
    """The measured accuracy of the selectivity ranking for ``pair`` on held-out groups, per type."""
    cells = {t: model.selectivity_accuracy(NEW_GROUP, pair, t) for t in types}
    cells = {t: c for t, c in cells.items() if c.get("n_ligands")}
    label = f"{pair[0]}−{pair[1]} selectivity"
    if not cells:
        return f"The ranking by {label} was not measured on held-out groups."
    text = (f"Ranked by {label} (a shared per-ligand error cancels), on the same groups: " + "; ".join(
        f"{t} MAE {c['mae']:.1f}" + (f" (the same selectivity for every ligand: {c['mae_constant']:.1f}), Spearman "
                                     f"{c['spearman']:.2f}" if "mae_constant" in c else "")
        + f" over {c['n_ligands']} ligands" for t, c in cells.items()) + ".")
    too_few = [t for t, c in cells.items() if "mae_constant" not in c]
    unresolved = [t for t, c in cells.items() if c["mae"] >= c.get("mae_constant", np.inf)]
    if too_few:
        text += f" In {', '.join(too_few)} too few held-out ligands were measured to judge an order."
    if unresolved:
        text += (f" In {', '.join(unresolved)} that is no better than giving every ligand the same selectivity: "
                 f"there the order of new groups by {label} is not resolved by the model.")
    return text


#: From this many complexes on (CPU), the members are evaluated with ``torch.compile``: 1.5-1.9x faster per member
#: after ~6 s (warm inductor cache) to ~30 s (cold) of compiling in every process that predicts, which ~2 ms saved
#: per complex repays from ~10,000 complexes per process (``benchmarks/bench_compile.py``, ``bench_rank.py``).
COMPILE_FROM_COMPLEXES = 20000


class RankError(ValueError):
    """A ranking that cannot be made (no model, nothing graftable), with the reason."""


@dataclass
class Ranking:
    """A ranked table, the groups or cells that could not be ranked (with why), and where the time went."""

    table: pd.DataFrame
    refused: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    pair: tuple[str, str] | None = None
    compiled: bool = False


def aqua_reference(metal: str, settings: ScreeningSettings = FAST) -> float:
    """The aqua ion's E_bind (kcal/mol, screening level) that E_exchange is measured from (shipped templates)."""
    found = aqua_binding_energy(metal, settings)
    if found is None:
        raise RankError(f"No shipped template of {metal} carries the aqua ion's energy.")
    return found


@dataclass
class _Predicted:
    """One chunk of groups grafted and predicted: a row per complex, the members' predictions (members, rows),
    what was refused, and the seconds spent grafting and predicting."""

    rows: list[dict]
    members: np.ndarray
    refused: list[str]
    graft_s: float
    predict_s: float


def _graft_and_predict(model, groups: Sequence[Group], scaffold: str, metals: Sequence[str], types: Sequence[str],
                       position: str, settings: ScreeningSettings, compiled: bool = False) -> _Predicted:
    """Put each group on the scaffold, graft it onto every metal's and type's shipped complex and predict
    (with ``compiled``, by the members compiled with ``torch.compile``)."""
    if compiled:
        model.compile()
    refused: list[str] = []
    start = time.perf_counter()
    frames, rows = [], []
    for group in groups:
        try:
            ligand = make_ligand(attach_group(scaffold, group.smiles, position), scaffold=scaffold,
                                 substituent=group.name)
        except (GroupError, LigandError) as exc:
            refused.append(f"{group.name}: {exc}")
            continue
        plan = plan_graft(ligand.smiles)
        if plan is None:
            refused.append(f"{group.name}: the ligand cannot be grafted onto {scaffold}")
            continue
        domain = model.group_domain(scaffold, canonical_group(group.smiles))
        for (metal, ctype), built in grafted_series(plan, ligand, metals, types, settings).items():
            if isinstance(built, GraftError):
                refused.append(f"{group.name} {metal} {ctype}: not graftable ({built}); screen it instead")
                continue
            try:
                model.check_domain(built)
            except ModelError as exc:  # an element the model never saw: no number rather than a wild one
                refused.append(f"{group.name}: {exc}")
                break
            frames.append(built)
            rows.append({"name": group.name, "smiles": ligand.smiles, "scaffold": scaffold, "position": position,
                         "metal": metal, "type": ctype, "domain": domain})
    graft_s = time.perf_counter() - start
    start = time.perf_counter()
    members = _member_predictions(model, frames) if frames else np.empty((0, 0))
    return _Predicted(rows, members, refused, graft_s, time.perf_counter() - start)


def _graft_and_predict_on_worker(directory: str, force_cpu: bool, *args) -> _Predicted:
    """Worker side of :func:`rank_groups` on a Dask client: the model is loaded once per worker process."""
    from core.model.inference import load_model

    return _graft_and_predict(load_model(directory, explicit=True, force_cpu=force_cpu), *args)


def _chunks(groups: Sequence[Group], n_workers: int) -> list[list[Group]]:
    """About four chunks per worker, so a slow chunk does not leave the others idle, of at most 50 groups."""
    size = max(1, min(50, -(-len(groups) // (4 * n_workers))))
    return [list(groups[i:i + size]) for i in range(0, len(groups), size)]


def rank_groups(model, groups: Sequence[Group], scaffold: str, metals: Sequence[str], types: Sequence[str],
                position: str = "C3", pair: tuple[str, str] | None = None,
                settings: ScreeningSettings = FAST, client=None, compiled: bool | None = None) -> Ranking:
    """Rank ``groups`` on ``scaffold`` at ``position`` for ``metals`` × ``types`` with the pre-screen ``model``.

    With a Dask ``client`` the groups are grafted and predicted in chunks on its workers (each loads the model
    folder once); without one, in this process.  ``compiled``: evaluate the members with ``torch.compile``
    (default: on the CPU from :data:`COMPILE_FROM_COMPLEXES` complexes on).  ``timings``: ``graft_s`` and
    ``predict_s`` summed over chunks (CPU-bound seconds, compiling included), ``wall_s`` for the whole ranking."""
    wall = time.perf_counter()
    if compiled is None:
        compiled = model.device == "cpu" and len(groups) * len(metals) * len(types) >= COMPILE_FROM_COMPLEXES
    args = (scaffold, tuple(metals), tuple(types), position, settings, compiled)
    n_workers = len(client.scheduler_info().get("workers", {})) if client is not None else 1
    if client is not None and n_workers > 1 and len(groups) > 1:
        futures = [client.submit(_graft_and_predict_on_worker, str(model.directory), model.device == "cpu", chunk,
                                 *args, pure=False) for chunk in _chunks(groups, n_workers)]
        parts = client.gather(futures)
    else:
        parts = [_graft_and_predict(model, groups, *args)]
    rows = [row for part in parts for row in part.rows]
    refused = [message for part in parts for message in part.refused]
    if not rows:
        raise RankError("Nothing to rank: " + ("; ".join(refused[:5]) or "no groups given"))
    members = np.hstack([part.members for part in parts if part.rows])
    timings = {"graft_s": sum(p.graft_s for p in parts), "predict_s": sum(p.predict_s for p in parts)}
    table = pd.DataFrame(rows)
    aqua = {m: aqua_reference(m, settings) for m in set(table["metal"])}
    table["E_bind model (kcal/mol)"] = members.mean(axis=0)
    exchange = members - np.array([aqua[m] for m in table["metal"]])[None, :]
    table["E_exchange model (kcal/mol)"] = exchange.mean(axis=0)
    table["uncertainty (kcal/mol)"] = exchange.std(axis=0, ddof=1) if len(members) > 1 else np.nan
    cells = list(zip(table["domain"], table["type"]))
    errors = {cell: model.expected_error(*cell) for cell in set(cells)}
    table["expected error (kcal/mol)"] = [errors[cell] for cell in cells]
    if pair:
        table = _with_selectivity(table, exchange, pair, model)
    else:
        table["rank"] = table.groupby(["metal", "type"])["E_exchange model (kcal/mol)"].rank(method="min").astype(int)
        table = table.sort_values(["type", "metal", "rank"], kind="stable")
    extra = [c for c in table.columns if c not in COLUMNS]
    timings["wall_s"] = time.perf_counter() - wall
    return Ranking(table[COLUMNS + extra].reset_index(drop=True), refused, timings, pair, compiled)


def _member_predictions(model, frames) -> np.ndarray:
    """(members, frames) predictions; a single model is an ensemble of one (no spread)."""
    if hasattr(model, "member_predictions"):
        return model.member_predictions(frames)
    return model.predict(frames)[None, :]


def _with_selectivity(table: pd.DataFrame, exchange: np.ndarray, pair: tuple[str, str], model) -> pd.DataFrame:
    """Ligands ranked per type by ΔE_exchange(first − second); both metals' rows kept, ligands that lack one of
    the two are dropped (their graft was refused).  ``selectivity expected error``: the MAE of that difference
    the model's evaluation measured for the row's domain, pair and type (NaN where not measured)."""
    first, second = pair
    column = f"selectivity {first}−{second} model (kcal/mol)"
    spread_column = "selectivity uncertainty (kcal/mol)"
    error_column = "selectivity expected error (kcal/mol)"
    key = ["name", "type"]
    idx = {(r.name, r.type, r.metal): i for i, r in enumerate(table.itertuples())}
    selectivity, spread = {}, {}
    for (name, ctype) in table[key].drop_duplicates().itertuples(index=False):
        a, b = idx.get((name, ctype, first)), idx.get((name, ctype, second))
        if a is None or b is None:
            continue
        diff = exchange[:, a] - exchange[:, b]
        selectivity[(name, ctype)] = float(diff.mean())
        spread[(name, ctype)] = float(diff.std(ddof=1)) if len(diff) > 1 else np.nan
    has_both = np.array([(n, t) in selectivity for n, t in zip(table["name"], table["type"])], dtype=bool)
    kept = table[has_both & table["metal"].isin(pair).to_numpy()].copy()
    kept[column] = [selectivity[(n, t)] for n, t in zip(kept["name"], kept["type"])]
    kept[spread_column] = [spread[(n, t)] for n, t in zip(kept["name"], kept["type"])]
    cells = list(zip(kept["domain"], kept["type"]))
    errors = {cell: model.selectivity_accuracy(cell[0], pair, cell[1]).get("mae", np.nan) for cell in set(cells)}
    kept[error_column] = [errors[cell] for cell in cells]
    kept["rank"] = kept.groupby(["type", "metal"])[column].rank(method="min").astype(int)
    return kept.sort_values(["type", "rank", "metal"], kind="stable")
