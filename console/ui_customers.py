"""The Customers screen's cached loaders, defined once per process.

In the page script they were decorated again on every run, and Streamlit reads a cached
function's source each time it is decorated: about a fifth of a warm run of the screen.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
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
from lean_api.models import Customer

# Loaders return a Snapshot (the answer and when Lean gave it), so the age shown with last good
# data is the age of Lean's answer, not of the cache entry. Failures are never cached. The bank
# directory is console.ui_banks.load_bank_directory, shared with the other screens.


# A view Lean answered only in part is asked again after this long, even with no new event.
PARTIAL_VIEW_SECONDS = 30
# Without the database there is no watermark: views then last this long, as a plain TTL.
NO_STORE_SECONDS = 30
# Reload asks Lean again only for a view at least this old: a double click, or an operator
# clicking on, does not turn into a stream of calls that Lean would rate-limit for everyone.
RELOAD_AFTER_SECONDS = 10


class Reloads:
    """How many times each lookup was reloaded in this process: part of the view's cache key,
    moved on only once Lean has answered the reload, so every session then reads the new view
    and, while Lean fails, keeps the old one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count: dict[tuple[str, str, str], int] = {}

    def get(self, key: tuple[str, str, str]) -> int:
        with self._lock:
            return self._count.get(key, 0)

    def move_on(self, key: tuple[str, str, str], past: int | None = None) -> None:
        """Count `key` as reloaded at least `past` times (once more when `past` is None)."""
        with self._lock:
            now = self._count.get(key, 0)
            self._count[key] = now + 1 if past is None else max(now, past)


@st.cache_resource(show_spinner=False)
def reloads() -> Reloads:
    """The process's reload counts (one for every session)."""
    return Reloads()


@dataclass(frozen=True)
class ViewKey:
    """What a cached customer view is kept under.

    The watermark of the newest stored webhook about the customer and about bank availability:
    a newer event (stored by any process sharing the database) is a new key, so the next view
    asks Lean again. `period` is 0 unless the database could not give a watermark; `reloaded`
    counts the operators' reloads of this lookup (`reload_customer`)."""

    backend_key: str
    kind: str
    value: str
    watermark: CustomerWatermark | None
    period: int
    reloaded: int


# Streamlit hashes a cache's arguments on every call: a ViewKey walked field by field took 0.35 ms,
# three times a warm run; its repr (every field, in order) 0.035 ms.
BY_REPR = {ViewKey: repr}


@st.cache_data(ttl=900, max_entries=500, show_spinner=False, hash_funcs=BY_REPR)
def load_customer(key: ViewKey) -> Snapshot[CustomerView]:
    """The customer view (console.customer_view) under `key`, shared by every session of the
    process."""
    view = fetch_customer_view(current_client(), CustomerQuery(key.kind, key.value))  # type: ignore[arg-type]
    known_customers().learn(view)
    return Snapshot.now(view)


def watermark_of(query: CustomerQuery) -> tuple[CustomerWatermark | None, int]:
    """The customer's watermark, or (None, a 30-second period) when the database cannot say."""
    try:
        return known_customers().watermark(get_store(), query), 0
    except (StoreUnavailable, StoreRejected):
        return None, int(time.time() // NO_STORE_SECONDS)


@st.cache_data(ttl=900, max_entries=500, show_spinner=False, hash_funcs=BY_REPR)
def view_fetched_at(key: ViewKey) -> datetime:
    """When the cached view under this key came from Lean: a small entry, so a warm run reads
    it instead of a copy of the whole view (unpickling that was half the warm run's time)."""
    return load_customer(key).fetched_at


@st.cache_resource(ttl=900, max_entries=500, show_spinner=False, hash_funcs=BY_REPR)
def screen_of(key: ViewKey, fetched_at: datetime, minute: int) -> Snapshot[CustomerScreen]:
    """What the screen draws of the view fetched at `fetched_at`, built once a minute at most
    ("days left" moves with the clock) and shared by every session without a copy: a warm run
    hands ready Arrow tables to Streamlit. A cleared view cache gives a new `fetched_at`."""
    snapshot = load_customer(key)
    return Snapshot(customer_screen(snapshot.value), snapshot.fetched_at)


def _lookup(query: CustomerQuery) -> tuple[str, str, str]:
    return (get_backend().key, query.kind, query.value)


def _view_key(query: CustomerQuery, reloaded: int | None = None) -> ViewKey:
    lookup = _lookup(query)
    count = reloads().get(lookup) if reloaded is None else reloaded
    return ViewKey(*lookup, *watermark_of(query), count)


def load_fresh_customer(query: CustomerQuery) -> Snapshot[CustomerScreen]:
    """The screen of `load_customer` under the current watermark; a partial view is asked
    again once old."""
    key = _view_key(query)
    minute = int(time.time() // 60)
    snapshot = screen_of(key, view_fetched_at(key), minute)
    if not snapshot.value.view.complete and snapshot.age().total_seconds() > PARTIAL_VIEW_SECONDS:
        load_customer.clear(key)
        view_fetched_at.clear(key)
        snapshot = screen_of(key, view_fetched_at(key), minute)
    return snapshot


def may_reload(snapshot: Snapshot[CustomerScreen]) -> bool:
    """Reload asks Lean again for a view Lean gave at least RELOAD_AFTER_SECONDS ago."""
    return snapshot.age().total_seconds() >= RELOAD_AFTER_SECONDS


def reload_customer(query: CustomerQuery, customer: Customer) -> None:
    """Ask Lean for the customer of `query` again now. Once Lean has answered, every session's
    next run shows the new view, and the customer's other lookup (by customer_id or by
    app_user_id) asks Lean on its next run. Raises `LeanError` when Lean does not answer: the
    view every session reads is then left as it was."""
    lookup = _lookup(query)
    count = reloads().get(lookup) + 1
    view_fetched_at(_view_key(query, count))  # failures are not cached: nothing moves on
    reloads().move_on(lookup, count)
    for other in (
        CustomerQuery("customer_id", customer.customer_id),
        CustomerQuery("app_user_id", customer.app_user_id),
    ):
        if other.value and other != query:
            reloads().move_on(_lookup(other))


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
