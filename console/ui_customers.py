"""The Customers screen's cached loaders, defined once per process.

In the page script they were decorated again on every run, and Streamlit reads a cached
function's source each time it is decorated: about a fifth of a warm run of the screen.
"""

from __future__ import annotations

import time
from datetime import datetime

import streamlit as st

from console.customer_view import (
    CustomerScreen,
    CustomerView,
    CustomerWatermark,
    customer_screen,
    fetch_customer_view,
    known_customers,
)
from console.customers import CustomerQuery, SearchResult, search_customers
from console.last_good import Snapshot
from console.runtime import get_backend, get_store
from console.store import StoreRejected, StoreUnavailable
from console.ui_loaders import current_client

# Loaders return a Snapshot (the answer and when Lean gave it), so the age shown with last good
# data is the age of Lean's answer, not of the cache entry. Failures are never cached. The bank
# directory is console.ui_banks.load_bank_directory, shared with the other screens.


# A view Lean answered only in part is asked again after this long, even with no new event.
PARTIAL_VIEW_SECONDS = 30
# Without the database there is no watermark: views then last this long, as a plain TTL.
NO_STORE_SECONDS = 30


@st.cache_data(ttl=900, max_entries=500, show_spinner=False)
def load_customer(
    backend_key: str, kind: str, value: str, watermark: CustomerWatermark | None, period: int
) -> Snapshot[CustomerView]:
    """The customer view (console.customer_view), shared by every session of the process.

    Cached under the watermark of the newest stored webhook about the customer and about bank
    availability: a newer event (stored by any process sharing the database) is a new key, so the
    next view asks Lean again. `period` is 0 unless the database could not give a watermark.
    """
    view = fetch_customer_view(current_client(), CustomerQuery(kind, value))  # type: ignore[arg-type]
    known_customers().learn(view)
    return Snapshot.now(view)


def watermark_of(query: CustomerQuery) -> tuple[CustomerWatermark | None, int]:
    """The customer's watermark, or (None, a 30-second period) when the database cannot say."""
    try:
        return known_customers().watermark(get_store(), query), 0
    except (StoreUnavailable, StoreRejected):
        return None, int(time.time() // NO_STORE_SECONDS)


@st.cache_data(ttl=900, max_entries=500, show_spinner=False)
def view_fetched_at(
    backend_key: str, kind: str, value: str, watermark: CustomerWatermark | None, period: int
) -> datetime:
    """When the cached view under this key came from Lean: a small entry, so a warm run reads
    it instead of a copy of the whole view (unpickling that was half the warm run's time)."""
    return load_customer(backend_key, kind, value, watermark, period).fetched_at


@st.cache_resource(ttl=900, max_entries=500, show_spinner=False)
def screen_of(
    backend_key: str,
    kind: str,
    value: str,
    watermark: CustomerWatermark | None,
    period: int,
    fetched_at: datetime,
    minute: int,
) -> Snapshot[CustomerScreen]:
    """What the screen draws of the view fetched at `fetched_at`, built once a minute at most
    ("days left" moves with the clock) and shared by every session without a copy: a warm run
    hands ready Arrow tables to Streamlit. A cleared view cache gives a new `fetched_at`."""
    snapshot = load_customer(backend_key, kind, value, watermark, period)
    return Snapshot(customer_screen(snapshot.value), snapshot.fetched_at)


def load_fresh_customer(query: CustomerQuery) -> Snapshot[CustomerScreen]:
    """The screen of `load_customer` under the current watermark; a partial view is asked
    again once old."""
    key = (get_backend().key, query.kind, query.value, *watermark_of(query))
    minute = int(time.time() // 60)
    snapshot = screen_of(*key, view_fetched_at(*key), minute)
    if not snapshot.value.view.complete and snapshot.age().total_seconds() > PARTIAL_VIEW_SECONDS:
        load_customer.clear(*key)
        view_fetched_at.clear(*key)
        snapshot = screen_of(*key, view_fetched_at(*key), minute)
    return snapshot


def forget_customer(query: CustomerQuery) -> None:
    """Drop the cached view of `query` under the current watermark: the next run asks Lean."""
    key = (get_backend().key, query.kind, query.value, *watermark_of(query))
    load_customer.clear(*key)
    view_fetched_at.clear(*key)


@st.cache_data(ttl=30, show_spinner=False)
def load_page(
    backend_key: str, page_number: int, page_size: int
) -> Snapshot[tuple[list[dict], int, int]]:
    """One page of customers: rows, total customers, total pages."""
    page = current_client().list_customers(page_number, page_size)
    rows = [{"app_user_id": c.app_user_id, "customer_id": c.customer_id} for c in page.items]
    return Snapshot.now((rows, page.page.total_elements or len(rows), page.page.total_pages or 1))


@st.cache_data(ttl=60, show_spinner=False)
def run_search(backend_key: str, text: str) -> Snapshot[SearchResult]:
    """Customers whose ids contain `text`."""
    return Snapshot.now(search_customers(current_client(), text))
