"""The seeded triage cases (an expired consent, a stuck refresh, a refused entity.created) stay as
described however long the live feed runs: it never reconnects, refreshes or connects them."""

from __future__ import annotations

import random

from sandbox import seed as seedlib
from sandbox.app import SandboxConfig, SandboxState
from sandbox.webhooks import WebhookEmitter


def test_the_live_feed_leaves_the_seeded_triage_cases_alone() -> None:
    state = SandboxState(SandboxConfig(refresh_seconds=0.2))
    data = state.data
    expired = seedlib.expired_consent_customer(data)
    stuck = seedlib.stuck_refresh_customer(data)
    refused = seedlib.refused_webhook_entity(data)
    assert expired and stuck and refused
    watched = {expired.customer_id, stuck.customer_id, refused.customer_id}

    def snapshot() -> dict[str, tuple[int, int]]:
        return {
            e.entity_id: (len(e.consents), len(e.refreshes))
            for e in data.entities.values()
            if e.customer_id in watched
        }

    before = snapshot()
    emitter = WebhookEmitter(state, "http://127.0.0.1:9/never", None)  # not started: queue only
    try:
        happened = {emitter.live_event(random.Random(n)) for n in range(400)}
    finally:
        emitter.stop()
    assert {"refresh", "reconnect", "connect"} <= happened
    assert snapshot() == before
    # What the feed protects is what a fresh copy of the seed (a test's view) names.
    assert watched <= emitter.showcase()
    assert refused.entity_id in emitter.showcase()
