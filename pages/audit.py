"""Audit log (admins): who looked at which customer or connection, and every action, with its
outcome. `/audit?actor=…&action=…&subject=…&days=…`."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import streamlit as st

from console import audit
from console.access import AccessDenied, require
from console.audit import ACTIONS, audit_csv, audit_rows, search
from console.formatting import literal_md
from console.masking import mask_text
from console.runtime import get_store
from console.store import StoreUnavailable
from console.ui_access import audit_view, current_actor

DAY_CHOICES = (1, 7, 30, 90, 365)

st.title("Audit log")
try:
    require(current_actor(), "see_audit_log")
except AccessDenied as exc:
    # The page is not in an admin's navigation only; a pasted link gets this sentence.
    st.error(str(exc), icon=":material/lock:")
    st.stop()
st.caption(
    "Every lookup of a customer or bank connection and every action (create, refresh, verify, "
    "reveal, sync, export) with who, when and the outcome. Lines are only ever added."
)

params = st.query_params
try:
    preset_days = int(params.get("days", "7"))
except ValueError:
    preset_days = 7
if preset_days not in DAY_CHOICES:
    preset_days = 7
action_names = ["", *ACTIONS]
preset_action = params.get("action", "")
with st.form("audit_filters", border=False):
    who_col, what_col, subject_col, days_col, button_col = st.columns(
        [3, 3, 3, 2, 2], vertical_alignment="bottom"
    )
    who = who_col.text_input("Who (e-mail)", value=params.get("actor", ""))
    action = what_col.selectbox(
        "Did",
        action_names,
        index=action_names.index(preset_action) if preset_action in action_names else 0,
        format_func=lambda name: ACTIONS.get(name, "anything"),
    )
    subject = subject_col.text_input(
        "What (customer, entity, refresh id…)", value=params.get("subject", "")
    )
    days = days_col.selectbox(
        "In the last", DAY_CHOICES, index=DAY_CHOICES.index(preset_days),
        format_func=lambda n: f"{n} day{'s' if n != 1 else ''}",
    )  # fmt: skip
    if button_col.form_submit_button("Search", type="primary", width="stretch"):
        st.query_params.clear()
        for name, value in (("actor", who), ("action", action), ("subject", subject)):
            if value.strip():
                st.query_params[name] = value.strip()
        st.query_params["days"] = str(days)
        st.rerun()

try:
    entries = search(
        get_store(),
        actor=who or None,
        action=action or None,
        subject=subject or None,
        since=datetime.now(UTC) - timedelta(days=days),
    )
except StoreUnavailable as exc:
    st.error(f"The console's database is not answering: {literal_md(str(exc))}")
    st.stop()
audit_view("view_audit_log", "audit_log", f"{who or '*'} {action or '*'} {subject or '*'}")

# A reason or subject may quote a customer's e-mail, phone or IBAN: masked here and in the CSV.
entries = [
    replace(
        e,
        subject=mask_text(e.subject) if e.subject else e.subject,
        detail=mask_text(e.detail) if e.detail else e.detail,
        reason=mask_text(e.reason) if e.reason else e.reason,
    )
    for e in entries
]
if not entries:
    st.info("Nothing in the audit log matches.")
else:
    st.caption(f"{len(entries):,} lines, newest first (at most 1,000 are shown).")
    st.dataframe(audit_rows(entries), hide_index=True, width="stretch")
    st.download_button(
        "Download CSV",
        audit_csv(entries),
        file_name="audit-log.csv",
        mime="text/csv",
        icon=":material/download:",
        on_click=lambda: audit.record(
            get_store(), current_actor(), "export", subject_kind="csv", subject="audit-log.csv"
        ),
        help="Exports are always masked: customers' e-mail addresses, phone numbers, IBANs and "
        "national IDs quoted in a reason are masked as on screen. The download is audited.",
    )
