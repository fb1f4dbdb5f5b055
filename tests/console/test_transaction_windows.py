"""Transaction windows against the consent: gaps said in words, from constructed models."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from console.insights.transaction_windows import (
    GAP,
    NOTE,
    account_findings,
    account_windows,
    complete_months_in,
    complete_months_words,
    consent_findings,
    data_ends_words,
    months_between,
    span_words,
    window_findings,
)
from lean_api.models import AccountRefreshStatus, Consent, Refresh

REFRESHED = datetime(2026, 11, 27, 10, tzinfo=UTC)
NOW = datetime(2026, 11, 28, tzinfo=UTC)


def consent(**fields: Any) -> Consent:
    base: dict[str, Any] = {
        "consent_status": "ACTIVE",
        "expiration_date_time": "2027-06-01T00:00:00.000Z",
        "transaction_from_date_time": "2025-01-01T00:00:00.000Z",
        "transaction_to_date_time": "2027-06-01T00:00:00.000Z",
    }
    base.update(fields)
    return Consent.model_validate(base)


def account(
    availability: dict[str, Any] | None, *, camel: bool = False, **statuses: Any
) -> AccountRefreshStatus:
    body: dict[str, Any] = {"account_id": "acc-1", "transactions": "OK", **statuses}
    if availability is not None:
        body["transactionAvailability" if camel else "transaction_availability"] = availability
    return AccountRefreshStatus.model_validate(body)


def texts(findings: list) -> list[str]:
    return [f.text for f in findings]


def gaps(findings: list) -> list[str]:
    return [f.text for f in findings if f.kind == GAP]


def test_data_starting_months_after_the_consent_allows_is_a_gap() -> None:
    found = account_findings(
        account({"start": "2025-06-03", "end": "2026-11-27", "complete_months": 17}),
        consent(),
        REFRESHED,
    )
    assert gaps(found) == ["data starts 5 months after the consent allows"]


@pytest.mark.parametrize("camel", [False, True], ids=["snake", "camel"])
def test_both_spellings_of_the_window_are_read(camel: bool) -> None:
    found = account_findings(
        account({"start": "2025-01-01", "end": "2026-11-27", "complete_months": 22}, camel=camel),
        consent(),
        REFRESHED,
    )
    assert gaps(found) == []
    assert texts(found) == ["consent allows no transactions before 2025-01-01"]


def test_data_ending_days_before_the_refresh_is_a_gap() -> None:
    found = account_findings(
        account({"start": "2025-01-01", "end": "2026-11-24", "complete_months": 22}),
        consent(),
        REFRESHED,
    )
    assert gaps(found) == ["data ends 3 days before the refresh"]


def test_when_the_consent_window_ends_first_data_is_compared_with_it() -> None:
    ended = consent(transaction_to_date_time="2026-09-30T00:00:00Z")
    full = account({"start": "2025-01-01", "end": "2026-09-30", "complete_months": 20})
    assert texts(account_findings(full, ended, REFRESHED))[-1] == (
        "consent allows no transactions after 2026-09-30"
    )
    short = account({"start": "2025-01-01", "end": "2026-08-15", "complete_months": 19})
    assert gaps(account_findings(short, ended, REFRESHED)) == [
        "data ends 1 month before the consent's window ends"
    ]
    beyond = account({"start": "2025-01-01", "end": "2026-11-27", "complete_months": 22})
    assert gaps(account_findings(beyond, ended, REFRESHED)) == [
        "data ends 1 month after the consent allows"
    ]


def test_data_starting_before_the_consent_allows_is_a_gap() -> None:
    found = account_findings(
        account({"start": "2024-12-20", "end": "2026-11-27", "complete_months": 22}),
        consent(),
        REFRESHED,
    )
    assert gaps(found) == ["data starts 12 days before the consent allows"]


def test_fewer_complete_months_than_the_window_spans_is_a_gap() -> None:
    found = account_findings(
        account({"start": "2025-01-01", "end": "2026-11-27", "complete_months": 3}),
        consent(),
        REFRESHED,
    )
    assert gaps(found) == ["only 3 complete months in a window spanning 22"]


def test_missing_values_are_said_not_guessed() -> None:
    no_months = account_findings(
        account({"start": "2025-01-01", "end": "2026-11-27"}), consent(), REFRESHED
    )
    assert "complete months not reported" in texts(no_months) and gaps(no_months) == []
    no_start = account_findings(account({"end": "2026-11-27"}), consent(), REFRESHED)
    assert "the bank reported no start date" in gaps(no_start)
    no_end = account_findings(account({"start": "2025-01-01"}), consent(), REFRESHED)
    assert "the bank reported no end date" in gaps(no_end)


@pytest.mark.parametrize(
    ("status", "kind", "text"),
    [
        ("OK", GAP, "no transaction window reported"),
        ("PARTIAL", GAP, "no transaction window reported"),
        ("FAILED", GAP, "no transaction window reported — transactions failed"),
        ("PENDING", NOTE, "no transaction window yet — transactions pending"),
        ("UNSUPPORTED", NOTE, "no transaction window reported — the bank does not support them"),
        (None, NOTE, "no transaction window reported — transactions were not refreshed"),
        ("WEIRD", GAP, "no transaction window reported"),
    ],
)
def test_no_window_is_explained_by_the_transactions_status(
    status: str | None, kind: str, text: str
) -> None:
    (finding,) = account_findings(account(None, transactions=status), consent(), REFRESHED)
    assert (finding.kind, finding.text) == (kind, text)


def test_an_empty_window_object_counts_as_no_window() -> None:
    (finding,) = account_findings(account({}), consent(), REFRESHED)
    assert finding.text == "no transaction window reported"


def test_partial_transactions_are_flagged_even_with_a_full_window() -> None:
    found = account_findings(
        account(
            {"start": "2025-01-01", "end": "2026-11-27", "complete_months": 22},
            transactions="PARTIAL",
        ),
        consent(),
        REFRESHED,
    )
    assert gaps(found) == ["transactions partial: some may be missing"]


def test_without_a_consent_window_only_the_banks_window_is_checked() -> None:
    bare = consent(transaction_from_date_time=None, transaction_to_date_time=None)
    found = account_findings(
        account({"start": "2025-06-03", "end": "2026-11-27", "complete_months": 17}),
        bare,
        REFRESHED,
    )
    assert gaps(found) == []
    assert texts(consent_findings(bare, NOW)) == ["the consent states no transaction window"]
    assert (
        gaps(account_findings(account({"start": "2025-06-03", "end": "2026-11-01"}), None, None))
        == []
    )


def test_an_expired_consent_says_the_customer_must_reconnect() -> None:
    expired = consent(expiration_date_time="2026-10-01T00:00:00Z")  # Lean still says ACTIVE
    assert gaps(consent_findings(expired, NOW)) == [
        "consent expired on 2026-10-01 — the customer must reconnect before newer transactions "
        "can be fetched"
    ]
    revoked = consent(consent_status="REVOKED")
    assert gaps(consent_findings(revoked, NOW))[0].startswith("consent revoked by the customer")
    assert gaps(consent_findings(None, NOW)) == [
        "no consent found: the transaction window cannot be compared"
    ]
    assert consent_findings(consent(), NOW) == []


def test_a_refresh_gives_consent_findings_then_each_accounts() -> None:
    refresh = Refresh.model_validate(
        {
            "refresh_id": "r1",
            "status": "FINISHED",
            "created_at": "2026-11-27T10:00:00Z",
            "data_status": {
                "account_data": [
                    {
                        "account_id": "a1",
                        "transactions": "OK",
                        "transactionAvailability": {"start": "2025-06-03", "end": "2026-11-27"},
                    },
                    {"account_id": "a2", "transactions": "FAILED"},
                ]
            },
        }
    )
    found = window_findings(refresh, consent(consent_status="EXPIRED"), NOW)
    assert [f.account_id for f in found] == [None, "a1", "a1", "a2"]
    assert found[1].text == "data starts 5 months after the consent allows"
    assert window_findings(Refresh.model_validate({"refresh_id": "r"}), consent(), NOW) == []


def test_month_and_day_arithmetic() -> None:
    assert months_between(date(2025, 1, 15), date(2025, 6, 14)) == 4
    assert months_between(date(2025, 1, 15), date(2025, 6, 15)) == 5
    assert span_words(date(2025, 1, 1), date(2025, 1, 2)) == "1 day"
    assert span_words(date(2025, 1, 1), date(2025, 2, 1)) == "1 month"
    assert complete_months_in(date(2024, 11, 28), date(2026, 11, 28)) == 23
    assert complete_months_in(date(2025, 1, 1), date(2025, 1, 31)) == 1
    assert complete_months_in(date(2025, 1, 2), date(2025, 1, 30)) == 0


def test_a_window_reported_with_failed_transactions_is_not_data_held() -> None:
    found = account_findings(
        account(
            {"start": "2025-01-01", "end": "2026-11-27", "complete_months": 22},
            transactions="FAILED",
        ),
        consent(),
        REFRESHED,
    )
    assert gaps(found) == [
        "transactions failed — this window is what the bank last reported, not data held"
    ]


def test_one_complete_month_is_singular() -> None:
    assert complete_months_words(1) == "1 complete month"
    assert complete_months_words(0) == "0 complete months"
    assert complete_months_words(None) == "complete months not reported"
    found = account_findings(
        account({"start": "2025-01-01", "end": "2026-11-27", "complete_months": 1}),
        consent(),
        REFRESHED,
    )
    assert gaps(found) == ["only 1 complete month in a window spanning 22"]


@pytest.mark.parametrize(
    ("end", "refreshed", "allowed_to", "failed", "words"),
    [
        (date(2026, 6, 30), date(2026, 11, 30), None, False,
         "data ends 2026-06-30 — 5 months before the refresh"),
        (date(2026, 11, 20), date(2026, 11, 27), None, False,
         "data ends 2026-11-20 — 7 days before the refresh"),
        (date(2026, 11, 26), date(2026, 11, 27), None, False,
         "data ends 2026-11-26 — up to the refresh"),
        (date(2026, 9, 30), date(2026, 11, 27), date(2026, 9, 30), False,
         "data ends 2026-09-30 — where the consent's window ends"),
        (date(2026, 11, 27), date(2026, 11, 27), None, True,
         "data ends 2026-11-27 — up to the refresh (as last reported; not data held)"),
        (date(2026, 6, 30), None, None, False, "data ends 2026-06-30"),
        (None, date(2026, 11, 27), None, False, "no end date reported"),
    ],
)  # fmt: skip
def test_where_the_data_ends_in_words(
    end: date | None, refreshed: date | None, allowed_to: date | None, failed: bool, words: str
) -> None:
    assert data_ends_words(end, refreshed, failed=failed, allowed_to=allowed_to) == words


def test_each_accounts_last_transaction_date_against_the_refresh() -> None:
    refresh = Refresh.model_validate(
        {
            "refresh_id": "r1",
            "status": "FINISHED",
            "created_at": "2026-11-30T10:00:00Z",
            "data_status": {
                "account_data": [
                    {
                        "account_id": "a1",
                        "transactions": "OK",
                        "transaction_availability": {
                            "start": "2025-01-01",
                            "end": "2026-06-30",
                            "complete_months": 18,
                        },
                    },
                    {"account_id": "a2", "transactions": "FAILED"},
                ]
            },
        }
    )
    first, second = account_windows(refresh, consent())
    assert (first.account_id, first.start, first.end, first.complete_months) == (
        "a1", date(2025, 1, 1), date(2026, 6, 30), 18,
    )  # fmt: skip
    assert first.data_ends == "data ends 2026-06-30 — 5 months before the refresh"
    assert (second.transactions, second.end) == ("FAILED", None)
    assert second.data_ends == "no end date reported — transactions failed"
