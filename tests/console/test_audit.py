"""The audit log on both databases: lines are added, found, exported safely, and never changed."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import and_, delete, insert, select, text, update
from sqlalchemy.exc import DBAPIError

from console import audit
from console.access import Actor, Role
from console.store import EventStore, audit_log, index_customers, index_entities

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
    assert rows[0]["Subject kind"] == "entity"
    assert not rows[0]["Subject"].startswith("=")  # a spreadsheet shows it, never runs it


def test_a_database_that_is_down_loses_the_line_but_not_the_operators_work() -> None:
    down = EventStore("postgresql+psycopg://nobody@127.0.0.1:1/none", busy_timeout_ms=200)
    assert audit.record(down, LEAD, "view_customer", subject="c") is False


def _book(store: EventStore, customer_id: str, app_user_id: str, entity_ids: list[str]) -> None:
    now = datetime.now(UTC)
    store.migrate()
    with store.connect(write=True) as conn:
        conn.execute(insert(index_customers).values(
            customer_id=customer_id, app_user_id=app_user_id, first_seen_at=now, last_seen_at=now
        ))  # fmt: skip
        for entity_id in entity_ids:
            conn.execute(insert(index_entities).values(
                entity_id=entity_id, customer_id=customer_id, last_seen_at=now
            ))  # fmt: skip


def test_a_subject_is_found_by_its_first_characters_in_either_case(store: EventStore) -> None:
    subject = str(uuid.uuid4())
    audit.record(store, LEAD, "view_entity", subject_kind="entity", subject=subject)
    audit.record(store, LEAD, "view_entity", subject_kind="entity", subject=str(uuid.uuid4()))
    for typed in (subject, subject[:8], subject[:8].upper(), f"  {subject[:13]} "):
        assert [e.subject for e in audit.search(store, subject=typed)] == [subject], typed
    assert audit.search(store, subject=subject[1:9]) == []  # the start, not any part


def test_an_app_user_id_finds_its_customers_lines_and_its_connections(store: EventStore) -> None:
    customer_id, other = str(uuid.uuid4()), str(uuid.uuid4())
    entities = [str(uuid.uuid4()), str(uuid.uuid4())]
    app_user_id = f"app-user-{uuid.uuid4().hex[:6]}"
    _book(store, customer_id, app_user_id, entities)
    _book(store, other, f"{app_user_id}-other", [str(uuid.uuid4())])
    audit.record(store, LEAD, "view_customer", subject_kind="customer", subject=customer_id)
    audit.record(store, LEAD, "view_entity", subject_kind="entity", subject=entities[1])
    audit.record(store, LEAD, "view_customer", subject_kind="customer", subject=other)
    query = audit.subject_query(store, app_user_id)
    assert (query.customer_id, query.by_app_user_id, query.connections) == (customer_id, True, 2)
    found = [e.subject for e in audit.search(store, subject=query)]
    assert found == [entities[1], customer_id]
    # The customer's own id brings its connections too; an unknown text is only itself.
    by_id = audit.subject_query(store, customer_id.upper())
    assert (by_id.customer_id, by_id.by_app_user_id, by_id.connections) == (customer_id, False, 2)
    assert [e.subject for e in audit.search(store, subject=by_id)] == [entities[1], customer_id]
    assert audit.subject_query(store, "nobody-" + app_user_id).related == ()


def test_a_subjects_start_is_found_through_an_index_and_taken_literally(store: EventStore) -> None:
    """`substr(subject, 1, n) = text` read every line of the period (3.5 s at a million)."""
    marker = uuid.uuid4().hex[:8]
    for subject in (f"{marker}%_x", f"{marker}ab_x", f"{marker}-1", f"{marker}-10"):
        audit.record(store, LEAD, "view_entity", subject_kind="entity", subject=subject)
    assert [e.subject for e in audit.search(store, subject=f"{marker}%")] == [f"{marker}%_x"]
    assert [e.subject for e in audit.search(store, subject=f"{marker}a")] == [f"{marker}ab_x"]
    assert {e.subject for e in audit.search(store, subject=f"{marker}-1")} == {
        f"{marker}-1",
        f"{marker}-10",
    }
    # The audit log's own searches name the text searched: "Did" finds them, not "Subject".
    audit.record(store, LEAD, "view_audit_log", subject_kind="audit_log", subject=f"{marker}-1")
    assert len(audit.search(store, subject=f"{marker}-1")) == 2
    condition = and_(*audit._filters(dialect=store.dialect, subject=f"{marker}-1"))
    query = select(audit_log.c.id).where(condition)
    with store.connect() as conn:
        if store.dialect == "postgresql":
            conn.execute(text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join(conn.execute(text("EXPLAIN " + _sql(query, conn))).scalars())
            assert "ix_audit_log_subject_prefix" in plan, plan
        else:
            rows = conn.execute(text("EXPLAIN QUERY PLAN " + _sql(query, conn))).all()
            plan = "\n".join(str(row[-1]) for row in rows)
            assert "ix_audit_log_subject" in plan and "SCAN audit_log" not in plan, plan


def _sql(query: object, conn: object) -> str:
    return str(query.compile(conn, compile_kwargs={"literal_binds": True}))  # type: ignore[attr-defined]


def test_an_id_pasted_without_dashes_or_in_braces_is_the_same_id(store: EventStore) -> None:
    subject = str(uuid.uuid4())
    audit.record(store, LEAD, "view_customer", subject_kind="customer", subject=subject)
    for pasted in (subject.replace("-", ""), "{" + subject.upper() + "}"):
        assert [e.subject for e in audit.search(store, subject=pasted)] == [subject], pasted
    # An app_user_id is case-sensitive: only an id's hex digits are looked for lowered.
    audit.record(store, LEAD, "view_customer", subject_kind="customer", subject="app-X-" + subject)
    assert audit.search(store, subject="APP-X-" + subject[:4]) == []
