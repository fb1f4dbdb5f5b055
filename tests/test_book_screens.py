"""The book index on screen: the Customers browse tab and the Consent expiry page, in AppTest."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from console import book
from console import book_queries as queries
from console.formatting import literal_md
from console.last_good import last_good
from console.runtime import get_store
from console.store import EventStore, index_sync_runs
from lean_api import LeanClient, LeanSettings
from sandbox.faults import FaultConfig
from sandbox.server import SandboxServer
from tests.conftest import ANCHOR

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture
def empty_index(
    sandbox_env: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> EventStore:
    """The console's store is a fresh SQLite file (nothing synced yet)."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'console.db'}")
    monkeypatch.setenv("LEAN_BOOK_SYNC_SINCE", (ANCHOR.date() - timedelta(days=600)).isoformat())
    st.cache_data.clear()
    last_good().clear()
    return get_store()


@pytest.fixture
def synced_index(empty_index: EventStore, settings: LeanSettings) -> EventStore:
    """The console's store with the sandbox's whole book synced into it."""
    client = LeanClient(settings, max_retries=0)
    book.BookSync(empty_index, client).run()
    client.close()
    return empty_index


def open_page(path: str) -> Iterator[AppTest]:
    at = AppTest.from_file(APP, default_timeout=30).run()
    at.switch_page(path)
    yield at.run()


@pytest.fixture
def customers(synced_index: EventStore) -> Iterator[AppTest]:
    yield from open_page("pages/customers.py")


def texts(elements: object) -> str:
    return " ".join(str(e.value) for e in elements)  # type: ignore[attr-defined]


def shown_ids(at: AppTest) -> list[str]:
    return list(at.dataframe[0].value["customer_id"])


def test_browse_shows_the_index_columns_and_how_fresh_it_is(
    customers: AppTest, sandbox: SandboxServer
) -> None:
    assert not customers.exception
    table = customers.dataframe[0].value
    assert {"Banks", "Worst consent", "Next expiry", "Last refresh"} <= set(table.columns)
    assert len(table) == 25
    total = len(sandbox.state.data.customers)
    assert f"Index: {total:,} customers" in texts(customers.caption)
    assert "last full sync with Lean" in texts(customers.caption)
    assert f"Page 1 of {-(-total // 25)}" in texts(customers.markdown)


def test_needs_reconnect_filter_matches_the_index(
    customers: AppTest, synced_index: EventStore
) -> None:
    customers.checkbox(key="browse_reconnect").check().run()
    expected, total = queries.customer_page(synced_index, queries.QueueFilter(needs_reconnect=True))
    assert 0 < total < queries.customer_page(synced_index)[1]
    assert shown_ids(customers) == [r.customer_id for r in expected[:25]]
    assert f"{total:,} customers" in texts(customers.markdown)


def test_expiring_filter_shows_the_soonest_first(
    customers: AppTest, synced_index: EventStore
) -> None:
    customers.checkbox(key="browse_expiring").check()
    customers.number_input(key="browse_expiring_days").set_value(14).run()
    expected, total = queries.customer_page(
        synced_index, queries.QueueFilter(expiring_within_days=14)
    )
    assert total > 0
    assert shown_ids(customers) == [r.customer_id for r in expected[:25]]
    expiries = [e[:10] for e in customers.dataframe[0].value["Next expiry"] if e != "—"]
    assert expiries == sorted(expiries)


def test_empty_index_shows_leans_list_and_sync_now_fills_it(
    empty_index: EventStore, sandbox: SandboxServer
) -> None:
    at = next(open_page("pages/customers.py"))
    assert "The book index is empty" in texts(at.info)
    assert len(at.dataframe[0].value) == 25  # Lean's own list meanwhile
    next(b for b in at.button if b.label == "Sync now").click().run()
    assert not at.exception
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        last = book.latest_sync(empty_index)
        if last is not None and last.status == "done":
            break
        time.sleep(0.2)
    at.run()
    assert "Worst consent" in at.dataframe[0].value.columns
    assert f"Index: {len(sandbox.state.data.customers):,} customers" in texts(at.caption)


def test_expiry_page_lists_expiring_consents_by_bank(synced_index: EventStore) -> None:
    at = next(open_page("pages/expiring.py"))
    assert not at.exception
    at.number_input(key="expiring_days").set_value(60).run()
    expected = queries.expiring_consents(synced_index, 60)
    assert expected
    by_bank = at.dataframe[0].value
    assert int(by_bank["Expiring"].sum()) == len(expected)
    assert len(at.dataframe[1].value) == len(expected)
    assert "60" in at.query_params["days"]  # a link to this view
    bank = expected[0].bank_identifier
    at.selectbox(key="expiring_bank").set_value(bank).run()
    assert set(at.dataframe[1].value["entity_id"]) == {
        i.entity_id for i in expected if i.bank_identifier == bank
    }


def test_expiry_page_says_when_the_index_is_empty(empty_index: EventStore) -> None:
    at = next(open_page("pages/expiring.py"))
    assert not at.exception
    assert "The book index is empty" in texts(at.info)


def test_browse_needs_no_lean_call_for_its_rows(
    synced_index: EventStore, sandbox: SandboxServer
) -> None:
    sandbox.faults.set(FaultConfig(error_rate=1, error_status=500))  # Lean is down
    at = next(open_page("pages/customers.py"))
    assert not at.exception
    banks = " ".join(at.dataframe[0].value["Banks"])
    assert "_SAMAOB_SAU" in banks  # identifiers stand in for the names Lean would give
    assert len(at.dataframe[0].value) == 25


def test_a_failed_syncs_reason_is_shown_literally(synced_index: EventStore) -> None:
    hostile = "**Lean** said [click](http://evil.example) <b>no</b>"
    with synced_index.engine.begin() as conn:
        conn.execute(index_sync_runs.update().values(status="failed", message=hostile))
    at = next(open_page("pages/customers.py"))
    captions = [c.value for c in at.caption]
    assert any(literal_md(hostile) in c for c in captions)
    assert not any(hostile in c.replace(literal_md(hostile), "") for c in captions)


@pytest.mark.parametrize("days", ["-5", "abc", "100000", "**7**"])
def test_expiry_page_says_when_the_links_days_cannot_be_used(
    empty_index: EventStore, days: str
) -> None:
    at = AppTest.from_file(APP, default_timeout=30).run()
    at.switch_page("pages/expiring.py")
    at.query_params["days"] = days
    at.run()
    assert not at.exception
    warning = texts(at.warning)
    assert "1 to 365 days" in warning and "next 30 days" in warning
    assert at.number_input(key="expiring_days").value == 30
