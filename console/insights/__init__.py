"""Pure rules over models and stored history (no Streamlit, no database): bank health, and more."""
