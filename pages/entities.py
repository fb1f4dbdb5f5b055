"""Bank connection (Lean's entity): its bank, every consent, the permission matrix, the accounts
each consent covers (masked), and its webhook history. `/entities?entity_id=…&customer_id=…`."""

from __future__ import annotations

import re
from dataclasses import replace

import streamlit as st

from console.book_queries import customer_of_entity
from console.entities import (
    ENTITY_COLUMN,
    account_choices,
    account_rows,
    bank_view,
    consent_rows,
    consent_views,
    customer_from_events,
    data_account_choices,
    data_account_rows,
    ordered_consents,
    permission_matrix,
    status_words,
)
from console.events import inbox_rows
from console.formatting import literal_md, styled_table
from console.messages import describe_error
from console.runtime import get_store
from console.store import EventFilter, StoreUnavailable
from console.ui import (
    backend_or_stop,
    customer_id_from_url,
    entity_id_from_url,
    entity_lookup_form,
    own_page_link,
    show_error,
    show_message,
    wait_for_lean,
)
from console.ui_access import audit_view, reveal_note, reveal_row
from console.ui_banks import load_bank_directory
from console.ui_loaders import load_accounts, load_entity
from lean_api.errors import LeanError

backend = backend_or_stop()
HISTORY_ROWS = 50
HEX_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")


def bank_badge_html(colour: str | None) -> str | None:
    """A square in the bank's main colour, or None when Lean gave no plain hex colour (the only
    thing from Lean put into this HTML, and only once it is known to be `#rgb` or `#rrggbb`)."""
    if not colour or not HEX_COLOUR.fullmatch(colour.strip()):
        return None
    return (
        f"<div role='img' aria-label='bank colour' style='width:44px;height:44px;"
        f"border-radius:10px;background:{colour.strip()};border:1px solid #dadce0'></div>"
    )


st.title("Bank connection")
st.caption(
    "One customer's connection to one bank (Lean's entity): its consents, what they allow, "
    "the accounts they cover and the webhooks Lean sent about it."
)

entity_lookup_form(
    "entity_lookup",
    customer_help="Without it the console looks the customer up in the stored webhooks.",
)
entity_id = entity_id_from_url()
if entity_id is None:
    st.info("Open a bank connection from a customer's bank row, or enter its entity_id above.")
    st.stop()
audit_view("view_entity", "entity", entity_id)
customer_id = customer_id_from_url()

if customer_id is None:
    # Lean finds an entity only under its customer: the book index, else the stored webhooks,
    # say whose it is.
    try:
        customer_id = customer_of_entity(get_store(), entity_id) or customer_from_events(
            get_store().query_events(EventFilter(entity_id=entity_id), limit=20)
        )
    except StoreUnavailable as exc:
        st.error(
            f"**The event store is unavailable**, so the console cannot find whose entity this is. "
            f"{literal_md(exc)}  \nAdd the customer_id to the link, or open the entity from the "
            "customer's page."
        )
        st.stop()
    if customer_id is None:
        st.warning(
            f"**The customer of entity {literal_md(entity_id)} cannot be found.** Neither the book "
            "index nor any stored webhook names this entity, and Lean looks an entity up only "
            "under its customer.  \n"
            "Open it from the customer's bank row, or add customer_id to the link."
        )
        own_page_link(
            "pages/customers.py",
            "Find the customer",
            {},
            missing="",
        )
        st.stop()
    st.caption(
        f"Customer {literal_md(customer_id)} found from the book index and stored webhooks "
        "for this entity."
    )

try:
    entity = wait_for_lean(
        "Loading the bank connection from Lean…",
        backend,
        ("entity", customer_id, entity_id),
        lambda: load_entity(backend.key, customer_id, entity_id),
        "entity",
    ).value
except LeanError as exc:
    show_error(exc, "entity")
    own_page_link(
        "pages/customers.py",
        "Open the customer",
        {"customer_id": customer_id},
        missing="",
    )
    st.stop()

try:
    banks = wait_for_lean(
        "Loading the bank directory from Lean…",
        backend,
        "bank directory",
        lambda: load_bank_directory(backend.key),
        "bank directory",
    ).value
except LeanError as exc:
    # Only the bank's names and colour come from it: the connection itself loaded, so this is
    # a note beside it, not an error in place of it.
    why = describe_error(exc, "bank directory")
    show_message(
        replace(
            why,
            severity="warning",
            headline=f"Bank names unavailable. {why.headline}",
            action="The bank is shown by its identifier; everything below is Lean's current "
            "answer.",
        )
    )
    banks = {}

bank = bank_view(entity, banks)
consents = consent_views(entity)

with st.container(border=True):
    # No external logo image: the browser may not reach Lean's CDN (a broken image), and the
    # console cannot tell. The bank's own colour, checked to be a colour, marks it instead.
    listed = banks.get(bank.identifier)
    badge = bank_badge_html(listed.main_color if listed else None)
    if badge:
        badge_col, name_col = st.columns([1, 15], vertical_alignment="center")
        badge_col.markdown(badge, unsafe_allow_html=True)
    else:
        name_col = st.container()
    name_col.subheader(literal_md(bank.name) or "Unknown bank", anchor=False)
    name_col.markdown(
        f"**Arabic name** {literal_md(bank.arabic_name) or '*not given*'} · "
        f"**Identifier** {literal_md(bank.identifier)}"
    )
    st.code(entity.id, language=None)
    current = consents[0] if consents else None
    st.markdown(
        f"**Entity status** {literal_md(status_words(entity.status))} · "
        f"**Current consent** {literal_md(current.status) if current else 'none'}"
        + (f" · {current.time_left}" if current else "")
    )
    c1, c2, c3 = st.columns(3)
    c1.metric("Connected", f"{entity.created_at:%Y-%m-%d}" if entity.created_at else "not given")
    c2.metric("Consents", len(consents))
    c3.metric("Account identifiers (current consent)", current.accounts if current else 0)
    # Two rows of three, short labels: at 1280 px four in a row wrapped and cut the words.
    entity_query = {"entity_id": entity.id, "customer_id": customer_id}
    row1 = st.columns(3)
    with row1[0]:
        own_page_link(
            "pages/customers.py", "The customer", {"customer_id": customer_id}, missing=""
        )
    with row1[1]:
        own_page_link(
            "pages/banks.py",
            f"The bank {literal_md(bank.identifier)}",
            {"bank": bank.identifier},
            missing="The Banks screen is not available yet.",
        )
    with row1[2]:
        own_page_link(
            "pages/account_data.py",
            "Accounts & data",
            entity_query,
            missing="The Accounts & data screen is not available yet.",
        )
    row2 = st.columns(3)
    with row2[0]:
        own_page_link(
            "pages/refreshes.py",
            "Its data refreshes",
            entity_query,
            missing="The Data refreshes screen is not available yet.",
        )
    with row2[1]:
        own_page_link("pages/webhooks.py", "Its webhooks", {"entity_id": entity.id}, missing="")
    with row2[2]:
        own_page_link(
            "pages/webhooks.py",
            "Its refresh webhooks",
            {"entity_id": entity.id, "type": "entity.data.refresh.updated"},
            missing="",
        )

st.subheader("Consents", anchor=False)
if consents:
    rows = consent_rows(entity)
    # Five columns that fit whole at 1280 px ("Active · ACTIVE", "expires in 74 days"); the
    # dates and ids of each consent are one click away.
    st.dataframe(
        styled_table(rows, ["Status"]),
        hide_index=True,
        width="stretch",
        column_order=[
            "Consent",
            "Status",
            "Time left",
            "Transactions from – to",
            "Account identifiers",
        ],
        column_config={
            "Consent": st.column_config.TextColumn(width=220),
            "Status": st.column_config.TextColumn(width=150),
            "Time left": st.column_config.TextColumn(width=150),
            "Transactions from – to": st.column_config.TextColumn("Transactions", width=190),
            "Account identifiers": st.column_config.NumberColumn("Accounts", width=80),
        },
    )
    with st.expander("Dates and ids of each consent"):
        st.dataframe(
            rows,
            hide_index=True,
            width="stretch",
            column_order=[
                "Consent",
                "Created",
                "Status updated",
                "Expires",
                "consent id",
                "bank consent id",
            ],
        )
else:
    st.info("Lean lists no consent for this bank connection.")

st.subheader("Permissions", anchor=False)
matrix = permission_matrix(entity)
st.caption(
    f"What each consent allows (newest first) and what the entity holds now ({ENTITY_COLUMN})."
)
st.dataframe(
    styled_table(matrix, [c for c in matrix[0] if c != "Permission"]),
    hide_index=True,
    width="stretch",
)

st.subheader("Accounts each consent covers", anchor=False)
reveal_note("entity", entity_id, key="entity_reveal")
ordered = ordered_consents(entity)
if ordered:
    # Tab labels are Markdown: the console's own words only (the consent ids are in the table).
    tabs = st.tabs(
        [
            f"Consent {n + 1}" + (" (current)" if view.current else "")
            for n, view in enumerate(consents)
        ]
    )
    for position, (tab, consent) in enumerate(zip(tabs, ordered, strict=True)):
        with tab:
            # Keyed by position: consent ids come from Lean and need not be unique or tame.
            shown = reveal_row(
                "Identifier", account_choices(consent), key=f"entity_reveal:{position}",
                subject_kind="entity", subject=entity_id,
            )  # fmt: skip
            rows = account_rows(consent, revealed=shown)
            if rows:
                st.dataframe(rows, hide_index=True, width="stretch")
            else:
                st.info("Lean lists no account for this consent.")
else:
    st.info("No consent, so no account is covered.")

# Lean's data API knows more (holder, type, status), at the cost of a call: only when asked.
if st.toggle("Also load account details from Lean", value=False, key="entity_data_accounts"):
    try:
        details = wait_for_lean(
            "Loading the accounts from Lean…",
            backend,
            ("accounts", entity.id),
            lambda: load_accounts(backend.key, entity.id),
            "accounts",
        ).value
    except LeanError as exc:
        show_error(exc, "accounts")
    else:
        if details:
            shown = reveal_row(
                "Account", data_account_choices(details), key="entity_reveal_accounts",
                subject_kind="entity", subject=entity_id,
            )  # fmt: skip
            st.dataframe(
                data_account_rows(details, revealed=shown), hide_index=True, width="stretch"
            )
        else:
            st.info("Lean returned no account for this bank connection.")

st.subheader("Webhooks about this entity", anchor=False)
try:
    store = get_store()
    flt = EventFilter(entity_id=entity.id)
    total = store.count_events(flt)
    history = store.query_events(flt, limit=HISTORY_ROWS)
except StoreUnavailable as exc:
    st.warning(f"**The event store is unavailable.** {literal_md(exc)}")
else:
    if history:
        st.dataframe(
            styled_table(inbox_rows(history), ["Status"]),
            hide_index=True,
            width="stretch",
            column_config={
                "Occurred": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss"),
                "Received": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss"),
            },
        )
        shown = f"The newest {len(history)} of {total:,}." if total > len(history) else ""
        st.caption(f"{shown} Open the Webhooks screen for one event in full.".strip())
    else:
        st.info("No webhook about this entity has been received.")
