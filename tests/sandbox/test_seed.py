"""The seed is deterministic and covers every state the console has to show."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from sandbox import seed

ANCHOR = datetime(2026, 11, 28, tzinfo=UTC)


def test_same_seed_same_data() -> None:
    first, second = seed.generate(7, ANCHOR), seed.generate(7, ANCHOR)
    assert list(first.customers) == list(second.customers)
    assert [
        (e.entity_id, e.bank.identifier, e.current_consent.status) for e in first.entities.values()
    ] == [
        (e.entity_id, e.bank.identifier, e.current_consent.status) for e in second.entities.values()
    ]
    account = next(iter(first.accounts.values()))
    twin = second.accounts[account.account_id]
    window = (ANCHOR - timedelta(days=90), ANCHOR)
    assert seed.transactions_for(account, *window) == seed.transactions_for(twin, *window)


def test_other_seed_other_data() -> None:
    assert list(seed.generate(1, ANCHOR).customers) != list(seed.generate(2, ANCHOR).customers)


def test_identifiers_do_not_depend_on_the_day() -> None:
    today, later = seed.generate(2026, ANCHOR), seed.generate(2026, ANCHOR + timedelta(days=40))
    assert list(today.customers) == list(later.customers)
    assert list(today.entities) == list(later.entities)


def test_volume_and_banks() -> None:
    data = seed.generate(2026, ANCHOR)
    assert len(data.customers) >= 200
    assert len(data.entities) >= 300
    identifiers = {b.identifier for b in data.banks}
    assert len(identifiers) >= 6 and {"LEA1_SAMAOB_SAU", "LEA2_SAMAOB_SAU"} <= identifiers
    assert {e.bank.identifier for e in data.entities.values()} == identifiers


def test_banks_in_every_availability_state() -> None:
    states = set()
    for bank in seed.BANKS:
        if not bank.active_data:
            states.add("disabled_by_lean")
        elif not bank.enabled_data:
            states.add("disabled_by_us")
        else:
            states.add("available")
    assert states == {"available", "disabled_by_lean", "disabled_by_us"}


def test_consents_in_every_status_including_expiring_within_days() -> None:
    data = seed.generate(2026, ANCHOR)
    statuses = Counter(e.current_consent.status for e in data.entities.values())
    assert {"ACTIVE", "REVOKED", "EXPIRED"} <= set(statuses)
    expiring = [
        e
        for e in data.entities.values()
        if e.current_consent.status == "ACTIVE"
        and e.current_consent.expires - ANCHOR <= timedelta(days=7)
    ]
    assert len(expiring) >= 10
    assert all(
        e.current_consent.expires < ANCHOR
        for e in data.entities.values()
        if e.current_consent.status == "EXPIRED"
    )


def test_refresh_history_has_mixed_outcomes() -> None:
    data = seed.generate(2026, ANCHOR)
    outcomes = Counter(
        status
        for refresh in data.refreshes.values()
        for account in refresh.account_statuses
        for key, status in account.items()
        if key in seed.ACCOUNT_DATA_TYPES
    )
    assert {"SUCCESS", "FAILED", "UNSUPPORTED", "PARTIAL"} <= set(outcomes)
    assert any(r.finishes_at is None for r in data.refreshes.values()), (
        "some refresh is stuck pending"
    )


def test_names_in_arabic_and_english_and_saudi_identifiers() -> None:
    data = seed.generate(2026, ANCHOR)
    people = [c.person for c in data.customers.values()]
    assert all(any("\u0600" <= ch <= "\u06ff" for ch in p.name_ar) for p in people)
    assert all(p.name_en.isascii() for p in people)
    assert all(len(p.national_id) == 10 and p.national_id[0] in "12" for p in people)
    assert all(p.mobile.startswith("+9665") for p in people)


def test_ibans_have_valid_check_digits() -> None:
    data = seed.generate(2026, ANCHOR)
    for account in list(data.accounts.values())[:100]:
        iban = account.iban
        assert iban.startswith("SA") and len(iban) == 24
        rearranged = iban[4:] + iban[:4]
        assert int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def test_balances_are_realistic_sar_amounts() -> None:
    data = seed.generate(2026, ANCHOR)
    current = [a.balance for a in data.accounts.values() if a.sub_type == "CURRENT"]
    assert all(a.as_tuple().exponent == -2 for a in current)
    median = sorted(current)[len(current) // 2]
    assert 2_000 < median < 100_000
