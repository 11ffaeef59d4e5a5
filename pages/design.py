"""Design: choose a ligand from the library, draw it or paste a SMILES; name it; see its donors, charge and
formula, and the library scaffold it is built on."""
import dataclasses

import streamlit as st

from app.state import current_ligand, get_store, md_escape, set_current_ligand
from core.chemistry.depiction import ligand_svg
from core.chemistry.ligands import (SCAFFOLDS, SUBSTITUENTS, LigandError, assemble_smiles, binding_form,
                                    deprotonate_chelating_groups, library_ligand, make_ligand, parse_donor_pair)
from core.storage.names import ligand_names, set_ligand_name

st.title("Design a ligand")
st.write("Pick a HOPO/CAM scaffold and a C3 substituent, draw a ligand, or paste any bidentate ligand as "
         "SMILES (the deprotonated binding form, or the neutral N–OH / catechol form).")

if "design_source" not in st.session_state and current_ligand() is not None:
    # a ligand chosen before (another page, or the URL after a reload): open the form on it, not on the default
    chosen = current_ligand()
    if chosen.scaffold in SCAFFOLDS and chosen.substituent in SUBSTITUENTS:
        st.session_state.update(design_source="Library", design_scaffold=chosen.scaffold,
                                design_substituent=chosen.substituent)
    else:
        st.session_state.update(design_source="SMILES", design_smiles=chosen.smiles)
source = st.radio("Source", ["Library", "Draw", "SMILES"], horizontal=True, key="design_source")
ligand = None
try:
    if source == "Library":
        col1, col2 = st.columns(2)
        scaffold = col1.selectbox("Scaffold", list(SCAFFOLDS), key="design_scaffold")
        st.session_state.setdefault("design_substituent", "methyl")
        substituent = col2.selectbox("Substituent at C3", list(SUBSTITUENTS), key="design_substituent")
        ligand = library_ligand(scaffold, substituent)
    elif source == "Draw":
        from streamlit_jsme import st_jsme  # JSME is bundled in the wheel: no network needed

        start = current_ligand().smiles if current_ligand() is not None else SCAFFOLDS["HOPO"].replace("(*)", "")
        st.caption("Draw the ligand (neutral is fine) and press **Apply**; the chelating N–OH or catechol "
                   "OH/SH groups are deprotonated to the binding form unless you drew charges yourself.")
        drawn = st_jsme(start, height=380, key="design_jsme")
        deprotonate = st.checkbox("Deprotonate chelating OH/SH groups", value=True, key="design_deprotonate")
        donors_text = st.text_input("Donor atoms (optional, 'i,j' in the canonical SMILES)", key="design_draw_donors")
        if drawn and drawn.strip():
            smiles = deprotonate_chelating_groups(drawn) if deprotonate else drawn
            st.write(f"Drawn: `{drawn}`" + (f" → binding form `{smiles}`" if smiles != drawn else ""))
            ligand = make_ligand(smiles, parse_donor_pair(donors_text))
    else:
        smiles = st.text_input("SMILES", key="design_smiles", placeholder="e.g. CNC(=O)c1ccc(Cl)c(=O)n1[O-]")
        donors_text = st.text_input("Donor atoms (optional, 'i,j' in the canonical SMILES)", key="design_donors")
        if smiles.strip():
            donors = parse_donor_pair(donors_text)
            binding = binding_form(smiles)
            if binding != smiles.strip():
                st.info(f"Neutral form given: the chelating group(s) were deprotonated to the binding form "
                        f"`{binding}`, as on the Draw tab.")
            ligand = make_ligand(binding, donors)
except LigandError as exc:
    st.error(str(exc))
    ligand = None
except Exception as exc:  # noqa: BLE001 - the page boundary: a message, never a traceback
    st.error(f"This ligand could not be read ({type(exc).__name__}). Check the SMILES and the donor atoms.")
    ligand = None

if ligand is not None:
    store_path = get_store().path
    given = ligand_names(store_path).get(ligand.smiles, "")
    suggested = f"{ligand.scaffold}-{ligand.substituent}" if ligand.scaffold else ""
    name = st.text_input("Name (optional; shown in every table and export)", value=given, key=f"design_name_{ligand.smiles}",
                         placeholder=suggested or "e.g. my-HOPO-7", max_chars=80)
    if name.strip() != given:
        name = set_ligand_name(get_store(), ligand.smiles, name)
        st.toast(f"Named {name!r}" if name else "Name removed")
    ligand = dataclasses.replace(ligand, label=name.strip())
    set_current_ligand(ligand)
    st.subheader(md_escape(ligand.name))
    if ligand.scaffold and source != "Library":
        st.caption(f"Recognised as the library scaffold **{ligand.scaffold}** with **{ligand.substituent}** "
                   "(substructure match): it is ranked beside the library ligands of that scaffold.")
    left, right = st.columns([3, 2])
    left.image(ligand_svg(ligand), caption="Donor atoms highlighted (atom index after the colon)")
    right.metric("Charge", f"{ligand.charge:+d}")
    right.metric("Formula", ligand.formula)
    right.write(f"**Canonical SMILES** `{ligand.smiles}`")
    right.write(f"**Donor atoms** {ligand.donors[0]}, {ligand.donors[1]}")
    if source == "Library":
        right.caption(f"Assembled from {SCAFFOLDS[scaffold]} with {SUBSTITUENTS[substituent]} at C3 "
                      f"({assemble_smiles(scaffold, substituent)}).")
elif current_ligand() is not None and source == "SMILES" and not st.session_state.get("design_smiles", "").strip():
    st.info(f"Current ligand: {current_ligand().name}")
