"""Consent expiry: bank connections whose consent expires soon, across the book, by bank, with a
CSV for a reconnect campaign. Read from the book index; Lean is asked only for the banks' names
(cached), and the screen does without them when Lean cannot answer."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import quote

import streamlit as st

from console import audit
from console.book_queries import (
    expiring_consents,
    expiry_by_bank,
    expiry_csv,
    freshness_note,
    index_status,
)
from console.formatting import literal_md, rows_words
from console.masking import mask_text
from console.runtime import get_store
from console.store import StoreRejected, StoreUnavailable
from console.ui import backend_or_stop, go_to_page, page_from_url, show_error
from console.ui_access import current_actor
from console.ui_banks import bank_names

ALL_BANKS = "All banks"
PAGE_SIZE = 100  # a reconnect campaign is read by bank; the CSV holds every row


def days_from_link() -> int:
    """`/expiring?days=N` (1–365), else 30, saying so when the link asked for something else."""
    raw = st.query_params.get("days", "")
    if not raw:
        return 30
    if raw.isascii() and raw.isdigit() and 1 <= int(raw[:6]) <= 365:
        return int(raw)
    st.warning(
        f"The link asks for {literal_md(raw[:40])} days; this screen looks 1 to 365 days ahead, "
        "so it shows the next 30 days instead."
    )
    return 30


st.title("Consent expiry")
st.caption(
    "Bank connections whose current consent expires soon, across every customer, from the book "
    "index (webhooks and the periodic sync with Lean). Download the list for a reconnect campaign."
)

days_col, _ = st.columns([1, 3])
days = int(
    days_col.number_input(
        "Expiring within (days)",
        min_value=1,
        max_value=365,
        value=days_from_link(),
        step=1,
        key="expiring_days",
    )
)
st.query_params["days"] = str(days)

try:
    store = get_store()
    state = index_status(store)
    items = expiring_consents(store, days)
except (StoreUnavailable, StoreRejected) as exc:
    show_error(exc, "book index")
    st.stop()

st.caption(freshness_note(state))
if not state.entities:
    st.info(
        "The book index is empty until the first sync with Lean finishes (the Customers screen "
        "has “Sync now”)."
    )
    st.stop()

st.metric(f"Connections expiring within {days} days", f"{len(items):,}")
if not items:
    st.success("No active consent expires in that time.")
    st.stop()

# The bank's name from Lean's banks list (cached; when Lean cannot say, the book index's names,
# else the identifier). The identifier stays in its own column, for support.
names = {i.bank_identifier: i.bank_name for i in items if i.bank_identifier and i.bank_name}
names.update(bank_names(backend_or_stop()))


def bank_words(identifier: str) -> str:
    """A bank as the screen names it: its name, else its identifier."""
    return names.get(identifier) or identifier


st.subheader("By bank", anchor=False)
st.dataframe(
    [
        {**row, "Bank": bank_words(row["Bank"]), "Identifier": row["Bank"]}
        for row in expiry_by_bank(items)
    ],
    hide_index=True,
    width="stretch",
    column_config={"Soonest": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")},
)

banks = sorted({item.bank_identifier or "unknown" for item in items}, key=bank_words)
bank = st.selectbox(
    "Bank", [ALL_BANKS, *banks], key="expiring_bank",
    format_func=lambda b: b if b == ALL_BANKS else bank_words(b),
)  # fmt: skip
chosen = (
    items if bank == ALL_BANKS else [i for i in items if (i.bank_identifier or "unknown") == bank]
)
# Personal data is masked here and in the CSV: an app_user_id that is an e-mail address or a
# phone number keeps only its first letters or last two digits (ids stay whole).
chosen = [
    replace(i, app_user_id=mask_text(i.app_user_id) if i.app_user_id else None) for i in chosen
]
file_name = f"consents-expiring-within-{days}-days.csv"

st.download_button(
    "Download CSV for a reconnect campaign",
    expiry_csv(chosen),
    file_name=file_name,
    mime="text/csv",
    icon=":material/download:",
    key="expiring_csv",
    on_click=lambda: audit.record(
        get_store(), current_actor(), "export", subject_kind="csv", subject=file_name
    ),
    help="Exports are always masked: an app_user_id that is an e-mail address or a phone number "
    "is masked as on screen. Each download goes to the audit log.",
)
if bank != ALL_BANKS:
    st.caption(f"{len(chosen):,} connections at {literal_md(bank_words(bank))}.")


number = page_from_url("page", pages=-(-len(chosen) // PAGE_SIZE))
start = number * PAGE_SIZE
shown = chosen[start : start + PAGE_SIZE]
st.dataframe(
    [
        {
            "Expires": item.expires_at,
            "Bank": bank_words(item.bank_identifier or "unknown"),
            "app_user_id": item.app_user_id,
            "Customer": f"/customers?customer_id={quote(item.customer_id, safe='')}",
            "customer_id": item.customer_id,
            "entity_id": item.entity_id,
            "Bank identifier": item.bank_identifier,
        }
        for item in shown
    ],
    hide_index=True,
    width="stretch",
    column_config={
        "Expires": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm", width=135),
        "Bank": st.column_config.TextColumn(width=150),
        "Customer": st.column_config.LinkColumn(display_text="Open customer", width=110),
    },
)
newer_col, label_col, later_col = st.columns([1, 3, 1], vertical_alignment="center")
newer_col.button(
    "◀ Sooner", disabled=number == 0, width="stretch", key="expiring_sooner",
    on_click=go_to_page, args=("page", number - 1),
)  # fmt: skip
label_col.caption(
    f"Soonest first: {rows_words(start, len(shown), len(chosen), exact=True)} connections "
    f"({PAGE_SIZE} a page; the CSV holds them all)."
)
later_col.button(
    "Later ▶", disabled=start + PAGE_SIZE >= len(chosen), width="stretch",
    key="expiring_later", on_click=go_to_page, args=("page", number + 1),
)  # fmt: skip
