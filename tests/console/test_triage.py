"""Gathering a customer's history against the sandbox over loopback HTTP and a real SQLite store
fed by a real receiver: an expired consent, a stuck refresh, a refused `entity.created`; and the
summary and debug bundle carry no personal data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from console.identifiers import InvalidSearch
from console.insights.triage import diagnose
from console.store import EventStore
from console.triage import debug_bundle, find_subject, gather, summary_text, timeline
from console.webhooks import ReceiverConfig
from lean_api.client import LeanClient
from sandbox import seed
from sandbox.faults import FaultConfig
from sandbox.server import SandboxServer
from sandbox.webhooks import ROTATED_SECRET, WebhookEmitter, entity_event, refresh_event
from tests.receivers import SECRET, Receiver


@pytest.fixture
def db(tmp_path: Path) -> Iterator[EventStore]:
    store = EventStore(f"sqlite:///{tmp_path / 'triage.db'}")
    store.migrate()
    yield store
    store.dispose()


@pytest.fixture
def inbox(db: EventStore) -> Iterator[Receiver]:
    served = Receiver(db, ReceiverConfig(secret=SECRET))
    yield served
    served.server.stop()


def deliver(sandbox: SandboxServer, inbox: Receiver, *events: dict[str, Any], **how: Any) -> None:
    """Send events through the sandbox's real emitter to the real receiver."""
    emitter = WebhookEmitter(sandbox.state, inbox.url, SECRET, time_scale=0.001).start()
    try:
        for event in events:
            emitter.send(event, **how)
        assert emitter.wait_idle(timeout=20)
    finally:
        emitter.stop()
    inbox.receiver.rejections.wait_idle()


def personal_data(customer: seed.SeedCustomer, data: seed.SandboxData) -> list[str]:
    person = customer.person
    values = [person.first_en, person.last_en, person.first_ar, person.last_ar,
              person.national_id, person.email, person.mobile]  # fmt: skip
    for entity in data.entities_by_customer[customer.customer_id]:
        values.extend(a.iban for a in entity.accounts)
        values.extend(a.bban for a in entity.accounts)
    return [v for v in values if v]


def test_an_expired_consent_is_diagnosed_from_lean_and_leaks_nothing_personal(
    sandbox: SandboxServer, client: LeanClient, db: EventStore, inbox: Receiver
) -> None:
    data = sandbox.state.data
    customer = seed.expired_consent_customer(data)
    assert customer is not None
    [entity] = data.entities_by_customer[customer.customer_id]
    # Webhooks about it were stored (their bodies name the customer and the bank).
    deliver(sandbox, inbox, entity_event("entity.updated", entity, customer, entity.created_at))
    gathered = gather(client, db, customer.customer_id)
    history = gathered.history
    assert history.lean_answered and history.app_user_id == customer.app_user_id
    assert [e.entity_id for e in history.entities] == [entity.entity_id]
    findings = diagnose(history)
    assert findings[0].rule == "consent_expired"
    assert findings[0].refs["entity_id"] == entity.entity_id
    assert any(row["Kind"] == "Webhook" for row in timeline(history))
    # The screen's Lean entity carries IBANs, names and the national ID; none may leave.
    summary = summary_text(history, findings, "http://localhost:8501/triage?q=x")
    bundle = debug_bundle(gathered, findings)
    json.loads(bundle)
    for secret in personal_data(customer, data):
        assert secret not in bundle, secret
        assert secret not in summary, secret
    assert customer.customer_id in bundle and entity.entity_id in bundle
    assert '"consent_expired"' in bundle and customer.app_user_id in summary


def test_a_stuck_refresh_is_diagnosed_with_its_refresh_id(
    sandbox: SandboxServer, client: LeanClient, db: EventStore, inbox: Receiver
) -> None:
    data = sandbox.state.data
    customer = seed.stuck_refresh_customer(data)
    assert customer is not None
    [entity] = data.entities_by_customer[customer.customer_id]
    stuck = max(entity.refreshes, key=lambda r: r.created_at)
    deliver(sandbox, inbox, refresh_event(stuck, stuck.created_at))
    gathered = gather(client, db, customer.customer_id)
    findings = diagnose(gathered.history)
    stuck_findings = [f for f in findings if f.rule == "refresh_stuck"]
    assert [f.refs["refresh_id"] for f in stuck_findings] == [stuck.refresh_id]
    fact = next(r for r in gathered.history.refreshes if r.refresh_id == stuck.refresh_id)
    assert fact.source == "both" and fact.pending
    assert stuck.refresh_id in debug_bundle(gathered, findings)
    # The refresh_id alone leads to its customer (the stored webhook names it).
    assert find_subject(db, client, stuck.refresh_id).customer_id == customer.customer_id


def test_the_backfill_refuses_one_seeded_entity_created_and_triage_shows_the_rejection(
    sandbox: SandboxServer, client: LeanClient, db: EventStore, inbox: Receiver
) -> None:
    data = sandbox.state.data
    refused = seed.refused_webhook_entity(data)
    assert refused is not None
    # The back-fill signs exactly that entity.created with the rotated secret, once.
    queued: list[tuple[dict[str, Any], dict[str, Any]]] = []
    recorder = WebhookEmitter(sandbox.state, inbox.url, SECRET)
    recorder.send = lambda event, delay=0.0, **how: queued.append((event, how))  # type: ignore[method-assign]
    stored = recorder.backfill(days=30)
    odd = [(e, how) for e, how in queued if how]
    assert len(queued) == stored + 1
    assert [(e["type"], e["payload"]["id"]) for e, _ in odd] == [
        ("entity.created", refused.entity_id)
    ]
    assert odd[0][1] == {"sign_with": ROTATED_SECRET, "retry": False}
    # Sent for real: the receiver refuses it and keeps what it claimed.
    deliver(sandbox, inbox, odd[0][0], **odd[0][1])
    [rejection] = db.list_rejections()
    assert rejection["status_code"] == 401
    assert rejection["claimed_customer_id"] == refused.customer_id
    gathered = gather(client, db, refused.customer_id)
    findings = diagnose(gathered.history)
    assert findings[0].rule == "entity_created_refused"
    assert findings[0].refs["entity_id"] == refused.entity_id
    kinds = [row["Kind"] for row in timeline(gathered.history)]
    assert "Refused" in kinds and "Connection" in kinds


def test_lean_failing_degrades_to_stored_webhooks_only(
    sandbox: SandboxServer, client: LeanClient, db: EventStore, inbox: Receiver
) -> None:
    data = sandbox.state.data
    customer = seed.stuck_refresh_customer(data)
    assert customer is not None
    [entity] = data.entities_by_customer[customer.customer_id]
    stuck = max(entity.refreshes, key=lambda r: r.created_at)
    deliver(sandbox, inbox, entity_event("entity.created", entity, customer, entity.created_at),
            refresh_event(stuck, stuck.created_at))  # fmt: skip
    sandbox.faults.set(FaultConfig(error_rate=1.0, error_status=503))
    gathered = gather(client, db, customer.customer_id)
    history = gathered.history
    assert not history.lean_answered
    assert history.lean_problem and "from stored webhooks only" in history.lean_problem
    assert [e.entity_id for e in history.entities] == [entity.entity_id]
    rules = [f.rule for f in diagnose(history)]
    assert "refresh_stuck" in rules and "lean_not_answering" in rules


def test_identifiers_lead_to_their_customer_and_unknown_text_to_none(
    sandbox: SandboxServer, client: LeanClient, db: EventStore, inbox: Receiver
) -> None:
    data = sandbox.state.data
    customer = seed.expired_consent_customer(data)
    assert customer is not None
    [entity] = data.entities_by_customer[customer.customer_id]
    event = entity_event("entity.created", entity, customer, entity.created_at)
    # As Lean's entity webhooks do, it names the accounts the consent covers.
    iban = entity.accounts[0].iban
    event["payload"]["consents"] = [
        {"accounts": [{"scheme_name": "IBAN", "identification": iban, "name": None}]}
    ]
    deliver(sandbox, inbox, event)
    for text in (customer.customer_id, entity.entity_id, event["event_id"], customer.app_user_id):
        subject = find_subject(db, client, text)
        assert subject.customer_id == customer.customer_id, text
    # Only Lean knows this one: asked by customer_id.
    other = next(c for c in sorted(data.customers) if c != customer.customer_id)
    subject = find_subject(db, client, other)
    assert subject.customer_id == other and subject.meanings[0].evidence.startswith("Lean knows")
    unknown = find_subject(db, client, "00000000-0000-4000-8000-0000000000ee")
    assert unknown.customer_id is None and not unknown.meanings and unknown.problem is None
    with pytest.raises(InvalidSearch):
        find_subject(db, client, "a\nb")
    # An IBAN leads to its connection; a link to the triage names the entity, not the IBAN.
    by_iban = find_subject(db, client, iban)
    assert by_iban.customer_id == customer.customer_id
    assert by_iban.link_text == entity.entity_id


def test_a_lean_results_id_in_a_stored_refresh_webhook_leads_to_its_customer(
    sandbox: SandboxServer, client: LeanClient, db: EventStore, inbox: Receiver
) -> None:
    data = sandbox.state.data
    customer = seed.stuck_refresh_customer(data)
    assert customer is not None
    [entity] = data.entities_by_customer[customer.customer_id]
    event = refresh_event(entity.refreshes[0], entity.refreshes[0].created_at)
    event["payload"]["results_id"] = "7c1e2a55-0b5e-4d8c-9a34-3f1d2c0b9e11"
    deliver(sandbox, inbox, event)
    subject = find_subject(db, client, "7c1e2a55-0b5e-4d8c-9a34-3f1d2c0b9e11")
    assert subject.customer_id == customer.customer_id
    assert subject.meanings[0].kind == "results_id"
    assert datetime.now(UTC)  # the history gathers for it like any other customer
    assert gather(client, db, subject.customer_id).history.entities


def test_failing_lean_calls_in_the_request_log_escalate_and_their_results_id_is_found(
    sandbox: SandboxServer, client: LeanClient, db: EventStore
) -> None:
    from console.request_log import call_row
    from console.store import lean_calls
    from lean_api.calls import LeanCall

    customer = seed.expired_consent_customer(sandbox.state.data)
    assert customer is not None
    path = f"/customers/v1/{customer.customer_id}/entities"
    failed = LeanCall(
        at=datetime.now(UTC), method="GET", path=path, route="/customers/v1/{customer_id}/entities",
        status=503, outcome="server_error", lean_code="INTERNAL_SERVER_ERROR",
        results_id="res-503-a", latency_ms=812, retries=2, caller="Customers", on_behalf_of=None,
        customer_id=customer.customer_id, entity_id=None, refresh_id=None, message="boom",
    )  # fmt: skip
    with db.connect(write=True) as conn:
        conn.execute(lean_calls.insert(), [call_row(failed)])
    subject = find_subject(db, client, "res-503-a")
    assert subject.customer_id == customer.customer_id
    assert subject.meanings[0].kind == "results_id"
    gathered = gather(client, db, customer.customer_id)
    assert gathered.history.request_log_available
    findings = diagnose(gathered.history)
    failing = next(f for f in findings if f.rule == "lean_calls_failing")
    assert failing.refs == {"results_id": "res-503-a"}
    assert any(row["Kind"] == "Lean call" for row in timeline(gathered.history))
    assert '"res-503-a"' in debug_bundle(gathered, findings)


def test_forged_unsigned_claims_through_the_real_receiver_collapse_into_one_note(
    sandbox: SandboxServer, client: LeanClient, db: EventStore, inbox: Receiver
) -> None:
    import uuid

    import httpx

    data = sandbox.state.data
    customer = next(
        c for c in data.customers.values() if data.entities_by_customer.get(c.customer_id)
    )
    forged_ids = [str(uuid.uuid4()) for _ in range(30)]
    with httpx.Client() as http:
        for n, entity_id in enumerate(forged_ids):
            body = {"type": "entity.created",
                    "payload": {"customer_id": customer.customer_id, "id": entity_id}}  # fmt: skip
            headers = {} if n % 2 else {"lean-signature": "sha256=" + "0" * 64}
            assert http.post(inbox.url, json=body, headers=headers).status_code == 401
    inbox.receiver.rejections.wait_idle()
    gathered = gather(client, db, customer.customer_id)
    findings = diagnose(gathered.history)
    [refused] = [f for f in findings if f.rule == "entity_created_refused"]
    assert refused.severity.word != "Action needed" and refused.title.startswith("Possibly forged")
    assert "nothing to do for the customer" in refused.next_action
    bundle = json.loads(debug_bundle(gathered, findings))
    assert bundle["refused_deliveries"]["credible_count"] == 0
    assert len(bundle["refused_deliveries"]["example_entities_claimed"]) <= 3
    text = json.dumps(bundle) + summary_text(gathered.history, findings, "link")
    assert sum(entity_id in text for entity_id in forged_ids) <= 3
