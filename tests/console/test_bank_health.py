"""Availability history and health rules on constructed histories."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from console.insights.bank_health import (
    DEGRADED,
    DOWN,
    HEALTHY,
    NO_RECORD,
    NOT_ENOUGH_DATA,
    AvailabilityChange,
    HealthThresholds,
    OutcomeCounts,
    change_from_body,
    change_from_payload,
    classify,
    classify_bank,
    current_outage,
    current_state,
    describe_duration,
    percent,
    refresh_outcomes,
    sort_problems_first,
    spans,
    uptime,
)
from lean_api.models import Refresh

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
WEEK_AGO = NOW - timedelta(days=7)


def up(hours_ago: float) -> AvailabilityChange:
    return AvailabilityChange(NOW - timedelta(hours=hours_ago), "available", "available")


def down(hours_ago: float, state: str = "disabled_by_lean") -> AvailabilityChange:
    return AvailabilityChange(NOW - timedelta(hours=hours_ago), state, "available")


def counts(**n: int) -> OutcomeCounts:
    result = OutcomeCounts()
    for outcome, k in n.items():
        result.add(outcome.upper(), k)
    return result


# -- availability history ---------------------------------------------------------------------


def test_no_events_means_no_record_and_no_uptime() -> None:
    assert (
        spans([], "data", WEEK_AGO, NOW) == [spans([], "data", WEEK_AGO, NOW)[0]]
        and spans([], "data", WEEK_AGO, NOW)[0].state == NO_RECORD
    )
    assert uptime([], "data", WEEK_AGO, NOW) is None
    assert current_state([], "data", NOW).state == NO_RECORD
    assert current_outage([], "data", NOW) is None


def test_always_up_is_full_uptime() -> None:
    history = [up(24 * 10)]  # switched on before the window opened
    assert uptime(history, "data", WEEK_AGO, NOW) == 1.0
    assert [s.state for s in spans(history, "data", WEEK_AGO, NOW)] == ["available"]
    assert current_outage(history, "data", NOW) is None


def test_time_before_the_first_change_does_not_count() -> None:
    history = [up(24)]  # first heard of a day ago
    result = spans(history, "data", WEEK_AGO, NOW)
    assert [s.state for s in result] == [NO_RECORD, "available"]
    assert uptime(history, "data", WEEK_AGO, NOW) == 1.0


def test_flapping_bank_uptime_is_the_share_of_time_up() -> None:
    # Down one hour in every four, for the whole week.
    history = [up(24 * 8)]
    for start in range(0, 24 * 7, 4):
        history += [down(start + 1), up(start)]
    result = uptime(history, "data", WEEK_AGO, NOW)
    assert result == pytest.approx(0.75)
    states = [s.state for s in spans(history, "data", WEEK_AGO, NOW)]
    assert states.count("disabled_by_lean") == 42
    assert all(a != b for a, b in itertools.pairwise(states))  # merged runs


def test_ongoing_outage_has_its_start_and_length() -> None:
    history = [up(100), down(5), down(2)]  # a repeated "still down" does not restart it
    outage = current_outage(history, "data", NOW)
    assert outage is not None and outage.state == "disabled_by_lean"
    assert outage.since == NOW - timedelta(hours=5) and outage.exact
    assert outage.lasted(NOW) == timedelta(hours=5)
    assert uptime(history, "data", NOW - timedelta(hours=10), NOW) == pytest.approx(0.5)


def test_outage_older_than_the_record_is_at_least_since() -> None:
    outage = current_outage([down(30)], "data", NOW)
    assert outage is not None and not outage.exact


def test_events_out_of_order_follow_lean_clock() -> None:
    in_order = [up(50), down(10), up(4)]
    shuffled = [in_order[2], in_order[0], in_order[1]]
    assert spans(shuffled, "data", WEEK_AGO, NOW) == spans(in_order, "data", WEEK_AGO, NOW)
    assert current_outage(shuffled, "data", NOW) is None
    assert uptime(shuffled, "data", NOW - timedelta(hours=50), NOW) == pytest.approx(44 / 50)


def test_unknown_state_words_are_unknown_not_up() -> None:
    weird = change_from_payload(
        NOW, {"availability": {"active": {"data": "maybe"}, "enabled": {"data": True}}}
    )
    assert weird.data == "unknown" and weird.payments == "unknown"
    missing = change_from_payload(NOW, {"identifier": "X"})
    assert missing.data == "unknown"
    assert change_from_body(NOW, "not json").data == "unknown"
    history = [up(10), AvailabilityChange(NOW - timedelta(hours=5), "unknown", "unknown")]
    assert uptime(history, "data", NOW - timedelta(hours=10), NOW) == pytest.approx(0.5)
    assert current_outage(history, "data", NOW) is not None


def test_payload_flags_give_who_disabled_it() -> None:
    by_lean = change_from_payload(
        NOW,
        {
            "availability": {
                "active": {"data": False, "payments": True},
                "enabled": {"data": True, "payments": False},
            }
        },
    )
    assert (by_lean.data, by_lean.payments) == ("disabled_by_lean", "disabled_by_us")


def test_describe_duration() -> None:
    assert describe_duration(timedelta(seconds=20)) == "under a minute"
    assert describe_duration(timedelta(minutes=12)) == "12 min"
    assert describe_duration(timedelta(hours=2, minutes=5)) == "2 h 5 min"
    assert describe_duration(timedelta(days=3, hours=4, minutes=9)) == "3 d 4 h"


def test_a_few_are_never_none_and_nearly_all_never_all() -> None:
    assert [percent(share) for share in (0, 0.002, 0.0051, 0.2, 0.994, 0.995, 0.999, 1)] == [
        "0%", "<1%", "1%", "20%", "99%", ">99%", ">99%", "100%",
    ]  # fmt: skip
    assert classify(counts(failed=2, success=998), counts(failed=2, success=998)).reason == (
        "<1% of 1000 refreshes failed or partial in 24 h"
    )


# -- health -----------------------------------------------------------------------------------


def test_bank_switched_off_is_down_whatever_the_refreshes_say() -> None:
    verdict = classify(counts(success=100), counts(success=500), "disabled_by_us")
    assert verdict.word == DOWN and "Disabled by us" in verdict.reason


def test_half_failed_in_a_day_is_down() -> None:
    assert classify(counts(success=5, failed=5), counts()).word == DOWN
    assert classify(counts(success=6, failed=4), counts()).word == DEGRADED


def test_down_needs_enough_refreshes() -> None:
    # Two failures out of three is not enough to call a bank down; 7 days decide.
    verdict = classify(counts(failed=2, success=1), counts(failed=2, success=40))
    assert verdict.word == HEALTHY and "7 days" in verdict.reason


def test_ten_percent_failed_or_partial_is_degraded() -> None:
    assert classify(counts(success=9, partial=1), counts()).word == DEGRADED
    assert classify(counts(success=91, failed=9), counts()).word == HEALTHY


def test_unsupported_is_not_held_against_a_bank() -> None:
    verdict = classify(counts(success=10, unsupported=90), counts())
    assert verdict.word == HEALTHY


def test_not_enough_data_says_what_it_means() -> None:
    verdict = classify(counts(success=1), counts(success=4, unsupported=10))
    assert verdict.word == NOT_ENOUGH_DATA
    assert "4 finished refreshes in 7 days (fewer than 5)" in verdict.reason


def test_thresholds_are_configurable_and_described() -> None:
    strict = HealthThresholds(min_refreshes=2, down_failed_share=0.2, degraded_share=0.05)
    assert classify(counts(success=4, failed=1), counts(), thresholds=strict).word == DOWN
    text = " ".join(strict.describe())
    assert "20%" in text and "5%" in text and "at least 2" in text


def test_unknown_status_words_count_as_not_successful() -> None:
    unknown = counts(success=8, exploded=2)
    assert unknown.counts["OTHER"] == 2
    assert classify(unknown, counts()).word == HEALTHY  # not failed, not partial
    assert unknown.share("OTHER") == pytest.approx(0.2)


def test_one_failing_data_type_degrades_the_bank() -> None:
    day = {"balance": counts(success=200), "direct_debits": counts(failed=10)}
    verdict = classify_bank(day, day)
    assert verdict.by_type["direct_debits"].word == DOWN
    assert verdict.overall.word == DEGRADED and "direct debits" in verdict.overall.reason


def test_problems_sort_first() -> None:
    ok, bad = classify(counts(success=10), counts()), classify(counts(failed=10), counts())
    unsure = classify(counts(), counts())
    ordered = sort_problems_first([("A", ok), ("B", unsure), ("C", bad)])
    assert [name for name, _ in ordered] == ["C", "B", "A"]


def test_refresh_outcome_is_the_worst_account() -> None:
    refresh = Refresh.model_validate(
        {
            "refresh_id": "r",
            "status": "FINISHED",
            "data_status": {
                "identity": "OK",
                "account_data": [
                    {
                        "balance": "SUCCESS",
                        "transactions": "PARTIAL",
                        "direct_debits": "UNSUPPORTED",
                    },
                    {"balance": "FAILED", "transactions": "OK", "direct_debits": "UNSUPPORTED"},
                    {"balance": "SUCCESS", "transactions": "WOBBLY"},
                ],
            },
        }
    )
    assert refresh_outcomes(refresh) == {
        "balance": "FAILED",
        "identity": "SUCCESS",
        "transactions": "OTHER",
        "direct_debits": "UNSUPPORTED",
    }


def test_a_bank_needs_enough_refreshes_not_enough_results() -> None:
    # One refresh reports seven data types: seven results, still one refresh.
    one_refresh = {name: counts(success=1) for name in ("balance", "identity", "transactions")}
    one_refresh |= {n: counts(success=1) for n in ("beneficiaries", "direct_debits")}
    one_refresh |= {n: counts(success=1) for n in ("scheduled_payments", "standing_orders")}
    verdict = classify_bank(one_refresh, one_refresh)
    assert verdict.overall.word == NOT_ENOUGH_DATA
    assert verdict.overall.reason == "1 finished refreshes in 7 days (fewer than 5)"
    six = {name: counts(success=5, partial=1) for name in one_refresh}
    verdict = classify_bank(six, six)
    assert verdict.overall.word == DEGRADED
    assert verdict.overall.reason == "17% of 42 results of 6 refreshes failed or partial in 24 h"


def test_a_data_type_the_bank_never_supports_is_said_so() -> None:
    verdict = classify(counts(unsupported=3), counts(unsupported=20))
    assert verdict.word == "NOT SUPPORTED" and "all 20 refreshes" in verdict.reason
    both = {"balance": counts(success=30), "direct_debits": counts(unsupported=20)}
    bank = classify_bank(both, both)
    assert bank.overall.word == HEALTHY
    assert bank.by_type["direct_debits"].word == "NOT SUPPORTED"


def test_one_degraded_data_type_does_not_degrade_the_bank() -> None:
    day = {"balance": counts(success=200), "transactions": counts(success=8, partial=2)}
    verdict = classify_bank(day, day)
    assert verdict.by_type["transactions"].word == DEGRADED
    assert verdict.overall.word == HEALTHY
