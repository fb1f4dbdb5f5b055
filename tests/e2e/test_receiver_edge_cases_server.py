"""The receiver's edge cases through `make run`'s server (`server.py`'s `WebhookFastPath`): the
same answers as the receiver alone (tests/console/test_receiver_edge_cases.py)."""

from __future__ import annotations

import json
import sqlite3

import pytest
import requests

from console.runtime import embedded_webhook_secret
from console.webhooks import DIFFERENT_BODY_KEPT
from lean_api.webhooks import BOM_REFUSED, SIGNATURE_HEADER, generate_signature_header
from tests.e2e.conftest import Console

pytestmark = pytest.mark.e2e


def post(console: Console, body: bytes) -> requests.Response:
    signature = generate_signature_header(body, embedded_webhook_secret())
    return requests.post(
        f"{console.url}/webhooks/lean", data=body, headers={SIGNATURE_HEADER: signature}, timeout=10
    )


def body(event_id: str, customer_id: str) -> bytes:
    payload = {"id": "e1", "customer_id": customer_id}
    return json.dumps({"type": "entity.created", "event_id": event_id, "payload": payload}).encode()


def test_the_console_server_answers_the_edge_cases_like_the_receiver(console: Console) -> None:
    bom = post(console, b"\xef\xbb\xbf" + body("edge-bom", "c1"))
    assert bom.status_code == 400 and bom.json()["error"] == f"malformed webhook: {BOM_REFUSED}"

    digits = b'{"type": "entity.created", "payload": {"n": ' + b"9" * 5000 + b"}}"
    long = post(console, digits)
    assert long.status_code == 400
    assert (
        long.json()["error"] == "malformed webhook: a number in the body has more than 4,300 digits"
    )

    assert post(console, body("edge-twice", "c1")).json()["status"] == "stored"
    other = post(console, body("edge-twice", "c2"))
    assert other.status_code == 200
    assert other.json() == {
        "status": "duplicate",
        "event_id": "edge-twice",
        "deliveries": 2,
        "different_body": DIFFERENT_BODY_KEPT,
    }

    database = sqlite3.connect(console.database_url.removeprefix("sqlite:///"))
    try:
        kept = {
            row[0]
            for row in database.execute(
                "SELECT body FROM webhook_dead_letters WHERE body LIKE '%edge-%' OR body LIKE '%99999%'"
            )
        }
        payload = database.execute(
            "SELECT payload FROM webhook_events WHERE event_id = 'edge-twice'"
        ).fetchone()[0]
    finally:
        database.close()
    assert body("edge-twice", "c2").decode() in kept
    assert ("\ufeff" + body("edge-bom", "c1").decode()) in kept
    assert digits.decode() in kept
    assert payload == body("edge-twice", "c1").decode()
