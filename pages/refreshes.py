"""Data refreshes of one bank connection (`/refreshes?entity_id=…&customer_id=…&refresh_id=…`):
its refreshes over time from Lean and the stored webhooks, the chosen refresh account by account,
and each account's transaction window against the consent. Without an entity: the fleet view."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from console.book_queries import customer_of_entity
from console.charts import refresh_heatmap, refresh_history_chart, transaction_windows_chart
from console.entities import (
    customer_from_events,
    status_words,
    time_left_words,
)
from console.formatting import literal_md, shorten, styled_table
from console.insights.transaction_windows import (
    GAP,
    account_windows,
    window_findings,
)
from console.refreshes import (
    DATA_TYPE_COLUMN,
    DATA_TYPE_LABELS,
    MAX_SHOWN_ACCOUNTS,
    REFRESH_EVENT_TYPE,
    WebhookRefresh,
    account_labels,
    cell_word,
    choose_refresh,
    history_rows,
    merge_refreshes,
    pixels_for,
    refresh_option,
    status_rows,
    status_table,
    webhook_refreshes,
    worst_accounts,
)
from console.runtime import get_store
from console.store import EventFilter, StoreUnavailable
from console.ui import (
    backend_or_stop,
    customer_id_from_url,
    entity_id_from_url,
    entity_lookup_form,
    own_page_link,
    show_error,
    wait_for_lean,
)
from console.ui_access import audit_view
from console.ui_fleet import render_fleet
from console.ui_loaders import load_accounts, load_entity, load_refreshes
from console.ui_refresh_actions import render_refresh_trigger
from lean_api.errors import LeanError, NotFoundError
from lean_api.models import Entity, Refresh

backend = backend_or_stop()
client = backend.client
# Refresh webhooks read per entity: a few per refresh, so this covers hundreds of refreshes.
WEBHOOK_ROWS = 2000
# Refreshes drawn, listed and offered to pick (the newest; an older one opens from its link).
REFRESHES_SHOWN = 200


st.title("Data refreshes")
st.caption(
    "What Lean's data refreshes fetched for one bank connection: each refresh's outcome, which "
    "account and data type failed, and how far back transactions go against the consent."
)

entity_lookup_form(
    "refresh_lookup",
    customer_help="Needed for the consent's window; without it the console looks it up.",
    entity_help="Leave empty for every bank connection's refreshes.",
)
entity_id = entity_id_from_url()
if entity_id is None:
    render_fleet(get_store())
    st.stop()
audit_view("view_refreshes", "entity", entity_id)
customer_id = customer_id_from_url()

# -- The stored webhooks: read first, so they are shown whatever Lean does ----------------------
stored: dict[str, WebhookRefresh] = {}
store_error: StoreUnavailable | None = None
try:
    store = get_store()
    stored = webhook_refreshes(
        store.query_events(
            EventFilter(entity_id=entity_id, types=(REFRESH_EVENT_TYPE,)), limit=WEBHOOK_ROWS
        )
    )
    if customer_id is None:
        # Lean finds an entity only under its customer: the book index, else the webhooks.
        customer_id = customer_of_entity(store, entity_id) or customer_from_events(
            store.query_events(EventFilter(entity_id=entity_id), limit=20)
        )
except StoreUnavailable as exc:
    store_error = exc

# -- The bank connection and its consent ------------------------------------------------------
entity: Entity | None = None
entity_error: LeanError | None = None
if customer_id is not None:
    try:
        entity = wait_for_lean(
            "Loading the bank connection from Lean…",
            backend,
            ("entity", customer_id, entity_id),
            lambda: load_entity(backend.key, customer_id, entity_id),
            "bank connection",
        ).value
    except LeanError as exc:
        entity_error = exc

consent = entity.current_consent if entity else None
with st.container(border=True):
    st.subheader("Bank connection", anchor=False)
    st.code(entity_id, language=None)
    if entity is not None:
        effective = consent.effective_status() if consent else None
        consent_words = (
            f"{literal_md(status_words(effective))} · "
            f"{time_left_words(consent.expiration_date_time)}"
            if consent
            else "none"
        )
        st.markdown(
            f"**Bank** {literal_md(entity.bank_identifier) or '*not given*'} · "
            f"**Customer** {literal_md(customer_id)} · **Current consent** {consent_words}"
        )
        if consent is not None and effective != "ACTIVE":
            st.warning(
                "**The consent is no longer active — the customer must reconnect.** Lean refuses "
                "new refreshes until they do; the refreshes below are from before."
            )
    elif customer_id is None:
        st.caption(
            "Whose bank connection this is cannot be found (neither the book index nor a stored "
            "webhook names it), so the consent's window is not shown. Add customer_id to the link."
        )
    links = st.columns(3)
    # Every screen finds the entity faster (and Lean finds it at all) with its customer.
    entity_query = {"entity_id": entity_id}
    if customer_id:
        entity_query["customer_id"] = customer_id
    with links[0]:
        own_page_link("pages/entities.py", "The bank connection", entity_query)
    with links[1]:
        own_page_link(
            "pages/account_data.py",
            "Accounts & data",
            entity_query,
            missing="The Accounts & data screen is not available yet.",
        )
    with links[2]:
        own_page_link(
            "pages/webhooks.py",
            "Refresh webhooks of this entity",
            {**entity_query, "type": REFRESH_EVENT_TYPE},
        )
    # A refresh the operator starts here drops the cached list when it finishes.
    render_refresh_trigger(
        client,
        entity_id,
        on_finished=load_refreshes.clear,
        customer_id=customer_id,
        consent_status=consent.effective_status() if consent else None,
    )

if entity_error is not None:
    show_error(entity_error, "entity")

# -- Lean's refreshes, merged with the webhooks -------------------------------------------------
api_refreshes: list[Refresh] | None = None
try:
    api_refreshes = wait_for_lean(
        "Loading the refreshes from Lean…",
        backend,
        ("refreshes", entity_id),
        lambda: load_refreshes(backend.key, entity_id),
        "refresh list",
    ).value
except LeanError as exc:
    # The same final answer (no such entity) needs saying once.
    if not (isinstance(exc, NotFoundError) and isinstance(entity_error, NotFoundError)):
        show_error(exc, "entity")

if store_error is not None:
    st.warning(
        f"**The event store is unavailable**, so refreshes known only from webhooks are "
        f"missing. {literal_md(store_error)}"
    )

items = merge_refreshes(api_refreshes, stored)
if api_refreshes is None:
    if not items:
        st.info(
            "No refresh can be shown: Lean did not give this entity's refreshes and no refresh "
            "webhook about it is stored."
        )
        st.stop()
    st.info(
        f"Lean did not give this entity's refreshes: showing the {len(items)} known from stored "
        "webhooks only."
    )
elif not items:
    st.info("Lean lists no data refresh for this bank connection, and no webhook names one.")
    st.stop()

# What reaches the browser is bounded: the newest refreshes, and the one a link names.
everything = len(items)
wanted_id = (st.query_params.get("refresh_id") or "").strip().lower()
items = [
    item
    for index, item in enumerate(items)
    if index < REFRESHES_SHOWN or item.refresh_id.lower() == wanted_id
]

st.subheader("Refreshes over time", anchor=False)
st.plotly_chart(refresh_history_chart(items), width="stretch", key="refresh_history")
if everything > REFRESHES_SHOWN:
    st.caption(
        f"The newest {REFRESHES_SHOWN:,} of {everything:,} refreshes. An older one opens by its "
        "refresh_id (the link's `refresh_id=`, or the Webhooks screen)."
    )
history = history_rows(items)
st.dataframe(
    styled_table(history, ["Outcome"]),
    hide_index=True,
    width="stretch",
    # The outcome sentence first and wide enough to read whole; the rest scroll beside it.
    column_order=[
        "Started (UTC)",
        "Outcome",
        "Duration",
        "Lean status",
        "Entity level",
        "Source",
        "Finished (UTC)",
        "refresh_id",
    ],
    column_config={
        "Started (UTC)": st.column_config.TextColumn(width=150),
        "Outcome": st.column_config.TextColumn(width=pixels_for(r["Outcome"] for r in history)),
        "Duration": st.column_config.TextColumn(width=95),
        "Lean status": st.column_config.TextColumn(width=100),
        "Entity level": st.column_config.TextColumn(
            width=pixels_for(r["Entity level"] for r in history)
        ),
    },
)
st.caption(
    "Source: Lean's refresh list (API), the stored webhooks, or both. Outcome words count the "
    "seven per-account data types; the entity level is Lean's accounts list and identity."
)

# -- One refresh, account by account ----------------------------------------------------------
st.subheader("One refresh, account by account", anchor=False)
by_id = {item.refresh_id: item for item in items}
options = list(by_id)


def remember_pick() -> None:
    """Keep the picked refresh in the link, so it can be pasted into a ticket."""
    st.query_params["refresh_id"] = st.session_state["refresh_pick"]


picked = st.selectbox(
    "Refresh",
    options,
    index=choose_refresh(items, st.query_params.get("refresh_id")),
    format_func=lambda refresh_id: refresh_option(by_id[refresh_id]),
    key="refresh_pick",
    on_change=remember_pick,
)
chosen = by_id[picked or options[0]]
wanted = st.query_params.get("refresh_id")
if wanted and wanted.strip().lower() not in {o.lower() for o in options}:
    st.warning(
        f"Refresh {literal_md(shorten(wanted))} is not among this entity's refreshes; showing the newest."
    )

st.markdown(
    f"Refresh {literal_md(chosen.refresh_id)} · Lean says {literal_md(chosen.lean_status)} · "
    f"from {chosen.source}"
)
own_page_link(
    "pages/webhooks.py",
    "This refresh's webhooks",
    {"refresh_id": chosen.refresh_id},
)

shown, left_out = worst_accounts(chosen.refresh)
if left_out:
    kept = MAX_SHOWN_ACCOUNTS
    st.warning(
        f"This refresh names {kept + left_out:,} accounts: the {kept} worst are shown below and "
        f"{left_out:,} are left out. The outcome above counts them all."
    )
    chosen = replace(chosen, refresh=shown)

labels: dict[str, str] = {}
if chosen.refresh.data_status is not None and chosen.refresh.data_status.account_data:
    try:
        accounts = wait_for_lean(
            "Loading the accounts from Lean…",
            backend,
            ("accounts", entity_id),
            lambda: load_accounts(backend.key, entity_id),
            "accounts",
        ).value
        labels = account_labels(accounts)
    except LeanError:
        st.caption("Lean did not give the accounts, so they are named by account_id.")

if chosen.refresh.data_status is None:
    st.info(
        "Lean gave no per-account statuses for this refresh (only the newest refreshes are "
        "asked for them, and no webhook about it is stored)."
    )
else:
    data = chosen.refresh.data_status
    st.markdown("**Entity level** (Lean's accounts list and identity, for the whole connection)")
    st.dataframe(
        styled_table(
            [
                {"Data": "Accounts list", "Status": cell_word(data.accounts)},
                {"Data": "Identity", "Status": cell_word(data.identity)},
            ],
            ["Status"],
        ),
        hide_index=True,
        width="content",
        column_config={
            "Data": st.column_config.TextColumn(width=120),
            "Status": st.column_config.TextColumn(
                width=pixels_for([cell_word(data.accounts), cell_word(data.identity), "Status"])
            ),
        },
    )
    st.plotly_chart(refresh_heatmap(chosen.refresh, labels), width="stretch", key="refresh_heatmap")
    rows = status_rows(chosen.refresh, labels)
    table = status_table(chosen.refresh, labels)
    if rows:
        # Data types down, accounts across: seven rows fit a laptop screen where seven columns
        # did not. Each column as wide as its longest word, so none is cut.
        account_columns = [c for c in table[0] if c != DATA_TYPE_COLUMN]
        st.dataframe(
            styled_table(table, account_columns),
            hide_index=True,
            width="stretch",
            column_config={
                DATA_TYPE_COLUMN: st.column_config.TextColumn(
                    width=pixels_for([DATA_TYPE_COLUMN, *DATA_TYPE_LABELS.values()]), pinned=True
                ),
                **{
                    column: st.column_config.TextColumn(
                        width=pixels_for([column, *(r[column] for r in table)])
                    )
                    for column in account_columns
                },
            },
        )

    # -- Transaction windows --------------------------------------------------------------------
    st.subheader("Transaction windows", anchor=False)
    if entity is None:
        st.caption(
            "Without the bank connection from Lean the consent's window is not known: only what "
            "the bank returned is shown."
        )
    else:
        st.caption(
            "What the bank returned in this refresh, under the current consent's transaction "
            "window. Dates in UTC."
        )
    st.plotly_chart(
        transaction_windows_chart(chosen.refresh, consent, labels, chosen.started),
        width="stretch",
        key="transaction_windows",
    )
    names = dict(
        zip(
            [a.account_id for a in data.account_data],
            [r["Account"] for r in rows],
            strict=True,
        )
    )
    windows = account_windows(chosen.refresh, consent, refreshed_at=chosen.started)
    if windows:
        window_rows = [
            {
                "Account": names.get(w.account_id, w.account_id or ""),
                "Transactions": cell_word(w.transactions),
                "Last transaction date": w.data_ends,
            }
            for w in windows
        ]
        st.caption(
            "Where each account's transactions stop: the end of the window the bank reported, "
            "against the day the refresh ran."
        )
        st.dataframe(
            styled_table(window_rows, ["Transactions"]),
            hide_index=True,
            width="stretch",
            column_config={
                "Account": st.column_config.TextColumn(
                    width=pixels_for(r["Account"] for r in window_rows)
                ),
                "Transactions": st.column_config.TextColumn(width=110),
                "Last transaction date": st.column_config.TextColumn(
                    width=pixels_for(r["Last transaction date"] for r in window_rows)
                ),
            },
        )
    findings = window_findings(chosen.refresh, consent, refreshed_at=chosen.started)
    if entity is None:
        # The consent was not asked for, so "no consent" would be the console's gap, not Lean's.
        findings = [f for f in findings if f.account_id is not None]
    gaps = sum(f.kind == GAP for f in findings)
    if findings:
        (st.warning if gaps else st.success)(
            f"{gaps} gap{'s' if gaps != 1 else ''} in the transaction windows."
            if gaps
            else "No gap between the transactions returned and the consent's window."
        )
        st.dataframe(
            [
                {
                    "Account": names.get(f.account_id, f.account_id) if f.account_id else "Consent",
                    "Kind": "Gap" if f.kind == GAP else "Note",
                    "Finding": f.text,
                }
                for f in findings
            ],
            hide_index=True,
            width="stretch",
            column_config={
                "Account": st.column_config.TextColumn(
                    width=pixels_for(names.get(f.account_id, "Consent") for f in findings)
                ),
                "Kind": st.column_config.TextColumn(width=60),
            },
        )
