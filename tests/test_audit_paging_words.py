"""The audit log says where a page sits in exact words (its count is read with the page, never
estimated), and a link whose `before=` names no line of the log (past the newest, mistyped,
malformed) opens the first page with a short note instead of "nothing matches"."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select
from streamlit.testing.v1 import AppTest

from console import audit
from console.access import Actor, Role
from console.audit import audit_page
from console.formatting import literal_md
from console.store import EventStore, audit_log, index_customers, index_entities
from tests.test_bounded_screens import as_admin, captions, click, console, fill_audit_log  # noqa: F401


def record_lookups(count: int) -> EventStore:
    store = EventStore(os.environ["DATABASE_URL"])
    for n in range(count):
        audit.record(store, None, "view_customer", subject_kind="customer", subject=f"c-{n}")
    return store


def _ids(store: EventStore) -> list[int]:
    """The log's line ids, the highest first."""
    with store.connect() as conn:
        return list(conn.execute(select(audit_log.c.id).order_by(audit_log.c.id.desc())).scalars())


def test_a_small_audit_log_is_counted_exactly_not_about(
    console: AppTest,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    record_lookups(12)
    at = as_admin(console, monkeypatch)
    at.switch_page("pages/audit.py").run()
    assert not at.exception and not at.error
    # Twelve lookups and this search's own line.
    assert len(at.dataframe[0].value) == 13
    assert "lines 1–13 of 13 (" in captions(at)
    assert "about" not in captions(at)
    # A masked subject (•••) is explained where it is seen, not only in the CSV's help.
    assert "national IDs quoted in a line are masked (•••), here and in the CSV" in captions(at)


def test_a_page_past_the_first_is_counted_exactly_too(
    console: AppTest,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fill_audit_log(EventStore(os.environ["DATABASE_URL"]), 120)
    at = as_admin(console, monkeypatch)
    at.switch_page("pages/audit.py").run()
    at = click(at, "Older ▶")
    assert "lines 51–100 of 121 (" in captions(at)
    assert "about" not in captions(at)


@pytest.mark.parametrize("before", ["99999999", "0", "-3", "12abc", "9" * 19, "<b>1</b>"])
def test_a_link_to_a_page_the_log_does_not_hold_opens_the_first_page_with_a_note(
    console: AppTest,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    before: str,
) -> None:
    record_lookups(3)
    at = console
    at.query_params["before"] = before
    at = as_admin(at, monkeypatch)
    at.switch_page("pages/audit.py").run()
    assert not at.exception and not at.error
    assert not [i for i in at.info if "matches" in str(i.value)]
    assert any("cannot find" in str(w.value) for w in at.warning)
    table = at.dataframe[0].value
    # The search's own line says what was searched, in words ("* * *" said nothing).
    assert list(table["Subject"])[:4] == [
        "who: any · did: any · what: any · 7 d",
        "c-2",
        "c-1",
        "c-0",
    ]
    assert "lines 1–4 of 4 (" in captions(at)
    # The address now names the page on screen: the first.
    assert "before" not in at.query_params


def test_a_link_to_a_real_line_still_opens_the_page_after_it(
    console: AppTest,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = record_lookups(3)
    c1 = _ids(store)[1]  # lines by id, newest first: c-2, c-1, c-0
    at = console
    at.query_params["before"] = str(c1)
    at = as_admin(at, monkeypatch)
    at.switch_page("pages/audit.py").run()
    assert not at.warning
    assert list(at.dataframe[0].value["Subject"]) == ["c-0"]
    assert "line 4 of 4 (" in captions(at)


def test_an_unknown_cursor_reads_the_first_page_and_says_so() -> None:
    store = EventStore("sqlite://")
    fill_audit_log(store, 60)
    highest = _ids(store)[0]  # the filler writes its newest line first
    for unknown in (highest + 1, highest + 10_000):
        page = audit_page(store, before=unknown, page_size=50)
        assert page.cursor_unknown
        assert page.start == 0 and page.newer is None
        assert [e.subject for e in page.entries] == [f"subject-{n}" for n in range(50)]
        assert page.position_words == "lines 1–50 of 60"
    newest = _ids(store)[-1]  # subject-0
    known = audit_page(store, before=newest, page_size=50)
    assert not known.cursor_unknown and known.entries[0].subject == "subject-1"


def test_a_selected_line_is_shown_whole_and_a_denied_action_says_so_in_did(
    console: AppTest,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = EventStore(os.environ["DATABASE_URL"])
    who = Actor("fatimah.alqahtani.long.address@examplebank.com.sa", "F", Role.SUPPORT, "proxy")
    audit.record(
        store, who, "reveal", subject_kind="entity", subject="e-1", outcome="denied",
        reason="<b>asked</b> by the customer",
    )  # fmt: skip
    at = as_admin(console, monkeypatch)
    at.switch_page("pages/audit.py").run()
    table = at.dataframe[0].value
    denied = table[table["Subject"] == "e-1"]
    assert list(denied["Did"]) == ["showed personal data unmasked — denied"]
    assert list(denied["Outcome"]) == ["denied"]
    row = int(denied.index[0])
    at.session_state["audit_table_"] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    at.run()
    assert not at.exception
    line = dict(zip(at.dataframe[1].value["Field"], at.dataframe[1].value["Value"], strict=True))
    assert line["Who"] == who.email and line["Did"] == "showed personal data unmasked"
    assert line["Outcome"] == "denied" and line["Reason given"] == "<b>asked</b> by the customer"


def test_an_app_user_id_or_an_ids_start_finds_the_lines_and_says_how(
    console: AppTest,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = record_lookups(2)
    customer_id, entity_id = str(uuid.uuid4()), str(uuid.uuid4())
    now = datetime.now(UTC)
    with store.connect(write=True) as conn:
        conn.execute(insert(index_customers).values(
            customer_id=customer_id, app_user_id="app-**user**-7", first_seen_at=now, last_seen_at=now
        ))  # fmt: skip
        conn.execute(insert(index_entities).values(
            entity_id=entity_id, customer_id=customer_id, last_seen_at=now
        ))  # fmt: skip
    audit.record(store, None, "view_customer", subject_kind="customer", subject=customer_id)
    audit.record(store, None, "view_data", subject_kind="entity", subject=entity_id)
    at = console
    at.query_params["subject"] = "app-**user**-7"
    at = as_admin(at, monkeypatch)
    at.switch_page("pages/audit.py").run()
    assert not at.exception and not at.error
    assert list(at.dataframe[0].value["Subject"]) == [entity_id, customer_id]
    assert (
        f"{literal_md('app-**user**-7')} is the app_user_id of customer {literal_md(customer_id)} "
        "in the book index: shown with the lines of that customer and its 1 bank connection, and "
        "of any subject starting with it."
    ) in [c.value for c in at.caption]
    # The first characters of an id, as the tables show them, in a ticket's upper case.
    at.query_params["subject"] = customer_id[:8].upper()
    at.run()
    assert list(at.dataframe[0].value["Subject"]) == [customer_id]
    assert any("or starts with it" in c.value for c in at.caption)
