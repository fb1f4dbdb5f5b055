"""Nothing unbounded reaches the browser: the audit log and the request log hold more than 10,000
lines in a real SQLite store, and the screens show one bounded page at a time, with where it sits
in words and a next page that works. Hidden screens answer their address with the role they need."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from sqlalchemy import insert
from streamlit.runtime.scriptrunner import script_runner
from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

from console import audit, book_queries
from console.audit import PAGE_SIZE, audit_page
from console.formatting import fit_ids
from console.insights.triage import EntityFact, History, LeanCallFact
from console.last_good import last_good
from console.store import EventStore, audit_log, lean_calls
from console.triage import summary_text, timeline, with_bank_names
from lean_api import LeanClient
from sandbox.server import SandboxServer
from tests.test_account_data_screen import entities
from tests.test_book_screens import empty_index, open_page, synced_index  # noqa: F401
from tests.test_request_log_screen import run_app_py

APP = str(Path(__file__).resolve().parents[1] / "app.py")
MANY = 10_500
EXPIRY_PAGE = 100


@pytest.fixture
def console(
    tmp_path: Path, sandbox_env: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AppTest]:
    # As server.py runs it: every page through app.py's navigation, never the pages folder run
    # page by page that AppTest otherwise falls back to (it would open pages/audit.py for /audit).
    monkeypatch.setattr(script_runner, "_mpa_v1", run_app_py)
    url = f"sqlite:///{tmp_path / 'bounded.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    EventStore(url).migrate()
    st.cache_data.clear()
    last_good().clear()
    yield AppTest.from_file(APP, default_timeout=60)
    last_good().clear()


def fill_audit_log(store: EventStore, count: int = MANY) -> datetime:
    """`count` lookups, one a second back from now, the newest naming `subject-0`."""
    now = datetime.now(UTC)
    rows = [
        {
            "at": now - timedelta(seconds=n),
            "actor": "pat@example.org",
            "role": "support",
            "how": "proxy",
            "action": "view_customer",
            "subject_kind": "customer",
            "subject": f"subject-{n}",
            "outcome": "ok",
        }
        for n in range(count)
    ]
    with store.connect(write=True) as conn:
        conn.execute(insert(audit_log), rows)
    return now


def fill_request_log(store: EventStore, count: int = MANY) -> None:
    """`count` calls to Lean, the newest with the highest id, naming `/customers/v1/c-<n>`."""
    now = datetime.now(UTC)
    rows = [
        {
            "at": now - timedelta(seconds=count - n),
            "method": "GET",
            "endpoint": f"/customers/v1/c-{n}",
            "route": "/customers/v1/{customer_id}",
            "status": 200,
            "outcome": "ok",
            "latency_ms": 5,
            "retries": 0,
            "screen": "Customers",
            "actor": "pat@example.org",
            "customer_id": f"c-{n}",
        }
        for n in range(count)
    ]
    with store.connect(write=True) as conn:
        conn.execute(insert(lean_calls), rows)


def as_admin(at: AppTest, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("CONSOLE_DEFAULT_ROLE", "admin")
    return at.run()


def captions(at: AppTest) -> str:
    return " ".join(str(c.value) for c in at.caption)


def click(at: AppTest, label: str) -> AppTest:
    (button,) = [b for b in at.button if b.label == label]
    return button.click().run()


def test_audit_pages_follow_each_other_without_overlap_or_gap() -> None:
    store = EventStore("sqlite://")
    fill_audit_log(store, 125)
    seen: list[str] = []
    before = None
    while True:
        page = audit_page(store, before=before, page_size=50)
        assert page.start == len(seen) and page.total == 125
        seen += [e.subject or "" for e in page.entries]
        if page.older is None:
            break
        back = audit_page(store, before=page.older, page_size=50)
        # From the next page, "newer" leads back to this very page.
        assert audit_page(store, before=back.newer or None, page_size=50).entries == page.entries
        before = page.older
    assert seen == [f"subject-{n}" for n in range(125)]


def test_the_audit_log_shows_one_page_of_ten_thousand_lines_and_the_next_page_works(
    console: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill_audit_log(EventStore(os.environ["DATABASE_URL"]))
    at = as_admin(console, monkeypatch)
    at.switch_page("pages/audit.py").run()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert len(table) == PAGE_SIZE
    last = int(table["Subject"].iloc[-1].removeprefix("subject-"))
    assert f"lines 1–{PAGE_SIZE} of 10,501 (" in captions(at)  # exact: read with the page

    at = click(at, "Older ▶")
    assert not at.exception
    table = at.dataframe[0].value
    assert len(table) == PAGE_SIZE
    assert table["Subject"].iloc[0] == f"subject-{last + 1}"
    assert f"lines {PAGE_SIZE + 1}–{2 * PAGE_SIZE} of 10,501 (" in captions(at)
    assert at.query_params["before"]  # the page is in the address, for a ticket

    at = click(at, "◀ Newer")
    assert at.dataframe[0].value["Subject"].iloc[-1] == f"subject-{last}"
    assert "before" not in at.query_params


def test_an_audit_link_to_an_unknown_page_shows_the_first_page(
    console: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    audit.record(EventStore(os.environ["DATABASE_URL"]), None, "view_customer", subject="x")
    at = console
    at.query_params["before"] = "<b>9</b>"
    at = as_admin(at, monkeypatch)
    at.switch_page("pages/audit.py").run()
    assert not at.exception
    assert any("cannot find" in str(w.value) for w in at.warning)
    assert len(at.dataframe[0].value) >= 1


def test_the_request_log_shows_one_page_of_ten_thousand_calls_and_pages_both_ways(
    console: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill_request_log(EventStore(os.environ["DATABASE_URL"]))
    at = as_admin(console, monkeypatch)
    at.switch_page("pages/request_log.py").run()
    assert not at.exception and not at.error
    calls = at.dataframe[-1].value
    assert len(calls) == 50
    assert "rows 1–50 of about 10,5" in captions(at)
    # The console's own calls of this visit may top the list; the filled ones follow by id.
    first_page_last = calls["Call"].iloc[-1]
    number = int(first_page_last.rsplit("c-", 1)[1])

    at = click(at, "Older")
    at = click(at, "Older")
    calls = at.dataframe[-1].value
    assert len(calls) == 50
    assert calls["Call"].iloc[0] == f"GET /customers/v1/c-{number - 51}"
    assert "rows 101–150 of about" in captions(at)

    at = click(at, "Newer")
    assert at.dataframe[-1].value["Call"].iloc[0] == f"GET /customers/v1/c-{number - 1}"
    assert "rows 51–100 of about" in captions(at)


@pytest.mark.parametrize(
    ("url_path", "role", "needs"),
    [
        ("audit", "viewer", "see the audit log: it needs admin"),
        ("requests", "support", "see the request log: it needs admin"),
        ("connect", "viewer", "create customers: it needs admin"),
    ],
)
def test_a_hidden_screen_typed_in_the_address_bar_says_which_role_it_needs(
    console: AppTest, monkeypatch: pytest.MonkeyPatch, url_path: str, role: str, needs: str
) -> None:
    audit.record(EventStore(os.environ["DATABASE_URL"]), None, "view_customer", subject="secret-1")
    monkeypatch.setenv("CONSOLE_DEFAULT_ROLE", role)
    at = console.run()
    # What the browser asks for when /<url_path> is typed: the page registered under that path
    # (AppTest's switch_page only finds pages that are files).
    at._page_hash = calc_hash(url_path)
    at.run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Not available to your role"]
    (error,) = at.error
    assert needs in str(error.value) and "Ask an admin" in str(error.value)
    # Nothing of the screen runs: no table, no filter, no download.
    assert not at.dataframe and not at.get("download_button")
    assert [t.key for t in at.text_input] == ["sidebar_search_text"]


def transaction_table(at: AppTest) -> Any:
    return next(f.value for f in at.dataframe if "Mutability" in f.value.columns)


def test_account_data_pages_through_lean_transactions_fifty_at_a_time(
    console: AppTest, sandbox: SandboxServer, client: LeanClient
) -> None:
    # The account with the most transactions Lean (the sandbox) pages like Lean does.
    entity = entities(sandbox)[0]
    account = entity.accounts[0]
    first = client.get_account_data(entity.entity_id, account.account_id, "transactions", 0, 50)
    total = first.page.total_elements or 0
    assert total > 100, "the seed gives an account more than two pages of transactions"
    second = client.get_account_data(entity.entity_id, account.account_id, "transactions", 1, 50)

    at = console.run()
    at.switch_page("pages/account_data.py")
    at.query_params["entity_id"] = entity.entity_id
    at.query_params["account_id"] = account.account_id
    at.run()
    assert not at.exception and not at.error
    table = transaction_table(at)
    assert len(table) == 50
    assert set(table["transaction_id"]) == {t.transaction_id for t in first.items}
    assert f"rows 1–50 of about {total:,} transactions" in captions(at)

    at = click(at, "Older ▶")
    assert not at.exception
    table = transaction_table(at)
    assert set(table["transaction_id"]) == {t.transaction_id for t in second.items}
    assert f"rows 51–100 of about {total:,}" in captions(at)
    assert at.query_params["tx_page"] == "2"  # the page is in the address, for a ticket

    at = click(at, "◀ Newer")
    table = transaction_table(at)
    assert set(table["transaction_id"]) == {t.transaction_id for t in first.items}


def test_consent_expiry_pages_a_long_list_and_names_banks_keeping_identifiers(
    synced_index: EventStore,  # noqa: F811
) -> None:
    items = book_queries.expiring_consents(synced_index, 365)
    assert len(items) > EXPIRY_PAGE, "the seed has more connections than one page"
    at = next(open_page("pages/expiring.py"))
    at.number_input(key="expiring_days").set_value(365).run()
    assert not at.exception
    by_bank, table = at.dataframe[0].value, at.dataframe[1].value
    assert len(table) == EXPIRY_PAGE
    assert f"rows 1–{EXPIRY_PAGE} of {len(items):,} connections" in captions(at)
    # Names from Lean's banks list; the identifier stays beside it, for support.
    assert "Al Rajhi Bank" in set(by_bank["Bank"]) and "RJHI_SAMAOB_SAU" in set(
        by_bank["Identifier"]
    )
    row = table[table["Bank identifier"] == "RJHI_SAMAOB_SAU"].iloc[0]
    assert row["Bank"] == "Al Rajhi Bank"

    at = click(at, "Later ▶")
    table = at.dataframe[1].value
    assert len(table) == min(EXPIRY_PAGE, len(items) - EXPIRY_PAGE)
    assert table["entity_id"].iloc[0] == items[EXPIRY_PAGE].entity_id
    assert at.query_params["page"] == "2"


def test_the_triage_screens_own_reads_are_not_in_its_timeline() -> None:
    now = datetime.now(UTC)
    calls = [
        LeanCallFact(now, "GET", "/customers/v1/{customer_id}", 200, "ok", screen="Triage"),
        LeanCallFact(
            now, "GET", "/customers/v1/{customer_id}/entities", 503, "server_error", screen="Triage"
        ),
        LeanCallFact(now, "POST", "/data/v2/refresh", 201, "ok", screen="Accounts & data"),
    ]
    history = History(customer_id="c-1", now=now, lean_calls=calls)
    assert [row["What happened"].split(" · ")[0] for row in timeline(history)] == [
        "GET /customers/v1/{customer_id}/entities → HTTP 503",
        "POST /data/v2/refresh → HTTP 201",
    ]


def test_triage_names_banks_and_keeps_their_identifiers() -> None:
    entity = EntityFact("e-1", bank_identifier="RJHI_SAMAOB_SAU", created_at=datetime.now(UTC))
    history = History(customer_id="c-1", now=datetime.now(UTC), entities=[entity])
    names = {"RJHI_SAMAOB_SAU": "Al Rajhi Bank"}
    (row,) = timeline(history, names)
    assert row["What happened"] == "Connected Al Rajhi Bank"
    assert timeline(history)[0]["What happened"] == "Connected RJHI_SAMAOB_SAU"
    assert with_bank_names("bank RJHI_SAMAOB_SAU: data off", names) == (
        "bank Al Rajhi Bank (RJHI_SAMAOB_SAU): data off"
    )
    # Already named, or part of a longer word: left alone.
    assert with_bank_names("Al Rajhi Bank (RJHI_SAMAOB_SAU)", names) == (
        "Al Rajhi Bank (RJHI_SAMAOB_SAU)"
    )
    assert with_bank_names("XRJHI_SAMAOB_SAU", names) == "XRJHI_SAMAOB_SAU"
    assert "Al Rajhi Bank (RJHI_SAMAOB_SAU)" in summary_text(history, [], "http://x", names)


def test_a_long_call_is_cut_to_fit_and_a_short_one_is_whole() -> None:
    short = "GET /customers/v1/6c770e96-2a2b-4c4d-8e8f-000000000001/entities"
    assert fit_ids(short, 72) == short
    long = short + "/6c770e96-2a2b-4c4d-8e8f-000000000002?entity_id=x"
    assert fit_ids(long, 90) == short + "/6c770e96…?entity_id=x"
    assert fit_ids(long, 72) == "GET /customers/v1/6c770e96…/entities/6c770e96…?entity_id=x"
    assert fit_ids("GET /x?" + "a" * 200, 72) == "GET /x?aaaaaaaa…"  # a long token, as an id


def test_a_call_too_narrow_for_its_first_id_keeps_the_endpoint_after_it() -> None:
    """A wide Lean code (INTERNAL_SERVER_ERROR) leaves the call ~50 characters: cutting inside
    the first id hid which endpoint was called; so did keeping it whole and cutting after it
    (`…/6c770e96-2a2b-4c4d-8e8f-000000000001/trans…`, a first-day walk at 1280 px)."""
    call = "GET /data/v2/accounts/6c770e96-2a2b-4c4d-8e8f-000000000001/transactions?page=3"
    # Too long by a little or a lot: the id's start, and the endpoint after it.
    assert fit_ids(call, 75) == "GET /data/v2/accounts/6c770e96…/transactions?page=3"
    assert fit_ids(call, 52) == "GET /data/v2/accounts/6c770e96…/transactions?page=3"
    assert fit_ids(call, 40) == "GET /data/v2/accounts/6c770e96…/transac…"
    assert fit_ids(call, len(call)) == call
    assert len(fit_ids(call, 20)) == 20
    # The last cut never falls inside an id already cut to its start, nor doubles its "…".
    twice = call.replace("?page=3", "?entity_id=6c770e96-2a2b-4c4d-8e8f-000000000001&page=0")
    cuts = {fit_ids(twice, most) for most in range(50, 80)}
    for cut in cuts:
        assert "……" not in cut, cut
        assert "entity_id=6" not in cut or "entity_id=6c770e96…" in cut, cut
    assert fit_ids(twice, 60) == "GET /data/v2/accounts/6c770e96…/transactions?entity_id=…"


def test_the_audit_csv_holds_every_matching_line_not_only_the_page() -> None:
    store = EventStore("sqlite://")
    fill_audit_log(store, 1_250)
    audit.record(store, None, "reveal", subject="c-1", reason="=cmd|calc")
    csv_text = audit.export_csv(store, action="view_customer", masked=lambda e: e)
    assert len(csv_text.strip().splitlines()) == 1 + 1_250
    capped = audit.export_csv(store, max_rows=300)
    assert len(capped.strip().splitlines()) == 1 + 300
    reveal = audit.export_csv(store, action="reveal")
    assert "'=cmd|calc" in reveal  # a spreadsheet formula stays text


@pytest.mark.parametrize("raw", ["1" + "0" * 5000, "00"])  # the rest: test_formatting
def test_a_hostile_transactions_page_in_a_link_shows_the_first_page(
    console: AppTest, sandbox: SandboxServer, raw: str
) -> None:
    """A crafted `tx_page` once raised Python's 4,300-digit limit on the screen (outside review)."""
    entity = entities(sandbox)[0]
    at = console.run()
    at.switch_page("pages/account_data.py")
    at.query_params["entity_id"] = entity.entity_id
    at.query_params["account_id"] = entity.accounts[0].account_id
    at.query_params["tx_page"] = raw
    at.run()
    assert not at.exception and not at.error
    assert "rows 1–50 of about" in captions(at)
