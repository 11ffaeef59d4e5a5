"""Library → "Rank with the model": rank a group table with the pre-screen model in seconds, then queue the
chosen ligands for the normal screen.  Thin UI over :mod:`core.pipeline.rank`."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from app.state import get_job_manager, owner_token
from core.chemistry.complexes import COORDINATION_TYPES
from core.chemistry.constants import ENERGY_UNITS, REE_METALS
from core.chemistry.grafting import ring_position_names
from core.chemistry.groups import GroupError, library_groups, read_groups
from core.chemistry.ligands import SCAFFOLDS, make_ligand
from core.cli.rank import PRESCREEN_MODEL_NAME
from core.levels import DEFAULT_LEVEL
from core.model.inference import ModelError, load_model, models_dir
from core.pipeline.rank import EXPECTED_ERROR_TEXT, RankError, new_group_accuracy, rank_groups
from core.pipeline.settings import FAST

RESULT_KEY = "rank_result"


def rank_section() -> None:
    """The whole flow: inputs, the ranking, the confirmation by screening."""
    st.caption("Ranks groups on **grafted, unrelaxed** complexes with the pre-screen model: seconds, no quantum "
               f"chemistry. Its labels are {DEFAULT_LEVEL.name} E_bind of the relaxed complexes ({ENERGY_UNITS}); "
               f"confirm the best with a {DEFAULT_LEVEL.short_name} screen below.")
    model_path = models_dir() / PRESCREEN_MODEL_NAME
    if not model_path.exists():
        st.info(f"No pre-screen model is installed ({model_path.name} is not in the model folder {models_dir()}; "
                "the project ships one in models/). Train one with `reescreen train configs/allegro-prescreen.yaml "
                "--members 3` (README, 'Ranking groups before any quantum chemistry'), or screen groups directly "
                "(Scaffolds × substituents, Upload CSV).")
        return
    left, right = st.columns(2)
    scaffold = left.selectbox("Scaffold", list(SCAFFOLDS), key="rank_scaffold")
    position = right.selectbox("Ring carbon", list(ring_position_names(scaffold).values()), key="rank_position")
    groups = _groups_input()
    metals = st.multiselect("Metals", list(REE_METALS), default=["Nd", "Dy"], key="rank_metals")
    types = st.multiselect("Coordination types", list(COORDINATION_TYPES), default=["1L6W", "4L"], key="rank_types")
    by_pair = st.checkbox("Rank by selectivity between the first two metals", key="rank_by_pair")
    pair = tuple(metals[:2]) if by_pair and len(metals) >= 2 else None
    if st.button("Rank with the model", type="primary", disabled=not (groups and metals and types), key="rank_go"):
        try:
            model = load_model(model_path)
            st.session_state[RESULT_KEY] = rank_groups(model, groups, scaffold, metals, types, position, pair)
            st.session_state["rank_model"] = f"{model.name} ({model.level_of_theory} labels)"
            st.session_state["rank_accuracy"] = new_group_accuracy(model, pair, tuple(types))
        except (RankError, ModelError) as exc:
            st.error(str(exc))
            st.session_state.pop(RESULT_KEY, None)
    ranking = st.session_state.get(RESULT_KEY)
    if ranking is not None:
        _show(ranking)


def _groups_input() -> list:
    source = st.radio("Groups", ["Group library", "Upload CSV"], horizontal=True, key="rank_groups_source")
    if source == "Group library":
        groups = list(library_groups())
        st.caption(f"{len(groups)} named groups from data/groups/library.csv.")
        return groups
    upload = st.file_uploader("Groups (name,smiles with * on the ring carbon, e.g. methoxy,*OC)",
                              type=["csv", "txt"], key="rank_upload")
    if upload is None:
        return []
    try:
        groups, refused = read_groups(upload.getvalue())
    except GroupError as exc:
        st.error(str(exc))
        return []
    if refused:
        st.warning(f"{len(refused)} rows cannot be used: " + "; ".join(refused[:10]))
    return groups


def _show(ranking) -> None:
    t = ranking.table
    what = (f"selectivity ΔE_exchange({ranking.pair[0]} − {ranking.pair[1]}), negative: prefers "
            f"{ranking.pair[0]}" if ranking.pair else "E_exchange vs [M(H₂O)₈]³⁺ per metal and type")
    st.subheader(f"{t['name'].nunique()} ligands ranked by the model's {what}")
    st.caption(f"Model {st.session_state.get('rank_model', '')}; inputs grafted, not optimised "
               f"(graft {ranking.timings['graft_s']:.1f} s, predict {ranking.timings['predict_s']:.1f} s). "
               f"Energies in {ENERGY_UNITS}. `uncertainty`: spread of the ensemble's members; {EXPECTED_ERROR_TEXT}. "
               f"Model numbers, not {DEFAULT_LEVEL.short_name}: confirm before trusting a rank. "
               + st.session_state.get("rank_accuracy", ""))
    st.dataframe(t, hide_index=True, key="rank_table")
    st.download_button("Download CSV", t.to_csv(index=False, float_format="%.2f"), "ranked.csv", "text/csv",
                       key="rank_csv")
    if ranking.refused:
        with st.expander(f"{len(ranking.refused)} not ranked (with why)"):
            st.table(pd.DataFrame({"not ranked": ranking.refused}))
    names = list(dict.fromkeys(t.sort_values("rank", kind="stable")["name"]))
    chosen = st.multiselect(f"Ligands to confirm with {DEFAULT_LEVEL.short_name}", names, default=names[:5], key="rank_confirm_names")
    metals, types = sorted(set(t["metal"])), sorted(set(t["type"]))
    if st.button(f"Confirm with {DEFAULT_LEVEL.short_name} ({len(chosen)} ligands × {len(metals)} metals × {len(types)} types)",
                 disabled=not chosen, key="rank_confirm"):
        smiles = t.drop_duplicates("name").set_index("name")["smiles"]
        settings = FAST.with_changes(route="auto")  # the labels' route: grafted starts where the scaffold allows
        jobs = [get_job_manager().submit(make_ligand(smiles[n]), metals, types, settings, owner=owner_token())
                for n in chosen]
        st.success(f"Queued {len(jobs)} {DEFAULT_LEVEL.short_name} screens: progress on the Screen page, their {DEFAULT_LEVEL.short_name} "
                   "E_exchange on Results, to set beside this table's model numbers.")
