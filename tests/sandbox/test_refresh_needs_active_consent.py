"""The sandbox starts, finishes and announces refreshes only for entities whose current consent is
ACTIVE, as Lean does (403 CONSENT_EXPIRED otherwise); seeded history before the expiry stays."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from lean_api import LeanClient
from lean_api.config import LeanSettings
from lean_api.errors import ConsentExpiredError
from sandbox.app import SandboxConfig, SandboxState, consent_status_at
from sandbox.seed import SeedEntity, SeedRefresh
from sandbox.server import SandboxServer
from sandbox.webhooks import WebhookEmitter, consent_allows_refresh


def queued_refresh_entities(emitter: WebhookEmitter) -> set[str]:
    """The entities of the refresh events waiting in the emitter's queue (never delivered here)."""
    return {
        d.event["payload"]["entity_id"]
        for d in emitter._heap
        if d.event["type"] == "entity.data.refresh.updated"
    }


def lapse_half(state: SandboxState, now: datetime) -> set[str]:
    """Make every other ACTIVE consent run out an hour ago, still written ACTIVE (as an expiry
    that nobody has announced yet reads). Returns the entities whose consent is not active."""
    active = sorted(
        (e for e in state.data.entities.values() if consent_allows_refresh(e, now)),
        key=lambda e: e.entity_id,
    )
    for entity in active[::2]:
        entity.current_consent.expires = now - timedelta(hours=1)
    return {
        e.entity_id
        for e in state.data.entities.values()
        if consent_status_at(e.current_consent, now) != "ACTIVE"
    }


def test_live_refreshes_only_for_entities_with_an_active_consent() -> None:
    state = SandboxState(SandboxConfig(seed=11, refresh_seconds=0.2))
    now = datetime.now(UTC)
    inactive = lapse_half(state, now)
    assert inactive, "the seed has lapsed consents to leave alone"
    # Each refresh as it starts, with its entity's consent at that moment (a reconnect in
    # between may have given a lapsed entity a new, active consent).
    started: list[tuple[str, str]] = []

    def heard(kind: str, obj: object) -> None:
        if kind == "refresh.created" and isinstance(obj, SeedRefresh):
            entity = state.data.entities[obj.entity_id]
            started.append(
                (obj.entity_id, consent_status_at(entity.current_consent, obj.created_at))
            )

    state.listeners.append(heard)
    emitter = WebhookEmitter(state, "http://127.0.0.1:9/never", None)  # not started: queue only
    try:
        rng = random.Random(5)
        happened = Counter(emitter.live_event(rng) for _ in range(120))
    finally:
        emitter.stop()
    assert happened["refresh"] > 20 and happened["reconnect"] > 0
    assert {status for _, status in started} == {"ACTIVE"}
    reconnected = {e for e in inactive if consent_allows_refresh(state.data.entities[e], now)}
    assert not queued_refresh_entities(emitter) & (inactive - reconnected)


def test_a_refresh_of_a_lapsed_entity_is_never_announced() -> None:
    state = SandboxState(SandboxConfig(seed=11, refresh_seconds=0.2))
    now = datetime.now(UTC)
    lapsed = next(e for e in state.data.entities.values() if not consent_allows_refresh(e, now))
    emitter = WebhookEmitter(state, "http://127.0.0.1:9/never", None)
    try:
        # Bypassing the API's check: the emitter still tells nothing Lean would not.
        state.start_refresh(lapsed, now, random.Random(1))
    finally:
        emitter.stop()
    assert lapsed.entity_id not in queued_refresh_entities(emitter)


def test_seeded_history_stops_at_the_consent_expiry() -> None:
    state = SandboxState(SandboxConfig(seed=11))
    entities: list[SeedEntity] = list(state.data.entities.values())
    for entity in entities:
        consent = entity.current_consent
        ended = consent.status_updated if consent.status != "ACTIVE" else consent.expires
        assert all(r.created_at <= min(ended, consent.expires) for r in entity.refreshes)
    assert any(e.refreshes and e.current_consent.status != "ACTIVE" for e in entities), (
        "lapsed entities keep their refreshes from before the expiry"
    )


@pytest.fixture
def lapsed_server() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(seed=11, refresh_seconds=0.2)) as server:
        yield server


def test_trigger_on_an_active_consent_past_its_expiry_is_403_and_silent(
    lapsed_server: SandboxServer,
) -> None:
    state = lapsed_server.state
    now = datetime.now(UTC)
    entity = next(
        e
        for e in sorted(state.data.entities.values(), key=lambda e: e.entity_id)
        if consent_allows_refresh(e, now)
        and all(r.finishes_at is not None and r.finishes_at <= now for r in e.refreshes)
    )
    entity.current_consent.expires = now - timedelta(minutes=1)  # still written ACTIVE
    before = len(entity.refreshes)
    client = LeanClient(LeanSettings.from_env(lapsed_server.env(), dotenv_path=None))
    try:
        with pytest.raises(ConsentExpiredError) as refused:
            client.trigger_refresh(entity.entity_id)
    finally:
        client.close()
    assert refused.value.status_code == 403 and refused.value.code == "CONSENT_EXPIRED"
    assert len(entity.refreshes) == before
