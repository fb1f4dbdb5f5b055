"""What is handed to Lean's Link SDK `connect` is checked first, and the page that opens it carries
`sandbox: true`, the chosen permissions and the customer token, never the client secret."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import jwt
import pytest
from pydantic import SecretStr, ValidationError

from console.link import (
    ConnectConfig,
    LinkChoice,
    LinkResult,
    check_choice,
    check_config,
    connect_html,
    lean_time,
    link_error_message,
    link_mode,
    link_outcome_words,
    newest_connection,
    problems,
    redirect_urls,
    run_sandbox_link,
    split_banks,
    time_left_words,
    token_expiry,
    window_end,
    window_start,
)
from lean_api import LeanClient
from lean_api.auth import CachedToken
from lean_api.config import LeanSettings
from lean_api.errors import LeanAPIError
from lean_api.models import Bank, Entity
from sandbox.server import SandboxServer
from tests.sandbox.test_link import available_bank

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
CUSTOMER = "f08fb010-878f-407a-9ac2-a7840fb56185"
BANKS = {"LEA1_SAMAOB_SAU", "RJHI_SAMAOB_SAU"}
CLIENT_SECRET = "client-secret-that-must-never-reach-a-browser"
CUSTOMER_TOKEN = jwt.encode(
    {"exp": int((NOW + timedelta(minutes=59)).timestamp()), "lean_scope": f"customer.{CUSTOMER}"},
    "k" * 32,
    algorithm="HS256",
)


def config_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "customer_id": CUSTOMER,
        "bank_identifier": "LEA1_SAMAOB_SAU",
        "permissions": ["identity", "accounts", "balance", "transactions"],
        "app_token": "app-token-from-the-dashboard",
        "access_token": CUSTOMER_TOKEN,
        "access_token_expires_at": NOW + timedelta(minutes=59),
        "success_redirect_url": "http://localhost:8501/connect?link=success",
        "fail_redirect_url": "http://localhost:8501/connect?link=fail",
    }
    data.update(overrides)
    return data


def refused(**overrides: Any) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        check_config(config_data(**overrides), now=NOW, available_banks=BANKS)
    return problems(caught.value)


def test_a_complete_config_is_accepted() -> None:
    config = check_config(config_data(), now=NOW, available_banks=BANKS)
    assert config.sandbox is True
    assert config.permissions == ("identity", "accounts", "balance", "transactions")


def test_app_token_must_be_present() -> None:
    (problem,) = refused(app_token="  ")
    assert "LEAN_APP_TOKEN" in problem


def test_customer_token_needs_ten_minutes_left() -> None:
    (problem,) = refused(access_token_expires_at=NOW + timedelta(minutes=9, seconds=59))
    assert "at least 10 minutes" in problem and "Mint a new one" in problem
    check_config(
        config_data(access_token_expires_at=NOW + timedelta(minutes=10)),
        now=NOW,
        available_banks=BANKS,
    )
    assert "expired" in refused(access_token_expires_at=NOW - timedelta(seconds=1))[0]


def test_customer_token_must_be_present() -> None:
    assert "mint one" in refused(access_token="")[0]


@pytest.mark.parametrize(
    ("permissions", "words"),
    [
        ([], "at least one permission"),
        (["identity", "payments"], "Unknown permission 'payments'"),
        ("identity", "list"),
    ],
)
def test_permissions_are_lean_words_and_not_empty(permissions: Any, words: str) -> None:
    assert any(words in p for p in refused(permissions=permissions))


def test_permissions_asked_twice_are_asked_once() -> None:
    config = check_config(
        config_data(permissions=["balance", "identity", "balance"]), now=NOW, available_banks=BANKS
    )
    assert config.permissions == ("balance", "identity")


def test_access_window_must_be_ordered_and_not_past() -> None:
    assert "future" in refused(access_to=NOW - timedelta(days=1))[0]
    assert (
        "start before it ends"
        in refused(access_from=NOW + timedelta(days=30), access_to=NOW + timedelta(days=10))[0]
    )
    # History before today is what access_from is for.
    check_config(
        config_data(access_from=NOW - timedelta(days=365), access_to=NOW + timedelta(days=90)),
        now=NOW,
        available_banks=BANKS,
    )


def test_access_window_stays_within_plausible_dates() -> None:
    """What the sandbox's Link refuses, the console refuses first, in words."""
    old = refused(access_from=datetime(1, 1, 1, tzinfo=UTC))
    assert any("on or after 2000-01-01" in p for p in old)
    assert any("2000-01-01" in p for p in refused(access_from=datetime(1999, 12, 31, tzinfo=UTC)))
    far = refused(access_to=datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC))
    assert any("at most three years ahead" in p for p in far)
    assert refused(access_to=NOW + timedelta(days=3 * 365 + 1))
    check_config(
        config_data(
            access_from=datetime(2000, 1, 1, tzinfo=UTC), access_to=NOW + timedelta(days=3 * 365)
        ),
        now=NOW,
        available_banks=BANKS,
    )


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (datetime(2026, 1, 31, 21, 0, tzinfo=UTC), "2026-02-01T00:00:00+03:00"),
        # Riyadh's clock cannot show these: the value as it is, never an OverflowError.
        (datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC), "9999-12-31T23:59:59+00:00"),
        (
            datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=3))),
            "0001-01-01T00:00:00+03:00",
        ),
        (
            datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5))),
            "9999-12-31T23:00:00-05:00",
        ),
    ],
)
def test_lean_time_never_overflows(value: datetime, shown: str) -> None:
    assert lean_time(value) == shown


def test_bank_must_be_available_now() -> None:
    (problem,) = refused(bank_identifier="ALIN_SAMAOB_SAU")
    assert "not available" in problem
    with pytest.raises(ValidationError):
        ConnectConfig.model_validate(config_data())  # without knowing the available banks


def test_only_sandbox_is_rendered_and_unknown_fields_are_refused() -> None:
    assert refused(sandbox=False)
    assert "not something Lean's connect accepts" in refused(client_secret=CLIENT_SECRET)[0]


def test_malformed_customer_id_is_refused() -> None:
    assert "UUID" in refused(customer_id="not-a-customer")[0]


def test_problems_never_repeat_the_token() -> None:
    for problem in refused(access_token_expires_at=NOW, app_token=""):
        assert CUSTOMER_TOKEN not in problem


def test_the_shown_config_hides_both_tokens() -> None:
    config = check_config(config_data(), now=NOW, available_banks=BANKS)
    shown = config.sdk_config(reveal=False)
    assert CUSTOMER_TOKEN not in str(shown) and "app-token-from-the-dashboard" not in str(shown)
    assert shown["access_token"].startswith("••••")
    assert CUSTOMER_TOKEN not in repr(config)


def sdk_call(html: str) -> str:
    match = re.search(r"Lean\.connect\(\{(.*?)\}\);", html, re.S)
    assert match, html
    return match.group(1)


def test_html_opens_lean_connect_in_sandbox_with_the_chosen_config() -> None:
    config = check_config(
        config_data(
            permissions=["identity", "transactions"],
            access_from=window_start(date(2025, 12, 1)),
            access_to=window_end(date(2027, 2, 28)),
        ),
        now=NOW,
        available_banks=BANKS,
    )
    html = connect_html(config)
    call = sdk_call(html)
    assert "sandbox: true" in call
    assert 'permissions: ["identity", "transactions"]' in call
    assert f'access_token: "{CUSTOMER_TOKEN}"' in call
    assert f'customer_id: "{CUSTOMER}"' in call
    assert 'bank_identifier: "LEA1_SAMAOB_SAU"' in call
    assert 'access_from: "2025-12-01T00:00:00+03:00"' in call
    assert 'access_to: "2027-02-28T23:59:59+03:00"' in call
    assert '<div id="lean-link"></div>' in html
    assert 'src="https://cdn.leantech.me/link/loader/prod/sa/latest/' in html
    assert CLIENT_SECRET not in html and "client_secret" not in html


def test_html_cannot_be_broken_out_of_by_a_value() -> None:
    hostile = 'x"</script><script>alert(1)</script>'
    config = ConnectConfig.model_construct(
        customer_id=CUSTOMER,
        bank_identifier=hostile,
        permissions=("identity",),
        access_from=None,
        access_to=None,
        app_token=SecretStr("app"),
        access_token=SecretStr(CUSTOMER_TOKEN),
        access_token_expires_at=NOW + timedelta(hours=1),
        success_redirect_url="http://x/connect",
        fail_redirect_url="http://x/connect",
        sandbox=True,
        show_consent_explanation=True,
        language="en",
    )
    html = connect_html(config)
    assert html.count("</script>") == 2  # the loader's and the page's own, nothing injected
    assert "<script>alert" not in html


def test_token_expiry_is_the_earlier_of_expires_in_and_exp() -> None:
    early = int((NOW + timedelta(minutes=5)).timestamp())
    value = jwt.encode({"exp": early}, "k" * 32, algorithm="HS256")
    token = CachedToken(value, f"customer.{CUSTOMER}", NOW.timestamp(), NOW.timestamp() + 3599)
    assert token_expiry(token) == datetime.fromtimestamp(early, UTC)
    opaque = CachedToken("opaque", "customer.x", NOW.timestamp(), NOW.timestamp() + 120)
    assert token_expiry(opaque) == NOW + timedelta(seconds=120)


def test_time_left_in_words() -> None:
    assert time_left_words(NOW + timedelta(minutes=59, seconds=30), NOW) == (
        "59 min left (until 09:59:30 UTC)"
    )
    assert time_left_words(NOW - timedelta(seconds=1), NOW).startswith("expired at")


def test_link_runs_in_the_sdk_only_on_leans_sandbox() -> None:
    lean = LeanSettings(client_id="c", client_secret=SecretStr("s"), environment="sandbox")
    assert link_mode(lean, "sandbox") == "lean_sdk"
    local = LeanSettings(
        client_id="c",
        client_secret=SecretStr("s"),
        api_url="http://127.0.0.1:8601",
        auth_url="http://127.0.0.1:8601",
    )
    assert link_mode(local, "sandbox") == "simulated"
    assert link_mode(local, "embedded") == "simulated"
    production = LeanSettings(client_id="c", client_secret=SecretStr("s"), environment="production")
    assert link_mode(production, "production") == "production"
    spoof = LeanSettings(
        client_id="c", client_secret=SecretStr("s"), api_url="https://leantech.me.evil.example"
    )
    assert link_mode(spoof, "sandbox") == "simulated"


def test_choice_without_tokens_is_checked_alike() -> None:
    choice = check_choice(
        {
            "customer_id": CUSTOMER,
            "bank_identifier": "RJHI_SAMAOB_SAU",
            "permissions": ["accounts"],
        },
        now=NOW,
        available_banks=BANKS,
    )
    assert choice.permissions == ("accounts",)
    with pytest.raises(ValidationError):
        check_choice(
            {"customer_id": CUSTOMER, "bank_identifier": "RJHI_SAMAOB_SAU", "permissions": []},
            now=NOW,
            available_banks=BANKS,
        )


def test_redirects_come_back_to_this_screen() -> None:
    success, fail = redirect_urls("https://console.example/connect?customer_id=x", CUSTOMER)
    assert success == f"https://console.example/connect?customer_id={CUSTOMER}&link=success"
    assert fail.endswith("link=fail")


def bank(identifier: str, active: bool | None, enabled: bool | None) -> Bank:
    return Bank.model_validate(
        {
            "identifier": identifier,
            "name": identifier.title(),
            "availability": {"active": {"data": active}, "enabled": {"data": enabled}},
        }
    )


def test_banks_split_into_available_and_why_not() -> None:
    available, unavailable = split_banks(
        [bank("B_ON", True, True), bank("A_LEAN_OFF", False, True), bank("C_US_OFF", True, False)]
    )
    assert [b.identifier for b in available] == ["B_ON"]
    why = {row["Identifier"]: row["Why"] for row in unavailable}
    assert "Lean switched data off" in why["A_LEAN_OFF"]
    assert "developer portal" in why["C_US_OFF"]


@pytest.mark.parametrize(
    ("status", "secondary", "tone", "words"),
    [
        ("SUCCESS", None, "good", "connected their bank"),
        ("CANCELLED", None, "warn", "Nothing was created"),
        ("ERROR", "REJECTED_BY_BANK", "bad", "rejected the customer's login"),
        ("ERROR", "FAILED", "bad", "may be unavailable"),
        ("ERROR", "SOMETHING_NEW", "bad", "Nothing was created"),
    ],
)
def test_every_way_link_ends_says_what_happened_and_what_next(
    status: str, secondary: str | None, tone: str, words: str
) -> None:
    headline, next_step, got_tone = link_outcome_words(
        LinkResult(status, secondary, None, "LEA1_SAMAOB_SAU")
    )
    assert got_tone == tone and words in headline and next_step


def test_link_refusing_an_app_token_is_explained(client: LeanClient) -> None:
    """Over real HTTP: the sandbox's Link refuses the app-scoped token, and the operator is told
    to mint a customer token."""
    customer = client.create_customer(f"console_link_{uuid.uuid4().hex[:10]}")
    api = CachedToken(client.tokens.token("api"), "api", NOW.timestamp(), NOW.timestamp() + 3599)
    choice = LinkChoice(
        customer_id=customer.customer_id, bank_identifier=None, permissions=("identity",)
    )
    with pytest.raises(LeanAPIError) as caught:
        run_sandbox_link(client.settings.api_url, api, choice, "SUCCESS")
    message = link_error_message(caught.value)
    assert message.headline == "Link refused the customer token:"
    assert "Mint a new customer token" in message.action
    assert message.status_code == 403 and message.code == "FORBIDDEN"
    assert client.list_entities(customer.customer_id) == []


def test_link_with_the_customer_token_answers_leans_callback(
    client: LeanClient, sandbox: SandboxServer
) -> None:
    customer = client.create_customer(f"console_link_{uuid.uuid4().hex[:10]}")
    bank = available_bank(sandbox)
    choice = check_choice(
        {
            "customer_id": customer.customer_id,
            "bank_identifier": bank,
            "permissions": ["identity"],
        },
        now=datetime.now(UTC),
        available_banks={bank},
    )
    token = client.customer_token(customer.customer_id)
    result = run_sandbox_link(client.settings.api_url, token, choice, "CANCELLED")
    assert (result.status, result.secondary_status, result.succeeded) == ("CANCELLED", None, False)
    assert client.list_entities(customer.customer_id) == []


def test_the_new_connection_is_none_the_customer_had_before() -> None:
    def entity(entity_id: str, minutes_ago: int) -> Entity:
        created = (NOW - timedelta(minutes=minutes_ago)).isoformat()
        return Entity.model_validate({"id": entity_id, "created_at": created})

    listed = [entity("old", 600), entity("earlier-today", 1), entity("new", 0)]
    assert newest_connection(listed, NOW - timedelta(seconds=30)).id == "new"  # type: ignore[union-attr]
    # Just before this Link the customer already had "new"'s neighbour: it is never taken for it.
    assert (
        newest_connection(listed[:2], NOW - timedelta(minutes=2), known={"earlier-today"}) is None
    )
    assert newest_connection(listed, None, known={"new"}).id == "earlier-today"  # type: ignore[union-attr]


def test_a_reconnected_bank_is_the_new_connection() -> None:
    """Linking a bank again reuses its entity (a new consent): that entity is followed."""

    def entity(entity_id: str, created_ago: int, consent_ago: int) -> Entity:
        given = (NOW - timedelta(minutes=consent_ago)).isoformat()
        return Entity.model_validate(
            {
                "id": entity_id,
                "created_at": (NOW - timedelta(minutes=created_ago)).isoformat(),
                "consents": [{"consent_id": f"c-{entity_id}", "creation_date_time": given}],
            }
        )

    listed = [entity("other-bank", 600, 600), entity("same-bank", 900, 0)]
    since = NOW - timedelta(seconds=30)
    known = {"other-bank", "same-bank"}
    assert newest_connection(listed, since, known).id == "same-bank"  # type: ignore[union-attr]
    # Without a new consent, a connection the customer had is never taken for a new one.
    assert newest_connection(listed[:1], since, known) is None
