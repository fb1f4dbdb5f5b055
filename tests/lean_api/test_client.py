"""The client over real loopback HTTP: retries and their limits, every error class, pagination."""

from __future__ import annotations

import gc
import threading
import time
import weakref
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from pydantic import SecretStr

from lean_api import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    BadRequestError,
    ConflictError,
    ConsentExpiredError,
    LeanClient,
    LeanSettings,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from lean_api.retry import overall_deadline
from sandbox.faults import FaultConfig
from sandbox.server import SandboxServer
from tests.ports import free_port

UNKNOWN_UUID = "00000000-0000-4000-8000-000000000000"


class SleepRecorder:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def recording_client(settings: LeanSettings, **options: object) -> tuple[LeanClient, SleepRecorder]:
    sleeps = SleepRecorder()
    defaults: dict[str, object] = {"timeout": (2.0, 2.0), "max_retries": 2, "backoff_base": 0.4}
    defaults.update(options)
    return LeanClient(settings, sleep=sleeps, **defaults), sleeps  # type: ignore[arg-type]


# -- retries ------------------------------------------------------------------------------------


def test_get_is_retried_on_server_errors_until_it_succeeds(
    settings: LeanSettings, sandbox: SandboxServer
) -> None:
    client, sleeps = recording_client(settings)
    client.tokens.token()
    sandbox.faults.set(FaultConfig(error_rate=1.0, path_prefix="/customers", remaining=2))
    page = client.list_customers(0, 3)
    assert len(page.items) == 3
    assert len(sleeps.delays) == 2
    # Exponential backoff with full jitter: each wait is drawn from [0, base × 2^(retry-1)].
    assert 0.0 <= sleeps.delays[0] <= 0.4
    assert 0.0 <= sleeps.delays[1] <= 0.8


def test_retries_stop_at_max_retries(settings: LeanSettings, sandbox: SandboxServer) -> None:
    client, sleeps = recording_client(settings)
    client.tokens.token()
    sandbox.faults.set(FaultConfig(error_rate=1.0, path_prefix="/customers", remaining=10))
    with pytest.raises(ServerError) as caught:
        client.list_customers()
    assert caught.value.status_code == 500
    assert caught.value.code == "INTERNAL_SERVER_ERROR"
    assert caught.value.results_id
    assert sandbox.faults.config.remaining == 7  # 1 call + 2 retries
    assert len(sleeps.delays) == 2


def test_post_is_not_retried_after_reaching_lean(
    settings: LeanSettings, sandbox: SandboxServer
) -> None:
    client, sleeps = recording_client(settings)
    client.tokens.token()
    sandbox.faults.set(FaultConfig(error_rate=1.0, path_prefix="/customers", remaining=10))
    with pytest.raises(ServerError):
        client.create_customer("never-created-because-500")
    assert sandbox.faults.config.remaining == 9
    assert sleeps.delays == []


def test_retry_after_is_honoured(settings: LeanSettings, sandbox: SandboxServer) -> None:
    client, sleeps = recording_client(settings)
    client.tokens.token()
    sandbox.faults.set(
        FaultConfig(
            error_rate=1.0,
            error_status=429,
            error_code="TOO_MANY_REQUESTS",
            retry_after=0.25,
            remaining=1,
            path_prefix="/banks",
        )
    )
    assert client.list_banks()
    assert sleeps.delays == [0.25]


def test_timeout_becomes_api_timeout_error(settings: LeanSettings, sandbox: SandboxServer) -> None:
    client = LeanClient(settings, timeout=(1.0, 0.3), max_retries=1, backoff_base=0.01)
    client.tokens.token()
    sandbox.faults.set(FaultConfig(hang_seconds=2.0, path_prefix="/customers"))
    started = time.monotonic()
    with pytest.raises(APITimeoutError):
        client.list_customers()
    assert time.monotonic() - started < 1.5  # two attempts of 0.3 s, not the 2 s hang


def test_unreachable_lean_is_a_connection_error() -> None:
    port = free_port()  # nothing listens there
    settings = LeanSettings(
        client_id="id",
        client_secret=SecretStr("secret"),
        api_url=f"http://127.0.0.1:{port}",
        auth_url=f"http://127.0.0.1:{port}",
    )
    with pytest.raises(APIConnectionError) as caught:
        LeanClient(settings, max_retries=0).list_customers()
    assert not isinstance(caught.value, APITimeoutError)


def test_malformed_body_is_a_validation_error(
    settings: LeanSettings, sandbox: SandboxServer, client: LeanClient
) -> None:
    client.tokens.token()
    sandbox.faults.set(FaultConfig(malformed_rate=1.0, path_prefix="/customers"))
    with pytest.raises(APIResponseValidationError) as caught:
        client.list_customers()
    assert caught.value.status_code == 200


def test_post_is_retried_when_it_never_left(settings: LeanSettings) -> None:
    # The token comes from the sandbox; the API host refuses connections, so nothing was sent.
    unreachable = LeanSettings(
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        api_url=f"http://127.0.0.1:{free_port()}",
        auth_url=settings.auth_url,
    )
    client, sleeps = recording_client(unreachable)
    with pytest.raises(APIConnectionError) as caught:
        client.create_customer("never-reached-lean")
    assert caught.value.request_sent is False
    assert len(sleeps.delays) == 2


# -- the time budget of a call ------------------------------------------------------------------


def test_hanging_lean_fails_within_the_call_budget(
    settings: LeanSettings, sandbox: SandboxServer
) -> None:
    # Default per-attempt timeouts (5 s connect, 30 s read) and two retries: without a budget
    # this would wait 90 s.
    client, sleeps = recording_client(settings, timeout=(5.0, 30.0), max_retries=2, call_budget=2.0)
    client.tokens.token()
    sandbox.faults.set(FaultConfig(hang_seconds=3.0, path_prefix="/customers"))
    started = time.monotonic()
    with pytest.raises(APITimeoutError) as caught:
        client.list_customers()
    elapsed = time.monotonic() - started
    assert elapsed < 2.0 + 1.5
    assert caught.value.budget == 2.0
    assert "Lean did not answer within the 2 s budget" in caught.value.message
    assert sleeps.delays == []  # nothing was left to wait with


def test_long_retry_after_raises_at_once_without_sleeping(
    settings: LeanSettings, sandbox: SandboxServer
) -> None:
    client, sleeps = recording_client(settings, call_budget=2.0)
    client.tokens.token()
    sandbox.faults.set(
        FaultConfig(
            error_rate=1.0,
            error_status=429,
            error_code="TOO_MANY_REQUESTS",
            retry_after=120,
            remaining=10,
            path_prefix="/banks",
        )
    )
    with pytest.raises(RateLimitError) as caught:
        client.list_banks()
    assert caught.value.retry_after == 120
    assert sleeps.delays == []
    assert sandbox.faults.config.remaining == 9  # one request, no retry


def test_retry_after_within_the_budget_is_waited_exactly(
    settings: LeanSettings, sandbox: SandboxServer
) -> None:
    client, sleeps = recording_client(settings, call_budget=2.0)
    client.tokens.token()
    sandbox.faults.set(
        FaultConfig(
            error_rate=1.0,
            error_status=503,
            error_code="SERVICE_UNAVAILABLE",
            retry_after=1.5,
            remaining=1,
            path_prefix="/banks",
        )
    )
    assert client.list_banks()
    assert sleeps.delays == [1.5]


def test_retry_after_beyond_what_is_left_is_not_waited(
    settings: LeanSettings, sandbox: SandboxServer
) -> None:
    client, sleeps = recording_client(settings, call_budget=1.0)
    client.tokens.token()
    sandbox.faults.set(
        FaultConfig(
            error_rate=1.0,
            error_status=503,
            error_code="SERVICE_UNAVAILABLE",
            retry_after=1.5,
            remaining=10,
            path_prefix="/banks",
        )
    )
    with pytest.raises(ServerError) as caught:
        client.list_banks()
    assert caught.value.retry_after == 1.5
    assert sleeps.delays == []


def test_call_budget_comes_from_the_settings(sandbox: SandboxServer) -> None:
    settings = LeanSettings.from_env(
        {**sandbox.env(), "LEAN_CALL_BUDGET_SECONDS": "3.5"}, dotenv_path=None
    )
    assert LeanClient(settings).retry.call_budget == 3.5
    assert LeanClient(settings, call_budget=1.0).retry.call_budget == 1.0


# -- error classes -----------------------------------------------------------------------------


def test_bad_request(client: LeanClient) -> None:
    with pytest.raises(BadRequestError) as caught:
        client.get_customer("not-a-uuid")
    assert caught.value.code == "INVALID_PARAMETERS" and caught.value.status_code == 400


def test_not_found(client: LeanClient) -> None:
    with pytest.raises(NotFoundError) as caught:
        client.get_customer(UNKNOWN_UUID)
    assert caught.value.status_code == 404 and caught.value.results_id
    with pytest.raises(NotFoundError) as caught:
        client.list_accounts(UNKNOWN_UUID)
    assert caught.value.code == "UNKNOWN_ENTITY"


def test_conflict_on_duplicate_app_user_id(client: LeanClient, sandbox: SandboxServer) -> None:
    existing = next(iter(sandbox.state.data.customers.values())).app_user_id
    with pytest.raises(ConflictError) as caught:
        client.create_customer(existing)
    assert caught.value.code == "CUSTOMER_ALREADY_EXISTS" and caught.value.status_code == 409


def test_consent_expired_on_refresh(client: LeanClient, sandbox: SandboxServer) -> None:
    expired = next(
        e for e in sandbox.state.data.entities.values() if e.current_consent.status == "EXPIRED"
    )
    with pytest.raises(ConsentExpiredError) as caught:
        client.trigger_refresh(expired.entity_id)
    assert isinstance(caught.value, PermissionDeniedError)
    assert caught.value.status_code == 403 and caught.value.code == "CONSENT_EXPIRED"


def test_other_403_is_permission_denied_not_consent(
    client: LeanClient, sandbox: SandboxServer
) -> None:
    client.tokens.token()
    sandbox.faults.set(
        FaultConfig(error_rate=1.0, error_status=403, error_code="FORBIDDEN", path_prefix="/banks")
    )
    with pytest.raises(PermissionDeniedError) as caught:
        client.list_banks()
    assert not isinstance(caught.value, ConsentExpiredError)


def test_duplicated_refresh_is_rate_limited(client: LeanClient, sandbox: SandboxServer) -> None:
    soon = datetime.now(UTC) + timedelta(days=30)
    # The last long-lived active entity: other tests leave it alone.
    entity = [
        e
        for e in sandbox.state.data.entities.values()
        if e.current_consent.status == "ACTIVE" and e.current_consent.expires > soon
    ][-1]
    trigger = client.trigger_refresh(entity.entity_id)
    assert trigger.refresh_id
    with pytest.raises(RateLimitError) as caught:
        client.trigger_refresh(entity.entity_id)
    assert caught.value.code == "DUPLICATED_REQUEST" and caught.value.status_code == 429
    assert client.get_refresh(trigger.refresh_id, entity.entity_id).status in (
        "PENDING",
        "FINISHED",
    )


def test_unknown_lean_codes_are_kept(client: LeanClient, sandbox: SandboxServer) -> None:
    client.tokens.token()
    sandbox.faults.set(
        FaultConfig(
            error_rate=1.0, error_status=418, error_code="BANK_ON_HOLIDAY", path_prefix="/banks"
        )
    )
    with pytest.raises(Exception) as caught:
        client.list_banks()
    assert caught.value.code == "BANK_ON_HOLIDAY" and caught.value.status_code == 418  # type: ignore[attr-defined]


# -- pagination --------------------------------------------------------------------------------


def test_iterating_customers_walks_every_page_once(client: LeanClient) -> None:
    total = client.list_customers(0, 1).page.total_elements
    seen = [c.customer_id for c in client.iter_customers(page_size=37)]
    assert len(seen) == total == len(set(seen))


def test_iterating_entities_created_walks_every_page(
    client: LeanClient, sandbox: SandboxServer
) -> None:
    seen = {
        e.id for e in client.iter_entities_created(date(2020, 1, 1), date(2030, 1, 1), page_size=45)
    }
    assert seen == set(sandbox.state.data.entities)


def test_iterating_transactions_walks_data_v2_pages(
    client: LeanClient, sandbox: SandboxServer
) -> None:
    account = next(iter(sandbox.state.data.accounts.values()))
    first = client.get_account_data(account.entity_id, account.account_id, "transactions", 0, 40)
    walked = list(
        client.iter_account_data(account.entity_id, account.account_id, "transactions", size=40)
    )
    assert first.page.total_elements == len(walked) > 40
    assert len({t.transaction_id for t in walked}) == len(walked)


def test_refresh_pages_use_the_content_envelope(client: LeanClient, sandbox: SandboxServer) -> None:
    entity = max(sandbox.state.data.entities.values(), key=lambda e: len(e.refreshes))
    refreshes = list(client.iter_refreshes(entity.entity_id, size=2))
    assert len(refreshes) == len(entity.refreshes) >= 3
    detail = client.get_refresh(refreshes[-1].refresh_id, entity.entity_id)
    assert detail.data_status is not None and detail.data_status.account_data


def test_ownership_verification(client: LeanClient, sandbox: SandboxServer) -> None:
    entity = next(iter(sandbox.state.data.entities.values()))
    owner = sandbox.state.data.customers[entity.customer_id].person.national_id
    verified = client.verify_entity_ownership(entity.entity_id, owner)
    assert verified.entity_ownership_verified is True
    assert {i.iban for i in verified.ibans} == {a.iban for a in entity.accounts}
    stranger = "1" + ("0" if owner[1] != "0" else "1") * 9
    assert (
        client.verify_entity_ownership(entity.entity_id, stranger).entity_ownership_verified
        is False
    )


def test_calls_inside_an_overall_deadline_share_it(
    settings: LeanSettings, sandbox: SandboxServer
) -> None:
    # A screen that makes three calls while Lean hangs waits one screen budget, not three.
    client, _ = recording_client(settings, timeout=(5.0, 30.0), max_retries=2, call_budget=2.0)
    client.tokens.token()
    sandbox.faults.set(FaultConfig(hang_seconds=3.0, path_prefix="/customers"))
    started = time.monotonic()
    failures = []
    with overall_deadline(2.0):
        for _ in range(3):
            try:
                client.list_customers()
            except APITimeoutError as exc:
                failures.append(exc)
    elapsed = time.monotonic() - started
    assert len(failures) == 3 and elapsed < 2.0 + 1.5
    assert all("within the 2 s budget" in exc.message for exc in failures)


# -- what the client reads once ------------------------------------------------------------------


class RecordingProxy(ThreadingHTTPServer):
    """A forward HTTP proxy on loopback that passes each request on and notes its URL."""

    daemon_threads = True

    def __init__(self) -> None:
        self.seen: list[str] = []
        super().__init__(("127.0.0.1", 0), _ProxyHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(BaseHTTPRequestHandler):
    server: RecordingProxy

    def _forward(self) -> None:
        self.server.seen.append(f"{self.command} {self.path}")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        direct = requests.Session()
        direct.trust_env = False  # not through itself: the test points HTTP_PROXY here
        answer = direct.request(self.command, self.path, data=body, headers=headers, timeout=5)
        self.send_response(answer.status_code)
        self.send_header("Content-Type", answer.headers.get("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    do_GET = do_POST = _forward

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[RecordingProxy]:
    server = RecordingProxy()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_the_client_goes_through_the_environments_proxy_unless_no_proxy_names_lean(
    settings: LeanSettings, proxy: RecordingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NO_PROXY", "no_proxy", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    through = LeanClient(settings)
    assert through.list_banks()
    assert f"POST {settings.auth_url}/oauth2/token" in proxy.seen
    assert any(seen.startswith(f"GET {settings.api_url}/banks/v1/") for seen in proxy.seen)
    through.close()

    proxy.seen.clear()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    direct = LeanClient(settings)
    assert direct.list_banks()
    assert proxy.seen == []
    direct.close()


def test_a_netrc_entry_for_leans_host_does_not_replace_the_bearer_token(
    settings: LeanSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password something\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    client = LeanClient(settings, max_retries=0)
    assert client.list_banks()
    client.close()


def test_a_data_page_keeps_its_parametrized_model_across_garbage_collections(
    client: LeanClient, sandbox: SandboxServer
) -> None:
    """Pydantic holds `DataResult[Balance]` only weakly: rebuilt after every collection, it was
    a tenth of the client's time on a customer view."""
    entity = next(e for e in sandbox.state.data.entities.values() if e.accounts)
    account = entity.accounts[0].account_id
    first = client.get_account_data(entity.entity_id, account, "balances")
    kind = weakref.ref(type(first))
    del first
    gc.collect()
    assert kind() is not None
    again = client.get_account_data(entity.entity_id, account, "balances")
    assert type(again) is kind()


def test_the_environments_ca_bundle_verifies_leans_certificate(
    settings: LeanSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As with requests' own: REQUESTS_CA_BUNDLE (or CURL_CA_BUNDLE) names the trusted roots."""
    bundle = tmp_path / "company-roots.pem"
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    client = LeanClient(settings)
    chosen = client._session.merge_environment_settings(
        "https://api.sa.leantech.me/banks/v1/", None, None, None, None
    )
    assert chosen["verify"] == str(bundle)
    client.close()
