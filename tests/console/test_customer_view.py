"""The customer view's loading: the parallel path answers like the sequential one, a detail Lean
does not give is a problem in the view, and the watermark moves with the customer's webhooks."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from console.customer_view import (
    CustomerView,
    KnownCustomers,
    account_overview_rows,
    customer_watermark,
    fetch_customer_view,
    fetch_customer_view_sequential,
    newest_bank_event,
)
from console.customers import CustomerQuery
from console.store import BANK_NEWEST_INDEX, EventStore, events
from lean_api import LeanClient, LeanSettings
from lean_api.calls import LeanCall, calling_as
from lean_api.errors import APIConnectionError, ConfigurationError, LeanError, NotFoundError
from lean_api.models import Customer
from lean_api.retry import overall_deadline
from sandbox.app import SandboxConfig
from sandbox.faults import FaultConfig
from sandbox.server import SandboxServer
from tests.receivers import Receiver, event
from tests.wide_customer import add_wide_customer

_names = itertools.count()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    """A sandbox of this module's own: the wide customers it gets stay out of the shared one
    (whose first customer with two connections other tests pick)."""
    with SandboxServer(SandboxConfig()) as server:
        yield server


@pytest.fixture
def wide(sandbox: SandboxServer, client: LeanClient) -> Iterator[Customer]:
    """A customer with 5 bank connections of 4 accounts each."""
    yield add_wide_customer(sandbox, client, f"wide_view_{next(_names)}")


def shape(view: CustomerView) -> tuple[object, ...]:
    return (
        view.customer.customer_id,
        sorted(e.id for e in view.entities),
        account_overview_rows(view),
        sorted(view.banks),
        view.problems,
    )


@pytest.mark.parametrize("kind", ["customer_id", "app_user_id"])
def test_parallel_view_gives_the_same_rows_as_sequential(
    client: LeanClient, wide: Customer, kind: str
) -> None:
    query = CustomerQuery(kind, getattr(wide, kind))  # type: ignore[arg-type]
    parallel = fetch_customer_view(client, query)
    sequential = fetch_customer_view_sequential(client, query)
    assert shape(parallel) == shape(sequential)
    assert len(parallel.entities) == 5
    assert [len(a) for a in parallel.accounts.values()] == [4] * 5
    assert len(parallel.balances) == 20 and parallel.complete
    rows = account_overview_rows(parallel)
    assert len(rows) == 20
    # Identifiers are masked and every balance is in words.
    assert all("•" in row["IBAN"] for row in rows)
    assert all(row["Balance"].endswith(("in credit", "overdrawn (debit)")) for row in rows)


def test_one_worker_still_gives_the_whole_view(client: LeanClient, wide: Customer) -> None:
    query = CustomerQuery("customer_id", wide.customer_id)
    assert shape(fetch_customer_view(client, query, workers=1)) == shape(
        fetch_customer_view_sequential(client, query)
    )


def test_balances_lean_does_not_give_are_problems_and_the_rest_is_shown(
    client: LeanClient, sandbox: SandboxServer, wide: Customer
) -> None:
    sandbox.faults.set(
        FaultConfig(error_rate=1.0, error_status=400, error_code="INVALID_PARAMETERS",
                    path_prefix="/data/v2/accounts/")
    )  # fmt: skip
    view = fetch_customer_view(client, CustomerQuery("customer_id", wide.customer_id))
    assert not view.complete and len(view.problems) == 20
    assert all(p.startswith("balances of account") for p in view.problems)
    rows = account_overview_rows(view)
    assert len(rows) == 20 and {row["Balance"] for row in rows} == {"not loaded"}


def test_customer_lean_does_not_know_is_lean_s_answer(client: LeanClient) -> None:
    with pytest.raises(NotFoundError):
        fetch_customer_view(
            client, CustomerQuery("customer_id", "00000000-0000-4000-8000-0000000000aa")
        )


def test_lean_failing_for_the_customer_fails_the_view(
    client: LeanClient, sandbox: SandboxServer, wide: Customer
) -> None:
    sandbox.faults.set(FaultConfig(error_rate=1.0, path_prefix="/customers/v1/"))
    with pytest.raises(LeanError):
        fetch_customer_view(client, CustomerQuery("customer_id", wide.customer_id))


# ---------------------------------------------------------------------------------------------
# The watermark, against SQLite and PostgreSQL, with events stored by a receiver over HTTP
# ---------------------------------------------------------------------------------------------

CUSTOMER = "c0a80121-7e57-4e57-8e57-000000000001"
OTHER = "c0a80121-7e57-4e57-8e57-000000000002"
ENTITY = "e0a80121-7e57-4e57-8e57-000000000001"


def test_watermark_moves_with_the_customer_s_events_only(
    store: EventStore, receiver: Receiver
) -> None:
    first = customer_watermark(store, customer_id=CUSTOMER, entity_ids=[ENTITY])
    assert first.customer_event_id == 0 and first.bank_event_id == 0

    ok = receiver.post(event("ev-other", "entity.updated", id="e-x", customer_id=OTHER))
    assert ok.status_code == 200
    assert customer_watermark(store, customer_id=CUSTOMER, entity_ids=[ENTITY]) == first

    receiver.post(event("ev-mine", "entity.updated", id=ENTITY, customer_id=CUSTOMER))
    second = customer_watermark(store, customer_id=CUSTOMER, entity_ids=[ENTITY])
    assert second.customer_event_id > first.customer_event_id

    # A refresh webhook that names only the entity still moves it, once the entity is known.
    receiver.post(
        event("ev-refresh", "entity.data.refresh.updated", refresh_id="r1", entity_id=ENTITY,
              status="FINISHED")
    )  # fmt: skip
    third = customer_watermark(store, customer_id=CUSTOMER, entity_ids=[ENTITY])
    assert third.customer_event_id > second.customer_event_id
    assert customer_watermark(store, customer_id=CUSTOMER) == second

    receiver.post(
        event("ev-bank", "bank.availability.updated", identifier="RIBL", is_enabled=False)
    )
    fourth = customer_watermark(store, customer_id=CUSTOMER, entity_ids=[ENTITY])
    assert fourth.customer_event_id == third.customer_event_id
    assert fourth.bank_event_id > 0


def test_the_bank_watermark_is_the_newest_bank_event_found_in_its_own_index(
    store: EventStore, receiver: Receiver
) -> None:
    """The newest stored, not the latest by Lean's clock: a late delivery of an old change is
    still news to a cached view."""
    stamps = ["2026-11-03T10:00:00Z", "2026-11-01T10:00:00Z", "2026-11-02T10:00:00Z"]
    for number, at in enumerate(stamps):
        receiver.post(
            event(f"ev-bank-{number}", "bank.availability.updated", at, identifier="RIBL")
        )
        receiver.post(
            event(f"ev-entity-{number}", "entity.updated", at, id=ENTITY, customer_id=CUSTOMER)
        )
    with store.connect() as conn:
        bank_ids = conn.execute(
            select(events.c.id).where(events.c.type == "bank.availability.updated")
        ).scalars()
        newest_stored = max(bank_ids)
        if conn.dialect.name == "sqlite":
            plan = conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + str(select(newest_bank_event(conn)).compile(conn))
            ).all()
            assert any(BANK_NEWEST_INDEX in row[-1] for row in plan), plan
    watermark = customer_watermark(store, customer_id=CUSTOMER, entity_ids=[ENTITY])
    assert watermark.bank_event_id == newest_stored
    assert watermark.customer_event_id == newest_stored + 1


def test_known_customers_watch_by_customer_id_once_learnt(
    store: EventStore, receiver: Receiver, client: LeanClient, wide: Customer
) -> None:
    known = KnownCustomers()
    by_app_user = CustomerQuery("app_user_id", wide.app_user_id)
    before = known.watermark(store, by_app_user)
    # An event naming only the customer_id is not seen until the customer_id is learnt.
    receiver.post(event("ev-wide", "entity.updated", id="e-y", customer_id=wide.customer_id))
    assert known.watermark(store, by_app_user) == before
    known.learn(fetch_customer_view(client, by_app_user))
    assert known.watermark(store, by_app_user).customer_event_id > before.customer_event_id


def test_clients_sharing_a_token_provider_ask_for_one_token(
    sandbox: SandboxServer, settings: LeanSettings, wide: Customer
) -> None:
    screens = LeanClient(settings)
    job = LeanClient(settings, max_retries=0, caller="book sync", tokens=screens.tokens)
    before = sandbox.state.stats["tokens_issued.api"]
    try:
        screens.get_customer(wide.customer_id)
        job.list_entities(wide.customer_id)
        LeanClient(settings, tokens=screens.tokens).get_customer(wide.customer_id)
    finally:
        screens.close()
        job.close()
    assert sandbox.state.stats["tokens_issued.api"] - before == 1


def test_a_token_provider_is_shared_only_with_the_same_credentials(
    settings: LeanSettings, client: LeanClient
) -> None:
    other = LeanSettings(client_id="someone-else", client_secret=settings.client_secret,
                         api_url=settings.api_url, auth_url=settings.auth_url)  # fmt: skip
    with pytest.raises(ConfigurationError):
        LeanClient(other, tokens=client.tokens)


def test_the_screen_s_time_budget_reaches_every_parallel_call(
    client: LeanClient, sandbox: SandboxServer, wide: Customer
) -> None:
    """Lean answers in 1.5 s, the screen may wait 0.5 s: without the budget in the worker
    threads, the calls would wait for their own 10 s budget and the view would load."""
    client.get_customer(wide.customer_id)  # the token first: its fetch is not what is tested
    sandbox.faults.set(FaultConfig(latency_ms=1500, path_prefix="/customers/v1/"))
    with overall_deadline(0.5), pytest.raises(APIConnectionError):
        fetch_customer_view(client, CustomerQuery("customer_id", wide.customer_id))


def test_the_book_sync_uses_the_screens_tokens(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, wide: Customer
) -> None:
    """The book sync builds a client per run and per minute: it must not ask Lean for tokens of
    its own while the screens' backend holds one for the same credentials."""
    from console.book import sync_client
    from console.runtime import get_backend

    settings = LeanSettings.from_env(sandbox.env(), dotenv_path=None)
    backend = get_backend(settings)
    backend.client.get_customer(wide.customer_id)
    before = sandbox.state.stats["tokens_issued.api"]
    for _ in range(3):
        job = sync_client(backend.settings)
        try:
            job.list_entities(wide.customer_id)
        finally:
            job.close()
    assert job.tokens is backend.client.tokens
    assert sandbox.state.stats["tokens_issued.api"] == before


def test_accounts_lean_does_not_give_are_named_by_bank(
    client: LeanClient, sandbox: SandboxServer, wide: Customer
) -> None:
    """The warning names the bank of each connection whose accounts are missing, not only its
    entity id (outside review)."""
    sandbox.faults.set(
        FaultConfig(error_rate=1.0, error_status=500, path_prefix="/data/v2/accounts")
    )  # fmt: skip
    try:
        view = fetch_customer_view(client, CustomerQuery("customer_id", wide.customer_id))
    finally:
        sandbox.faults.set(FaultConfig())
    assert len(view.problems) == 5 and not view.accounts
    for entity, problem in zip(view.entities, view.problems, strict=True):
        bank = view.banks[entity.bank_identifier or ""].display_name  # Lean's name for it
        assert bank != entity.bank_identifier
        assert problem.startswith(f"accounts at {bank} (connection {entity.id[:8]}): ")


def test_every_parallel_call_is_recorded_as_the_screen_s(
    client: LeanClient, wide: Customer
) -> None:
    """The balance calls are handed to the pool by the accounts calls' callbacks, in the pool's
    threads: they too are the screen's, for the person signed in (outside review: the request
    log showed them with no screen and no actor)."""
    seen: list[LeanCall] = []
    client.add_observer(seen.append)
    with calling_as("Customers", "ops@example.com"):
        fetch_customer_view(client, CustomerQuery("customer_id", wide.customer_id))
    asked = [c for c in seen if c.route != "/oauth2/token"]
    assert sum("balances" in c.route for c in asked) == 20
    assert {(c.caller, c.on_behalf_of) for c in asked} == {("Customers", "ops@example.com")}
