"""The ingest fast path: the receiver as a plain ASGI app, multi-row upserts, the coarse
deadlines, orjson with the standard library deciding edge cases, the WAL checkpointer.

Small and fast (part of `make test`); the figures come from `tests/bench/ingest_wrk.py`.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from console.store import (
    MAX_ROWS_PER_STATEMENT,
    EventRecord,
    EventStore,
    EventWriter,
    StoreRejected,
    StoreUnavailable,
)
from console.webhooks import _Deadlines
from lean_api.models import sub_microsecond_nanos
from lean_api.webhooks import (
    WebhookEvent,
    WebhookPayloadError,
    _load_json,
    body_digest,
    parse_event,
)
from tests.receivers import Receiver, event


def record(event_id: str, *, verified: bool = True, message: str | None = None) -> EventRecord:
    return EventRecord(
        event_id=event_id,
        type="entity.created",
        message=message,
        lean_timestamp=datetime(2026, 11, 1, 12, 0, tzinfo=UTC),
        received_at=datetime.now(UTC),
        verified=verified,
        source_ip="127.0.0.1",
        payload=json.dumps({"event_id": event_id}),
        size=20,
        customer_id="c1",
    )


# ---------------------------------------------------------------------------------------------
# Multi-row upserts
# ---------------------------------------------------------------------------------------------


def test_repeats_within_one_batch_are_counted_in_order(store: EventStore) -> None:
    results = store.write_events(
        [record("a", verified=False), record("b"), record("a"), record("a", verified=False)]
    )
    assert [(r.event_id, r.delivery_count) for r in results] == [
        ("a", 1),
        ("b", 1),
        ("a", 2),
        ("a", 3),
    ]
    stored = store.get_event("a")
    assert stored is not None and stored.delivery_count == 3
    assert stored.verified  # a signed delivery of the same event verifies it


def test_a_batch_larger_than_one_statement_is_stored_whole(store: EventStore) -> None:
    count = MAX_ROWS_PER_STATEMENT + 37
    results = store.write_events([record(f"ev-{n}") for n in range(count)])
    assert [r.event_id for r in results] == [f"ev-{n}" for n in range(count)]
    assert all(r.delivery_count == 1 for r in results)
    assert store.count_events() == count
    again = store.write_events([record("ev-7"), record("new")])
    assert [(r.event_id, r.delivery_count) for r in again] == [("ev-7", 2), ("new", 1)]


def test_unstorable_text_is_cleaned_and_fitted_in_a_batch(store: EventStore) -> None:
    long_id = "x" * 300
    results = store.write_events(
        [record("plain"), record("odd", message="nul\x00 and \ud800"), record(long_id)]
    )
    assert results[2].event_id != long_id and len(results[2].event_id) <= 200
    odd = store.get_event("odd")
    assert odd is not None and odd.message == "nul\ufffd and \ufffd"
    assert store.get_event(results[2].event_id) is not None


# ---------------------------------------------------------------------------------------------
# The receiver as an ASGI app
# ---------------------------------------------------------------------------------------------


def test_stored_answer_quotes_the_event_id_as_json(receiver: Receiver) -> None:
    for event_id in ('quote " back \\ slash', "unicode é", "plain-1"):
        response = receiver.post(event(event_id))
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {"status": "stored", "event_id": event_id, "deliveries": 1}
        assert (
            response.content
            == (f'{{"status":"stored","event_id":{json.dumps(event_id)},"deliveries":1}}').encode()
        )
    repeat = receiver.post(event("plain-1"))
    assert repeat.json() == {"status": "duplicate", "event_id": "plain-1", "deliveries": 2}


def test_refusals_keep_their_words_and_headers(receiver: Receiver) -> None:
    unsigned = receiver.post(event("unsigned"), signature=None)
    assert unsigned.status_code == 401
    assert unsigned.json() == {"error": "missing signature header"}
    too_big = requests.post(
        receiver.url,
        data=b"x" * (1024 * 1024 + 1),
        timeout=10,
    )
    assert too_big.status_code == 413
    assert too_big.headers.get("connection") == "close"
    broken = receiver.post(b'{"type": ')
    assert broken.status_code == 400
    assert broken.json()["error"].startswith("malformed webhook: body is not valid JSON")


def test_other_methods_are_not_the_receivers(receiver: Receiver) -> None:
    assert requests.get(receiver.url, timeout=10).status_code == 405


# ---------------------------------------------------------------------------------------------
# Deadlines
# ---------------------------------------------------------------------------------------------


def test_a_deadline_turns_a_wait_into_timeout_error() -> None:
    async def main() -> None:
        deadlines = _Deadlines(tick=0.01)
        with pytest.raises(TimeoutError), deadlines.after(0.05):
            await asyncio.Event().wait()
        with deadlines.after(5):
            await asyncio.sleep(0)  # finished in time: nothing raised, nothing left pending
        assert not deadlines._pending

    asyncio.run(main())


def test_a_cancellation_from_outside_stays_a_cancellation() -> None:
    async def main() -> None:
        deadlines = _Deadlines(tick=0.01)

        async def waiter() -> None:
            with deadlines.after(5):
                await asyncio.Event().wait()

        task = asyncio.ensure_future(waiter())
        await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


# ---------------------------------------------------------------------------------------------
# JSON: orjson where it agrees with the standard library, the standard library otherwise
# ---------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**100), max_value=2**100)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(codec=None, exclude_categories=()), max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def standard(payload: bytes) -> object:
    try:
        return ("value", json.loads(payload.decode("utf-8")))
    except (ValueError, RecursionError):
        return ("error",)


def ours(payload: bytes) -> object:
    try:
        return ("value", _load_json(payload))
    except WebhookPayloadError:
        return ("error",)


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_json_reads_as_the_standard_library_reads_it(value: object) -> None:
    payload = json.dumps(value).encode()
    assert ours(payload) == standard(payload)


@pytest.mark.parametrize(
    "payload",
    [
        b'{"a": "\\ud800"}',
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b'{"a": 123456789012345678901234567890}',
        b'{"a": -123456789012345678901}',
        b"\xef\xbb\xbf{}",
        b'{"a": "\xff"}',
        b'{"a": 1e400}',
        b'{"a": 1} x',
        b'{"a": "tab\there"}',
        b"[" * 2000,
    ],
)
def test_json_edge_cases_read_as_the_standard_library_reads_them(payload: bytes) -> None:
    assert ours(payload) == standard(payload)


def test_a_long_integer_is_indexed_exactly() -> None:
    body = json.dumps(
        {"type": "entity.created", "payload": {"customer_id": 123456789012345678901234567890}}
    ).encode()
    assert parse_event(body).index_fields()["customer_id"] == "123456789012345678901234567890"


# ---------------------------------------------------------------------------------------------
# SQLite's WAL, checkpointed off the write path
# ---------------------------------------------------------------------------------------------


def test_the_writer_checkpoints_sqlites_wal_from_its_own_thread(tmp_path) -> None:
    store = EventStore(f"sqlite:///{tmp_path / 'wal.db'}")
    store.migrate()
    writer = EventWriter(store)

    async def deliver() -> None:
        for n in range(20):
            await writer.write(record(f"wal-{n}"))

    asyncio.run(deliver())
    checkpointer = writer._checkpointer
    assert checkpointer is not None
    deadline = time.monotonic() + 30  # a bound, not a measurement
    while checkpointer.checkpoints == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert checkpointer.checkpoints > 0
    assert store.count_events() == 20
    store.dispose()


def test_postgresql_takes_a_batch_of_any_size_in_one_statement(postgres_url: str) -> None:
    store = EventStore(postgres_url)
    store.migrate()
    store.prepare_event_writes(256)
    assert list(store._batch_upserts) == [0]  # one statement, whatever the batch
    ids = [f"one-statement-{n}" for n in range(300)]
    odd = record("one-statement-odd", message="نص عربي \x00 <b>**x**</b>", verified=False)
    results = store.write_events([*(record(event_id) for event_id in ids), odd, record(ids[0])])
    assert [r.delivery_count for r in results] == [1] * 301 + [2]
    assert list(store._batch_upserts) == [0]
    stored = store.get_event(odd.event_id)
    assert stored is not None and stored.message == "نص عربي \ufffd <b>**x**</b>"
    assert not stored.verified and stored.customer_id == "c1"
    # A value too long for its column (the writer fits them first) is refused by the column,
    # as in a VALUES list, not cut short by the arrays' casts.
    too_long = ("y" * 300, *store._event_values(record("fits"))[1:])
    with pytest.raises(StoreRejected, match="too long"), store.connect(write=True) as conn:
        store._batch_upsert(1).run(conn, [too_long])
    store.dispose()


def test_the_postgresql_writer_keeps_one_connection_and_replaces_a_dead_one(
    postgres_url: str,
) -> None:
    store = EventStore(postgres_url)
    store.migrate()
    writer = EventWriter(store).start()

    async def deliver(prefix: str, count: int) -> list[int | None]:
        outcomes: list[int | None] = []
        for n in range(count):
            try:
                outcomes.append((await writer.write(record(f"{prefix}-{n}"))).delivery_count)
            except StoreUnavailable:
                outcomes.append(None)
        return outcomes

    assert asyncio.run(deliver("held", 10)) == [1] * 10
    assert store.engine.pool.checkedout() == 1  # kept between batches
    with store.engine.connect() as conn:  # the database drops every other session
        conn.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    # The writer finds its connection dead before committing anything, and writes the batch
    # on a new one: no delivery is refused for it.
    assert asyncio.run(deliver("after", 3)) == [1, 1, 1]
    deadline = time.monotonic() + 30  # a bound, not a measurement
    while store.engine.pool.checkedout() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store.engine.pool.checkedout() == 0  # given back once deliveries stopped
    assert asyncio.run(deliver("later", 2)) == [1, 1]
    store.dispose()


def validated(payload: bytes) -> WebhookEvent:
    """The envelope as `model_validate` builds it (the slow path, kept for odd messages)."""
    data = dict(json.loads(payload))
    data.setdefault("payload", {})
    if not data.get("event_id") or isinstance(data["event_id"], dict | list | bool):
        data["event_id"] = body_digest(payload)
    data["event_id"] = str(data["event_id"])
    event = WebhookEvent.model_validate(data)
    event._timestamp_nanos = sub_microsecond_nanos(data.get("timestamp"))
    return event


envelopes = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["entity.created", "x"]),
        "payload": st.dictionaries(st.text(max_size=5), json_values, max_size=3),
    },
    optional={
        "message": st.none() | st.text(max_size=10),
        "event_id": st.none() | st.text(max_size=10) | st.integers() | st.booleans(),
        "timestamp": st.none()
        | st.sampled_from(["2026-11-01T10:00:00.123456789Z", "2026-11-01", "garbage", ""])
        | st.integers(min_value=0, max_value=2**40)
        | st.floats(allow_nan=False),
        "extra": json_values,
        "_private": json_values,
        "_fields_set": json_values,
    },
)


@settings(max_examples=150, deadline=None)
@given(envelopes)
def test_fast_envelope_equals_the_validated_one(envelope: dict[str, object]) -> None:
    payload = json.dumps(envelope).encode()
    fast = parse_event(payload)
    slow = validated(payload)
    assert fast == slow
    assert fast.model_fields_set == slow.model_fields_set
    assert fast.model_dump(exclude_unset=True) == slow.model_dump(exclude_unset=True)
    assert fast.index_fields() == slow.index_fields()


def test_the_request_handler_answers_as_the_asgi_app_does(store: EventStore) -> None:
    """`WebhookReceiver.handle` (for a Starlette route holding a `Request`) keeps every rule."""
    from starlette.applications import Starlette
    from starlette.routing import Route

    from console.webhooks import WEBHOOK_PATH, ReceiverConfig, WebhookReceiver
    from lean_api.webhooks import SIGNATURE_HEADER, generate_signature_header
    from sandbox.server import ThreadedServer
    from tests.receivers import SECRET

    receiver = WebhookReceiver(store, ReceiverConfig(secret=SECRET))
    app = Starlette(routes=[Route(WEBHOOK_PATH, receiver.handle, methods=["POST"])])
    server = ThreadedServer(app).start()
    try:
        url = server.url + WEBHOOK_PATH
        body = event("via-handle")
        signed = {SIGNATURE_HEADER: generate_signature_header(body, SECRET)}
        stored = requests.post(url, data=body, headers=signed, timeout=10)
        assert stored.status_code == 200
        assert stored.headers["content-type"] == "application/json"
        assert stored.json()["status"] == "stored"
        refused = requests.post(url, data=body, timeout=10)
        assert refused.status_code == 401
        assert refused.json() == {"error": "missing signature header"}
        assert store.get_event("via-handle") is not None
    finally:
        server.stop()
