"""reescreen's Streamlit app: thin pages over ``core``."""
