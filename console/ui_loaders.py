"""Cached Lean reads the screens share, defined once per process.

In a page script a cached function is decorated again on every run, and Streamlit reads its
source each time; here it is decorated once. One loader per thing asked of Lean: two screens
asking for the same thing share one cache (a bank connection opened on its screen is not asked
for again on its refreshes' screen).

Every loader takes the backend's key first: it keys the cache per environment. Loaders returning
a Snapshot carry when Lean gave the answer, so last good data shows its true age. Failures are
never cached.
"""

from __future__ import annotations

import streamlit as st

from console.account_data import fetch_accounts
from console.last_good import Snapshot
from console.refreshes import fetch_refreshes
from console.runtime import get_backend, get_store
from console.triage import Gathered, gather
from lean_api.client import LeanClient
from lean_api.models import Account, Customer, Entity, Refresh


def current_client() -> LeanClient:
    """The process's client (a page has already stopped, in `backend_or_stop`, when there is none)."""
    return get_backend().client


@st.cache_data(ttl=30, show_spinner=False)
def load_customer_record(backend_key: str, customer_id: str) -> Customer:
    """The customer as Lean holds it: its customer_id and app_user_id."""
    return current_client().get_customer(customer_id)


@st.cache_data(ttl=60, show_spinner=False)
def load_customer_total(backend_key: str) -> Snapshot[int | None]:
    """How many customers Lean holds for this application."""
    return Snapshot.now(current_client().list_customers(0, 1).page.total_elements)


@st.cache_data(ttl=30, show_spinner=False)
def load_entity(backend_key: str, customer_id: str, entity_id: str) -> Snapshot[Entity]:
    """One bank connection with its consents (Lean's 404 when it is not the customer's)."""
    return Snapshot.now(current_client().get_entity(customer_id, entity_id))


@st.cache_data(ttl=60, show_spinner=False)
def load_accounts(backend_key: str, entity_id: str) -> Snapshot[list[Account]]:
    """Every account of the bank connection, from Lean's data API."""
    return Snapshot.now(fetch_accounts(current_client(), entity_id))


@st.cache_data(ttl=15, show_spinner=False)
def load_refreshes(backend_key: str, entity_id: str) -> Snapshot[list[Refresh]]:
    """The bank connection's refreshes from Lean, the newest with their per-account statuses."""
    return Snapshot.now(fetch_refreshes(current_client(), entity_id))


@st.cache_data(ttl=20, show_spinner=False)
def load_triage(backend_key: str, customer_id: str) -> Gathered:
    """The customer's history for triage, kept briefly so a click (download, copy) does not ask
    Lean and the store again."""
    return gather(current_client(), get_store(), customer_id)
