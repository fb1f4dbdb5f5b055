"""The receiver over real loopback HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from console.store import EventFilter, EventStore
from console.webhooks import (
    MAX_BODY_BYTES,
    WEBHOOK_PATH,
    ReceiverConfig,
    WebhookReceiver,
    create_app,
)
from lean_api.webhooks import SIGNATURE_HEADER, compute_signature, generate_signature_header
from sandbox.server import ThreadedServer
from tests.receivers import SECRET, Receiver, event

GUIDE = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "lean-reference"
    / "integration-guide-ksa.txt"
)


def test_signed_event_is_stored_before_200(receiver: Receiver) -> None:
    response = receiver.post(
        event(
            customer_id="c1",
            id="e1",
            app_user_id="u1",
            bank_details={"identifier": "RJHI_SAMAOB_SAU"},
        )
    )
    assert response.status_code == 200 and response.json()["status"] == "stored"
    stored = receiver.store.get_event("ev-1")
    assert stored is not None and stored.verified
    assert (stored.customer_id, stored.entity_id, stored.app_user_id, stored.bank_identifier) == (
        "c1",
        "e1",
        "u1",
        "RJHI_SAMAOB_SAU",
    )
    assert stored.lean_timestamp == datetime(2026, 11, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert stored.source_ip == "127.0.0.1"


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        (None, "missing signature header"),
        ("sha512=" + "0" * 128, "does not match"),
        ("sha512=" + compute_signature(event(), SECRET)[:64], "malformed"),
        ("sha256=" + compute_signature(event(), SECRET), "unsupported signature algorithm"),
        ("garbage", "malformed"),
    ],
)
def test_forged_or_missing_signature_is_401_and_recorded(
    receiver: Receiver, signature: str | None, reason: str
) -> None:
    response = receiver.post(event(), signature=signature)
    assert response.status_code == 401 and reason in response.json()["error"]
    assert receiver.store.count_events() == 0
    rejection = receiver.store.list_rejections()[0]
    assert rejection["status_code"] == 401 and reason in rejection["reason"]
    assert rejection["source_ip"] == "127.0.0.1" and rejection["size"] == len(event())
    # What the refused body claimed to be is kept for triage, marked as a claim.
    assert rejection["claimed_type"] == "entity.created"
    assert rejection["claimed_event_id"] == "ev-1"
    assert (rejection["claimed_customer_id"], rejection["claimed_entity_id"]) == ("c1", "e1")


def test_same_event_twice_is_stored_once(receiver: Receiver) -> None:
    assert receiver.post(event()).json()["status"] == "stored"
    second = receiver.post(event())
    assert second.status_code == 200 and second.json() == {
        "status": "duplicate",
        "event_id": "ev-1",
        "deliveries": 2,
    }
    assert receiver.store.count_events() == 1


def test_concurrent_deliveries_of_one_event_are_one_row(receiver: Receiver) -> None:
    statuses: list[int] = []
    barrier = threading.Barrier(10)

    def deliver() -> None:
        barrier.wait()
        statuses.append(receiver.post(event("concurrent")).status_code)

    threads = [threading.Thread(target=deliver) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 10
    assert receiver.store.count_events() == 1
    assert receiver.store.get_event("concurrent").delivery_count == 10  # type: ignore[union-attr]


def test_out_of_order_refresh_events_keep_leans_order(receiver: Receiver) -> None:
    base = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    finished = event(
        "r-fin",
        "entity.data.refresh.updated",
        (base + timedelta(seconds=8)).isoformat(),
        refresh_id="r1",
        entity_id="e",
        status="FINISHED",
    )
    pending = event(
        "r-pend",
        "entity.data.refresh.updated",
        base.isoformat(),
        refresh_id="r1",
        entity_id="e",
        status="PENDING",
    )
    assert receiver.post(finished).status_code == 200
    assert receiver.post(pending).status_code == 200
    assert receiver.store.count_events(EventFilter(refresh_id="r1")) == 2
    assert receiver.store.refresh_status("r1").status == "FINISHED"  # type: ignore[union-attr]


def test_store_failure_is_503_then_success_on_retry(receiver: Receiver) -> None:
    holder = EventStore(receiver.store.url)
    with holder.engine.connect() as conn:
        if receiver.store.dialect == "sqlite":
            conn.exec_driver_sql("BEGIN EXCLUSIVE")
        else:
            conn.exec_driver_sql("BEGIN")
            conn.exec_driver_sql("LOCK TABLE webhook_events IN ACCESS EXCLUSIVE MODE")
        failed = receiver.post(event("during-outage"))
        conn.rollback()
    holder.dispose()
    assert failed.status_code == 503 and failed.headers["Retry-After"]
    retried = receiver.post(event("during-outage"))
    assert (
        retried.status_code == 200 and retried.json()["deliveries"] == 1
    )  # nothing half-stored before


def test_unknown_types_are_stored_and_shown(receiver: Receiver) -> None:
    body = event(
        "pay-1",
        "payment_source.beneficiary.created",
        None,
        customer_id="c9",
        payment_source_id="ps-1",
    )
    assert receiver.post(body).status_code == 200
    stored = receiver.store.get_event("pay-1")
    assert (
        stored is not None
        and stored.type == "payment_source.beneficiary.created"
        and stored.customer_id == "c9"
    )


def test_oversized_body_is_413_and_not_stored(receiver: Receiver) -> None:
    body = event(blob="x" * (MAX_BODY_BYTES + 10))
    response = receiver.post(body)
    assert response.status_code == 413
    assert receiver.store.count_events() == 0
    assert receiver.store.list_rejections()[0]["status_code"] == 413


def test_oversized_stream_without_length_is_413(receiver: Receiver) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"x" * 65536

    response = requests.post(
        receiver.url, data=chunks(), headers={SIGNATURE_HEADER: "sha512=00"}, timeout=10
    )
    assert response.status_code == 413


def test_malformed_json_is_400_and_dead_lettered(receiver: Receiver) -> None:
    body = b'{"type": "entity.created", "payload": {'
    response = receiver.post(body)
    assert response.status_code == 400 and "malformed" in response.json()["error"]
    letter = receiver.store.list_dead_letters()[0]
    assert letter["body"] == body.decode() and letter["verified"] is True
    assert receiver.store.count_events() == 0


def test_allow_list_refuses_other_addresses(store: EventStore) -> None:
    served = Receiver(
        store,
        ReceiverConfig(
            secret=SECRET, allowed_networks=ReceiverConfig.parse_networks("10.0.0.0/8, 192.0.2.7")
        ),
    )
    try:
        response = served.post(event())
        assert response.status_code == 403
        assert store.count_events() == 0 and store.list_rejections()[0]["status_code"] == 403
    finally:
        served.server.stop()
    allowed = Receiver(
        store,
        ReceiverConfig(
            secret=SECRET, allowed_networks=ReceiverConfig.parse_networks("127.0.0.0/8")
        ),
    )
    try:
        assert allowed.post(event()).status_code == 200
    finally:
        allowed.server.stop()


def test_allow_list_rejects_bad_entries() -> None:
    with pytest.raises(ValueError, match="invalid entry"):
        ReceiverConfig.parse_networks("10.0.0.0/8, not-an-ip")


def test_without_secret_deliveries_are_refused_401(store: EventStore) -> None:
    served = Receiver(store, ReceiverConfig(secret=None))
    try:
        response = served.post(event(), signature=None)
        assert response.status_code == 401 and "LEAN_WEBHOOK_SECRET" in response.json()["error"]
        assert store.count_events() == 0
        assert store.list_rejections()[0]["status_code"] == 401
    finally:
        served.server.stop()


def test_unsigned_events_are_stored_unverified_only_when_allowed(store: EventStore) -> None:
    served = Receiver(store, ReceiverConfig(secret=None, allow_unsigned=True))
    try:
        assert served.post(event(), signature=None).status_code == 200
        assert store.get_event("ev-1").verified is False  # type: ignore[union-attr]
    finally:
        served.server.stop()


def guide_webhooks() -> list[bytes]:
    """Every webhook JSON example in Lean's integration guide."""
    if not GUIDE.is_file():
        return []
    text = GUIDE.read_text()
    bodies = []
    for match in re.finditer(r'\{\s*"type":\s*"[a-z_.]+"', text):
        depth, start = 0, match.start()
        for index in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[index], 0)
            if depth == 0:
                bodies.append(text[start : index + 1].encode())
                break
    return bodies


@pytest.mark.skipif(not GUIDE.is_file(), reason="../shared/lean-reference is not present")
def test_every_webhook_in_the_integration_guide_is_stored(receiver: Receiver) -> None:
    bodies = guide_webhooks()
    types = {json.loads(b)["type"] for b in bodies}
    assert {
        "entity.created",
        "entity.updated",
        "entity.data.refresh.updated",
        "bank.availability.updated",
    } <= types
    for body in bodies:
        response = receiver.post(body)
        assert response.status_code == 200, response.text
    assert receiver.store.count_events() == len(bodies)
    bank = receiver.store.query_events(EventFilter(types=("bank.availability.updated",)))[0]
    assert bank.bank_identifier == "LEA1_SAMAOB_SAU" and bank.status == "disabled_by_lean"
    created = receiver.store.query_events(EventFilter(types=("entity.created",)))[0]
    assert created.entity_id == "dd64bba9-9446-4ca0-b9ed-bec2b2a49024"


def test_receiver_starts_without_its_database_and_answers_503() -> None:
    down = EventStore("postgresql://nobody@127.0.0.1:9/none")
    with ThreadedServer(
        create_app(WebhookReceiver(down, ReceiverConfig(secret=SECRET))), lifespan="on"
    ) as server:
        body = event()
        response = requests.post(
            server.url + WEBHOOK_PATH,
            data=body,
            headers={SIGNATURE_HEADER: generate_signature_header(body, SECRET)},
            timeout=10,
        )
        assert response.status_code == 503 and response.headers["Retry-After"]
        assert requests.get(server.url + "/healthz", timeout=10).status_code == 503
