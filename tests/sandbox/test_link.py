"""The sandbox's Link (`POST /_sandbox/link`): authorised by the customer-scoped token only, refuses
unavailable banks, and on success creates the entity, consent, accounts and first refresh and
announces them with `entity.created` and refresh webhooks; on failure it creates nothing."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
import requests

from console.store import EventFilter
from lean_api import LeanClient
from lean_api.models import Customer
from sandbox import incidents
from sandbox.app import SandboxConfig
from sandbox.link import LINK_PATH, MAX_BODY_BYTES
from sandbox.server import SandboxServer
from sandbox.webhooks import WebhookEmitter
from tests.conftest import ANCHOR
from tests.receivers import SECRET, Receiver


@pytest.fixture(scope="module")
def link_sandbox() -> Iterator[SandboxServer]:
    """A sandbox of its own: these tests connect banks, which the shared one must not see."""
    with SandboxServer(SandboxConfig(anchor=ANCHOR, refresh_seconds=0.5)) as server:
        yield server


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    """A real receiver over loopback in front of a SQLite store (the backend does not matter
    here: the store's own tests cover both)."""
    from console.store import EventStore
    from console.webhooks import ReceiverConfig

    store = EventStore(f"sqlite:///{tmp_path / 'link.db'}")
    store.migrate()
    served = Receiver(store, ReceiverConfig(secret=SECRET))
    yield served
    served.server.stop()
    store.dispose()


@pytest.fixture
def lean(link_sandbox: SandboxServer) -> Iterator[LeanClient]:
    from lean_api import LeanSettings

    client = LeanClient(LeanSettings.from_env(link_sandbox.env(), dotenv_path=None))
    yield client
    client.close()


@pytest.fixture
def customer(lean: LeanClient) -> Customer:
    return lean.create_customer(f"link_test_{uuid.uuid4().hex[:12]}")


def available_bank(server: SandboxServer) -> str:
    now = datetime.now(UTC)
    state = server.state
    for bank in state.data.banks:
        flags = incidents.availability_at(
            state.data.seed, bank.identifier, state.bank_availability[bank.identifier], now
        )
        if flags["active"]["data"] and flags["enabled"]["data"]:
            return bank.identifier
    raise AssertionError("no bank is available now")


def unavailable_bank(server: SandboxServer) -> str:
    # Alinma's data is switched off in the portal in the seed (availability.enabled.data false).
    bank = server.state.data.banks_by_id["ALIN_SAMAOB_SAU"]
    assert not bank.enabled_data
    return bank.identifier


def link(server: SandboxServer, token: str | None, **body: object) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(server.url + LINK_PATH, json=body, headers=headers, timeout=10)


def entities_of(server: SandboxServer, customer_id: str) -> list[object]:
    return list(server.state.data.entities_by_customer.get(customer_id, []))


def ask(server: SandboxServer, **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "bank_identifier": available_bank(server),
        "permissions": ["identity", "accounts", "balance", "transactions"],
        "outcome": "SUCCESS",
    }
    body.update(overrides)
    return body


def test_customer_token_connects_the_bank(
    link_sandbox: SandboxServer, lean: LeanClient, customer: Customer
) -> None:
    token = lean.customer_token(customer.customer_id)
    access_to = (datetime.now(UTC) + timedelta(days=90)).isoformat()
    access_from = (datetime.now(UTC) - timedelta(days=180)).isoformat()
    response = link(
        link_sandbox,
        token.value,
        **ask(link_sandbox, access_from=access_from, access_to=access_to),
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] == "SUCCESS" and answer["secondary_status"] is None
    assert answer["bank"]["is_supported"] is True
    (entity,) = entities_of(link_sandbox, customer.customer_id)
    # Lean's API now lists the connection, with the permissions and window asked for.
    (listed,) = lean.list_entities(customer.customer_id)
    assert listed.id == entity.entity_id  # type: ignore[attr-defined]
    assert listed.granted_permissions == ["identity", "accounts", "balance", "transactions"]
    consent = listed.current_consent
    assert consent is not None and consent.consent_status == "ACTIVE"
    assert (
        abs((consent.expiration_date_time - datetime.fromisoformat(access_to)).total_seconds()) < 1
    )
    assert (
        abs(
            (
                consent.transaction_from_date_time - datetime.fromisoformat(access_from)
            ).total_seconds()
        )
        < 1
    )
    # Accounts from the seed's generator, and the first refresh started at once.
    assert list(lean.iter_accounts(listed.id))
    assert [r.entity_id for r in lean.iter_refreshes(listed.id)] == [listed.id]


def test_app_token_is_refused(
    link_sandbox: SandboxServer, lean: LeanClient, customer: Customer
) -> None:
    response = link(link_sandbox, lean.tokens.token("api"), **ask(link_sandbox))
    assert response.status_code == 403
    assert response.json()["status"] == "FORBIDDEN"
    assert "customer-scoped" in response.json()["message"]
    assert entities_of(link_sandbox, customer.customer_id) == []


def forged(server: SandboxServer, customer_id: str, seconds_left: float) -> str:
    """A customer token signed by the sandbox's key, with `seconds_left` of validity."""
    now = int(time.time())
    claims = {
        "iat": now - 3600,
        "exp": int(now + seconds_left),
        "lean_scope": f"customer.{customer_id}",
    }
    return jwt.encode(claims, server.state.signing_key, algorithm="HS256")


def test_expired_token_is_refused(link_sandbox: SandboxServer, customer: Customer) -> None:
    response = link(
        link_sandbox, forged(link_sandbox, customer.customer_id, -5), **ask(link_sandbox)
    )
    assert response.status_code == 401
    assert response.json()["status"] == "UNAUTHORIZED"
    assert "expired" in response.json()["message"]
    assert entities_of(link_sandbox, customer.customer_id) == []


def test_token_with_under_ten_minutes_left_is_refused(
    link_sandbox: SandboxServer, customer: Customer
) -> None:
    token = forged(link_sandbox, customer.customer_id, 9 * 60)
    response = link(link_sandbox, token, **ask(link_sandbox))
    assert response.status_code == 401
    assert "at least 10" in response.json()["message"]
    # Eleven minutes is enough.
    token = forged(link_sandbox, customer.customer_id, 11 * 60)
    assert link(link_sandbox, token, **ask(link_sandbox, outcome="CANCELLED")).status_code == 200


def test_missing_or_foreign_token_is_refused(
    link_sandbox: SandboxServer, lean: LeanClient, customer: Customer
) -> None:
    assert link(link_sandbox, None, **ask(link_sandbox)).status_code == 401
    assert link(link_sandbox, "not-a-jwt", **ask(link_sandbox)).status_code == 401
    other = lean.create_customer(f"link_other_{uuid.uuid4().hex[:8]}")
    token = lean.customer_token(other.customer_id).value
    response = link(link_sandbox, token, **ask(link_sandbox, customer_id=customer.customer_id))
    assert response.status_code == 403
    assert entities_of(link_sandbox, customer.customer_id) == []
    assert entities_of(link_sandbox, other.customer_id) == []


def test_unavailable_bank_is_refused(
    link_sandbox: SandboxServer, lean: LeanClient, customer: Customer
) -> None:
    token = lean.customer_token(customer.customer_id).value
    response = link(
        link_sandbox, token, **ask(link_sandbox, bank_identifier=unavailable_bank(link_sandbox))
    )
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "INVALID_PARAMETERS" and body["results_id"]
    assert "not available" in body["message"] and "enabled.data" in body["message"]
    assert entities_of(link_sandbox, customer.customer_id) == []


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"permissions": []}, "at least one"),
        ({"permissions": ["identity", "payments"]}, "Unknown permission"),
        ({"bank_identifier": "NOPE_SAU"}, "bank_identifier"),
        ({"access_to": "2020-01-01T00:00:00Z"}, "future"),
        (
            {
                "access_from": (datetime.now(UTC) + timedelta(days=60)).isoformat(),
                "access_to": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
            },
            "before",
        ),
        ({"access_to": "next tuesday"}, "ISO 8601"),
        # Off the calendar once in UTC: refused as unreadable, never a 500.
        ({"access_from": "0001-01-01T00:00:00+03:00"}, "ISO 8601"),
        ({"access_to": "9999-12-31T23:59:59-05:00"}, "ISO 8601"),
        # Readable, but no consent could mean them.
        ({"access_from": "0001-01-01"}, "2000-01-01"),
        ({"access_from": "1999-12-31T23:59:59Z"}, "2000-01-01"),
        ({"access_to": "9999-12-31T23:59:59Z"}, "three years"),
        ({"access_to": (datetime.now(UTC) + timedelta(days=4 * 365)).isoformat()}, "three years"),
        ({"outcome": "MAYBE"}, "outcome"),
    ],
)
def test_bad_choices_are_refused_and_create_nothing(
    link_sandbox: SandboxServer,
    lean: LeanClient,
    customer: Customer,
    overrides: dict[str, object],
    words: str,
) -> None:
    token = lean.customer_token(customer.customer_id).value
    response = link(link_sandbox, token, **ask(link_sandbox, **overrides))
    assert response.status_code == 400
    assert words in response.json()["message"]
    assert entities_of(link_sandbox, customer.customer_id) == []


@pytest.mark.parametrize(
    ("outcome", "status", "secondary"),
    [
        ("CANCELLED", "CANCELLED", None),
        ("REJECTED_BY_BANK", "ERROR", "REJECTED_BY_BANK"),
        ("FAILED", "ERROR", "FAILED"),
    ],
)
def test_failed_link_answers_leans_words_and_creates_nothing(
    link_sandbox: SandboxServer,
    lean: LeanClient,
    customer: Customer,
    outcome: str,
    status: str,
    secondary: str | None,
) -> None:
    token = lean.customer_token(customer.customer_id).value
    refreshes_before = len(link_sandbox.state.data.refreshes)
    response = link(link_sandbox, token, **ask(link_sandbox, outcome=outcome))
    assert response.status_code == 200
    answer = response.json()
    assert (answer["status"], answer["secondary_status"]) == (status, secondary)
    assert answer["message"]
    assert entities_of(link_sandbox, customer.customer_id) == []
    assert lean.list_entities(customer.customer_id) == []
    assert len(link_sandbox.state.data.refreshes) == refreshes_before


def test_success_sends_entity_created_then_refresh_webhooks_to_a_real_receiver(
    link_sandbox: SandboxServer, lean: LeanClient, customer: Customer, receiver: Receiver
) -> None:
    emitter = WebhookEmitter(link_sandbox.state, receiver.url, SECRET).start()
    try:
        token = lean.customer_token(customer.customer_id).value
        assert link(link_sandbox, token, **ask(link_sandbox)).status_code == 200
        (entity,) = entities_of(link_sandbox, customer.customer_id)
        # The refresh finishes after refresh_seconds; its FINISHED webhook is queued for then.
        deadline = time.monotonic() + 20
        flt = EventFilter(customer_id=customer.customer_id)
        while time.monotonic() < deadline:
            stored = receiver.store.query_events(flt, limit=20)
            if any(e.status == "FINISHED" for e in stored):
                break
            time.sleep(0.1)
    finally:
        link_sandbox.state.listeners.remove(emitter._on_sandbox_change)
        emitter.stop()
    by_type: dict[str, list[object]] = {}
    for event in stored:
        by_type.setdefault(event.type, []).append(event)
    (created,) = by_type["entity.created"]
    assert created.entity_id == entity.entity_id  # type: ignore[attr-defined]
    assert created.verified  # type: ignore[attr-defined]
    statuses = {e.status for e in by_type["entity.data.refresh.updated"]}  # type: ignore[attr-defined]
    assert statuses == {"PENDING", "FINISHED"}
    assert all(
        e.entity_id == entity.entity_id  # type: ignore[attr-defined]
        for e in by_type["entity.data.refresh.updated"]
    )


def test_a_failed_link_sends_no_webhook(
    link_sandbox: SandboxServer, lean: LeanClient, customer: Customer, receiver: Receiver
) -> None:
    emitter = WebhookEmitter(link_sandbox.state, receiver.url, SECRET).start()
    try:
        token = lean.customer_token(customer.customer_id).value
        assert (
            link(link_sandbox, token, **ask(link_sandbox, outcome="CANCELLED")).status_code == 200
        )
        # A success for another customer afterwards proves the emitter was listening.
        other = lean.create_customer(f"link_after_{uuid.uuid4().hex[:8]}")
        other_token = lean.customer_token(other.customer_id).value
        assert link(link_sandbox, other_token, **ask(link_sandbox)).status_code == 200
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if receiver.store.count_events(EventFilter(customer_id=other.customer_id)):
                break
            time.sleep(0.1)
    finally:
        link_sandbox.state.listeners.remove(emitter._on_sandbox_change)
        emitter.stop()
    assert receiver.store.count_events(EventFilter(customer_id=other.customer_id)) >= 1
    assert receiver.store.count_events(EventFilter(customer_id=customer.customer_id)) == 0


# -- hostile bodies ----------------------------------------------------------------------------


def post_raw(server: SandboxServer, token: str, body: bytes, **headers: str) -> requests.Response:
    sent = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", **headers}
    return requests.post(server.url + LINK_PATH, data=body, headers=sent, timeout=30)


@pytest.mark.parametrize(
    "body",
    [
        "[" * 30_000 + "]" * 30_000,
        '{"a":' * 10_000 + "1" + "}" * 10_000,
        '{"bank_identifier": ' + "[" * 30_000 + "]" * 30_000 + "}",
    ],
    ids=["lists", "objects", "inside-a-field"],
)
def test_deeply_nested_json_is_a_400_not_a_500(
    link_sandbox: SandboxServer, lean: LeanClient, customer: Customer, body: str
) -> None:
    assert len(body) <= MAX_BODY_BYTES  # within the size limit: the parser itself must cope
    token = lean.customer_token(customer.customer_id).value
    response = post_raw(link_sandbox, token, body.encode())
    assert response.status_code == 400, response.text
    assert response.json()["status"] == "INVALID_PARAMETERS"
    assert "nests too deeply" in response.json()["message"]
    assert entities_of(link_sandbox, customer.customer_id) == []


def test_a_body_over_the_limit_is_refused_with_413(
    link_sandbox: SandboxServer, lean: LeanClient, customer: Customer
) -> None:
    token = lean.customer_token(customer.customer_id).value
    response = post_raw(link_sandbox, token, b"[" * 100_000 + b"]" * 100_000)
    assert response.status_code == 413
    body = response.json()
    assert body["status"] == "PAYLOAD_TOO_LARGE" and str(MAX_BODY_BYTES) in body["message"]
    assert body["results_id"] and body["timestamp"]
    assert entities_of(link_sandbox, customer.customer_id) == []


def raw_answer(server: SandboxServer, head: bytes, body_parts: list[bytes]) -> bytes:
    """Send a request's head and only `body_parts` over a socket, then read the answer: a
    server that waited for the rest of the body would never answer (the read times out)."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head)
        for part in body_parts:
            sock.sendall(part)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


def test_a_20_mb_body_is_refused_without_being_read(
    link_sandbox: SandboxServer, lean: LeanClient, customer: Customer
) -> None:
    token = lean.customer_token(customer.customer_id).value
    head = (
        f"POST {LINK_PATH} HTTP/1.1\r\nHost: sandbox\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {20 * 1024 * 1024}\r\n\r\n"
    ).encode()
    # Only 1 KB of the announced 20 MB is ever sent.
    answer = raw_answer(link_sandbox, head, [b" " * 1024])
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_a_chunked_body_is_cut_off_at_the_limit(
    link_sandbox: SandboxServer, lean: LeanClient, customer: Customer
) -> None:
    token = lean.customer_token(customer.customer_id).value
    head = (
        f"POST {LINK_PATH} HTTP/1.1\r\nHost: sandbox\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    chunk = b" " * 16_384
    part = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
    # Five chunks (80 KB) and no last chunk: the answer must come without the rest.
    answer = raw_answer(link_sandbox, head, [part] * 5)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert entities_of(link_sandbox, customer.customer_id) == []


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32", "utf-8-sig"])
def test_only_utf8_json_is_read(
    link_sandbox: SandboxServer, lean: LeanClient, customer: Customer, encoding: str
) -> None:
    token = lean.customer_token(customer.customer_id).value
    import json

    body = json.dumps(ask(link_sandbox)).encode(encoding)
    response = post_raw(link_sandbox, token, body)
    assert response.status_code == 400, response.text
    assert response.json()["status"] == "INVALID_PARAMETERS"
    assert entities_of(link_sandbox, customer.customer_id) == []
    # The same request in UTF-8 connects: it is the encoding that was refused.
    assert post_raw(link_sandbox, token, json.dumps(ask(link_sandbox)).encode()).ok


# -- reconnecting ------------------------------------------------------------------------------


def test_simultaneous_links_to_one_bank_make_one_entity(
    link_sandbox: SandboxServer, lean: LeanClient, customer: Customer
) -> None:
    token = lean.customer_token(customer.customer_id).value
    heard: list[tuple[str, str]] = []

    def listen(kind: str, obj: object) -> None:
        if kind.startswith("entity.") and obj.customer_id == customer.customer_id:  # type: ignore[attr-defined]
            heard.append((kind, obj.entity_id))  # type: ignore[attr-defined]

    link_sandbox.state.listeners.append(listen)
    try:
        body = ask(link_sandbox)
        with ThreadPoolExecutor(max_workers=20) as pool:
            answers = list(pool.map(lambda _: link(link_sandbox, token, **body), range(20)))
    finally:
        link_sandbox.state.listeners.remove(listen)
    assert [a.status_code for a in answers] == [200] * 20
    assert {a.json()["status"] for a in answers} == {"SUCCESS"}
    (entity,) = entities_of(link_sandbox, customer.customer_id)
    (listed,) = lean.list_entities(customer.customer_id)
    assert listed.id == entity.entity_id  # type: ignore[attr-defined]
    # The first Link created it; the other nineteen reconnected it: one consent each, only the
    # newest active.
    kinds = [kind for kind, _ in heard]
    assert kinds[0] == "entity.created" and kinds.count("entity.created") == 1
    assert kinds.count("entity.updated") == 19
    assert {entity_id for _, entity_id in heard} == {entity.entity_id}  # type: ignore[attr-defined]
    consents = entity.consents  # type: ignore[attr-defined]
    assert len(consents) == 20
    assert [c.status for c in consents].count("ACTIVE") == 1
    assert entity.current_consent.status == "ACTIVE"  # type: ignore[attr-defined]


def test_reconnecting_takes_the_new_permissions_and_window(
    link_sandbox: SandboxServer, lean: LeanClient, customer: Customer
) -> None:
    token = lean.customer_token(customer.customer_id).value
    bank = available_bank(link_sandbox)
    assert link(link_sandbox, token, **ask(link_sandbox)).status_code == 200
    access_to = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    again = ask(link_sandbox, permissions=["accounts", "balance"], access_to=access_to.isoformat())
    assert link(link_sandbox, token, **again).status_code == 200
    (listed,) = lean.list_entities(customer.customer_id)
    assert listed.bank_identifier == bank
    assert sorted(listed.granted_permissions) == ["accounts", "balance"]
    consent = listed.current_consent
    assert consent is not None and consent.consent_status == "ACTIVE"
    assert consent.expiration_date_time == access_to
