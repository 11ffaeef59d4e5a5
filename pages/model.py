"""Model: which Allegro model is loaded, its card and measured metrics, the device, and its parity plots."""
import pandas as pd
import streamlit as st

from app.figures import model_parity, per_metal_error
from app.state import get_model, get_store, results_table, show_figure
from core.levels import DEFAULT_LEVEL
from core.model.card import demote_headings, evaluation_row, evaluation_sets
from core.model.inference import ModelError, available_models, models_dir
from core.storage.results import MODEL_COLUMN


st.title("Model")
models = available_models()
if not models:
    st.info(f"No model is shipped in {models_dir()} yet. Every other page works without one; results then "
            f"carry {DEFAULT_LEVEL.short_name} binding energies only. Train one with `reescreen train configs/allegro-binding.yaml` "
            "(see the README).")
    st.stop()

left, right = st.columns([2, 1])
name = left.selectbox("Model", [p.name for p in models], key="model_name")
force_cpu = right.checkbox("Force CPU", key="model_force_cpu",
                           help="Run the model on the CPU even when a CUDA GPU is present.")
try:
    model = get_model(name, force_cpu)
except ModelError as exc:
    st.error(str(exc))
    st.stop()

import torch  # noqa: E402  (only once a model is present)

gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none visible"
right.metric("Device", model.device.upper())
right.caption(f"GPU: {gpu}")
st.write(f"**Strategy** {model.strategy} · **label** {model.level_of_theory} · **units** "
         f"{model.meta.get('units', 'kcal/mol')} · **atom types** {', '.join(model.meta['type_names'])}")
if model.level_of_theory != "unknown" and "DFT" not in model.level_of_theory.upper():
    st.warning(f"This model reproduces {model.level_of_theory} binding energies. It is not a DFT model.")

metrics = model.metrics()
if metrics:
    table = pd.DataFrame([evaluation_row(title, metrics[s]) for s, title in evaluation_sets(metrics) if s in metrics])
    table = table.dropna(axis="columns", how="all")  # ranking and uncertainty columns only where measured
    st.subheader("Measured by `reescreen evaluate`")
    st.dataframe(table, hide_index=True, width="stretch")
    st.caption("Neighbouring-Ln ΔE_bind: E_bind(Ln[k+1]) − E_bind(Ln[k]) for one ligand and type, what "
               "separating neighbours depends on; an error shared by all metals of a ligand cancels in it. "
               "Metal-pair selectivity: E_bind(M1) − E_bind(M2) of one ligand, what ranking by a pair ranks, as "
               "medians over every pair of metals; beside it, the MAE of giving every ligand the same selectivity "
               "(ligands differ little in their preference, so an MAE means something only against that).")
    parity = model.directory / "parity.png"
    if parity.exists():
        st.image(str(parity), caption="Parity: predicted vs reference E_bind (kcal/mol)")
    show_figure(per_metal_error(metrics), "model_per_metal")
else:
    st.info("This model has no metrics.json yet: run `reescreen evaluate` on it.")

st.subheader("On your results")
if model.geometry == "grafted":
    # its inputs are unrelaxed grafted starts: on optimised structures its numbers would not be what the card says
    st.info(f"{model.name} is a pre-screen model: it predicts E_bind ({model.level_of_theory}, kcal/mol) from "
            "grafted, unrelaxed complexes, to rank groups before any quantum chemistry. Use it on the Library page "
            "(\"Rank with the model\") or with `reescreen rank`; it does not predict optimised results.")
else:
    store = get_store()
    df = results_table()
    if st.button("Predict every stored complex", key="model_predict_all",
                 help="Adds the model's E_bind to every QC-passed result that has none from this model."):
        from core.model.predict import add_model_predictions

        with st.spinner("Predicting…"):
            n = add_model_predictions(store, model)
        if n:
            st.success(f"{n} complexes predicted by {model.name}.")
        else:
            st.info(f"Every QC-passed complex in the store already has a prediction from {model.name}: nothing new to "
                    "predict.")
        df = results_table()
    if not df.empty and df[MODEL_COLUMN].notna().any():
        show_figure(model_parity(df), "model_parity_results")
    else:
        st.caption("No stored result carries a prediction yet.")

with st.expander("Model card", expanded=not metrics):
    st.markdown(demote_headings(model.card()) or "No MODEL_CARD.md in this model folder.")
