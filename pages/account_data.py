"""Accounts & data: one bank connection's accounts, balances, transactions (with a balance line and
monthly cash flow), identity and other records; "Refresh data now" and ownership verification.
`/data?entity_id=…&customer_id=…&account_id=…`. Personal data is masked; support reveals one row
at a time, with a reason that goes to the audit log."""

from __future__ import annotations

import streamlit as st

from console.account_data import (
    RECORD_TYPES,
    account_label,
    balance_rows,
    balance_series,
    identity_choices,
    identity_rows,
    monthly_cash_flow,
    record_choices,
    record_rows,
    transaction_rows,
)
from console.book_queries import consent_status_of
from console.charts import balance_over_time, monthly_cash_flow_chart
from console.entities import data_account_choices, data_account_rows
from console.formatting import literal_md, rows_words, shorten
from console.refreshes import pixels_for
from console.runtime import get_store
from console.store import StoreUnavailable
from console.ui import (
    backend_or_stop,
    customer_id_from_url,
    entity_id_from_url,
    entity_lookup_form,
    go_to_page,
    own_page_link,
    page_from_url,
    show_error,
    show_message,
    wait_for_lean,
)
from console.ui_access import audit_view, reveal_note, reveal_row
from console.ui_account_data import (
    forget_data,
    load_balances,
    load_identity,
    load_records,
    load_transaction_page,
    load_transactions,
)
from console.ui_loaders import load_accounts
from console.ui_refresh_actions import render_ownership_verification, render_refresh_trigger
from lean_api.errors import LeanError
from lean_api.models import Account, Balance

backend = backend_or_stop()
client = backend.client


def indexed_consent_status(entity_id: str) -> str | None:
    """The current consent's word from the book index (None when unknown or the store is down)."""
    try:
        return consent_status_of(get_store(), entity_id)
    except StoreUnavailable:
        return None


def link(page: str, label: str, query: dict[str, str]) -> None:
    """A link to one of the console's own screens (says so when that screen is missing)."""
    own_page_link(page, label, query, missing="That screen is not available in this console.")


st.title("Accounts & data")
st.caption(
    "What Lean holds for one bank connection: its accounts, balances, transactions, the "
    "holder's identity and saved payments. Refresh it from the bank, or verify who owns it."
)

entity_lookup_form(
    "data_lookup",
    customer_help="Only for the link back to the bank connection; the data needs the entity_id alone.",
)
entity_id = entity_id_from_url()
if entity_id is None:
    st.info("Open a bank connection's data from its screen, or enter its entity_id above.")
    st.stop()
audit_view("view_data", "entity", entity_id)
customer_id = customer_id_from_url()

st.code(entity_id, language=None)
# Every link keeps the customer_id: without it the next screen has to look the customer up.
entity_query = {"entity_id": entity_id, **({"customer_id": customer_id} if customer_id else {})}
links = st.columns(3, vertical_alignment="top")
with links[0]:
    link("pages/entities.py", "This bank connection", entity_query)
with links[1]:
    link("pages/refreshes.py", "Its data refreshes", entity_query)
with links[2]:
    link("pages/webhooks.py", "Its webhooks", {"entity_id": entity_id})
reveal_note("entity", entity_id, key="data_reveal")

st.subheader("Refresh from the bank", anchor=False)
render_refresh_trigger(
    client,
    entity_id,
    on_finished=forget_data,
    customer_id=customer_id,
    consent_status=indexed_consent_status(entity_id),
)


TRANSACTIONS_PAGE = "tx_page"  # the URL parameter naming the page of transactions shown


def render_transaction_table(account: Account) -> None:
    """The account's transactions one Lean page at a time: the browser never holds them all."""
    number = page_from_url(TRANSACTIONS_PAGE, pages=100_000)
    try:
        page = wait_for_lean(
            "Loading a page of transactions from Lean…",
            backend,
            ("data transaction page", entity_id, account.account_id, number),
            lambda: load_transaction_page(backend.key, entity_id, account.account_id, number),
            "transactions",
        ).value
    except LeanError as exc:
        show_error(exc, "transactions")
        return
    rows = transaction_rows(
        page.items,
        holder_names=(
            account.account_holder_name,
            (account.model_extra or {}).get("account_holder_short_name"),
        ),
    )
    if not rows:
        if number:
            st.info("Lean has no transactions this far back.")
            st.button(
                "First page", key="tx_first", on_click=go_to_page, args=(TRANSACTIONS_PAGE, 0)
            )
        else:
            st.info("Lean returned no transaction for this account.")
        return
    total = page.total if page.total is not None else page.start + len(rows)
    st.dataframe(
        rows,
        hide_index=True,
        width="stretch",
        height=420,
        column_config={
            "Amount": st.column_config.NumberColumn(format="%.2f"),
            # What a transaction was, whole beside its date at 1280 px where it fits; the
            # amount and the rest follow.
            "Description": st.column_config.TextColumn(
                width=pixels_for((row["Description"] for row in rows), least=200, most=400)
            ),
        },
    )
    newer_col, label_col, older_col = st.columns([1, 3, 1], vertical_alignment="center")
    newer_col.button(
        "◀ Newer", disabled=number == 0, width="stretch", key="tx_newer",
        on_click=go_to_page, args=(TRANSACTIONS_PAGE, number - 1),
    )  # fmt: skip
    label_col.caption(
        f"Newest first: {rows_words(page.start, len(rows), total, exact=False)} transactions "
        f"({page.size} a page, as Lean pages them)."
    )
    older_col.button(
        "Older ▶", disabled=not page.has_next, width="stretch", key="tx_older",
        on_click=go_to_page, args=(TRANSACTIONS_PAGE, number + 1),
    )  # fmt: skip


def render_data() -> None:
    """Everything read from Lean's data API; returns early when the accounts cannot be read."""
    st.subheader("Accounts", anchor=False)
    try:
        accounts = wait_for_lean(
            "Loading the accounts from Lean…",
            backend,
            ("data accounts", entity_id),
            lambda: load_accounts(backend.key, entity_id),
            "accounts",
        ).value
    except LeanError as exc:
        show_error(exc, "bank connection")
        return
    if not accounts:
        st.info(
            "Lean returned no account for this bank connection. Trigger a refresh if it is new."
        )
        return
    shown = reveal_row(
        "Account", data_account_choices(accounts), key="data_reveal_account",
        subject_kind="entity", subject=entity_id,
    )  # fmt: skip
    st.dataframe(data_account_rows(accounts, revealed=shown), hide_index=True, width="stretch")

    by_id = {a.account_id: a for a in accounts}
    wanted = st.query_params.get("account_id")
    ids = list(by_id)
    account_id = st.selectbox(
        "Account",
        ids,
        index=ids.index(wanted) if wanted in by_id else 0,
        # Masked always: a revealed account shows in full in the table above.
        format_func=lambda i: account_label(by_id[i]),
        key="data_account",
    )
    if wanted is not None and wanted not in by_id:
        # A link from a ticket naming an account this connection does not have (or no longer
        # lists): say so, rather than show another account as if it were the one asked for.
        st.warning(
            f"The link names the account {literal_md(shorten(wanted))}, which this bank "
            "connection does not list; showing its first account instead."
        )
    if account_id != wanted:
        st.query_params["account_id"] = account_id
        if wanted is not None:
            st.query_params.pop("tx_page", None)  # another account starts at its newest

    balances: list[Balance] = []
    st.subheader("Balances", anchor=False)
    try:
        balances = wait_for_lean(
            "Loading the balances from Lean…",
            backend,
            ("data balances", entity_id, account_id),
            lambda: load_balances(backend.key, entity_id, account_id),
            "balances",
        ).value
    except LeanError as exc:
        show_error(exc, "balances")
    else:
        if balances:
            st.dataframe(
                balance_rows(balances),
                hide_index=True,
                width="stretch",
                column_config={"Amount": st.column_config.NumberColumn(format="%.2f")},
            )
        else:
            st.info("Lean returned no balance for this account.")

    st.subheader("Transactions", anchor=False)
    try:
        transactions = wait_for_lean(
            "Loading the transactions from Lean…",
            backend,
            ("data transactions", entity_id, account_id),
            lambda: load_transactions(backend.key, entity_id, account_id),
            "transactions",
        ).value
    except LeanError as exc:
        show_error(exc, "transactions")
        transactions = None
    if transactions is not None:
        series = balance_series(transactions.items, balances)
        flow = monthly_cash_flow(transactions.items)
        chart_col, flow_col = st.columns(2)
        with chart_col:
            st.plotly_chart(balance_over_time(series), width="stretch")
            if series.points:
                st.caption(f"Drawn from {series.method}.")
            for note in series.notes:
                st.caption(note)
        with flow_col:
            currencies = flow.currencies or [series.currency or "SAR"]
            for currency in currencies:
                st.plotly_chart(monthly_cash_flow_chart(flow, currency), width="stretch")
            for note in flow.notes:
                st.caption(note)
        if transactions.truncated:
            st.caption(
                f"The charts read the newest {len(transactions.items):,} transactions; older "
                "ones are in the table's later pages."
            )
        render_transaction_table(by_id[account_id])

    st.subheader("Identity", anchor=False)
    try:
        identity = wait_for_lean(
            "Loading the account holder's identity from Lean…",
            backend,
            ("data identity", entity_id),
            lambda: load_identity(backend.key, entity_id),
            "identity",
        ).value
    except LeanError as exc:
        show_error(exc, "identity")
    else:
        if identity:
            choices = {
                item: (f"Person {n + 1} · {label}" if len(identity) > 1 else label)
                for n, person in enumerate(identity)
                for item, label in identity_choices(person, n).items()
            }
            shown = reveal_row(
                "Field", choices, key="data_reveal_identity",
                subject_kind="entity", subject=entity_id,
            )  # fmt: skip
            for n, person in enumerate(identity):
                st.dataframe(
                    identity_rows(person, revealed=shown, person=n),
                    hide_index=True,
                    width="stretch",
                )
        else:
            st.info("Lean returned no identity for this bank connection.")

    st.subheader("Saved payments", anchor=False)
    try:
        records = wait_for_lean(
            "Loading beneficiaries, direct debits, standing orders and scheduled payments…",
            backend,
            ("data records", entity_id, account_id),
            lambda: load_records(backend.key, entity_id, account_id),
            "saved payments",
        ).value
    except LeanError as exc:
        show_error(exc, "saved payments")
        return
    counts = st.columns(len(RECORD_TYPES))
    for col, (data_type, words) in zip(counts, RECORD_TYPES.items(), strict=True):
        found = records.get(data_type)
        col.metric(words, "—" if found is None or found.problem else len(found.items))
    for data_type, words in RECORD_TYPES.items():
        found = records.get(data_type)
        if found is None:
            continue
        count = "not available" if found.problem else f"{len(found.items)}"
        with st.expander(f"{words} · {count}"):
            if found.problem is not None:
                show_message(found.problem)
            elif found.items:
                shown = reveal_row(
                    "Row", record_choices(found.items, data_type),
                    key=f"data_reveal_{data_type}", subject_kind="entity", subject=entity_id,
                )  # fmt: skip
                st.dataframe(
                    record_rows(found.items, revealed=shown, data_type=data_type),
                    hide_index=True,
                )
            else:
                st.caption(f"Lean lists no {words.lower()} for this account.")


render_data()

st.subheader("Verify ownership", anchor=False)
st.caption(
    "Does the person with this national ID or iqama number own this bank connection's accounts? "
    "Lean compares it with what the bank holds."
)
render_ownership_verification(client, entity_id)
