"""The audit log on both databases: lines are added, found, exported safely, and never changed."""

from __future__ import annotations

import csv
import io
import uuid

import pytest
from sqlalchemy import delete, update
from sqlalchemy.exc import DBAPIError

from console import audit
from console.access import Actor, Role
from console.store import EventStore, audit_log

LEAD = Actor("Lead@Example.com", "Lead", Role.ADMIN, "oidc")


def test_lines_are_found_newest_first_by_who_what_and_subject(store: EventStore) -> None:
    subject = str(uuid.uuid4())  # PostgreSQL keeps the log between tests: find only ours
    assert audit.record(store, LEAD, "view_customer", subject_kind="customer", subject=subject)
    assert audit.record(store, LEAD, "trigger_refresh", subject_kind="entity", subject=subject,
                        outcome="failed", detail="Lean 403 CONSENT_EXPIRED")  # fmt: skip
    found = audit.search(store, subject=subject)
    assert [e.action for e in found] == ["trigger_refresh", "view_customer"]
    assert found[0].actor == "lead@example.com" and found[0].role == "admin"
    assert found[0].action_words == "triggered a data refresh"
    assert audit.search(store, actor="LEAD@example.com ", action="view_customer", subject=subject)
    assert not audit.search(store, actor="someone@else.io", subject=subject)


def test_the_log_cannot_be_changed_or_emptied(store: EventStore) -> None:
    subject = str(uuid.uuid4())
    audit.record(store, LEAD, "reveal", subject_kind="entity", subject=subject, reason="ticket 1")
    for statement in (
        update(audit_log).where(audit_log.c.subject == subject).values(actor="nobody"),
        delete(audit_log).where(audit_log.c.subject == subject),
    ):
        with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as conn:
            conn.execute(statement)
    (entry,) = audit.search(store, subject=subject)
    assert entry.actor == "lead@example.com" and entry.reason == "ticket 1"


def test_hostile_text_is_kept_as_text_and_the_csv_runs_no_formula(store: EventStore) -> None:
    subject = '=HYPERLINK("http://evil")' + str(uuid.uuid4())[:8]
    audit.record(store, LEAD, "view_entity", subject_kind="entity", subject=subject,
                 reason="**bold** <b>x</b>\x00" + "r" * 1000)  # fmt: skip
    entries = audit.search(store, subject=subject)
    assert len(entries) == 1 and len(entries[0].reason or "") <= 500
    rows = list(csv.DictReader(io.StringIO(audit.audit_csv(entries))))
    assert rows[0]["Of"] == "entity"
    assert not rows[0]["Id"].startswith("=")  # a spreadsheet shows it, never runs it


def test_a_database_that_is_down_loses_the_line_but_not_the_operators_work() -> None:
    down = EventStore("postgresql+psycopg://nobody@127.0.0.1:1/none", busy_timeout_ms=200)
    assert audit.record(down, LEAD, "view_customer", subject="c") is False
