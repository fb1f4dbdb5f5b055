"""The Triage screen in AppTest: against the sandbox over real HTTP, with a real event store.

Every kind of identifier leads to the same diagnosis of its customer; ambiguous, unknown,
malformed and hostile text say so; Lean failing still diagnoses from the stored webhooks.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from console.store import EventStore, audit_log
from sandbox import seed
from sandbox.faults import FaultConfig
from sandbox.server import SandboxServer
from sandbox.webhooks import entity_event, refresh_event
from tests.console.test_store_bank_health import stored
from tests.test_untrusted_text_screens import HOSTILE, assert_shown_literally

APP = str(Path(__file__).resolve().parents[1] / "app.py")
SCREEN = "pages/triage.py"  # the page the shared `screen` fixture (tests/conftest.py) opens
UNKNOWN_UUID = "00000000-0000-4000-8000-0000000000ee"
RESULTS_ID = "5d0c4f7e-1b2a-4c3d-8e9f-0a1b2c3d4e5f"


def texts(elements: object) -> str:
    return " ".join(str(e.value) for e in elements)  # type: ignore[attr-defined]


def triage(at: AppTest, q: str) -> AppTest:
    at.query_params["q"] = q
    return at.run()


def store_event(db: EventStore, event: dict) -> str:
    """Store a sandbox-shaped event as the receiver would."""
    at = event["timestamp"]
    db.write_events([stored(event["type"], event["payload"], at, event["event_id"])])
    return event["event_id"]


def cards(at: AppTest) -> str:
    return texts(at.markdown)


@pytest.fixture
def expired(
    sandbox: SandboxServer, db: EventStore
) -> tuple[seed.SeedCustomer, seed.SeedEntity, str]:
    """The seeded customer with an expired consent, its entity.created stored (with the IBAN of
    its first account, as Lean's entity webhooks name the accounts) and a refresh whose Lean
    results_id the stored body carries."""
    data = sandbox.state.data
    customer = seed.expired_consent_customer(data)
    assert customer is not None
    [entity] = data.entities_by_customer[customer.customer_id]
    event = entity_event("entity.created", entity, customer, entity.created_at)
    event["payload"]["consents"] = [
        {"accounts": [{"scheme_name": "IBAN", "identification": entity.accounts[0].iban}]}
    ]
    event_id = store_event(db, event)
    # Its last refresh, from before the consent expired, as a webhook carrying Lean's results_id.
    old = {"refresh_id": "9e0c4f7e-1b2a-4c3d-8e9f-0a1b2c3d4e50", "entity_id": entity.entity_id,
           "customer_id": customer.customer_id, "status": "FINISHED", "results_id": RESULTS_ID}  # fmt: skip
    db.write_events([stored("entity.data.refresh.updated", old, entity.created_at, "ev-old")])
    return customer, entity, event_id


def test_a_customer_id_gives_the_diagnosis_first_then_timeline_and_share(
    screen: AppTest, expired: tuple[seed.SeedCustomer, seed.SeedEntity, str], db: EventStore
) -> None:
    customer, entity, _ = expired
    at = triage(screen, customer.customer_id)
    assert not at.exception and not at.error, texts(at.error)
    assert "Consent expired" in cards(at) and "reconnect" in cards(at)
    assert "consent_expired" in texts(at.caption)
    assert ":red-badge[Action needed]" in cards(at)  # the word, and its colour
    timeline = at.dataframe[0].value
    assert {"Time (UTC)", "Kind", "What happened", "Id", "Open"} <= set(timeline.columns)
    assert all(link.startswith("/") for link in timeline["Open"] if link)
    times = list(timeline["Time (UTC)"])
    assert times == sorted(times, reverse=True)  # newest first: the latest failure on top
    assert any("moments, newest first" in str(c.value) for c in at.caption)
    [summary] = [c.value for c in at.code]
    assert customer.customer_id in summary and "rule consent_expired" in summary
    assert customer.person.first_en not in summary and entity.accounts[0].iban not in summary
    assert at.get("download_button")
    with db.connect() as conn:
        actions = conn.execute(
            select(audit_log.c.action, audit_log.c.subject).where(audit_log.c.action == "triage")
        ).all()
    assert actions == [("triage", customer.customer_id)]


@pytest.mark.parametrize("kind", ["entity_id", "event_id", "app_user_id", "iban", "results_id"])
def test_every_kind_of_identifier_leads_to_the_same_customer(
    screen: AppTest, expired: tuple[seed.SeedCustomer, seed.SeedEntity, str], kind: str
) -> None:
    customer, entity, event_id = expired
    q = {
        "entity_id": entity.entity_id,
        "event_id": event_id,
        "app_user_id": customer.app_user_id,
        "iban": entity.accounts[0].iban,
        "results_id": RESULTS_ID,
    }[kind]
    at = triage(screen, q)
    assert not at.exception and not at.error, texts(at.error)
    assert customer.customer_id in cards(at)
    assert "Consent expired" in cards(at)
    if kind == "iban":
        # The permalink names the bank connection, never the IBAN.
        assert entity.accounts[0].iban not in at.code[0].value
        assert entity.entity_id in at.code[0].value


def test_a_stuck_refresh_by_its_refresh_id(
    screen: AppTest, sandbox: SandboxServer, db: EventStore
) -> None:
    customer = seed.stuck_refresh_customer(sandbox.state.data)
    assert customer is not None
    [entity] = sandbox.state.data.entities_by_customer[customer.customer_id]
    stuck = max(entity.refreshes, key=lambda r: r.created_at)
    store_event(db, refresh_event(stuck, stuck.created_at))
    at = triage(screen, stuck.refresh_id)
    assert not at.exception and not at.error
    assert "Refresh pending for" in cards(at) and "Escalate to Lean" in cards(at)


def test_ambiguous_text_lists_each_customer_with_a_triage_link(
    screen: AppTest, db: EventStore
) -> None:
    first, second = "aaaaaaaa-0000-4000-8000-000000000001", "aaaaaaaa-0000-4000-8000-000000000002"
    now = datetime.now(UTC)
    db.write_events([
        stored("entity.created", {"id": "e-1", "customer_id": first, "app_user_id": "u1"}, now, "a1"),
        stored("entity.created", {"id": "e-2", "customer_id": second, "app_user_id": first}, now, "a2"),
    ])  # fmt: skip
    at = triage(screen, first)
    assert not at.exception
    assert "leads to 2 different customers" in texts(at.warning)
    links = at.get("page_link")
    targets = [str(link.proto) for link in links]
    assert any(second in t for t in targets) and any(first in t for t in targets)
    assert not at.get("download_button")


def test_unknown_text_says_so_and_what_to_paste(screen: AppTest) -> None:
    at = triage(screen, UNKNOWN_UUID)
    assert not at.exception
    assert "Nothing stored names" in texts(at.warning)
    assert "Lean has no customer with it" in texts(at.warning)
    assert "Paste one identifier" in texts(at.caption)


@pytest.mark.parametrize(
    "text, words",
    [
        ("x" * 600, "no identifier is longer"),
        ("SA0380000000608010167518", "check digits are wrong"),
    ],
)
def test_malformed_text_says_why(screen: AppTest, text: str, words: str) -> None:
    at = triage(screen, text)
    assert not at.exception
    assert words in texts(at.error)


def test_nothing_asked_explains_what_to_paste(screen: AppTest) -> None:
    at = screen.run()
    assert not at.exception and "Paste one identifier" in texts(at.info)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_text_is_shown_literally(screen: AppTest, name: str) -> None:
    hostile = HOSTILE[name].replace("\n", " ")
    at = triage(screen, hostile)
    # Quotes and angle brackets around a pasted id are dropped before it is looked up.
    assert_shown_literally(at, hostile.strip().strip("\"'`<>"))


def test_a_hostile_app_user_id_in_a_stored_webhook_is_shown_literally(
    screen: AppTest, sandbox: SandboxServer, db: EventStore
) -> None:
    customer = seed.expired_consent_customer(sandbox.state.data)
    assert customer is not None
    hostile = HOSTILE["link+image"]
    payload = {"id": "e-h", "customer_id": customer.customer_id, "app_user_id": hostile}
    db.write_events([stored("entity.updated", payload, datetime.now(UTC), "ev-hostile")])
    at = triage(screen, "ev-hostile")
    assert_shown_literally(at, customer.customer_id)


def test_lean_failing_still_diagnoses_from_stored_webhooks(
    screen: AppTest, sandbox: SandboxServer, db: EventStore
) -> None:
    customer = seed.stuck_refresh_customer(sandbox.state.data)
    assert customer is not None
    [entity] = sandbox.state.data.entities_by_customer[customer.customer_id]
    stuck = max(entity.refreshes, key=lambda r: r.created_at)
    store_event(db, entity_event("entity.created", entity, customer, entity.created_at))
    store_event(db, refresh_event(stuck, stuck.created_at))
    sandbox.faults.set(FaultConfig(error_rate=1.0, error_status=503))
    at = triage(screen, customer.customer_id)
    assert not at.exception
    assert "from stored webhooks only" in texts(at.warning)
    assert "Refresh pending for" in cards(at)


def test_lean_failing_on_unknown_text_says_lean_could_not_be_asked(
    screen: AppTest, sandbox: SandboxServer
) -> None:
    sandbox.faults.set(FaultConfig(error_rate=1.0, error_status=500))
    at = triage(screen, UNKNOWN_UUID)
    assert not at.exception
    assert "Lean could not be asked" in texts(at.error)


def test_a_viewer_gets_the_same_diagnosis_and_the_bundle(
    screen: AppTest,
    expired: tuple[seed.SeedCustomer, seed.SeedEntity, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONSOLE_DEFAULT_ROLE", "viewer")
    customer, entity, _ = expired
    at = triage(screen, customer.customer_id)
    assert not at.exception and "Consent expired" in cards(at)
    assert at.get("download_button")
    everything = cards(at) + texts(at.code) + texts(at.caption)
    assert entity.accounts[0].iban not in everything
    assert customer.person.national_id not in everything


def test_a_bank_event_names_no_customer_and_says_so(screen: AppTest, db: EventStore) -> None:
    flags = {
        "active": {"data": False, "payments": True},
        "enabled": {"data": True, "payments": True},
    }
    body = {"identifier": "RJHI_SAMAOB_SAU", "availability": flags}
    db.write_events(
        [
            stored(
                "bank.availability.updated", body, datetime.now(UTC) - timedelta(hours=1), "bank-ev"
            )
        ]
    )
    at = triage(screen, "bank-ev")
    assert not at.exception
    assert "nothing says which customer" in texts(at.warning)


def test_a_stopped_database_is_a_sentence_not_a_traceback(
    screen: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    at = triage(screen, UNKNOWN_UUID)
    assert not at.exception
    assert "database is not answering" in texts(at.error)


def test_a_paste_too_long_stays_in_the_box_and_is_refused(screen: AppTest) -> None:
    """The box has no `max_chars` (a longer paste was dropped whole in the browser): a paste
    longer than any identifier stays in it, is refused with its length, and the link is left."""
    at = triage(screen, UNKNOWN_UUID)
    pasted = "a" * 600
    at.text_input(key="triage_q").set_value(pasted)
    at.button[0].click().run()
    assert not at.exception
    assert "That is 600 characters; no identifier is longer than 256." in texts(at.error)
    assert at.text_input(key="triage_q").value == pasted
    assert at.query_params["q"] == UNKNOWN_UUID
