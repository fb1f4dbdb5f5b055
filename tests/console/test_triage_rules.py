"""Each triage rule on a constructed history: the situation it names, and one it must not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from console.insights.bank_health import AvailabilityChange
from console.insights.triage import (
    AccountStatuses,
    ConsentFact,
    DeadLetterFact,
    EntityFact,
    History,
    LeanCallFact,
    RefreshFact,
    RejectionFact,
    Severity,
    WebhookFact,
    bank_unavailable,
    consent_expired,
    consent_revoked,
    diagnose,
    entity_created_dead_letter,
    entity_created_missing,
    entity_created_refused,
    lean_calls_failing,
    lean_not_answering,
    link_abandoned,
    rank,
    refresh_incomplete,
    refresh_stuck,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
CUSTOMER = "c0000000-0000-4000-8000-000000000001"
ENTITY = "e0000000-0000-4000-8000-000000000001"
BANK = "RJHI_SAMAOB_SAU"
ALL_OK = {"balance": "SUCCESS", "transactions": "SUCCESS", "identity": "SUCCESS"}


def active(expires_in: timedelta = timedelta(days=200)) -> ConsentFact:
    return ConsentFact("consent-1", "ACTIVE", NOW - timedelta(days=100), NOW - timedelta(days=100),
                       NOW + expires_in, ("accounts", "transactions"))  # fmt: skip


def entity(consent: ConsentFact | None = None, **kwargs: object) -> EntityFact:
    values: dict[str, object] = {
        "entity_id": ENTITY,
        "bank_identifier": BANK,
        "created_at": NOW - timedelta(days=100),
        "consents": (consent or active(),),
    }
    values.update(kwargs)
    return EntityFact(**values)  # type: ignore[arg-type]


def refresh(
    refresh_id: str,
    days_ago: float,
    *statuses: dict[str, str | None],
    status: str = "FINISHED",
) -> RefreshFact:
    started = NOW - timedelta(days=days_ago)
    return RefreshFact(
        refresh_id=refresh_id,
        entity_id=ENTITY,
        status=status,
        started_at=started,
        finished_at=started + timedelta(seconds=40) if status == "FINISHED" else None,
        accounts=tuple(AccountStatuses(f"acc-{i}", s) for i, s in enumerate(statuses)),
    )


def history(**kwargs: object) -> History:
    values: dict[str, object] = {"now": NOW, "customer_id": CUSTOMER, "entities": [entity()]}
    values.update(kwargs)
    return History(**values)  # type: ignore[arg-type]


# -- consent expired ---------------------------------------------------------------------------


def test_an_expired_consent_asks_the_customer_to_reconnect_with_the_days() -> None:
    expired = ConsentFact("consent-9", "EXPIRED", NOW - timedelta(days=400),
                          NOW - timedelta(days=12), NOW - timedelta(days=12))  # fmt: skip
    [finding] = consent_expired(history(entities=[entity(expired)]))
    assert finding.rule == "consent_expired" and finding.severity is Severity.CRITICAL
    assert finding.title == "Consent expired 12 days ago"
    assert "reconnect" in finding.next_action
    assert any(ENTITY in line for line in finding.evidence)
    assert finding.since == NOW - timedelta(days=12)


def test_an_active_consent_past_its_expiry_reads_expired_and_says_lean_still_says_active() -> None:
    [finding] = consent_expired(history(entities=[entity(active(-timedelta(days=1)))]))
    assert finding.title == "Consent expired 1 day ago"
    assert any("still says ACTIVE" in line for line in finding.evidence)


def test_an_active_consent_is_not_expired() -> None:
    assert consent_expired(history(entities=[entity(active(timedelta(hours=2)))])) == []


def test_only_the_newest_consent_counts() -> None:
    old = ConsentFact(
        "old", "EXPIRED", NOW - timedelta(days=300), expires_at=NOW - timedelta(days=200)
    )
    reconnected = entity(consents=(old, active()))
    assert consent_expired(history(entities=[reconnected])) == []


# -- consent revoked or suspended --------------------------------------------------------------


def test_a_revoked_consent_says_who_and_when() -> None:
    revoked = ConsentFact("consent-2", "REVOKED", NOW - timedelta(days=50), NOW - timedelta(days=3),
                          NOW + timedelta(days=300))  # fmt: skip
    update = WebhookFact("ev-upd", "entity.updated", NOW - timedelta(days=3), entity_id=ENTITY)
    [finding] = consent_revoked(history(entities=[entity(revoked)], webhooks=[update]))
    assert finding.title == "Consent revoked" and finding.severity is Severity.CRITICAL
    text = " ".join(finding.evidence)
    assert "withdrawn by the customer" in text and "3 d 0 h ago" in text and "ev-upd" in text
    assert "reconnect" in finding.next_action


def test_a_suspended_consent_names_the_bank_as_who() -> None:
    suspended = ConsentFact("c", "SUSPENDED", NOW - timedelta(days=5), NOW - timedelta(hours=5))
    [finding] = consent_revoked(history(entities=[entity(suspended)]))
    assert finding.title == "Consent suspended"
    assert any("stopped by the bank" in line for line in finding.evidence)


def test_an_active_or_expired_consent_is_not_revoked() -> None:
    expired = ConsentFact("c", "EXPIRED", expires_at=NOW - timedelta(days=1))
    assert consent_revoked(history(entities=[entity(active()), entity(expired)])) == []


# -- bank availability ---------------------------------------------------------------------------


def test_a_bank_disabled_by_lean_says_wait_since_when() -> None:
    changes = [
        AvailabilityChange(NOW - timedelta(days=3), "available", "available"),
        AvailabilityChange(NOW - timedelta(hours=5), "disabled_by_lean", "available"),
    ]
    [finding] = bank_unavailable(history(bank_changes={BANK: changes}))
    assert finding.rule == "bank_disabled_by_lean" and finding.severity is Severity.WARNING
    assert finding.next_action.startswith("Wait")
    assert finding.since == NOW - timedelta(hours=5)
    assert any("since 2026-11-28 07:00 UTC" in line for line in finding.evidence)
    assert any("(2 changes in the window)" in line for line in finding.evidence)


def test_a_bank_back_on_or_another_bank_down_is_not_reported() -> None:
    changes = [
        AvailabilityChange(NOW - timedelta(hours=5), "disabled_by_lean", "available"),
        AvailabilityChange(NOW - timedelta(hours=1), "available", "available"),
    ]
    other = [AvailabilityChange(NOW - timedelta(hours=5), "disabled_by_lean", "available")]
    assert bank_unavailable(history(bank_changes={BANK: changes, "OTHER_BANK": other})) == []


def test_a_bank_switched_off_by_us_asks_to_switch_it_on() -> None:
    changes = [AvailabilityChange(NOW - timedelta(hours=2), "disabled_by_us", "available")]
    [finding] = bank_unavailable(history(bank_changes={BANK: changes}))
    assert finding.rule == "bank_disabled_by_us" and "portal" in finding.next_action
    assert any("(1 change in the window)" in line for line in finding.evidence)


# -- refreshes incomplete ------------------------------------------------------------------------


def test_transactions_partial_on_the_latest_refresh_says_refresh_again() -> None:
    latest = refresh("r3", 0.5, ALL_OK, {**ALL_OK, "transactions": "PARTIAL"}, ALL_OK)
    older = refresh("r2", 2, ALL_OK, ALL_OK, ALL_OK)
    [finding] = refresh_incomplete(history(refreshes=[older, latest]))
    assert finding.rule == "refresh_incomplete" and finding.severity is Severity.WARNING
    assert finding.title == "Transactions partial for 1 of 3 accounts on the latest refresh"
    assert finding.next_action.startswith("Refresh again")
    assert finding.refs["refresh_id"] == "r3"


def test_incomplete_three_times_in_a_row_escalates() -> None:
    failing = {**ALL_OK, "balance": "FAILED"}
    refreshes = [refresh(f"r{i}", i, failing, ALL_OK) for i in range(1, 4)]
    [finding] = refresh_incomplete(history(refreshes=refreshes))
    assert finding.rule == "refresh_incomplete_repeated" and finding.severity is Severity.CRITICAL
    assert finding.title.startswith("Balance failed for 1 of 2 accounts")
    assert "Escalate" in finding.next_action
    assert all(f"r{i}" in " ".join(finding.evidence) for i in range(1, 4))


def test_a_complete_latest_refresh_is_not_incomplete_even_after_partial_ones() -> None:
    partial = {**ALL_OK, "transactions": "PARTIAL"}
    refreshes = [
        refresh("old", 3, partial),
        refresh("new", 1, ALL_OK, {**ALL_OK, "x": "UNSUPPORTED"}),
    ]
    assert refresh_incomplete(history(refreshes=refreshes)) == []


# -- refresh stuck -------------------------------------------------------------------------------


def test_a_refresh_pending_for_hours_escalates_with_its_refresh_and_results_ids() -> None:
    stuck = refresh("r-stuck", 5 / 24, status="PENDING")
    call = LeanCallFact(NOW - timedelta(hours=1), "GET", "/data/v2/refreshes/{refresh_id}", 200,
                        "ok", results_id="res-77", refresh_id="r-stuck")  # fmt: skip
    [finding] = refresh_stuck(history(refreshes=[stuck], lean_calls=[call]))
    assert finding.title == "Refresh pending for 5 h 0 min"
    assert finding.refs == {"refresh_id": "r-stuck", "entity_id": ENTITY, "results_id": "res-77"}
    assert "Escalate to Lean" in finding.next_action
    assert any("res-77" in line for line in finding.evidence)


def test_a_refresh_pending_for_minutes_is_not_stuck() -> None:
    assert refresh_stuck(history(refreshes=[refresh("r", 10 / 1440, status="PENDING")])) == []


# -- entity.created never arrived ------------------------------------------------------------------


def refused(at: datetime, entity_id: str = ENTITY) -> RejectionFact:
    """What Lean sends when our secret is wrong: a well-formed sha512 signature that mismatches."""
    return RejectionFact(at, 401, "signature does not match the body", "entity.created", "ev-9",
                         CUSTOMER, entity_id, "sha512", "203.0.113.9")  # fmt: skip


def forged(n: int, reason: str, shape: str) -> RejectionFact:
    return RejectionFact(NOW - timedelta(minutes=n), 401, reason, "entity.created", None, CUSTOMER,
                         f"f0000000-0000-4000-8000-{n:012d}", shape, "198.51.100.7")  # fmt: skip


def flood(count: int = 80) -> list[RejectionFact]:
    """Half with no signature header, half with another algorithm: what anyone can send."""
    return [
        forged(n, "missing signature header", "none")
        if n % 2
        else forged(n, "unsupported signature algorithm 'sha256'", "other")
        for n in range(count)
    ]


def test_a_refused_entity_created_lean_corroborates_is_action_needed_with_secret_advice() -> None:
    rejections = [refused(NOW - timedelta(hours=3)), refused(NOW - timedelta(hours=2))]
    [finding] = entity_created_refused(history(rejections=rejections))
    assert finding.rule == "entity_created_refused" and finding.severity is Severity.CRITICAL
    text = " ".join(finding.evidence)
    assert "2 refused deliveries" in text and "signature did not match ×2" in text
    assert "Lean does list it" in text and "no signature" not in text
    assert "LEAN_WEBHOOK_SECRET" in finding.next_action and "resend" in finding.next_action
    assert finding.since == NOW - timedelta(hours=3)
    assert finding.refs == {"entity_id": ENTITY, "event_id": "ev-9"}


def test_a_flood_of_unsigned_claims_is_one_note_and_link_abandoned_still_fires() -> None:
    forged_history = history(entities=[], rejections=flood())
    [finding] = entity_created_refused(forged_history)
    assert finding.severity is Severity.INFO and finding.title.startswith("Possibly forged")
    text = " ".join(finding.evidence)
    assert "80 refused deliveries" in text and "80 distinct entities" in text
    assert "no signature ×40" in text and "wrong signature algorithm ×40" in text
    assert "signature did not match" not in text and "198.51.100.7 ×80" in text
    assert "(+77 more)" in text and sum(line.count("f0000000") for line in finding.evidence) == 3
    assert "check the sender" in finding.next_action.lower()
    assert "nothing to do for the customer" in finding.next_action
    assert "SECRET" not in finding.next_action
    rules = [f.rule for f in diagnose(forged_history)]
    assert rules.count("entity_created_refused") == 1 and "link_abandoned" in rules
    [first] = [f for f in diagnose(forged_history) if f.severity is Severity.WARNING]
    assert first.rule == "link_abandoned"


def test_a_mismatch_for_an_entity_lean_does_not_list_is_possibly_forged() -> None:
    stranger = "e0000000-0000-4000-8000-0000000000ff"
    [finding] = entity_created_refused(history(rejections=[refused(NOW, stranger)]))
    assert finding.severity is Severity.WARNING and finding.title.startswith("Possibly forged")
    assert "Lean lists none of the entities" in " ".join(finding.evidence)
    assert "nothing to do for the customer" in finding.next_action
    assert "SECRET" not in finding.next_action
    # Without Lean's answer it cannot be corroborated either.
    unknown = history(rejections=[refused(NOW)], lean_answered=False)
    assert entity_created_refused(unknown)[0].severity is Severity.WARNING


def test_a_malformed_or_missing_signature_for_a_listed_entity_is_not_action_needed() -> None:
    for reason, shape, words in [
        ("missing signature header", "none", "no signature"),
        ("malformed signature header", "other", "malformed signature"),
        ("signature does not match the body", "other", "signature did not match"),
    ]:
        claim = RejectionFact(NOW, 401, reason, "entity.created", "ev", CUSTOMER, ENTITY, shape)
        [finding] = entity_created_refused(history(rejections=[claim]))
        assert finding.severity is Severity.INFO, reason
        assert f"{words} ×1" in " ".join(finding.evidence)


def test_a_flood_does_not_drown_the_corroborated_refusal() -> None:
    rejections = [*flood(), refused(NOW - timedelta(hours=2))]
    [finding] = entity_created_refused(history(rejections=rejections))
    assert finding.severity is Severity.CRITICAL and finding.refs["entity_id"] == ENTITY
    assert any("the other 80 look forged" in line for line in finding.evidence)


def test_a_refusal_followed_by_a_stored_entity_created_is_not_a_problem() -> None:
    arrived = WebhookFact("ev-9", "entity.created", NOW - timedelta(hours=1), entity_id=ENTITY)
    refusal = [refused(NOW - timedelta(hours=3))]
    assert entity_created_refused(history(rejections=refusal, webhooks=[arrived])) == []
    other_type = [
        RejectionFact(NOW, 401, "bad", "entity.data.refresh.updated", "e", CUSTOMER, ENTITY)
    ]
    assert entity_created_refused(history(rejections=other_type)) == []


def test_a_dead_letter_naming_the_customer_is_shown_until_reprocessed() -> None:
    letter = DeadLetterFact(
        NOW - timedelta(hours=1), "the body is not JSON", 2, f"customer {CUSTOMER}"
    )
    [finding] = entity_created_dead_letter(history(dead_letters=[letter]))
    assert finding.rule == "webhook_dead_letter" and "reprocess" in finding.next_action
    done = DeadLetterFact(letter.at, letter.reason, 2, letter.mentions, NOW, "stored")
    assert entity_created_dead_letter(history(dead_letters=[done])) == []


def test_a_customer_without_connections_or_refusals_abandoned_link() -> None:
    [finding] = link_abandoned(history(entities=[]))
    assert finding.rule == "link_abandoned" and "left Link" in finding.next_action


def test_link_is_not_abandoned_when_a_connection_explains_it() -> None:
    # A refused claim alone (even a well-formed one) names no entity Lean lists: still abandoned.
    assert link_abandoned(history(entities=[], rejections=[refused(NOW)]))
    assert link_abandoned(history()) == []
    assert link_abandoned(history(entities=[], lean_answered=False)) == []
    assert link_abandoned(history(entities=[], customer_found=False)) == []


def test_an_entity_created_while_listening_without_its_webhook_is_missing() -> None:
    found = entity_created_missing(history(listening_since=NOW - timedelta(days=200)))
    assert [f.rule for f in found] == ["entity_created_missing"]
    # Before the console listened, or while Lean may still be retrying: nothing to say.
    assert entity_created_missing(history(listening_since=NOW - timedelta(days=10))) == []
    recent = entity(created_at=NOW - timedelta(hours=1))
    early = NOW - timedelta(days=200)
    assert entity_created_missing(history(entities=[recent], listening_since=early)) == []
    stored = WebhookFact("ev", "entity.created", NOW - timedelta(days=100), entity_id=ENTITY)
    assert entity_created_missing(history(listening_since=early, webhooks=[stored])) == []


# -- Lean failing ----------------------------------------------------------------------------------


def call(hours_ago: float, status: int | None, results_id: str | None = None) -> LeanCallFact:
    return LeanCallFact(NOW - timedelta(hours=hours_ago), "GET", "/customers/v1/{customer_id}",
                        status, "ok" if status == 200 else "server error", results_id=results_id)  # fmt: skip


def test_lean_5xx_and_timeouts_for_the_customer_escalate_as_lean_side() -> None:
    calls = [call(1, 500, "res-1"), call(2, None), call(3, 200)]
    [finding] = lean_calls_failing(history(lean_calls=calls))
    assert finding.rule == "lean_calls_failing" and "Lean-side" in finding.next_action
    text = " ".join(finding.evidence)
    assert "2 of the last 3 calls" in text and "no answer" in text and "res-1" in text
    assert finding.refs == {"results_id": "res-1"}


def test_lean_4xx_or_old_failures_are_not_lean_failing() -> None:
    assert lean_calls_failing(history(lean_calls=[call(1, 404), call(1, 200), call(30, 503)])) == []


def test_lean_not_answering_is_said_as_a_note() -> None:
    [finding] = lean_not_answering(history(lean_answered=False, lean_problem="timed out"))
    assert finding.severity is Severity.INFO and finding.evidence == ["timed out"]
    assert lean_not_answering(history()) == []


# -- the diagnosis ---------------------------------------------------------------------------------


def test_everything_fine_says_so_with_the_evidence() -> None:
    findings = diagnose(history(refreshes=[refresh("r1", 1, ALL_OK, ALL_OK)]))
    [finding] = findings
    assert finding.rule == "all_clear" and finding.severity is Severity.OK
    assert any("r1" in line and "consent ACTIVE" in line for line in finding.evidence)


def test_an_unexplained_situation_says_no_rule_matched() -> None:
    [finding] = diagnose(history())  # an active consent, but no refresh has finished yet
    assert finding.rule == "no_rule_matched" and finding.title == "No rule matched"
    assert finding.next_action.startswith("No rule matched")


def test_findings_rank_by_severity_then_recency() -> None:
    expired = ConsentFact("c", "EXPIRED", expires_at=NOW - timedelta(days=30))
    other = entity(active(), entity_id="e2", bank_identifier="OTHER")
    changes = {"OTHER": [AvailabilityChange(NOW - timedelta(hours=1), "disabled_by_lean", "x")]}
    stuck = refresh("r-stuck", 0.5, status="PENDING")
    findings = diagnose(
        history(entities=[entity(expired), other], bank_changes=changes, refreshes=[stuck])
    )
    assert [f.rule for f in findings] == [
        "refresh_stuck",
        "consent_expired",
        "bank_disabled_by_lean",
    ]
    assert rank(reversed(findings)) == findings


def test_a_forged_claim_naming_a_listed_entity_does_not_hide_its_missing_webhook() -> None:
    early = NOW - timedelta(days=200)
    unsigned = RejectionFact(NOW, 401, "missing signature header", "entity.created", "ev",
                             CUSTOMER, ENTITY, "none")  # fmt: skip
    found = entity_created_missing(history(listening_since=early, rejections=[unsigned]))
    assert [f.rule for f in found] == ["entity_created_missing"]
    assert entity_created_missing(history(listening_since=early, rejections=[refused(NOW)])) == []


# -- refreshes while the bank was switched off ---------------------------------------------------

FAILING = {**ALL_OK, "balance": "FAILED"}


def test_failures_all_inside_a_switch_off_fold_into_the_bank_finding_never_escalate() -> None:
    changes = {BANK: [
        AvailabilityChange(NOW - timedelta(days=10), "available", "available"),
        AvailabilityChange(NOW - timedelta(days=4), "disabled_by_lean", "available"),
    ]}  # fmt: skip
    refreshes = [refresh(f"r{i}", i, FAILING, ALL_OK) for i in range(1, 4)]
    case = history(refreshes=refreshes, bank_changes=changes)
    assert refresh_incomplete(case) == []
    findings = diagnose(case)
    assert [f.rule for f in findings] == ["bank_disabled_by_lean"]
    assert not any("Escalate" in f.next_action or "Refresh again" in f.next_action
                   for f in findings)  # fmt: skip
    assert findings[0].next_action.startswith("Wait")
    assert any("3 refreshes of entity" in line and "Lean had the bank's data switched off"
               in line and "expected" in line for line in findings[0].evidence)  # fmt: skip


def test_failures_inside_a_switch_off_that_ended_say_refresh_again_not_escalate() -> None:
    changes = {BANK: [
        AvailabilityChange(NOW - timedelta(days=4), "disabled_by_lean", "available"),
        AvailabilityChange(NOW - timedelta(hours=6), "available", "available"),
    ]}  # fmt: skip
    refreshes = [refresh(f"r{i}", i, FAILING, ALL_OK) for i in range(1, 4)]
    [finding] = refresh_incomplete(history(refreshes=refreshes, bank_changes=changes))
    assert finding.severity is Severity.WARNING and finding.rule == "refresh_incomplete_bank_off"
    assert finding.next_action.startswith("Refresh again")
    assert "Escalate" not in finding.next_action
    assert any("3 refreshes failed or came back partial while Lean had" in line
               for line in finding.evidence)  # fmt: skip


def test_failures_after_the_bank_came_back_still_escalate_and_say_which_were_off() -> None:
    changes = {BANK: [
        AvailabilityChange(NOW - timedelta(days=10), "disabled_by_lean", "available"),
        AvailabilityChange(NOW - timedelta(days=5), "available", "available"),
    ]}  # fmt: skip
    during = [refresh(f"off{i}", 5 + i, FAILING, ALL_OK) for i in range(1, 3)]
    after = [refresh(f"r{i}", i, FAILING, ALL_OK) for i in range(1, 4)]
    case = history(refreshes=during + after, bank_changes=changes)
    [finding] = refresh_incomplete(case)
    assert finding.rule == "refresh_incomplete_repeated" and finding.severity is Severity.CRITICAL
    assert "Escalate" in finding.next_action
    assert diagnose(case)[0] == finding


def test_switch_off_failures_do_not_make_two_available_failures_a_repeat() -> None:
    changes = {BANK: [
        AvailabilityChange(NOW - timedelta(days=2.5), "disabled_by_lean", "available"),
        AvailabilityChange(NOW - timedelta(days=1.5), "available", "available"),
    ]}  # fmt: skip
    refreshes = [refresh(f"r{i}", i, FAILING, ALL_OK) for i in (1, 2, 3)]
    [finding] = refresh_incomplete(history(refreshes=refreshes, bank_changes=changes))
    assert finding.rule == "refresh_incomplete" and finding.severity is Severity.WARNING
    assert any("r2" in line and "not counted" in line for line in finding.evidence)


def test_failures_before_the_switch_off_stay_a_note_behind_the_bank_finding() -> None:
    changes = {BANK: [
        AvailabilityChange(NOW - timedelta(days=10), "available", "available"),
        AvailabilityChange(NOW - timedelta(days=1.5), "disabled_by_lean", "available"),
    ]}  # fmt: skip
    refreshes = [refresh(f"r{i}", i, FAILING, ALL_OK) for i in range(1, 5)]
    findings = diagnose(history(refreshes=refreshes, bank_changes=changes))
    assert [(f.rule, f.severity) for f in findings] == [
        ("bank_disabled_by_lean", Severity.WARNING),
        ("refresh_incomplete_bank_off", Severity.INFO),
    ]
    assert any("3 refreshes came back incomplete while the bank was available" in line
               for line in findings[1].evidence)  # fmt: skip
