"""The Accounts & data screen's cached loaders, defined once per process (see console/ui_loaders.py,
which holds the accounts list this screen shares with others)."""

from __future__ import annotations

import streamlit as st

from console.account_data import (
    RecordSet,
    TransactionPage,
    Transactions,
    fetch_balances,
    fetch_records,
    fetch_transaction_page,
    fetch_transactions,
)
from console.last_good import Snapshot
from console.ui_loaders import current_client, load_accounts
from lean_api.models import Balance, Identity


@st.cache_data(ttl=60, show_spinner=False)
def load_balances(backend_key: str, entity_id: str, account_id: str) -> Snapshot[list[Balance]]:
    """One account's balances."""
    return Snapshot.now(fetch_balances(current_client(), entity_id, account_id))


@st.cache_data(ttl=60, show_spinner=False)
def load_transactions(backend_key: str, entity_id: str, account_id: str) -> Snapshot[Transactions]:
    """One account's transactions (the newest, for the charts)."""
    return Snapshot.now(fetch_transactions(current_client(), entity_id, account_id))


@st.cache_data(ttl=60, show_spinner=False)
def load_transaction_page(
    backend_key: str, entity_id: str, account_id: str, number: int
) -> Snapshot[TransactionPage]:
    """One page of an account's transactions, as Lean pages them."""
    return Snapshot.now(fetch_transaction_page(current_client(), entity_id, account_id, number))


@st.cache_data(ttl=60, show_spinner=False)
def load_records(
    backend_key: str, entity_id: str, account_id: str
) -> Snapshot[dict[str, RecordSet]]:
    """One account's beneficiaries, direct debits, standing orders and scheduled payments."""
    return Snapshot.now(fetch_records(current_client(), entity_id, account_id))


@st.cache_data(ttl=60, show_spinner=False)
def load_identity(backend_key: str, entity_id: str) -> Snapshot[list[Identity]]:
    """The account holder's identity as the bank gives it."""
    return Snapshot.now(list(current_client().get_identity(entity_id).items))


def forget_data() -> None:
    """Drop the cached data answers, so a finished refresh's data is read again (the accounts
    list too, which the bank connection's and the refreshes' screens share)."""
    for loader in (
        load_accounts, load_balances, load_transactions, load_transaction_page, load_records,
        load_identity,
    ):  # fmt: skip
        loader.clear()
