"""Dead letters reprocessed into events, on SQLite and PostgreSQL, through the real receiver."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from console import audit
from console.access import AccessDenied, Actor, Role
from console.book import BookIndexer
from console.dead_letters import (
    export_all,
    export_body,
    list_dead_letters,
    reprocess,
    reprocess_all,
)
from console.store import EventFilter, EventStore, index_entities
from lean_api.webhooks import body_digest
from tests.receivers import Receiver, event

ADMIN = Actor("ops@example.com", "Ops", Role.ADMIN, "proxy")
SUPPORT = Actor("help@example.com", "Help", Role.SUPPORT, "proxy")
VIEWER = Actor("look@example.com", "Look", Role.VIEWER, "proxy")
THEN = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
ENTITY = "5d4a1c36-8f0b-4f1e-9d55-0b3f7c1b2a10"
CUSTOMER = "0b3f7c1b-2a10-4f1e-9d55-5d4a1c368f0b"


def entity_body(event_id: str | None = "ev-fixed") -> bytes:
    data: dict[str, object] = {
        "type": "entity.created",
        "message": "An entity was created",
        "timestamp": "2026-11-02T07:59:58.123456789Z",
        "payload": {
            "id": ENTITY,
            "customer_id": CUSTOMER,
            "app_user_id": "usr_42",
            "bank_details": {"identifier": "RJHI_SAMAOB_SAU", "name": "Al Rajhi Bank"},
            "permissions": {"accounts": True, "balance": True},
        },
    }
    if event_id:
        data["event_id"] = event_id
    return json.dumps(data).encode()


def dead_letter(store: EventStore, body: bytes, reason: str, **kw: object) -> int:
    """A letter as the receiver keeps it; returns its id."""
    store.record_dead_letter(
        source_ip=str(kw.get("source_ip", "203.0.113.9")),
        reason=reason,
        verified=bool(kw.get("verified", True)),
        body=body,
        received_at=THEN,
    )
    (letter,) = [x for x in list_dead_letters(store) if x.reason == reason]
    return letter.id


def stored_events(store: EventStore) -> list[str]:
    return [e.event_id for e in store.query_events(EventFilter(), limit=100)]


def test_a_body_that_now_parses_becomes_one_event_carrying_the_letter(store: EventStore) -> None:
    # Kept by an older parser that refused Lean's nanosecond timestamps; today's parses it.
    started = datetime.now(UTC)
    letter_id = dead_letter(store, entity_body(), "envelope is malformed: bad timestamp")
    store.record_dead_letter(  # Lean delivered it twice: counted on the letter
        source_ip="203.0.113.9",
        reason="envelope is malformed: bad timestamp",
        verified=True,
        body=entity_body(),
        received_at=THEN + timedelta(minutes=5),
    )

    outcome = reprocess(store, ADMIN, letter_id)

    assert (outcome.kind, outcome.event_id, outcome.already) == ("stored", "ev-fixed", False)
    assert stored_events(store) == ["ev-fixed"]
    stored = store.get_event("ev-fixed")
    assert stored is not None
    assert stored.verified is True and stored.source_ip == "203.0.113.9"
    assert stored.received_at == THEN and stored.last_received_at == THEN + timedelta(minutes=5)
    assert stored.delivery_count == 2  # both deliveries of the unreadable body
    assert stored.entity_id == ENTITY and stored.customer_id == CUSTOMER
    assert stored.bank_identifier == "RJHI_SAMAOB_SAU"
    assert stored.payload == entity_body().decode()
    (letter,) = list_dead_letters(store)
    assert letter.done and letter.state_words == "Reprocessed: stored"
    assert letter.reprocessed_at is not None
    assert letter.reprocess_outcome == "stored: event ev-fixed"
    # The book indexer follows events by row id: the reprocessed one reaches the index.
    BookIndexer(store).apply_pending()
    with store.connect() as conn:
        bank = conn.execute(
            select(index_entities.c.bank_identifier).where(index_entities.c.entity_id == ENTITY)
        ).scalar()
    assert bank == "RJHI_SAMAOB_SAU"
    # (The audit log is append-only: PostgreSQL keeps earlier tests' lines.)
    (line,) = audit.search(store, action="reprocess_dead_letter", since=started)
    assert (line.actor, line.subject, line.outcome) == (ADMIN.email, str(letter_id), "ok")
    assert line.detail == "stored: event ev-fixed"


def test_reprocessing_twice_is_still_one_event_counted_once(store: EventStore) -> None:
    letter_id = dead_letter(store, entity_body(), "envelope is malformed: bad timestamp")
    reprocess(store, ADMIN, letter_id)
    again = reprocess(store, ADMIN, letter_id)
    summary = reprocess_all(store, ADMIN)

    assert again.already and again.kind == "stored"
    assert summary.outcomes == ()  # nothing left to do
    assert stored_events(store) == ["ev-fixed"]
    assert store.get_event("ev-fixed").delivery_count == 1  # type: ignore[union-attr]


def test_an_event_already_stored_is_counted_not_inserted(store: EventStore) -> None:
    letter_id = dead_letter(store, entity_body(), "envelope is malformed: bad timestamp")
    # Lean delivered the event again after the fix, before anyone reprocessed the letter.
    from console.store import EventRecord

    body = entity_body()
    store.write_events(
        [
            EventRecord(
                event_id="ev-fixed",
                type="entity.created",
                message="m",
                lean_timestamp=THEN,
                received_at=THEN + timedelta(hours=1),
                verified=True,
                source_ip="203.0.113.9",
                payload=body.decode(),
                size=len(body),
            )
        ]
    )
    outcome = reprocess(store, ADMIN, letter_id)
    assert outcome.kind == "duplicate"
    assert stored_events(store) == ["ev-fixed"]
    assert store.get_event("ev-fixed").delivery_count == 2  # type: ignore[union-attr]
    assert list_dead_letters(store)[0].state_words == "Reprocessed: counted"


def test_a_body_that_still_fails_says_why_and_is_kept(store: EventStore) -> None:
    good = dead_letter(store, entity_body(), "envelope is malformed: bad timestamp")
    bad = dead_letter(store, b'{"type": "entity.created", "payload": [1]', "not JSON")

    summary = reprocess_all(store, ADMIN)

    assert summary.words == "1 stored as events, 0 already stored (counted), 1 still failing"
    letters = {x.id: x for x in list_dead_letters(store)}
    assert letters[good].done
    failed = letters[bad]
    assert not failed.done and failed.reprocessed_at is not None
    assert failed.reprocess_outcome == (
        "failed: still unreadable — body is not valid JSON (JSONDecodeError)"
    )
    assert failed.state_words == "Still failing"
    assert export_body(store, ADMIN, bad) == b'{"type": "entity.created", "payload": [1]'
    # It is tried again next time (a later fix may read it), and still nothing is lost.
    again = reprocess_all(store, ADMIN)
    assert [o.letter_id for o in again.outcomes] == [bad]
    assert stored_events(store) == ["ev-fixed"]


def test_a_body_kept_with_replacement_characters_is_not_reprocessed(store: EventStore) -> None:
    body = b'{"type": "entity.created", "event_id": "ev-latin1", "message": "caf\xe9"}'
    letter_id = dead_letter(store, body, "body is not UTF-8 text")
    outcome = reprocess(store, ADMIN, letter_id)
    assert outcome.kind == "failed" and "not the delivered bytes" in outcome.text
    assert stored_events(store) == []


def test_a_body_without_event_id_gets_the_receivers_id(
    store: EventStore, receiver: Receiver
) -> None:
    body = entity_body(event_id=None)
    letter_id = dead_letter(store, body, "envelope is malformed: bad timestamp")
    outcome = reprocess(store, ADMIN, letter_id)
    assert outcome.event_id == body_digest(body)
    # Lean delivers the very same body again: the receiver sees the same event.
    response = receiver.post(body)
    assert response.json()["status"] == "duplicate"
    assert stored_events(store) == [body_digest(body)]


def refuse_event(store: EventStore, event_id: str) -> None:
    """A temporary cause: the database refuses this one event for its content."""
    with store.engine.begin() as conn:
        if store.dialect == "sqlite":
            conn.execute(
                text(
                    "CREATE TRIGGER refuse_one BEFORE INSERT ON webhook_events "
                    f"WHEN NEW.event_id = '{event_id}' "
                    "BEGIN SELECT RAISE(ABORT, 'refused for now'); END"
                )
            )
        else:
            conn.execute(
                text(
                    "ALTER TABLE webhook_events ADD CONSTRAINT refuse_one "
                    f"CHECK (event_id <> '{event_id}')"
                )
            )


def accept_again(store: EventStore) -> None:
    with store.engine.begin() as conn:
        if store.dialect == "sqlite":
            conn.execute(text("DROP TRIGGER refuse_one"))
        else:
            conn.execute(text("ALTER TABLE webhook_events DROP CONSTRAINT refuse_one"))


def test_a_delivery_the_receiver_dead_lettered_for_a_temporary_cause(
    store: EventStore, receiver: Receiver
) -> None:
    refuse_event(store, "ev-temp")
    try:
        body = event("ev-temp", id=ENTITY, customer_id=CUSTOMER)
        response = receiver.post(body)
        assert response.status_code == 400 and "dead letter" in response.json()["error"]
        (letter,) = list_dead_letters(store)
        assert letter.reason.startswith("the event store refused the event")
        assert letter.verified  # signed with the receiver's secret
        # While the cause lasts, reprocessing fails and says why; the letter stays.
        still = reprocess(store, ADMIN, letter.id)
        assert still.kind == "failed" and "the event store refused the event" in still.text
        assert stored_events(store) == []
    finally:
        accept_again(store)

    outcome = reprocess(store, ADMIN, letter.id)

    assert (outcome.kind, outcome.event_id) == ("stored", "ev-temp")
    stored = store.get_event("ev-temp")
    assert stored is not None and stored.verified and stored.entity_id == ENTITY
    assert stored.received_at == letter.received_at
    assert stored.lean_timestamp is not None and stored.lean_timestamp_ns == 789
    # Lean retries the same delivery later: counted, never a second event.
    assert receiver.post(body).json() == {"status": "duplicate", "event_id": "ev-temp",
                                          "deliveries": 2}  # fmt: skip
    assert stored_events(store) == ["ev-temp"]


def test_unverified_letters_stay_unverified_events(store: EventStore) -> None:
    letter_id = dead_letter(store, entity_body(), "old parser", verified=False)
    reprocess(store, ADMIN, letter_id)
    assert store.get_event("ev-fixed").verified is False  # type: ignore[union-attr]


def test_bodies_need_the_admin_role_and_every_export_is_audited(store: EventStore) -> None:
    started = datetime.now(UTC)
    letter_id = dead_letter(store, entity_body(), "old parser")
    for actor in (VIEWER, SUPPORT):
        with pytest.raises(AccessDenied):
            export_body(store, actor, letter_id)
        with pytest.raises(AccessDenied):
            export_all(store, actor)
        with pytest.raises(AccessDenied):
            reprocess(store, actor, letter_id)
    assert stored_events(store) == []
    assert not list_dead_letters(store)[0].reprocessed_at

    document = json.loads(export_all(store, ADMIN))
    (kept,) = document["dead_letters"]
    assert kept["body"] == entity_body().decode() and kept["reason"] == "old parser"
    assert kept["verified"] is True and kept["deliveries"] == 1
    assert export_body(store, ADMIN, letter_id) == entity_body()

    exports = audit.search(store, action="export", since=started)
    assert sorted((e.actor, e.outcome) for e in exports) == sorted(
        [(VIEWER.email, "denied")] * 2 + [(SUPPORT.email, "denied")] * 2 + [(ADMIN.email, "ok")] * 2
    )
    denied_reprocess = audit.search(store, action="reprocess_dead_letter", since=started)
    assert {e.outcome for e in denied_reprocess} == {"denied"}
