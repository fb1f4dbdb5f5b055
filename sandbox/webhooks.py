"""The sandbox sends webhooks the way Lean does: signed, retried on Lean's schedule, late and out of order.

It back-fills 30 days of history (entities created and updated, refreshes PENDING → FINISHED with
per-account statuses, bank outages as incidents), then sends live events every few seconds and
follows every refresh triggered through the API.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import random
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from lean_api.webhooks import SIGNATURE_HEADER, generate_signature_header
from sandbox import incidents
from sandbox import seed as seedlib
from sandbox.app import SandboxState, consent_status_at, iso, refresh_view
from sandbox.seed import SeedCustomer, SeedEntity, SeedRefresh

log = logging.getLogger(__name__)

# Lean retries 1, 2, 5, 10, 60 and 180 minutes after the first attempt.
LEAN_RETRY_SCHEDULE: tuple[float, ...] = (60, 120, 300, 600, 3600, 10800)
# The secret the one deliberately refused back-fill delivery is signed with (see `backfill`).
ROTATED_SECRET = "whsec_rotated_on_lean_side_only"
MESSAGES = {
    "entity.created": "An entity object has been created.",
    "entity.updated": "An entity object has been updated.",
    "entity.data.refresh.updated": "An entity data refresh state has been updated.",
    "bank.availability.updated": "The bank status has been updated.",
    "payment.created": "A payment object has been created.",
}


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    return float(value) if hasattr(value, "as_tuple") else str(value)


def event_id_for(*parts: object) -> str:
    """A deterministic event id, so a repeated back-fill is recognised as the same events."""
    return str(uuid.UUID(int=seedlib.stable_rng("event", *parts).getrandbits(128), version=4))


def envelope(
    event_type: str, payload: dict[str, Any], at: datetime, event_id: str
) -> dict[str, Any]:
    """Lean's webhook envelope."""
    return {
        "type": event_type,
        "message": MESSAGES.get(event_type, "An object has been updated."),
        "payload": payload,
        "event_id": event_id,
        "timestamp": at,
    }


def entity_event(
    event_type: str, entity: SeedEntity, customer: SeedCustomer, at: datetime
) -> dict[str, Any]:
    """`entity.created` / `entity.updated`: permissions as a list, the bank as `bank_details`."""
    bank = entity.bank
    payload = {
        "id": entity.entity_id,
        "app_user_id": customer.app_user_id,
        "customer_id": customer.customer_id,
        "permissions": [name for name, granted in entity.permissions.items() if granted],
        "bank_details": {
            "logo": f"https://cdn.leantech.me/img/banks/white-{bank.identifier.split('_')[0].lower()}.png",
            "name": bank.name,
            "account_type": "PERSONAL",
            "identifier": bank.identifier,
            "main_color": bank.color,
            "background_color": "#ffffff",
        },
    }
    return envelope(
        event_type, payload, at, event_id_for(event_type, entity.entity_id, at.isoformat())
    )


def consent_allows_refresh(entity: SeedEntity, at: datetime) -> bool:
    """True when Lean would start a refresh of `entity` at `at`: its current consent is ACTIVE
    then (the trigger route answers 403 CONSENT_EXPIRED otherwise)."""
    return consent_status_at(entity.current_consent, at) == "ACTIVE"


def refresh_event(refresh: SeedRefresh, at: datetime) -> dict[str, Any]:
    """`entity.data.refresh.updated` as the refresh stood at `at` (snake-case availability)."""
    view = refresh_view(refresh, at, camel_case=False)
    payload = {
        k: view[k]
        for k in ("refresh_id", "entity_id", "app_user_id", "customer_id", "status", "data_status")
    }
    return envelope(
        "entity.data.refresh.updated",
        payload,
        at,
        event_id_for("refresh", refresh.refresh_id, view["status"], at.isoformat()),
    )


def bank_event(
    identifier: str, availability: dict[str, dict[str, bool]], at: datetime
) -> dict[str, Any]:
    """`bank.availability.updated`."""
    payload = {
        "identifier": identifier,
        "availability": {k: dict(v) for k, v in availability.items()},
    }
    return envelope(
        "bank.availability.updated", payload, at, event_id_for("bank", identifier, at.isoformat())
    )


@dataclass(order=True)
class Delivery:
    """One event on its way, with its retry state."""

    due: float
    seq: int
    event: dict[str, Any] = field(compare=False)
    body: bytes = field(compare=False, default=b"")
    first_attempt: float | None = field(compare=False, default=None)
    attempts: int = field(compare=False, default=0)
    # Sign with this secret instead of the emitter's (a rotated secret: the receiver refuses it).
    sign_with: str | None = field(compare=False, default=None, repr=False)
    # False: one attempt only, as when Lean has given up on it.
    retry: bool = field(compare=False, default=True)


class WebhookEmitter:
    """Delivers events to a URL, signed, retrying on Lean's schedule (`time_scale` compresses it)."""

    def __init__(
        self,
        state: SandboxState,
        url: str,
        secret: str | None,
        *,
        schedule: tuple[float, ...] = LEAN_RETRY_SCHEDULE,
        time_scale: float = 1.0,
        timeout: float = 10.0,
        workers: int = 4,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.state = state
        self.url = url
        self.secret = secret
        self.schedule = schedule
        self.time_scale = time_scale
        self.timeout = timeout
        self._clock = clock
        self._heap: list[Delivery] = []
        self._seq = itertools.count()
        self._cv = threading.Condition()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="webhook-send")
        self._session = requests.Session()
        self._stop = threading.Event()
        self._showcase: frozenset[str] | None = None
        self._thread: threading.Thread | None = None
        self._in_flight = 0
        self.stats: Counter[str] = Counter()
        # The latest attempts (event_id, monotonic start, HTTP status); bounded for long runs.
        self.attempt_log: deque[tuple[str, float, int]] = deque(maxlen=10_000)
        # Bank availability changes (incidents) have been announced up to this moment.
        self._banks_announced_until: datetime | None = None
        state.listeners.append(self._on_sandbox_change)

    def __repr__(self) -> str:
        return f"WebhookEmitter(url={self.url!r}, signed={bool(self.secret)})"

    # -- queue ----------------------------------------------------------------------------------

    def start(self) -> WebhookEmitter:
        """Start the delivery thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="webhook-emitter", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop delivering (queued events are dropped, as when Lean gives up)."""
        self._stop.set()
        with self._cv:
            self._cv.notify_all()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def send(
        self,
        event: dict[str, Any],
        delay: float = 0.0,
        *,
        sign_with: str | None = None,
        retry: bool = True,
    ) -> None:
        """Queue an event for delivery after `delay` seconds (signed with `sign_with` instead of
        the emitter's secret when given; attempted once only when not `retry`)."""
        body = json.dumps(event, default=_json_default, ensure_ascii=False).encode()
        delivery = Delivery(self._clock() + delay, next(self._seq), event, body)
        delivery.sign_with, delivery.retry = sign_with, retry
        with self._cv:
            heapq.heappush(self._heap, delivery)
            self._cv.notify()

    def pending(self) -> int:
        """Events queued or being delivered."""
        with self._cv:
            return len(self._heap) + self._in_flight

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is queued (retries scheduled later count as queued)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pending() == 0:
                return True
            time.sleep(0.05)
        return False

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._cv:
                while not self._stop.is_set() and (
                    not self._heap or self._heap[0].due > self._clock()
                ):
                    wait = self._heap[0].due - self._clock() if self._heap else None
                    self._cv.wait(timeout=None if wait is None else max(wait, 0.0))
                if self._stop.is_set():
                    return
                delivery = heapq.heappop(self._heap)
                self._in_flight += 1
            try:
                self._pool.submit(self._attempt, delivery)
            except RuntimeError:  # pool shut down
                return

    def _attempt(self, delivery: Delivery) -> None:
        now = self._clock()
        if delivery.first_attempt is None:
            delivery.first_attempt = now
        delivery.attempts += 1
        headers = {"Content-Type": "application/json", "User-Agent": "Lean-Webhooks/sandbox"}
        secret = delivery.sign_with or self.secret
        if secret:
            headers[SIGNATURE_HEADER] = generate_signature_header(delivery.body, secret)
        status = 0
        try:
            response = self._session.post(
                self.url, data=delivery.body, headers=headers, timeout=self.timeout
            )
            status = response.status_code
        except requests.RequestException as exc:
            log.debug("webhook delivery failed: %s", exc)
        self.attempt_log.append((delivery.event["event_id"], now, status))
        with self._cv:
            self._in_flight -= 1
            if status == 200:
                self.stats["delivered"] += 1
            elif delivery.retry and delivery.attempts <= len(self.schedule):
                self.stats["retried"] += 1
                delivery.due = (
                    delivery.first_attempt + self.schedule[delivery.attempts - 1] * self.time_scale
                )
                heapq.heappush(self._heap, delivery)
                self._cv.notify()
            else:
                self.stats["gave_up"] += 1
                log.warning(
                    "webhook %s given up after %d attempts",
                    delivery.event["event_id"],
                    delivery.attempts,
                )

    # -- history --------------------------------------------------------------------------------

    def history(self, days: int = 30, now: datetime | None = None) -> list[dict[str, Any]]:
        """The events Lean would have sent in the last `days` days, oldest first."""
        now = now or datetime.now(UTC)
        since = now - timedelta(days=days)
        data = self.state.data
        rng = random.Random(data.seed)
        out: list[dict[str, Any]] = []
        for entity in data.entities.values():
            customer = data.customers[entity.customer_id]
            if since <= entity.created_at <= now:
                out.append(entity_event("entity.created", entity, customer, entity.created_at))
            for consent in entity.consents:
                # A reconnect (a newer consent) and a revocation or suspension are entity updates.
                if consent is not entity.consents[0] and since <= consent.created <= now:
                    out.append(entity_event("entity.updated", entity, customer, consent.created))
                if (
                    consent.status in ("REVOKED", "SUSPENDED")
                    and since <= consent.status_updated <= now
                ):
                    out.append(
                        entity_event("entity.updated", entity, customer, consent.status_updated)
                    )
            for refresh in entity.refreshes:
                if not since <= refresh.created_at <= now:
                    continue
                out.append(refresh_event(refresh, refresh.created_at))
                if refresh.finishes_at is None:
                    middle = refresh.created_at + timedelta(minutes=5)
                    if middle <= now:
                        out.append(refresh_event(refresh, middle))
                elif refresh.finishes_at <= now:
                    out.append(refresh_event(refresh, refresh.finishes_at))
        # A bank that is switched off was switched off once, on a day placed relative to the
        # seed's day (so a repeated back-fill has the same ids); the others have incidents.
        bank_base = data.anchor - timedelta(days=days)
        for bank in data.banks:
            availability = self.state.bank_availability[bank.identifier]
            if not incidents.has_incidents(availability):
                out.append(
                    bank_event(
                        bank.identifier,
                        availability,
                        bank_base + timedelta(days=rng.uniform(1, days - 1)),
                    )
                )
                continue
            for at, flags in incidents.transitions(
                data.seed, bank.identifier, availability, since, now
            ):
                out.append(bank_event(bank.identifier, flags, at))
        out = [e for e in out if since <= e["timestamp"] <= now]
        out.sort(key=lambda e: e["timestamp"])
        return out

    def backfill(self, days: int = 30) -> int:
        """Queue the last `days` days of events; some arrive out of order, as retries make them.

        One seeded connection's `entity.created` (`seed.refused_webhook_entity`) goes out signed
        with a rotated secret, once: the console refuses it, as it would after a secret rotation
        on one side only, so support has a refused webhook to triage. Returns how many events
        should be stored (that one not counted).
        """
        now = datetime.now(UTC)
        events = self.history(days, now)
        refused = seedlib.refused_webhook_entity(self.state.data)
        # The live feed announces bank changes from here on, so none falls between the two.
        self._banks_announced_until = now
        rng = random.Random(self.state.data.seed + 1)
        for index in range(len(events) - 1):
            if rng.random() < 0.08:
                events[index], events[index + 1] = events[index + 1], events[index]
        stored = 0
        for event in events:
            if (
                refused is not None
                and event["type"] == "entity.created"
                and event["payload"].get("id") == refused.entity_id
            ):
                self.send(event, sign_with=ROTATED_SECRET, retry=False)
                continue
            self.send(event)
            stored += 1
        return stored

    # -- live -----------------------------------------------------------------------------------

    def _on_sandbox_change(self, kind: str, obj: Any) -> None:
        if kind == "entity.created":
            # A connection made through Link (sandbox/link.py): Lean announces it first, then
            # its first refresh (announced below when the sandbox starts it).
            self.send(self.entity_created_event(obj))
        if kind == "entity.updated":
            # The same bank connected again through Link: a new consent on the same entity.
            entity: SeedEntity = obj
            customer = self.state.data.customers[entity.customer_id]
            self.send(
                entity_event("entity.updated", entity, customer, entity.current_consent.created)
            )
        if kind == "refresh.created":
            refresh: SeedRefresh = obj
            entity = self.state.data.entities.get(refresh.entity_id)
            if entity is None or not consent_allows_refresh(entity, refresh.created_at):
                # Lean refuses a refresh without an active consent (403 CONSENT_EXPIRED), so
                # nothing about one is ever announced.
                log.warning("refresh %s of an entity without an active consent", refresh.refresh_id)
                return
            self.send(refresh_event(refresh, refresh.created_at))
            if refresh.finishes_at is not None:
                delay = max(0.0, (refresh.finishes_at - datetime.now(UTC)).total_seconds())
                self.send(refresh_event(refresh, refresh.finishes_at), delay=delay)

    def entity_created_event(self, entity: SeedEntity) -> dict[str, Any]:
        """`entity.created` for a connection the sandbox just made, stamped when it was made."""
        customer = self.state.data.customers[entity.customer_id]
        return entity_event("entity.created", entity, customer, entity.created_at)

    def announce_bank_changes(self, now: datetime) -> int:
        """Send `bank.availability.updated` for every incident start or end since the last call.

        Each event carries the moment of the change, not of the call, so a short incident
        between two ticks is still told. Returns how many events were sent.
        """
        since = self._banks_announced_until or now
        self._banks_announced_until = now
        sent = 0
        for bank in self.state.data.banks:
            base = self.state.bank_availability[bank.identifier]
            for at, flags in incidents.transitions(
                self.state.data.seed, bank.identifier, base, since, now
            ):
                self.send(bank_event(bank.identifier, flags, at))
                sent += 1
        return sent

    def live(self, interval: float = 5.0, seed: int | None = None) -> threading.Thread:
        """Send a plausible event every `interval` seconds until stopped."""
        rng = random.Random(seed)

        def loop() -> None:
            while not self._stop.wait(interval * rng.uniform(0.6, 1.4)):
                try:
                    self.announce_bank_changes(datetime.now(UTC))
                    self.live_event(rng)
                except Exception:  # the live feed must survive a bad tick
                    log.exception("sandbox live webhook failed")

        thread = threading.Thread(target=loop, name="webhook-live", daemon=True)
        thread.start()
        return thread

    def showcase(self) -> frozenset[str]:
        """Customer and entity ids of the seeded triage cases (an expired consent, a stuck
        refresh, a refused `entity.created`): the live feed leaves them as the README and the
        browser tests describe them, however long the sandbox runs."""
        if self._showcase is None:
            data = self.state.data
            customers = [
                seedlib.expired_consent_customer(data),
                seedlib.stuck_refresh_customer(data),
            ]
            refused = seedlib.refused_webhook_entity(data)
            ids = {c.customer_id for c in customers if c is not None}
            if refused is not None:
                ids |= {refused.customer_id, refused.entity_id}
            ids |= {e.entity_id for e in data.entities.values() if e.customer_id in ids}
            self._showcase = frozenset(ids)
        return self._showcase

    def live_event(self, rng: random.Random) -> str:
        """Make one thing happen in the sandbox and announce it; returns what happened.

        Mostly refreshes (70%), then reconnects (15%), new connections (10%) and an event type
        the console does not interpret (5%). Bank outages are not drawn here: they follow the
        incident schedule (`announce_bank_changes`).
        """
        state = self.state
        data = state.data
        now = datetime.now(UTC)
        roll = rng.random()
        if roll < 0.7:
            # Only what Lean would accept: an active consent (not expired by now, not revoked or
            # suspended) and no refresh still running.
            candidates = [
                e
                for e in data.entities.values()
                if e.entity_id not in self.showcase()
                and consent_allows_refresh(e, now)
                and all(
                    r.finishes_at is not None and r.finishes_at <= now for r in e.refreshes[-1:]
                )
            ]
            if not candidates:
                return "nothing"
            state.start_refresh(rng.choice(candidates), now, rng)
            return "refresh"
        if roll < 0.85:
            # A consent that ran out (EXPIRED, or ACTIVE past its expiry) or was revoked.
            lapsed = [
                e
                for e in data.entities.values()
                if e.entity_id not in self.showcase()
                and consent_status_at(e.current_consent, now) in ("EXPIRED", "REVOKED")
            ]
            if not lapsed:
                return "nothing"
            entity = rng.choice(lapsed)
            with state.lock:
                old = entity.current_consent
                entity.consents.append(seedlib.new_active_consent(rng, entity.permissions, now))
                if old.status == "ACTIVE":
                    old.status = "EXPIRED"
            self.send(
                entity_event("entity.updated", entity, data.customers[entity.customer_id], now)
            )
            return "reconnect"
        if roll < 0.95:
            customer = rng.choice(
                [c for c in data.customers.values() if c.customer_id not in self.showcase()]
            )
            bank = rng.choice(
                [b for b in data.banks if state.bank_availability[b.identifier]["active"]["data"]]
            )
            permissions = {name: True for name in seedlib.PERMISSION_NAMES}
            entity = SeedEntity(
                str(uuid.uuid4()), customer.customer_id, bank, now, permissions,
                [seedlib.new_active_consent(rng, permissions, now)],
            )  # fmt: skip
            entity.accounts = seedlib._accounts(rng, entity.entity_id, bank, customer.person, now)
            with state.lock:
                data.add_entity(entity)
            self.send(entity_event("entity.created", entity, customer, now))
            return "connect"
        # Lean sends types the console does not interpret yet; they must be kept, not dropped.
        customer = rng.choice(list(data.customers.values()))
        payment = {
            "id": str(uuid.uuid4()),
            "customer_id": customer.customer_id,
            "app_user_id": customer.app_user_id,
            "amount": round(rng.uniform(50, 5000), 2),
            "currency": "SAR",
            "status": rng.choice(("AWAITING_AUTHORIZATION", "ACCEPTED_BY_BANK", "FAILED")),
        }
        self.send(envelope("payment.created", payment, now, str(uuid.uuid4())))
        return "payment"
