"""Design: choose a ligand from the library or paste a SMILES; see its donors, charge and formula."""
import streamlit as st

from app.state import current_ligand, set_current_ligand
from core.chemistry.depiction import ligand_svg
from core.chemistry.ligands import (SCAFFOLDS, SUBSTITUENTS, LigandError, assemble_smiles, deprotonate_chelating_groups,
                          library_ligand, make_ligand, parse_donor_pair)

st.title("Design a ligand")
st.write("Pick a HOPO/CAM scaffold and a C3 substituent, draw a ligand, or paste any bidentate ligand as "
         "SMILES in its deprotonated binding form.")

source = st.radio("Source", ["Library", "Draw", "SMILES"], horizontal=True, key="design_source")
ligand = None
try:
    if source == "Library":
        col1, col2 = st.columns(2)
        scaffold = col1.selectbox("Scaffold", list(SCAFFOLDS), key="design_scaffold")
        substituent = col2.selectbox("Substituent at C3", list(SUBSTITUENTS), index=1, key="design_substituent")
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
            ligand = make_ligand(smiles, donors)
except LigandError as exc:
    st.error(str(exc))
    ligand = None
except Exception as exc:  # noqa: BLE001 - the page boundary: a message, never a traceback
    st.error(f"This ligand could not be read ({type(exc).__name__}). Check the SMILES and the donor atoms.")
    ligand = None

if ligand is not None:
    set_current_ligand(ligand)
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
