"""Overview: which Lean this is, a quick customer lookup, and bank availability at a glance."""

from __future__ import annotations

import streamlit as st

from console.banks import availability_counts, availability_rows
from console.customers import InvalidLookup, guessed_kind, parse_customer_query
from console.formatting import styled_table
from console.ui import backend_or_stop, show_error, wait_for_lean
from console.ui_banks import bank_health_panel, load_bank_list
from console.ui_loaders import load_customer_total
from console.ui_status import health_panel
from lean_api.errors import LeanError

backend = backend_or_stop()


st.title("Lean Ops Console")
st.caption(f"Connected to **{backend.environment.label}** at `{backend.environment.api_url}`.")

with st.form("quick_find", border=True):
    st.markdown("**Find a customer**")
    text_col, button_col = st.columns([5, 1], vertical_alignment="bottom")
    raw = text_col.text_input(
        "customer_id or app_user_id",
        placeholder="A UUID is looked up as customer_id, anything else as app_user_id",
    )
    if button_col.form_submit_button("Find", type="primary", width="stretch"):
        try:
            query = parse_customer_query(guessed_kind(raw), raw)
        except InvalidLookup as exc:
            st.error(str(exc))
        else:
            st.switch_page("pages/customers.py", query_params={query.kind: query.value})

try:
    banks = wait_for_lean(
        "Loading bank availability from Lean…",
        backend,
        "personal banks",
        lambda: load_bank_list(backend.key, "PERSONAL"),
        "bank list",
    ).value
    total = wait_for_lean(
        "Counting the customers in Lean…",
        backend,
        "customer total",
        lambda: load_customer_total(backend.key),
        "customer list",
    ).value
except LeanError as exc:
    show_error(exc, "bank list")
else:
    counts = availability_counts(banks)
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Customers", f"{total:,}" if total is not None else "—")
    c2.metric("Banks available for data", counts["available"])
    c3.metric("Disabled by Lean", counts["disabled_by_lean"])
    c4.metric("Disabled by us", counts["disabled_by_us"])
    bank_health_panel(banks)
    st.subheader("Bank availability")
    st.caption(
        "A bank is usable only when Lean has it active *and* we have it enabled in the portal."
    )
    st.dataframe(
        styled_table(availability_rows(banks), ["Data", "Payments"]),
        hide_index=True,
        width="stretch",
    )

st.divider()
health_panel(backend)
