"""The receiver's last edge cases (issue #11 review): a body with a byte-order mark, a number past
Python's digit limit, and an event_id repeated with a different body. Each gets a clear answer
and nothing is lost; over real loopback HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from console import metrics
from console.dead_letters import list_dead_letters, reprocess_letter
from console.store import (
    DifferentBody,
    EventRecord,
    EventStore,
    dead_letters,
    events,
)
from console.webhooks import DIFFERENT_BODY_KEPT
from lean_api.webhooks import BOM_REFUSED, WebhookPayloadError, claimed_identity, parse_event
from tests.receivers import Receiver, event

BOM = b"\xef\xbb\xbf"
LONG_NUMBER_REFUSED = "a number in the body has more than 4,300 digits"


def long_number_body(digits: int) -> bytes:
    return (
        b'{"type": "entity.created", "event_id": "ev-long", "payload": {"n": '
        + b"7" * digits
        + b"}}"
    )


def stored_letters(store: EventStore) -> list[dict[str, object]]:
    with store.connect() as conn:
        return [dict(row) for row in conn.execute(select(dead_letters)).mappings()]


def record(event_id: str, body: bytes) -> EventRecord:
    return EventRecord(
        event_id=event_id,
        type="entity.created",
        message="m",
        lean_timestamp=None,
        received_at=datetime.now(UTC),
        verified=True,
        source_ip="127.0.0.1",
        payload=body.decode("utf-8"),
        size=len(body),
    )


# ---------------------------------------------------------------------------------------------
# A byte-order mark: refused with its own reason, the signed bytes kept as they came
# ---------------------------------------------------------------------------------------------


def test_a_body_starting_with_a_byte_order_mark_is_refused_by_name() -> None:
    with pytest.raises(WebhookPayloadError) as caught:
        parse_event(BOM + event("ev-bom"))
    assert caught.value.reason == BOM_REFUSED
    # A BOM elsewhere is just a character inside a string, as JSON has it.
    assert parse_event(event("ev-\ufeff")).event_id == "ev-\ufeff"


def test_a_bom_delivery_is_400_and_kept_byte_for_byte(receiver: Receiver) -> None:
    body = BOM + event("ev-bom")
    response = receiver.post(body)
    assert response.status_code == 400
    assert response.json() == {"error": f"malformed webhook: {BOM_REFUSED}"}
    (letter,) = stored_letters(receiver.store)
    assert letter["reason"] == BOM_REFUSED
    kept = str(letter["body"]).encode("utf-8")
    assert kept == body  # the bytes that were signed
    assert letter["body_digest"] == "sha256:" + hashlib.sha256(body).hexdigest()
    assert receiver.store.count_events() == 0
    # Reprocessing says the same, and leaves the body alone.
    outcome = reprocess_letter(receiver.store, int(letter["id"]))  # type: ignore[call-overload]
    assert outcome.kind == "failed" and BOM_REFUSED in outcome.text
    assert receiver.store.count_events() == 0


# ---------------------------------------------------------------------------------------------
# A number past Python's 4,300-digit limit: still refused, now saying why
# ---------------------------------------------------------------------------------------------


def test_a_number_past_the_digit_limit_is_refused_by_name() -> None:
    with pytest.raises(WebhookPayloadError) as caught:
        parse_event(long_number_body(5000))
    assert caught.value.reason == LONG_NUMBER_REFUSED
    # At the limit it is still a number; syntax errors keep their own words.
    assert parse_event(long_number_body(4300)).payload["n"] == int("7" * 4300)
    with pytest.raises(WebhookPayloadError, match=r"not valid JSON \(JSONDecodeError\)"):
        parse_event(long_number_body(5000).replace(b'"entity.created"', b"entity"))
    # An unverified claim never raises on it either.
    assert claimed_identity(long_number_body(5000))["claimed_type"] is None


def test_a_long_number_delivery_is_400_and_a_dead_letter(receiver: Receiver) -> None:
    body = long_number_body(5000)
    response = receiver.post(body)
    assert response.status_code == 400
    assert response.json() == {"error": f"malformed webhook: {LONG_NUMBER_REFUSED}"}
    again = receiver.post(body)
    assert again.status_code == 400
    (letter,) = stored_letters(receiver.store)
    assert letter["reason"] == LONG_NUMBER_REFUSED and letter["delivery_count"] == 2
    assert str(letter["body"]).encode() == body
    assert receiver.store.count_events() == 0


# ---------------------------------------------------------------------------------------------
# One event_id, two bodies: the first is the event, the other kept apart, every delivery counted
# ---------------------------------------------------------------------------------------------


def test_a_repeat_with_a_different_body_keeps_both(receiver: Receiver) -> None:
    first = event("ev-twice", customer_id="c1", id="e1")
    other = event("ev-twice", customer_id="c2", id="e2")
    before = metrics.STORE_ERRORS.labels("different_body")._value.get()

    assert receiver.post(first).json() == {
        "status": "stored",
        "event_id": "ev-twice",
        "deliveries": 1,
    }
    response = receiver.post(other)
    assert response.status_code == 200
    assert response.json() == {
        "status": "duplicate",
        "event_id": "ev-twice",
        "deliveries": 2,
        "different_body": DIFFERENT_BODY_KEPT,
    }
    stored = receiver.store.get_event("ev-twice")
    assert stored is not None and stored.delivery_count == 2
    assert stored.payload == first.decode() and stored.customer_id == "c1"
    (letter,) = stored_letters(receiver.store)
    assert str(letter["body"]).encode() == other
    assert letter["reason"] == "event ev-twice came again with another body; the first body is kept"
    assert letter["verified"] is True
    # It can never become an event: it is done from the start, not work waiting for someone.
    (kept,) = list_dead_letters(receiver.store)
    assert kept.done and kept.state_words == "Kept apart: other body"
    assert receiver.store.other_bodies("ev-twice") == (1, 1)
    assert receiver.store.other_bodies("ev-other") == (0, 0)

    # That other body again: counted on the event and on its letter, not kept twice.
    assert receiver.post(other).json()["different_body"] == DIFFERENT_BODY_KEPT
    # The first body again is a plain repeat.
    assert "different_body" not in receiver.post(first).json()
    stored = receiver.store.get_event("ev-twice")
    assert stored is not None and stored.delivery_count == 4 and stored.payload == first.decode()
    (letter,) = stored_letters(receiver.store)
    assert letter["delivery_count"] == 2
    assert receiver.store.other_bodies("ev-twice") == (1, 2)
    assert metrics.STORE_ERRORS.labels("different_body")._value.get() == before + 2


def test_different_bodies_within_one_batch(store: EventStore) -> None:
    first, other = event("ev-b", customer_id="c1"), event("ev-b", customer_id="c2")
    results = store.write_events(
        [record("ev-b", first), record("ev-b", other), record("ev-b", first), record("x", first)]
    )
    assert [(r.delivery_count, r.different_body) for r in results] == [
        (1, False),
        (2, True),
        (3, False),
        (1, False),
    ]
    assert all(r.duplicate for r in results[1:3])
    stored = store.get_event("ev-b")
    assert stored is not None and stored.payload == first.decode()
    assert [str(letter["body"]).encode() for letter in stored_letters(store)] == [other]


def test_the_same_json_laid_out_otherwise_is_a_plain_repeat(store: EventStore) -> None:
    body = {"type": "entity.created", "event_id": "ev-l", "payload": {"a": 1, "b": [True, 1.5]}}
    first = json.dumps(body).encode()
    layouts = [
        json.dumps(body, indent=2).encode(),  # pretty-printed
        json.dumps(dict(reversed(body.items()))).encode(),  # keys in another order
        first + b"\n",  # saved in an editor
    ]
    results = store.write_events([record("ev-l", first), *(record("ev-l", b) for b in layouts)])
    assert [(r.delivery_count, r.different_body) for r in results] == [
        (1, False), (2, False), (3, False), (4, False),
    ]  # fmt: skip
    # What JSON tells apart stays apart: `true` is not 1, and 1.5 is not "1.5".
    changed = [
        json.dumps({**body, "payload": {"a": True, "b": [True, 1.5]}}).encode(),
        json.dumps({**body, "payload": {"a": 1, "b": [True, "1.5"]}}).encode(),
    ]
    assert all(r.different_body for r in store.write_events([record("ev-l", b) for b in changed]))
    assert len(stored_letters(store)) == 2


def test_reprocessing_a_different_body_says_so_and_counts_nothing(receiver: Receiver) -> None:
    first, other = event("ev-r", customer_id="c1"), event("ev-r", customer_id="c2")
    # A letter kept for another reason (the database refused it, say) whose event then came
    # with another body: reprocessing finds it can never be that event.
    receiver.store.record_dead_letter(
        source_ip="127.0.0.1", reason="the database refused it", verified=True, body=other,
        received_at=None,
    )  # fmt: skip
    receiver.post(first)
    receiver.post(first)
    (letter,) = list_dead_letters(receiver.store)
    assert not letter.done

    outcome = reprocess_letter(receiver.store, letter.id)
    assert (outcome.kind, outcome.already) == ("kept apart", False)
    assert "event ev-r is stored with the body it first came with" in outcome.text
    (done,) = list_dead_letters(receiver.store)
    assert done.done and done.state_words == "Kept apart: other body"
    for _ in range(2):  # again and again: the same answer, nothing added
        again_outcome = reprocess_letter(receiver.store, letter.id)
        assert (again_outcome.kind, again_outcome.already) == ("kept apart", True)
        stored = receiver.store.get_event("ev-r")
        assert stored is not None and stored.delivery_count == 2
        assert stored.payload == first.decode()
        (again,) = stored_letters(receiver.store)
        assert again["delivery_count"] == 1


def test_upsert_event_refuses_a_different_body_in_its_transaction(store: EventStore) -> None:
    first, other = event("ev-u", customer_id="c1"), event("ev-u", customer_id="c2")
    store.write_events([record("ev-u", first)])
    with store.connect(write=True) as conn:
        assert store.upsert_event(conn, record("ev-u", first)).delivery_count == 2
    with (
        pytest.raises(DifferentBody, match="stored with another body"),
        store.connect(write=True) as conn,
    ):
        store.upsert_event(conn, record("ev-u", other))
    with store.connect() as conn:
        count = conn.execute(
            select(events.c.delivery_count).where(events.c.event_id == "ev-u")
        ).scalar()
    assert count == 2  # the refused one rolled back with its transaction


def test_html_in_a_repeated_event_id_stays_text_in_the_reason(receiver: Receiver) -> None:
    event_id = "<b>x</b>" + "y" * 300
    receiver.post(event(event_id, customer_id="c1"))
    response = receiver.post(event(event_id, customer_id="c2"))
    assert response.status_code == 200 and response.json()["different_body"]
    (letter,) = stored_letters(receiver.store)
    reason = str(letter["reason"])
    assert len(reason) <= 300 and reason.startswith("event <b>x</b>yyy")
    assert "…" in reason and reason.endswith("the first body is kept")
    assert receiver.store.other_bodies(event_id) == (1, 1)
    assert json.loads(str(letter["body"]))["payload"]["customer_id"] == "c2"
