"""The Entity screen in AppTest: against the sandbox over real HTTP, with a real event store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from console import audit
from console.entities import status_words
from console.formatting import literal_md
from console.last_good import last_good
from console.store import EventRecord, EventStore, StoreUnavailable
from lean_api import LeanClient
from lean_api.models import Entity
from sandbox.faults import FaultConfig
from sandbox.seed import SeedEntity
from sandbox.server import SandboxServer
from tests.entity_payloads import CUSTOMER_ID, ENTITY_ID, large_entity_json
from tests.test_untrusted_text_screens import HOSTILE, assert_shown_literally

APP = str(Path(__file__).resolve().parents[1] / "app.py")
SCREEN = "pages/entities.py"  # the page the shared `screen` fixture (tests/conftest.py) opens
UNKNOWN_UUID = "00000000-0000-4000-8000-0000000000ee"


def texts(elements: object) -> str:
    return " ".join(str(e.value) for e in elements)  # type: ignore[attr-defined]


def seeded_entity(sandbox: SandboxServer, *, min_accounts: int = 1) -> SeedEntity:
    for entity in sorted(sandbox.state.data.entities.values(), key=lambda e: e.entity_id):
        if len(entity.accounts) >= min_accounts and entity.current_consent.status == "ACTIVE":
            return entity
    raise AssertionError("no seeded entity with accounts")


def store_event(db: EventStore, entity_id: str, customer_id: str, event_id: str = "ev-1") -> None:
    now = datetime.now(UTC)
    payload = {"id": entity_id, "customer_id": customer_id, "bank_identifier": "LEA1_SAMAOB_SAU"}
    body = json.dumps(
        {"type": "entity.updated", "message": "m", "payload": payload, "event_id": event_id}
    )
    db.write_events(
        [
            EventRecord(
                event_id=event_id,
                type="entity.updated",
                message="m",
                lean_timestamp=now,
                received_at=now,
                verified=True,
                source_ip="127.0.0.1",
                payload=body,
                size=len(body),
                customer_id=customer_id,
                entity_id=entity_id,
            )
        ]
    )


def open_entity(at: AppTest, entity_id: str, customer_id: str | None = None) -> AppTest:
    at.query_params["entity_id"] = entity_id
    if customer_id:
        at.query_params["customer_id"] = customer_id
    return at.run()


def test_found_shows_bank_consents_matrix_and_masked_accounts(
    screen: AppTest, sandbox: SandboxServer
) -> None:
    seeded = seeded_entity(sandbox)
    at = open_entity(screen, seeded.entity_id, seeded.customer_id)
    assert not at.exception and not at.error
    assert seeded.bank.name in texts(at.subheader)
    markdown = texts(at.markdown)
    assert seeded.bank.arabic_name in markdown and seeded.bank.identifier in markdown
    assert seeded.entity_id in texts(at.code)
    # No external logo (a broken image when the browser cannot reach Lean's CDN): the bank's
    # colour from Lean's bank list marks it beside its name.
    assert not at.get("image")
    assert f"background:{seeded.bank.color}" in markdown
    consents = at.dataframe[0].value
    assert len(consents) == len(seeded.consents)
    assert any(s.startswith("Active · ACTIVE") for s in consents["Status"])
    assert all("expire" in t for t in consents["Time left"])
    details = at.dataframe[1].value  # dates and ids, in an expander
    assert set(details["consent id"]) == {c.id for c in seeded.consents}
    matrix = at.dataframe[2].value
    assert list(matrix["Permission"])[:4] == [
        "Identity (the account holder) · identity",
        "Accounts · accounts",
        "Balances · balance",
        "Transactions · transactions",
    ]
    assert set(matrix["Entity (now)"]) <= {"Granted", "Not granted"}
    accounts = at.dataframe[3].value
    ibans = accounts[accounts["Lean scheme"] == "IBAN"]["Identifier"]
    assert len(ibans) == len(seeded.accounts)
    for account in seeded.accounts:
        assert account.iban not in set(accounts["Identifier"])
        assert f"{account.iban[:4]} •••• •••• •• {account.iban[-2:]}" in set(ibans)


def test_one_identifier_is_revealed_with_a_reason_and_audited(
    screen: AppTest, sandbox: SandboxServer, db: EventStore
) -> None:
    seeded = seeded_entity(sandbox)
    at = open_entity(screen, seeded.entity_id, seeded.customer_id)
    consent_id = seeded.current_consent.id
    key = "entity_reveal:0"  # the current consent's tab
    first, second = f"consent:{consent_id}:0", f"consent:{consent_id}:1"
    # No reason: nothing is shown, nothing audited, and the popover says why.
    at.selectbox(key=f"{key}:item").set_value(first)
    at = at.button(key=f"{key}:go").click().run()
    assert "Give a reason" in texts(at.error)
    assert seeded.accounts[0].iban not in set(at.dataframe[3].value["Identifier"])
    assert not audit.search(db, action="reveal")

    at.selectbox(key=f"{key}:item").set_value(first)
    at.text_input(key=f"{key}:reason").set_value("ticket 4521")
    at = at.button(key=f"{key}:go").click().run()
    identifiers = list(at.dataframe[3].value["Identifier"])
    assert identifiers[0] == seeded.accounts[0].iban  # that row only
    assert all("••" in shown for shown in identifiers[1:])
    (line,) = audit.search(db, action="reveal")
    assert (line.subject_kind, line.subject, line.reason) == ("entity", seeded.entity_id,
                                                              "ticket 4521")  # fmt: skip
    assert (
        line.detail.startswith("Identifier: IBAN SA") and seeded.accounts[0].iban not in line.detail
    )
    # The reason is remembered for this bank connection: the next reveal needs no retyping.
    assert at.text_input(key=f"{key}:reason").value == "ticket 4521"
    assert first not in at.selectbox(key=f"{key}:item").options
    at.selectbox(key=f"{key}:item").set_value(second)
    at = at.button(key=f"{key}:go").click().run()
    assert len(audit.search(db, action="reveal")) == 2
    assert "2 rows are shown unmasked" in texts(at.caption)
    at = at.button(key="entity_reveal:mask").click().run()
    assert all("••" in shown for shown in at.dataframe[3].value["Identifier"])


def test_customer_is_found_from_stored_webhooks(
    screen: AppTest, sandbox: SandboxServer, db: EventStore
) -> None:
    seeded = seeded_entity(sandbox)
    store_event(db, seeded.entity_id, seeded.customer_id)
    at = open_entity(screen, seeded.entity_id)
    assert not at.exception and not at.error and not at.warning
    assert "found from the book index and stored webhooks" in texts(at.caption)
    assert seeded.bank.name in texts(at.subheader)
    history = at.dataframe[-1].value
    assert list(history["event_id"]) == ["ev-1"]


def test_unknown_entity_without_customer_says_so_without_calling_lean(
    screen: AppTest, sandbox: SandboxServer
) -> None:
    sandbox.state.request_log.clear()
    at = open_entity(screen, UNKNOWN_UUID)
    assert not at.exception
    assert "cannot be found" in texts(at.warning)
    assert not any(UNKNOWN_UUID in path for _, path in sandbox.state.request_log)


def test_unknown_entity_of_a_customer_is_leans_not_found(
    screen: AppTest, sandbox: SandboxServer
) -> None:
    seeded = seeded_entity(sandbox)
    at = open_entity(screen, UNKNOWN_UUID, seeded.customer_id)
    assert not at.exception
    warning = texts(at.warning)
    assert "UNKNOWN_ENTITY" in warning and "results_id" in warning


@pytest.mark.parametrize("raw", ["nope", "12345", "a2c45b62-0182-4fd8", "**x**"])
def test_malformed_entity_id_is_refused_without_a_call(
    screen: AppTest, sandbox: SandboxServer, raw: str
) -> None:
    sandbox.state.request_log.clear()
    at = open_entity(screen, raw, "a33a50fc-b29c-4c03-9cab-379280d7e500")
    assert "invalid entity_id" in texts(at.error)
    assert not any("/entities/" in path for _, path in sandbox.state.request_log)
    assert not at.dataframe


def test_malformed_customer_id_is_refused(screen: AppTest) -> None:
    at = open_entity(screen, UNKNOWN_UUID, "not-a-customer")
    assert "invalid customer_id" in texts(at.error)


def test_lean_error_becomes_an_operator_message(screen: AppTest, sandbox: SandboxServer) -> None:
    seeded = seeded_entity(sandbox)
    sandbox.faults.set(
        FaultConfig(
            error_rate=1.0, error_code="INTERNAL_SERVER_ERROR", path_prefix="/customers/v1/"
        )
    )
    at = open_entity(screen, seeded.entity_id, seeded.customer_id)
    assert not at.exception
    message = texts(at.error)
    assert "Lean had an internal error" in message
    assert "INTERNAL_SERVER_ERROR" in message and "results_id" in message
    assert not at.dataframe


def test_lean_failing_after_a_good_answer_keeps_the_last_good_data(
    screen: AppTest, sandbox: SandboxServer
) -> None:
    seeded = seeded_entity(sandbox)
    at = open_entity(screen, seeded.entity_id, seeded.customer_id)
    assert at.dataframe
    st.cache_data.clear()
    sandbox.faults.set(FaultConfig(error_rate=1.0, path_prefix="/customers/v1/"))
    at.run()
    assert not at.exception
    assert "showing the entity from" in texts(at.warning)
    assert "INTERNAL_SERVER_ERROR" in texts(at.error)
    assert seeded.bank.name in texts(at.subheader)


def test_bank_names_failing_is_a_note_beside_the_connection_not_an_error(
    screen: AppTest, sandbox: SandboxServer
) -> None:
    seeded = seeded_entity(sandbox)
    st.cache_data.clear()
    sandbox.faults.set(
        FaultConfig(error_rate=1.0, error_code="INTERNAL_SERVER_ERROR", path_prefix="/banks/")
    )
    at = open_entity(screen, seeded.entity_id, seeded.customer_id)
    assert not at.exception
    assert not at.error  # the connection itself loaded
    note = texts(at.warning)
    assert "Bank names unavailable" in note and "INTERNAL_SERVER_ERROR" in note
    assert seeded.bank.identifier in texts(at.markdown)
    assert len(at.tabs) == len(seeded.consents)


@pytest.fixture
def large_entity(monkeypatch: pytest.MonkeyPatch) -> Entity:
    """Lean answers with an entity of 20 accounts and 5 consents, with words nobody knows."""
    entity = Entity.model_validate(large_entity_json(accounts=20, consents=5))

    def get_entity(self: LeanClient, customer_id: str, entity_id: str) -> Entity:
        assert (customer_id, entity_id) == (CUSTOMER_ID, ENTITY_ID)
        return entity

    monkeypatch.setattr(LeanClient, "get_entity", get_entity)
    return entity


def test_large_entity_with_unknown_words(screen: AppTest, large_entity: Entity) -> None:
    at = open_entity(screen, ENTITY_ID, CUSTOMER_ID)
    assert not at.exception and not at.error
    consents = at.dataframe[0].value
    assert len(consents) == 5
    assert "Not known to the console · PAUSED_BY_BANK" in set(consents["Status"])
    assert "Waiting for the customer to authorise · AWAITING_AUTHORIZATION" in set(
        consents["Status"]
    )
    assert literal_md(status_words("RECONNECT_REQUIRED")) in texts(at.markdown)
    matrix = at.dataframe[2].value
    assert "Not known to the console · payments_initiation" in set(matrix["Permission"])
    assert len(matrix.columns) == 1 + 5 + 1
    assert len(at.tabs) == 5
    first_tab = at.tabs[0].dataframe[0].value
    assert len(first_tab[first_tab["Lean scheme"] == "IBAN"]) == 20
    assert "National ID" in set(first_tab["Scheme"])
    assert "(no name given)" in set(first_tab["Account"])
    assert not any("SA10" in i and "•" not in i for i in first_tab["Identifier"])


def test_without_entity_id_the_screen_asks_for_one(screen: AppTest) -> None:
    at = screen.run()
    assert not at.exception
    assert "enter its entity_id" in texts(at.info)


def hostile_entity(text: str) -> Entity:
    payload = large_entity_json(accounts=2, consents=2)
    payload["bank_identifier"] = text
    payload["status"] = text
    payload["permissions"] = {text: True, "identity": True}
    for consent in payload["consents"]:
        consent["id"] = text
        consent["bank_consent_id"] = text
        consent["consent_status"] = text
        for account in consent["accounts"]:
            account["name"] = text
            account["scheme_name"] = text
    return Entity.model_validate(payload)


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_text_from_lean_and_webhooks_is_shown_literally(
    screen: AppTest, db: EventStore, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    text = HOSTILE[kind]
    entity = hostile_entity(text)
    monkeypatch.setattr(LeanClient, "get_entity", lambda self, customer_id, entity_id: entity)
    store_event(db, ENTITY_ID, text)  # the customer_id comes from a webhook
    at = open_entity(screen, ENTITY_ID)
    assert_shown_literally(at, text)
    assert not at.get("image")  # no logo from anything but Lean's bank list


def test_links_to_the_customer_the_bank_and_the_entitys_webhooks(
    screen: AppTest, sandbox: SandboxServer
) -> None:
    seeded = seeded_entity(sandbox)
    at = open_entity(screen, seeded.entity_id, seeded.customer_id)
    links = [(link.proto.page, link.proto.query_string) for link in at.get("page_link")]
    assert any(
        p.endswith("customers") and q == f"customer_id={seeded.customer_id}" for p, q in links
    )
    assert any(p.endswith("webhooks") and q == f"entity_id={seeded.entity_id}" for p, q in links)
    assert any(
        p.endswith("webhooks")
        and q == f"entity_id={seeded.entity_id}&type=entity.data.refresh.updated"
        for p, q in links
    )
    both = f"entity_id={seeded.entity_id}&customer_id={seeded.customer_id}"
    labels = {link.proto.label: link.proto.page for link in at.get("page_link")}
    # "Its data refreshes" opens the Data refreshes screen, not the webhooks inbox.
    assert labels["Its data refreshes"].endswith("refreshes")
    assert any(p.endswith("refreshes") and q == both for p, q in links)
    assert any(p.endswith("data") and q == both for p, q in links)
    if Path(APP).with_name("pages").joinpath("banks.py").exists():
        assert any(p.endswith("banks") and q == f"bank={seeded.bank.identifier}" for p, q in links)


@pytest.fixture
def no_store(db: EventStore, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    """The console with a database that does not answer."""

    def down(*args: object, **kwargs: object) -> None:
        raise StoreUnavailable("database is locked")

    monkeypatch.setattr(EventStore, "query_events", down)
    monkeypatch.setattr(EventStore, "count_events", down)
    st.cache_data.clear()
    last_good().clear()
    at = AppTest.from_file(APP, default_timeout=30).run()
    at.switch_page("pages/entities.py")
    yield at


def test_store_down_with_only_an_entity_id_says_what_to_do(no_store: AppTest) -> None:
    at = open_entity(no_store, UNKNOWN_UUID)
    assert not at.exception
    assert "event store is unavailable" in texts(at.error)
    assert "customer_id" in texts(at.error)


def test_store_down_still_shows_the_entity_from_lean(
    no_store: AppTest, sandbox: SandboxServer
) -> None:
    seeded = seeded_entity(sandbox)
    at = open_entity(no_store, seeded.entity_id, seeded.customer_id)
    assert not at.exception
    assert seeded.bank.name in texts(at.subheader)
    assert "event store is unavailable" in texts(at.warning)


def test_account_details_from_lean_only_when_asked_and_masked(
    screen: AppTest, sandbox: SandboxServer
) -> None:
    seeded = seeded_entity(sandbox)
    at = open_entity(screen, seeded.entity_id, seeded.customer_id)
    tables = len(at.dataframe)
    sandbox.state.request_log.clear()
    at.toggle(key="entity_data_accounts").set_value(True).run()
    assert not at.exception and not at.error
    assert any(path.startswith("/data/v2/accounts") for _, path in sandbox.state.request_log)
    details = next(t.value for t in at.dataframe if "Holder" in t.value.columns)
    assert len(at.dataframe) == tables + 1
    assert sorted(details["account_id"]) == sorted(a.account_id for a in seeded.accounts)
    joined = " ".join(details["Identifiers"])
    for account in seeded.accounts:
        assert account.iban not in joined
        assert f"{account.iban[:4]} •••• •••• •• {account.iban[-2:]}" in joined


def test_account_details_failing_keeps_the_rest_of_the_screen(
    screen: AppTest, sandbox: SandboxServer
) -> None:
    seeded = seeded_entity(sandbox)
    at = open_entity(screen, seeded.entity_id, seeded.customer_id)
    sandbox.faults.set(
        FaultConfig(
            error_rate=1.0, error_status=403, error_code="CONSENT_EXPIRED", path_prefix="/data/v2/"
        )
    )
    at.toggle(key="entity_data_accounts").set_value(True).run()
    assert not at.exception
    assert "CONSENT_EXPIRED" in texts(at.error) + texts(at.warning)
    assert seeded.bank.name in texts(at.subheader)
    assert len(at.tabs) == len(seeded.consents)


def test_customer_is_found_from_the_book_index(
    screen: AppTest, sandbox: SandboxServer, db: EventStore
) -> None:
    from datetime import UTC, datetime

    from console.store import index_entities

    seeded = seeded_entity(sandbox)
    with db.engine.begin() as conn:
        conn.execute(
            index_entities.insert().values(
                entity_id=seeded.entity_id.lower(),
                customer_id=seeded.customer_id.lower(),
                bank_identifier=seeded.bank.identifier,
                last_seen_at=datetime.now(UTC).replace(tzinfo=None),
            )
        )
    at = open_entity(screen, seeded.entity_id)  # no customer_id, no stored webhook
    assert not at.exception and not at.error and not at.warning
    assert seeded.bank.name in texts(at.subheader)
