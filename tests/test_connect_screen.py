"""The Connect a bank screen in AppTest: the whole journey against a sandbox over real HTTP, with
its webhooks delivered to a real receiver in front of the screen's own store."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from console.access import Actor, Role
from console.last_good import last_good
from console.runtime import get_backend
from console.store import EventFilter, EventStore
from console.ui_access import ACTOR_KEY
from console.webhooks import ReceiverConfig
from sandbox.app import SandboxConfig
from sandbox.faults import FaultConfig
from sandbox.server import SandboxServer
from sandbox.webhooks import WebhookEmitter
from tests.conftest import ANCHOR, point_console_at_sandbox
from tests.receivers import SECRET, Receiver
from tests.sandbox.test_link import available_bank
from tests.test_account_data_screen import texts
from tests.test_secrets_never_shown import rendered

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
PAGE = "pages/connect.py"


@pytest.fixture(scope="module")
def journey_sandbox() -> Iterator[SandboxServer]:
    """A sandbox of its own: the journey connects banks the shared sandbox must not see."""
    with SandboxServer(SandboxConfig(anchor=ANCHOR, refresh_seconds=0.5)) as server:
        yield server


@pytest.fixture
def store(
    tmp_path: Path, journey_sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[EventStore]:
    point_console_at_sandbox(journey_sandbox, monkeypatch)
    url = f"sqlite:///{tmp_path / 'connect.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    events = EventStore(url)
    events.migrate()
    st.cache_data.clear()
    last_good().clear()
    yield events
    events.dispose()


@pytest.fixture
def webhooks(store: EventStore, journey_sandbox: SandboxServer) -> Iterator[Receiver]:
    """The sandbox's webhooks, signed, delivered to a receiver writing the screen's store."""
    receiver = Receiver(store, ReceiverConfig(secret=SECRET))
    emitter = WebhookEmitter(journey_sandbox.state, receiver.url, SECRET).start()
    yield receiver
    journey_sandbox.state.listeners.remove(emitter._on_sandbox_change)
    emitter.stop()
    receiver.server.stop()


def screen() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page(PAGE)
    return at


def button(at: AppTest, label: str) -> object:
    matches = [b for b in at.button if b.label == label]
    assert matches, f"no button {label!r} in {[b.label for b in at.button]}"
    return matches[0]


def overview(at: AppTest) -> str:
    return next(str(m.value) for m in at.markdown if str(m.value).startswith("| Step |"))


def start_journey(at: AppTest) -> str:
    """Create a customer and mint its token; returns the customer_id."""
    at.run()
    assert not at.exception
    assert "Not started" in overview(at)
    button(at, "Create customer").click().run()  # type: ignore[attr-defined]
    assert not at.exception, at.exception
    customer_id = at.query_params["customer_id"]
    button(at, "Mint a customer token").click().run()  # type: ignore[attr-defined]
    assert not at.exception, at.exception
    assert "min left" in texts(at) and "never shown" in texts(at)
    return customer_id


def test_the_whole_journey_up_to_the_data(
    store: EventStore,
    webhooks: Receiver,
    journey_sandbox: SandboxServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    at = screen()
    customer_id = start_journey(at)
    # The token the screen minted (the client's cache) is on no screen and in no log line.
    customer_token = get_backend().client.customer_token(customer_id).value
    secrets = (customer_token, journey_sandbox.config.client_secret)
    assert not [s for s in secrets if s in rendered(at) or s in caplog.text]
    bank = available_bank(journey_sandbox)
    at.selectbox[0].set_value(bank)
    at.multiselect[0].set_value(["identity", "accounts", "transactions"])
    button(at, "Run Link").click().run()  # type: ignore[attr-defined]
    assert not at.exception, at.exception
    # The connection exists: the screen found it and put it in its address.
    (entity,) = journey_sandbox.state.data.entities_by_customer[customer_id]
    assert at.query_params["entity_id"] == entity.entity_id
    assert entity.bank.identifier == bank
    assert [p for p, granted in entity.permissions.items() if granted] == [
        "identity",
        "accounts",
        "transactions",
    ]
    # entity.created and the refresh webhooks arrive, and the screen follows them.
    for _ in range(60):
        finished = store.count_events(EventFilter(customer_id=customer_id, types=(
            "entity.data.refresh.updated",))) >= 2  # fmt: skip
        created = store.count_events(
            EventFilter(customer_id=customer_id, types=("entity.created",))
        )
        if finished and created:
            break
        time.sleep(0.1)
    at.run()
    assert not at.exception, at.exception
    assert "entity.created arrived and the first data refresh finished." in texts(at)
    rows = at.dataframe[-1].value
    assert set(rows["Type"]) >= {"Bank connected", "Data refresh"}
    links = [link.proto.page for link in at.get("page_link")]
    assert any("webhooks" in page for page in links)
    # Verify ownership with the national ID the bank holds for the customer.
    national_id = journey_sandbox.state.data.customers[customer_id].person.national_id
    verify = next(t for t in at.text_input if t.label.startswith("Customer's national ID"))
    verify.set_value(national_id)
    button(at, "Verify ownership").click().run()  # type: ignore[attr-defined]
    assert not at.exception, at.exception
    assert any("Verified" in str(s.value) for s in at.success)
    assert national_id not in texts(at)
    table = overview(at)
    assert table.count("Done") == 6, table
    assert not [s for s in secrets if s in rendered(at) or s in caplog.text]
    # And the data: links to the connection's screens carry its entity_id.
    query_links = [(link.proto.page, link.proto.query_string) for link in at.get("page_link")]
    assert any(
        page == "account_data" and query == f"entity_id={entity.entity_id}"
        for page, query in query_links
    ), [q for q in query_links if "webhooks" not in q[0]]


def test_a_failed_link_creates_nothing_and_says_what_next(
    journey_sandbox: SandboxServer, store: EventStore
) -> None:
    at = screen()
    customer_id = start_journey(at)
    at.radio[-1].set_value("REJECTED_BY_BANK")
    button(at, "Run Link").click().run()  # type: ignore[attr-defined]
    assert not at.exception, at.exception
    error = " ".join(str(e.value) for e in at.error)
    assert "the bank rejected the customer's login. Nothing was created." in error
    assert "REJECTED_BY_BANK" in error
    assert "entity_id" not in at.query_params
    assert journey_sandbox.state.data.entities_by_customer.get(customer_id) is None
    assert "| 3. Link | :red-badge[Failed]" in overview(at)


def test_a_choice_link_cannot_take_is_not_sent(
    journey_sandbox: SandboxServer, store: EventStore
) -> None:
    at = screen()
    customer_id = start_journey(at)
    at.multiselect[0].set_value([])
    button(at, "Run Link").click().run()  # type: ignore[attr-defined]
    assert not at.exception, at.exception
    assert "Choose at least one permission." in " ".join(str(e.value) for e in at.error)
    assert journey_sandbox.state.data.entities_by_customer.get(customer_id) is None
    # Unavailable banks are listed with the reason, never offered.
    bank_choices = at.selectbox[0].options
    assert all("ALIN_SAMAOB_SAU" not in choice for choice in bank_choices)
    unavailable = at.dataframe[0].value
    assert "ALIN_SAMAOB_SAU" in set(unavailable["Identifier"])


def test_lean_failing_to_list_banks_is_explained(
    journey_sandbox: SandboxServer, store: EventStore
) -> None:
    at = screen()
    start_journey(at)
    st.cache_data.clear()
    journey_sandbox.faults.set(FaultConfig(error_rate=1.0, path_prefix="/banks"))
    try:
        at.run()
    finally:
        journey_sandbox.faults.set(FaultConfig())
    assert not at.exception, at.exception
    assert "Lean had an internal error" in texts(at)
    assert not [b for b in at.button if b.label == "Run Link"]
    # The steps before it stay done, and say so.
    assert "| 2. Customer token | :green-badge[Done]" in overview(at)


def test_malformed_customer_id_stops_with_the_reason(store: EventStore) -> None:
    at = screen()
    at.query_params["customer_id"] = "1 OR 1=1 <b>x</b>"
    at.run()
    assert not at.exception
    assert "The link names an invalid customer_id." in " ".join(str(e.value) for e in at.error)
    assert not [b for b in at.button if b.label == "Mint a customer token"]


def test_unknown_customer_says_so(store: EventStore) -> None:
    at = screen()
    at.query_params["customer_id"] = "00000000-0000-4000-8000-0000000000ee"
    at.run()
    assert not at.exception
    assert "Lean has no such customer." in texts(at)
    assert "| 1. Customer | :red-badge[Failed]" in overview(at)


def test_resuming_from_the_address_shows_the_connection(
    store: EventStore, journey_sandbox: SandboxServer
) -> None:
    customer_id, entities = next(
        (cid, es) for cid, es in sorted(journey_sandbox.state.data.entities_by_customer.items())
    )
    at = screen()
    at.query_params["customer_id"] = customer_id
    at.query_params["entity_id"] = entities[0].entity_id
    at.run()
    assert not at.exception, at.exception
    table = overview(at)
    assert "| 1. Customer | :green-badge[Done]" in table
    assert "| 3. Link | :green-badge[Done]" in table
    assert [b for b in at.button if b.label == "Verify ownership"]


def test_non_admins_have_no_such_screen_and_the_page_refuses_them(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONSOLE_DEFAULT_ROLE", "support")
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    with pytest.raises(Exception, match="connect"):
        at.switch_page(PAGE).run()
    # Reached some other way (a stale page, a crafted rerun), the page itself refuses.
    page = AppTest.from_file(str(ROOT / PAGE), default_timeout=60)
    page.session_state[ACTOR_KEY] = Actor("sam@example.org", "Sam", Role.SUPPORT, "proxy")
    page.run()
    assert not page.exception
    assert "needs the admin role (yours: support)" in " ".join(str(e.value) for e in page.error)
    assert not page.button


def test_a_connection_of_another_customer_is_refused(
    store: EventStore, journey_sandbox: SandboxServer
) -> None:
    (first, _), (_, second_entities) = sorted(
        journey_sandbox.state.data.entities_by_customer.items()
    )[:2]
    at = screen()
    at.query_params["customer_id"] = first
    at.query_params["entity_id"] = second_entities[0].entity_id
    at.run()
    assert not at.exception, at.exception
    assert "Lean has no such bank connection for this customer" in texts(at)
    assert "| 4. Connection and webhooks | :red-badge[Failed]" in overview(at)
    assert not [b for b in at.button if b.label == "Verify ownership"]


def test_connecting_another_bank_follows_the_new_connection(
    store: EventStore, journey_sandbox: SandboxServer
) -> None:
    at = screen()
    customer_id = start_journey(at)
    button(at, "Run Link").click().run()  # type: ignore[attr-defined]
    first = at.query_params["entity_id"]
    assert "Link succeeded" in " ".join(str(s.value) for s in at.success)
    # The form stays at hand (folded) for a second bank; its Link is followed, not the first.
    chosen = at.selectbox[0].index
    at.selectbox[0].select_index(1 if chosen == 0 else 0)
    button(at, "Run Link").click().run()  # type: ignore[attr-defined]
    assert not at.exception, at.exception
    second = at.query_params["entity_id"]
    connections = {
        e.entity_id for e in journey_sandbox.state.data.entities_by_customer[customer_id]
    }
    assert connections == {first, second} and first != second
    # The same bank again is a reconnect: a new consent on the same connection, no new entity.
    at.selectbox[0].select_index(chosen)
    button(at, "Run Link").click().run()  # type: ignore[attr-defined]
    assert not at.exception, at.exception
    assert at.query_params["entity_id"] == first
    assert {
        e.entity_id for e in journey_sandbox.state.data.entities_by_customer[customer_id]
    } == connections
