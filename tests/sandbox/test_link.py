"""The sandbox's Link (`POST /_sandbox/link`): authorised by the customer-scoped token only, refuses
unavailable banks, and on success creates the entity, consent, accounts and first refresh and
announces them with `entity.created` and refresh webhooks; on failure it creates nothing."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
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
from sandbox.link import LINK_PATH
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
                "access_from": "2099-02-01T00:00:00+03:00",
                "access_to": "2099-01-01T00:00:00+03:00",
            },
            "before",
        ),
        ({"access_to": "next tuesday"}, "ISO 8601"),
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
