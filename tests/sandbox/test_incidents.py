"""Sandbox outages are incidents: a few a week per bank, minutes to hours, deterministic."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from lean_api import LeanClient
from sandbox import app as sandbox_app
from sandbox import incidents
from sandbox.app import SandboxConfig, SandboxState
from sandbox.server import SandboxServer
from sandbox.webhooks import WebhookEmitter

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
UP = {"active": {"data": True, "payments": True}, "enabled": {"data": True, "payments": True}}


def test_a_few_incidents_a_week_lasting_minutes_to_hours() -> None:
    since = NOW - timedelta(days=28)
    for bank in ("RJHI_SAMAOB_SAU", "SNB_SAMAOB_SAU", "LEA1_SAMAOB_SAU"):
        found = incidents.incidents_between(7, bank, since, NOW)
        assert 4 <= len(found) <= 16
        for incident in found:
            assert timedelta(minutes=5) <= incident.end - incident.start <= timedelta(hours=12)


def test_schedule_is_deterministic_and_seed_dependent() -> None:
    since = NOW - timedelta(days=30)
    first = incidents.incidents_between(7, "RJHI_SAMAOB_SAU", since, NOW)
    assert first == incidents.incidents_between(7, "RJHI_SAMAOB_SAU", since, NOW)
    assert first != incidents.incidents_between(8, "RJHI_SAMAOB_SAU", since, NOW)


def test_availability_agrees_with_the_transitions() -> None:
    since = NOW - timedelta(days=7)
    flags = incidents.availability_at(7, "RJHI_SAMAOB_SAU", UP, since)
    changes = list(incidents.transitions(7, "RJHI_SAMAOB_SAU", UP, since, NOW))
    assert changes
    for at, after in changes:
        assert after != flags  # every transition changes something
        assert incidents.availability_at(7, "RJHI_SAMAOB_SAU", UP, at) == after
        flags = after


def test_a_bank_that_is_off_has_no_incidents() -> None:
    off = {"active": {"data": False, "payments": False}, "enabled": UP["enabled"]}
    assert (
        list(incidents.transitions(7, "RIBL_SAMAOB_SAU", off, NOW - timedelta(days=30), NOW)) == []
    )
    assert incidents.availability_at(7, "RIBL_SAMAOB_SAU", off, NOW) == off


def test_backfill_and_live_feed_follow_the_schedule() -> None:
    state = SandboxState(SandboxConfig(seed=7))
    emitter = WebhookEmitter(state, "http://127.0.0.1:9/unused", None)
    sent: list[dict] = []
    emitter.send = lambda event, delay=0.0: sent.append(event)  # type: ignore[method-assign]
    history = emitter.history(days=30, now=NOW)
    bank_events = [e for e in history if e["type"] == "bank.availability.updated"]
    per_bank = {e["payload"]["identifier"] for e in bank_events}
    assert len(per_bank) == len(state.data.banks)  # every bank has a story, not a flip a minute
    for event in bank_events:
        identifier = event["payload"]["identifier"]
        base = state.bank_availability[identifier]
        if incidents.has_incidents(base):
            expected = incidents.availability_at(7, identifier, base, event["timestamp"])
            assert event["payload"]["availability"] == expected
    # The live feed announces exactly the changes of the schedule between two ticks.
    emitter._banks_announced_until = NOW
    count = emitter.announce_bank_changes(NOW + timedelta(days=2))
    expected_count = sum(
        len(
            list(
                incidents.transitions(
                    7,
                    b.identifier,
                    state.bank_availability[b.identifier],
                    NOW,
                    NOW + timedelta(days=2),
                )
            )
        )
        for b in state.data.banks
    )
    assert count == expected_count == len(sent) > 0
    assert all(NOW < e["timestamp"] <= NOW + timedelta(days=2) for e in sent)
    # Random live events no longer flip banks.
    rng = random.Random(1)
    sent.clear()
    state.start_refresh = lambda *a, **k: None  # type: ignore[method-assign]
    kinds = {emitter.live_event(rng) for _ in range(200)}
    assert "bank" not in kinds
    assert not [e for e in sent if e["type"] == "bank.availability.updated"]


def test_get_banks_agrees_with_the_schedule(
    client: LeanClient, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = sandbox.state
    seed = state.data.seed
    base = state.bank_availability["RJHI_SAMAOB_SAU"]
    incident = incidents.incidents_between(seed, "RJHI_SAMAOB_SAU", NOW - timedelta(days=30), NOW)[
        0
    ]
    during = incident.start + (incident.end - incident.start) / 2
    monkeypatch.setattr(sandbox_app, "_now", lambda: during)  # the sandbox's clock, mid-incident
    banks = {b.identifier: b for b in client.list_banks("PERSONAL")}
    assert banks["RJHI_SAMAOB_SAU"].availability.active.data is False
    for profile in state.data.banks:
        flags = incidents.availability_at(
            seed, profile.identifier, state.bank_availability[profile.identifier], during
        )
        assert banks[profile.identifier].availability.model_dump() == flags
    assert base["active"]["data"] is True  # the configured flags are left alone
