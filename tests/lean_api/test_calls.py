"""Every call the client makes is reported once to its observers, over real loopback HTTP."""

from __future__ import annotations

import contextlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from lean_api import LeanClient, LeanError, LeanSettings, NotFoundError, ServerError
from lean_api.calls import (
    LeanCall,
    calling_as,
    current_caller,
    ids_in,
    in_this_context,
    keep_caller,
    route_of,
    safe_message,
)
from lean_api.errors import APITimeoutError, AuthenticationError
from sandbox.faults import FaultConfig
from sandbox.seed import SeedCustomer
from sandbox.server import SandboxServer

UNKNOWN_UUID = "00000000-0000-4000-8000-000000000000"


class Calls(list[LeanCall]):
    """An observer that keeps what it is told."""

    def __call__(self, call: LeanCall) -> None:
        self.append(call)

    def api(self) -> list[LeanCall]:
        return [c for c in self if c.route != "/oauth2/token"]

    def tokens(self) -> list[LeanCall]:
        return [c for c in self if c.route == "/oauth2/token"]


def observed(settings: LeanSettings, **options: object) -> tuple[LeanClient, Calls]:
    defaults: dict[str, object] = {
        "timeout": (2.0, 2.0), "max_retries": 2, "backoff_base": 0.01, "backoff_max": 0.02,
    }  # fmt: skip
    defaults.update(options)
    client = LeanClient(settings, **defaults)  # type: ignore[arg-type]
    calls = Calls()
    client.add_observer(calls)
    return client, calls


# -- the client reports -------------------------------------------------------------------------


def test_a_successful_call_is_reported_once_with_its_route_ids_and_caller(
    settings: LeanSettings, some_customer_with_entities: SeedCustomer
) -> None:
    client, calls = observed(settings)
    customer_id = some_customer_with_entities.customer_id
    with calling_as("Customers", "ops@example.com"):
        entities = client.list_entities(customer_id)
    assert entities
    [call] = calls.api()
    assert call.method == "GET"
    assert call.path == f"/customers/v1/{customer_id}/entities"
    assert call.route == "/customers/v1/{customer_id}/entities"
    assert (call.status, call.outcome, call.retries) == (200, "ok", 0)
    assert call.customer_id == customer_id and call.entity_id is None
    assert (call.caller, call.on_behalf_of) == ("Customers", "ops@example.com")
    assert call.lean_code is None and call.message is None
    assert call.latency_ms > 0 and call.at.tzinfo is not None


def test_a_404_carries_leans_code_and_results_id(settings: LeanSettings) -> None:
    client, calls = observed(settings)
    with pytest.raises(NotFoundError) as raised:
        client.get_customer(UNKNOWN_UUID)
    [call] = calls.api()
    assert (call.status, call.outcome) == (404, "not_found")
    assert call.lean_code == "UNKNOWN_CUSTOMER" == raised.value.code
    assert call.results_id and call.results_id == raised.value.results_id
    assert call.customer_id == UNKNOWN_UUID
    assert call.message  # Lean's sentence, kept for the operator


def test_a_retried_server_error_is_one_call_with_its_retries(
    settings: LeanSettings, sandbox: SandboxServer
) -> None:
    client, calls = observed(settings)
    client.tokens.token()
    sandbox.faults.set(FaultConfig(error_rate=1.0, path_prefix="/customers", remaining=2))
    client.list_customers(0, 3)
    [call] = calls.api()
    assert (call.status, call.outcome, call.retries) == (200, "ok", 2)
    assert call.path == "/customers/v1?page_number=0&page_size=3"


def test_a_server_error_that_outlasts_the_retries_is_reported_as_such(
    settings: LeanSettings, sandbox: SandboxServer
) -> None:
    client, calls = observed(settings, max_retries=1)
    client.tokens.token()
    sandbox.faults.set(FaultConfig(error_rate=1.0, path_prefix="/customers"))
    with pytest.raises(ServerError):
        client.list_customers(0, 3)
    [call] = calls.api()
    assert (call.status, call.outcome, call.retries) == (500, "server_error", 1)
    assert call.lean_code == "INTERNAL_SERVER_ERROR"


def test_a_timeout_is_a_call_without_an_answer(
    settings: LeanSettings, sandbox: SandboxServer
) -> None:
    client, calls = observed(settings, timeout=(1.0, 0.3), max_retries=0)
    client.tokens.token()
    sandbox.faults.set(FaultConfig(hang_seconds=2.0, path_prefix="/customers"))
    with pytest.raises(APITimeoutError):
        client.list_customers(0, 3)
    [call] = calls.api()
    assert (call.status, call.outcome, call.lean_code) == (None, "timeout", None)
    assert call.message


def test_a_refused_connection_is_a_connection_error(settings: LeanSettings) -> None:
    from dataclasses import replace

    from tests.ports import free_port

    dead = replace(settings, api_url=f"http://127.0.0.1:{free_port()}")
    client, calls = observed(dead, max_retries=1)
    client.tokens.token()  # the auth server is still the sandbox
    with pytest.raises(Exception):  # noqa: B017 - the class is the client's business here
        client.list_banks()
    [call] = calls.api()
    assert (call.status, call.outcome, call.retries) == (None, "connection_error", 1)


def test_the_token_fetch_is_reported_without_its_secret(settings: LeanSettings) -> None:
    client, calls = observed(settings)
    with calling_as("Overview", "ops@example.com"):
        client.list_banks()
        client.list_banks()
    [token] = calls.tokens()  # cached for the second call
    assert (token.method, token.path, token.route) == ("POST", "/oauth2/token", "/oauth2/token")
    assert (token.status, token.outcome, token.caller) == (200, "ok", "Overview")
    secret = settings.client_secret.get_secret_value()  # type: ignore[union-attr]
    assert all(secret not in repr(c) for c in calls)
    assert [c.route for c in calls.api()] == ["/banks/v1/", "/banks/v1/"]


def test_a_refused_token_fetch_is_reported_and_the_call_has_no_answer(
    settings: LeanSettings,
) -> None:
    from dataclasses import replace

    from pydantic import SecretStr

    client, calls = observed(replace(settings, client_secret=SecretStr("wrong")))
    with pytest.raises(AuthenticationError):
        client.list_banks()
    [token] = calls.tokens()
    assert token.status in (400, 401) and token.outcome == "lean_error"
    assert "wrong" not in repr(token)
    [call] = calls.api()
    assert (call.status, call.outcome) == (None, "lean_error")


def test_customer_tokens_name_their_customer(
    settings: LeanSettings, some_customer_with_entities: SeedCustomer
) -> None:
    client, calls = observed(settings)
    client.customer_token(some_customer_with_entities.customer_id)
    [token] = calls.tokens()
    assert token.customer_id == some_customer_with_entities.customer_id
    assert token.outcome == "ok"


def test_a_post_reports_its_entity_but_never_the_national_id(
    settings: LeanSettings, some_customer_with_entities: SeedCustomer, sandbox: SandboxServer
) -> None:
    client, calls = observed(settings)
    entity_id = sandbox.state.data.entities_by_customer[some_customer_with_entities.customer_id][
        0
    ].entity_id
    national_id = "1098765432"
    # The answer does not matter here, the record does.
    with contextlib.suppress(LeanError):
        client.verify_entity_ownership(entity_id, national_id)
    [call] = calls.api()
    assert call.route == "/verifications/v2/entity"
    assert call.entity_id == entity_id
    assert national_id not in repr(call)


def test_an_observer_that_fails_never_breaks_the_call(
    settings: LeanSettings, caplog: pytest.LogCaptureFixture
) -> None:
    client, calls = observed(settings)

    def broken(_: LeanCall) -> None:
        raise RuntimeError("observer bug")

    client.add_observer(broken)
    client.add_observer(calls)  # already there: not told twice
    with caplog.at_level(logging.DEBUG, logger="lean_api.calls"):
        assert client.list_banks()
        assert client.list_banks()
    failures = [r for r in caplog.records if "observer" in r.getMessage()]
    assert [r.levelno for r in failures] == [logging.ERROR, logging.DEBUG, logging.DEBUG]
    assert len(calls.api()) == 2


def test_a_background_client_names_its_caller(settings: LeanSettings) -> None:
    client, calls = observed(settings, caller="book sync")
    client.list_banks()
    assert {c.caller for c in calls} == {"book sync"}
    with calling_as("Banks"):
        client.list_banks()
    assert calls[-1].caller == "Banks"


# -- context across threads ---------------------------------------------------------------------


def test_the_caller_follows_work_handed_to_a_thread_pool_only_when_carried(
    settings: LeanSettings,
) -> None:
    client, calls = observed(settings)
    client.tokens.token()
    with calling_as("Customers", "ops@example.com"), ThreadPoolExecutor(2) as pool:
        pool.submit(client.list_banks).result()
        pool.submit(in_this_context(client.list_banks)).result()
    assert [c.caller for c in calls.api()] == [None, "Customers"]


def test_keep_caller_carries_the_caller_only() -> None:
    with calling_as("Bank connection", "a@example.com"):
        later = keep_caller(current_caller)
    assert current_caller() == (None, None)
    seen: list[tuple[str | None, str | None]] = []
    thread = threading.Thread(target=lambda: seen.append(later()))
    thread.start()
    thread.join()
    assert seen == [("Bank connection", "a@example.com")]


# -- routes and ids -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/customers/v1/", "/customers/v1/"),
        ("/customers/v1/abc-123", "/customers/v1/{customer_id}"),
        ("/customers/v1/entities?page_number=0", "/customers/v1/entities"),
        ("/customers/v1/abc/entities", "/customers/v1/{customer_id}/entities"),
        ("/customers/v1/abc/entities/def", "/customers/v1/{customer_id}/entities/{entity_id}"),
        ("/customers/v1/app-user-id/alice%40x.com", "/customers/v1/app-user-id/{app_user_id}"),
        ("/data/v2/accounts/acc-1/transactions", "/data/v2/accounts/{account_id}/transactions"),
        ("/data/v2/refreshes/r-1", "/data/v2/refreshes/{refresh_id}"),
        ("/data/v2/identity", "/data/v2/identity"),
        ("/payments/v1/intents/9f1c0d7e-aaaa", "/payments/v1/intents/{id}"),
        ("/x/<script>alert(1)</script>", "/x/{id}/{id}"),
    ],
)
def test_routes_name_ids_and_keep_words(path: str, route: str) -> None:
    assert route_of(path) == route


def test_ids_come_from_path_query_and_body_ids_only() -> None:
    ids = ids_in(
        "/data/v2/refreshes/r%2F1",
        {"entity_id": "e-1"},
        {"customer_id": "c-1", "identifications": [{"value": "1098765432"}]},
    )
    assert ids == {"customer_id": "c-1", "entity_id": "e-1", "refresh_id": "r/1"}


def test_messages_lose_national_ids_and_line_breaks() -> None:
    text = safe_message("Invalid NATIONAL_ID 1098765432\nfor entity; IBAN SA0380000000608010167519")
    assert text == (
        "Invalid NATIONAL_ID [national id removed] for entity; IBAN SA0380000000608010167519"
    )
    assert len(safe_message("x" * 5000) or "") == 300
