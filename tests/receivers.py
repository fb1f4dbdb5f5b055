"""A webhook receiver served over real loopback HTTP, and bodies to post to it (tests)."""

from __future__ import annotations

import json

import requests

from console.store import EventStore
from console.webhooks import WEBHOOK_PATH, ReceiverConfig, WebhookReceiver, create_app
from lean_api.webhooks import SIGNATURE_HEADER, generate_signature_header
from sandbox.server import ThreadedServer

SECRET = "whsec_receiver_test"


class Receiver:
    """A receiver served over HTTP, and what tests need to talk to it."""

    def __init__(self, store: EventStore, config: ReceiverConfig) -> None:
        self.store = store
        self.receiver = WebhookReceiver(store, config)
        self.server = ThreadedServer(create_app(self.receiver), lifespan="on").start()
        self.url = self.server.url + WEBHOOK_PATH

    def post(
        self, body: bytes, signature: str | None = "sign", **headers: str
    ) -> requests.Response:
        if signature == "sign":
            headers[SIGNATURE_HEADER] = generate_signature_header(body, SECRET)
        elif signature is not None:
            headers[SIGNATURE_HEADER] = signature
        response = requests.post(self.url, data=body, headers=headers, timeout=10)
        # Rejections are logged in the background; tests read them once written.
        self.receiver.rejections.wait_idle()
        return response


def event(
    event_id: str = "ev-1",
    type_: str = "entity.created",
    at: str | None = "2026-11-01T10:00:00.123456789Z",
    **payload: object,
) -> bytes:
    body: dict[str, object] = {
        "type": type_,
        "message": "m",
        "payload": payload or {"id": "e1", "customer_id": "c1"},
        "event_id": event_id,
    }
    if at:
        body["timestamp"] = at
    return json.dumps(body).encode()
