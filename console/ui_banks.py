"""Streamlit pieces for banks that more than one screen shows: Lean's bank lists (cached once
per process for every screen), bank health (Banks, Overview) and bank names."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from console.banks import THRESHOLDS, BankHistory, bank_report, load_history, report_rows
from console.customers import bank_directory
from console.formatting import literal_md, styled_table
from console.last_good import Snapshot
from console.runtime import Backend, get_store
from console.store import StoreUnavailable
from console.ui_loaders import current_client
from lean_api.errors import LeanError
from lean_api.models import Bank


@st.cache_data(ttl=30, show_spinner=False)
def load_bank_list(backend_key: str, account_type: str) -> Snapshot[list[Bank]]:
    """The banks Lean offers for one account type with their availability now (briefly cached:
    availability changes)."""
    return Snapshot.now(current_client().list_banks(account_type))


@st.cache_data(ttl=300, show_spinner=False)
def load_bank_directory(backend_key: str) -> Snapshot[dict[str, Bank]]:
    """Every bank Lean lists (personal and business) by identifier, cached for five minutes per
    environment: for names, logos and colours, not availability."""
    return Snapshot.now(bank_directory(current_client()))


@st.cache_data(ttl=30, show_spinner=False)
def _cached_history(database_url: str) -> BankHistory:
    return load_history(get_store())


def bank_history() -> BankHistory:
    """Availability changes and refresh outcomes from the store (cached 30 s); empty, with a
    warning, when the store cannot be read."""
    try:
        store = get_store()
        with st.spinner("Reading bank history from the event store…"):
            return _cached_history(store.url)
    except StoreUnavailable as exc:
        st.warning(
            "**The event store is unavailable**, so bank history and health are missing. "
            f"{literal_md(exc)}"
        )
        return BankHistory(datetime.now(UTC))


def bank_health_panel(banks: list[Bank]) -> None:
    """Banks with a problem first, each with its health word, why, and a link to its page."""
    history = bank_history()
    reports = [bank_report(bank, history, THRESHOLDS) for bank in banks]
    rows = [
        # Why whole at 1280 px, and the link in view: the identifier and Lean's flag are in the
        # availability table below and on the bank's page.
        {k: row[k] for k in ("Health", "Bank", "Why", "Open")}
        for row in report_rows(reports, history.now)
    ]
    st.subheader("Bank health")
    st.caption(
        "Problems first. Health reads the refresh webhooks of the last 24 hours and 7 days, "
        "not only Lean's flag; the Banks screen shows the rules and each bank's history."
    )
    st.dataframe(
        styled_table(rows, ["Health"]),
        hide_index=True,
        width="stretch",
        column_config={"Open": st.column_config.LinkColumn("Open", display_text="Open bank")},
    )


@st.cache_data(ttl=300, show_spinner=False)
def _bank_names(backend_key: str) -> dict[str, str]:
    # A small entry of its own, so a warm run does not copy the whole directory for the names.
    return {
        identifier: bank.display_name
        for identifier, bank in load_bank_directory(backend_key).value.items()
        if bank.display_name
    }


def bank_names(backend: Backend) -> dict[str, str]:
    """Every bank's name by identifier, from Lean's banks list (cached five minutes); empty when
    Lean cannot say, so screens fall back to identifiers rather than fail."""
    try:
        return _bank_names(backend.key)
    except LeanError:
        return {}
