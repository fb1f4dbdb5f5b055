"""The Accounts & data screen in AppTest, against the sandbox over real HTTP: an entity's data,
"Refresh data now" (finished, expired consent, already running), ownership verification, an
unknown entity and Lean failing."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from console import audit
from console.last_good import last_good
from console.national_id import luhn_valid
from console.store import EventStore
from console.ui_refresh_actions import FollowedRefresh
from lean_api import LeanClient
from sandbox.faults import FaultConfig
from sandbox.seed import SeedEntity
from sandbox.server import SandboxServer

APP = str(Path(__file__).resolve().parents[1] / "app.py")
UNKNOWN_UUID = "00000000-0000-4000-8000-0000000000ee"
VERIFY_PATH = "/verifications/v2/entity"


@pytest.fixture
def screen(
    tmp_path: Path, sandbox_env: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AppTest]:
    """The console on the Accounts & data page, with empty caches and a fresh database."""
    url = f"sqlite:///{tmp_path / 'data.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    EventStore(url).migrate()
    st.cache_data.clear()
    last_good().clear()
    at = AppTest.from_file(APP, default_timeout=30).run()
    at.switch_page("pages/account_data.py")
    yield at


def texts(at: AppTest) -> str:
    """Everything the screen wrote as text: Markdown, captions, alerts, code."""
    parts = []
    for kind in ("markdown", "caption", "info", "warning", "error", "success", "code", "subheader"):
        parts.extend(str(e.value) for e in at.get(kind))
    return "\n".join(parts)


def idle(entity: SeedEntity) -> bool:
    now = datetime.now(UTC)
    return all(r.finishes_at is not None and r.finishes_at <= now for r in entity.refreshes)


def entities(sandbox: SandboxServer, *, status: str = "ACTIVE") -> list[SeedEntity]:
    """Seeded entities with accounts, whose consent has `status`, and no refresh running."""
    return [
        e
        for e in sorted(sandbox.state.data.entities.values(), key=lambda e: e.entity_id)
        if e.accounts and e.current_consent.status == status and idle(e)
    ]


def owner_id(sandbox: SandboxServer, entity: SeedEntity) -> str:
    return sandbox.state.data.customers[entity.customer_id].person.national_id


def open_data(at: AppTest, entity_id: str) -> AppTest:
    at.query_params["entity_id"] = entity_id
    return at.run()


def ask_for_refresh(at: AppTest, entity_id: str) -> AppTest:
    at.button(key=f"lean_refresh::{entity_id}:ask").click().run()
    assert "Ask the bank for fresh data now?" in texts(at)
    assert "may take minutes" in texts(at)
    return at.button(key=f"lean_refresh::{entity_id}:yes").click().run()


def test_an_entity_shows_accounts_balances_transactions_identity_masked(
    screen: AppTest, sandbox: SandboxServer
) -> None:
    entity = entities(sandbox)[0]
    at = open_data(screen, entity.entity_id)
    assert not at.exception and not at.error, texts(at)
    frames = [f.value for f in at.dataframe]
    accounts, balances = frames[0], frames[1]
    assert len(accounts) == len(entity.accounts)
    shown = "\n".join(str(f.to_dict()) for f in frames)
    for account in entity.accounts:
        assert account.iban not in shown
    assert f"{entity.accounts[0].iban[:4]} •••• •••• •• {entity.accounts[0].iban[-2:]}" in shown
    assert {"Closing booked", "Closing available"} <= set(balances["Balance"])
    assert all(w.endswith(("in credit", "overdrawn (debit)")) for w in balances["In words"])
    transactions = next(f for f in frames if "Mutability" in f.columns)
    assert len(transactions) > 0
    assert set(transactions.columns) >= {
        "Date",
        "Description",
        "Amount",
        "Currency",
        "Status",
        "Merchant",
    }
    assert len(at.get("plotly_chart")) >= 2
    identity = next(f for f in frames if list(f.columns) == ["Field", "Value"])
    national_id = owner_id(sandbox, entity)
    assert national_id not in shown
    assert f"•••• •••• {national_id[-2:]}" in set(identity["Value"])
    assert [m.label for m in at.metric] == [
        "Beneficiaries",
        "Direct debits",
        "Standing orders",
        "Scheduled payments",
    ]
    assert entity.entity_id in texts(at)


def reveal(at: AppTest, key: str, item: str, reason: str | None = "ticket 4521") -> AppTest:
    """Reveal one row through its "Reveal a row" popover."""
    at.selectbox(key=f"{key}:item").set_value(item)
    if reason is not None:
        at.text_input(key=f"{key}:reason").set_value(reason)
    return at.button(key=f"{key}:go").click().run()


def test_support_reveals_one_account_and_one_identity_field(
    screen: AppTest, sandbox: SandboxServer
) -> None:
    entity = entities(sandbox)[0]
    person = sandbox.state.data.customers[entity.customer_id].person
    at = open_data(screen, entity.entity_id)
    shown = "\n".join(str(f.value.to_dict()) for f in at.dataframe)
    for secret in (person.name_en, person.email, person.national_id, person.mobile.lstrip("+")):
        assert secret not in shown
    at = reveal(at, "data_reveal_account", f"account:{entity.accounts[0].account_id}")
    accounts = at.dataframe[0].value
    assert entity.accounts[0].iban in accounts.iloc[0]["Identifiers"]
    assert person.name_en in set(accounts["Holder"])
    for other in entity.accounts[1:]:
        assert other.iban not in "\n".join(accounts["Identifiers"])
    identity = next(f.value for f in at.dataframe if list(f.value.columns) == ["Field", "Value"])
    assert person.national_id not in set(identity["Value"])
    # The reason given for the account is remembered for this connection.
    at = reveal(at, "data_reveal_identity", "identity:0:National ID", reason=None)
    identity = next(f.value for f in at.dataframe if list(f.value.columns) == ["Field", "Value"])
    values = dict(zip(identity["Field"], identity["Value"], strict=True))
    assert values["National ID"] == person.national_id
    assert values["Email"] != person.email and values["Email"].endswith(".com")
    lines = audit.search(EventStore(os.environ["DATABASE_URL"]), action="reveal")
    assert [(line.reason, line.detail.split(":")[0]) for line in lines] == [
        ("ticket 4521", "Field"),
        ("ticket 4521", "Account"),
    ]
    assert "Refreshing data needs" not in texts(at)  # admin here: everything else still there


def test_refresh_is_confirmed_then_followed_until_finished(
    screen: AppTest, sandbox: SandboxServer
) -> None:
    entity = entities(sandbox)[1]
    at = open_data(screen, entity.entity_id)
    before = len(entity.refreshes)
    at.button(key=f"lean_refresh::{entity.entity_id}:ask").click().run()
    assert len(entity.refreshes) == before, "nothing is asked of Lean before the confirmation"
    at = at.button(key=f"lean_refresh::{entity.entity_id}:yes").click().run()
    assert not at.exception, at.exception
    assert len(entity.refreshes) == before + 1
    refresh_id = entity.refreshes[-1].refresh_id
    assert refresh_id in texts(at)
    assert at.button(key=f"lean_refresh::{entity.entity_id}:ask").disabled
    # The sandbox finishes refreshes after one second; each run is one look, as the fragment's.
    for _ in range(40):
        if "Finished —" in texts(at) and not at.get("info"):
            break
        time.sleep(0.25)
        at.run()
    words = texts(at)
    assert "Finished —" in words, words
    assert "after" in words and refresh_id in words
    table = next(
        f.value
        for f in at.dataframe
        if "Balance" in f.value.columns and "Account" in f.value.columns
    )
    assert set(table["Balance"]) <= {"Success", "Partial", "Failed", "Unsupported", "—"}
    assert not at.button(key=f"lean_refresh::{entity.entity_id}:ask").disabled


def test_expired_consent_reads_in_the_operators_words(
    screen: AppTest, sandbox: SandboxServer
) -> None:
    entity = entities(sandbox, status="EXPIRED")[0]
    at = ask_for_refresh(open_data(screen, entity.entity_id), entity.entity_id)
    assert not at.exception
    warning = " ".join(str(w.value) for w in at.warning)
    assert "Consent expired — the customer must reconnect" in warning
    assert "HTTP 403 · CONSENT_EXPIRED" in warning


def test_a_refresh_already_running_is_followed(
    screen: AppTest, sandbox: SandboxServer, client: LeanClient
) -> None:
    entity = entities(sandbox)[2]
    running = client.trigger_refresh(entity.entity_id)
    # The test sandbox finishes refreshes in a second: keep this one running meanwhile.
    seeded = sandbox.state.data.refreshes[running.refresh_id]
    finishes_at = seeded.finishes_at
    seeded.finishes_at = datetime.now(UTC) + timedelta(hours=1)
    try:
        at = ask_for_refresh(open_data(screen, entity.entity_id), entity.entity_id)
    finally:
        seeded.finishes_at = finishes_at
    assert not at.exception
    words = texts(at)
    assert "A refresh is already running for this bank connection" in words
    assert "HTTP 429 · DUPLICATED_REQUEST" in words
    assert running.refresh_id in words and "already running" in words


def test_unknown_entity_says_so_and_refresh_names_lean_code(screen: AppTest) -> None:
    at = open_data(screen, UNKNOWN_UUID)
    assert not at.exception
    warning = " ".join(str(w.value) for w in at.warning)
    assert "Lean has no such bank connection" in warning and "UNKNOWN_ENTITY" in warning
    at = ask_for_refresh(at, UNKNOWN_UUID)
    assert "HTTP 404 · UNKNOWN_ENTITY" in texts(at)


def test_lean_failing_is_said_with_its_reference(screen: AppTest, sandbox: SandboxServer) -> None:
    entity = entities(sandbox)[0]
    sandbox.faults.set(FaultConfig(error_rate=1.0, path_prefix="/data/v2"))
    at = open_data(screen, entity.entity_id)
    assert not at.exception
    errors = " ".join(str(e.value) for e in at.error)
    assert "Lean had an internal error" in errors and "INTERNAL_SERVER_ERROR" in errors
    # The actions stay usable while Lean's data API fails.
    assert at.button(key=f"lean_refresh::{entity.entity_id}:ask")


def test_lean_failing_after_a_good_answer_keeps_the_data_with_its_age(
    screen: AppTest, sandbox: SandboxServer
) -> None:
    entity = entities(sandbox)[0]
    at = open_data(screen, entity.entity_id)
    assert not at.error
    st.cache_data.clear()
    sandbox.faults.set(FaultConfig(error_rate=1.0, path_prefix="/data/v2"))
    at.run()
    assert not at.exception
    assert "Lean could not answer; showing the accounts from" in texts(at)
    assert len(at.dataframe[0].value) == len(entity.accounts)


# --- ownership verification -----------------------------------------------------------------------


def verifiable(sandbox: SandboxServer) -> SeedEntity:
    """An entity whose owner's national ID is a valid one (its check digit matches)."""
    for entity in entities(sandbox):
        if luhn_valid(owner_id(sandbox, entity)):
            return entity
    raise AssertionError("no seeded owner has a national ID with a valid check digit")


def verify(at: AppTest, entity_id: str, typed: str) -> AppTest:
    at.text_input(key=f"lean_ownership::{entity_id}:typed").input(typed)
    return (
        at.button(key=f"FormSubmitter:lean_ownership::{entity_id}:form-Verify ownership")
        .click()
        .run()
    )


def verification_calls(sandbox: SandboxServer) -> int:
    return sum(1 for _, path in sandbox.state.request_log if path == VERIFY_PATH)


def test_the_owner_is_verified_per_iban_without_echoing_the_id(
    screen: AppTest, sandbox: SandboxServer
) -> None:
    entity = verifiable(sandbox)
    national_id = owner_id(sandbox, entity)
    at = open_data(screen, entity.entity_id)
    calls = verification_calls(sandbox)
    spaced = f"{national_id[:3]} {national_id[3:]}"
    at = verify(at, entity.entity_id, spaced)
    assert not at.exception
    assert verification_calls(sandbox) == calls + 1
    success = " ".join(str(s.value) for s in at.success)
    assert f"Verified — The person with national ID •••• •••• {national_id[-2:]} owns" in success
    ibans = at.dataframe[-1].value
    assert list(ibans.columns) == ["IBAN", "Result"]
    assert set(ibans["Result"]) == {"Owned by this person"}
    assert len(ibans) == len(entity.accounts)
    shown = texts(at) + "\n".join(str(f.value.to_dict()) for f in at.dataframe)
    assert national_id not in shown and spaced not in shown


def test_someone_else_is_not_verified(screen: AppTest, sandbox: SandboxServer) -> None:
    entity = verifiable(sandbox)
    someone_else = "1000000008" if owner_id(sandbox, entity) != "1000000008" else "1000000016"
    assert luhn_valid(someone_else)
    at = verify(open_data(screen, entity.entity_id), entity.entity_id, someone_else)
    errors = " ".join(str(e.value) for e in at.error)
    assert "Not verified — The person with national ID •••• •••• " in errors
    assert set(at.dataframe[-1].value["Result"]) == {"Not owned by this person"}


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("12345", "exactly 10 digits"),
        ("1234567890", "check digit"),
        ("3000000002", "starts with 3"),
        ("12345A7897", "digits only"),
    ],
)
def test_an_invalid_national_id_is_refused_before_any_call(
    screen: AppTest, sandbox: SandboxServer, typed: str, reason: str
) -> None:
    entity = entities(sandbox)[0]
    at = open_data(screen, entity.entity_id)
    calls = verification_calls(sandbox)
    at = verify(at, entity.entity_id, typed)
    assert not at.exception
    errors = " ".join(str(e.value) for e in at.error)
    assert "Not sent to Lean" in errors and reason in errors
    assert typed not in errors
    assert verification_calls(sandbox) == calls, "no call reached the sandbox"


def test_following_stops_after_repeated_failed_checks(
    screen: AppTest, sandbox: SandboxServer
) -> None:
    entity = entities(sandbox)[3]
    at = open_data(screen, entity.entity_id)
    at.button(key=f"lean_refresh::{entity.entity_id}:ask").click().run()
    # The trigger (POST /data/v2/refreshes) works; every look at the refresh fails.
    sandbox.faults.set(FaultConfig(error_rate=1.0, path_prefix="/data/v2/refreshes/"))
    at = at.button(key=f"lean_refresh::{entity.entity_id}:yes").click().run()
    for _ in range(5):
        if "Stopped following" in texts(at):
            break
        at.run()
    words = texts(at)
    assert "Stopped following after 3 failed checks in a row." in words
    assert "Lean had an internal error" in words and "INTERNAL_SERVER_ERROR" in words
    assert not at.button(key=f"lean_refresh::{entity.entity_id}:ask").disabled


def test_a_refresh_that_vanishes_is_no_longer_followed(
    screen: AppTest, sandbox: SandboxServer
) -> None:
    entity = entities(sandbox)[4]
    at = ask_for_refresh(open_data(screen, entity.entity_id), entity.entity_id)
    refresh_id = at.session_state[f"lean_refresh::{entity.entity_id}"].refresh_id
    kept = sandbox.state.data.refreshes.pop(refresh_id)
    try:
        at.run()
    finally:
        sandbox.state.data.refreshes[refresh_id] = kept
    words = texts(at)
    assert "Lean no longer knows this refresh" in words
    assert "UNKNOWN_RESULTS_ID" in words


def test_following_is_bounded_in_time(
    screen: AppTest, sandbox: SandboxServer, client: LeanClient
) -> None:
    entity = entities(sandbox)[5]
    running = client.trigger_refresh(entity.entity_id)
    seeded = sandbox.state.data.refreshes[running.refresh_id]
    finishes_at = seeded.finishes_at
    seeded.finishes_at = datetime.now(UTC) + timedelta(hours=1)
    try:
        at = open_data(screen, entity.entity_id)
        # Followed since an hour ago: past the ten minutes the console follows a refresh.
        at.session_state[f"lean_refresh::{entity.entity_id}"] = FollowedRefresh(
            running.refresh_id, entity.entity_id, time.time() - 3600
        )
        at.run()
    finally:
        seeded.finishes_at = finishes_at
    words = texts(at)
    assert "Stopped following after 10 minutes" in words
    assert "still pending at Lean" in words


def test_a_link_naming_an_account_the_connection_lacks_says_so(
    screen: AppTest, sandbox: SandboxServer
) -> None:
    """A ticket's link with a wrong account_id: the first account is shown, and the screen says
    it is not the one the link named (it switched without a word)."""
    entity = entities(sandbox)[0]
    screen.query_params["account_id"] = "not-an-account-<b>x</b>" + "9" * 100
    at = open_data(screen, entity.entity_id)
    assert not at.exception
    (warned,) = [w.value for w in at.warning if "does not list" in w.value]
    assert warned.endswith("which this bank connection does not list; showing its first "
                           "account instead.")  # fmt: skip
    assert "` not-an-account-<b>x</b>999" in warned and "9" * 40 not in warned  # literal, cut
    assert at.query_params["account_id"] == entity.accounts[0].account_id
