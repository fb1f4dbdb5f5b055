"""Dead letters: deliveries the receiver could not store as events, kept with their bodies.

Listed for everyone; their bodies (which may hold personal data: names, IBANs) are shown,
downloaded and reprocessed only by roles that may `reprocess_dead_letter` (admin).

Reprocessing, once the cause is fixed (a parser fix shipped, a database constraint lifted),
runs the stored body through the receiver's own parse path (`lean_api.webhooks.parse_event`)
and the store's own event upsert, so the event gets exactly the event_id the receiver would
have given it and an event already stored (Lean delivered it again after the fix) is counted,
never inserted twice. The dead letter stays, marked with when it was reprocessed and what came
of it; one that still fails says why, and nothing is lost. The book indexer follows events by
their row id, so a reprocessed event reaches the index like any other new row.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select, update

from console import audit
from console.access import AccessDenied, Actor, require
from console.actions import audited
from console.store import (
    KEPT_APART,
    DifferentBody,
    EventRecord,
    EventStore,
    StoreRejected,
    _aware,
    dead_letters,
    events,
    fit,
)
from lean_api.webhooks import WebhookPayloadError, parse_event

# Bodies may hold personal data: reading them needs the role that may reprocess them.
BODIES_NEED = "reprocess_dead_letter"
STORED = "stored"
DUPLICATE = "duplicate"
FAILED = "failed"
MAX_EXPORT = 1000
OUTCOME_LENGTH = 300
LIST_COLUMNS = [c for c in dead_letters.c if c.name not in ("body", "body_digest")]


class UnknownDeadLetter(LookupError):
    """No dead letter has this id (removed, or a crafted request)."""


@dataclass(frozen=True)
class DeadLetter:
    """One dead letter as the screen lists it (without its body)."""

    id: int
    received_at: datetime
    last_received_at: datetime
    source_ip: str | None
    reason: str
    verified: bool
    size: int
    deliveries: int
    reprocessed_at: datetime | None
    reprocess_outcome: str | None

    @property
    def outcome_kind(self) -> str | None:
        """`stored`, `duplicate` or `failed` after a reprocess; None before any."""
        return outcome_kind(self.reprocess_outcome)

    @property
    def done(self) -> bool:
        """True once reprocessing made (or found) its event: it is never reprocessed again."""
        return self.outcome_kind in (STORED, DUPLICATE, KEPT_APART)

    @property
    def state_words(self) -> str:
        """What became of it in two words: "Reprocessed: stored" (a new event), "Reprocessed:
        counted" (the event was already stored), "Still failing", "Not reprocessed"."""
        kind = self.outcome_kind
        if kind == STORED:
            return "Reprocessed: stored"
        if kind == DUPLICATE:
            return "Reprocessed: counted"
        if kind == FAILED:
            return "Still failing"
        if kind == KEPT_APART:
            return "Kept apart: other body"
        return "Not reprocessed"


@dataclass(frozen=True)
class ReprocessOutcome:
    """What reprocessing one dead letter did."""

    letter_id: int
    kind: str  # stored · duplicate · failed
    text: str  # as kept in `reprocess_outcome`
    event_id: str | None = None
    # True when the letter had been reprocessed before: nothing was done this time.
    already: bool = False


@dataclass(frozen=True)
class ReprocessSummary:
    """What reprocessing every dead letter did."""

    outcomes: tuple[ReprocessOutcome, ...]

    def count(self, kind: str) -> int:
        """How many came out as `kind` this time (letters done before are not counted)."""
        return sum(o.kind == kind and not o.already for o in self.outcomes)

    @property
    def words(self) -> str:
        """`2 stored as events, 1 already stored (counted), 3 still failing` (and how many are
        kept apart, when some are)."""
        kept = self.count(KEPT_APART)
        return (
            f"{self.count(STORED)} stored as events, {self.count(DUPLICATE)} already stored "
            f"(counted), {self.count(FAILED)} still failing"
            + (f", {kept} kept apart (the event has another body)" if kept else "")
        )


def outcome_kind(outcome: str | None) -> str | None:
    """The kind a stored `reprocess_outcome` starts with."""
    if not outcome:
        return None
    kind = outcome.partition(":")[0]
    return kind if kind in (STORED, DUPLICATE, FAILED, KEPT_APART) else FAILED


def _letter(row: Any) -> DeadLetter:
    return DeadLetter(
        id=int(row["id"]),
        received_at=_aware(row["received_at"]),  # type: ignore[arg-type]
        last_received_at=_aware(row["last_received_at"] or row["received_at"]),  # type: ignore[arg-type]
        source_ip=row["source_ip"],
        reason=row["reason"],
        verified=bool(row["verified"]),
        size=int(row["size"]),
        deliveries=int(row["delivery_count"] or 1),
        reprocessed_at=_aware(row["reprocessed_at"]),
        reprocess_outcome=row["reprocess_outcome"],
    )


def list_dead_letters(store: EventStore, *, limit: int = 200) -> list[DeadLetter]:
    """Dead letters, newest first, without their bodies."""
    statement = (
        select(*LIST_COLUMNS)
        .order_by(dead_letters.c.received_at.desc(), dead_letters.c.id.desc())
        .limit(limit)
    )
    with store.connect() as conn:
        return [_letter(row) for row in conn.execute(statement).mappings()]


def _body(store: EventStore, letter_id: int) -> str:
    with store.connect() as conn:
        body = conn.execute(
            select(dead_letters.c.body).where(dead_letters.c.id == letter_id)
        ).scalar()
    if body is None:
        raise UnknownDeadLetter(f"no dead letter {letter_id}")
    return body


def _require_bodies(store: EventStore, actor: Actor | None, subject: str) -> None:
    """Bodies may hold personal data: only roles that may reprocess read them (audited if not)."""
    try:
        require(actor, BODIES_NEED)
    except AccessDenied:
        audit.record(store, actor, "export", subject_kind="dead_letter", subject=subject,
                     outcome="denied", detail="dead letter bodies")  # fmt: skip
        raise


def read_body(store: EventStore, actor: Actor | None, letter_id: int) -> str:
    """One dead letter's body as it was kept, for the screen (needs `reprocess_dead_letter`)."""
    require(actor, BODIES_NEED)
    return _body(store, letter_id)


def export_body(store: EventStore, actor: Actor | None, letter_id: int) -> bytes:
    """One dead letter's raw body, for a download (audited as an export; admin): the file can be
    fed to `python -m console.replay` as it is."""
    _require_bodies(store, actor, str(letter_id))
    return audited(
        actor, "export", "dead_letter", str(letter_id),
        lambda: _body(store, letter_id).encode("utf-8"),
        store=store,
        detail=lambda body: f"raw body, {len(body):,} bytes",
    )  # fmt: skip


def export_all(store: EventStore, actor: Actor | None, *, limit: int = MAX_EXPORT) -> str:
    """The newest `limit` dead letters as one JSON document, bodies included as kept (audited as
    an export; admin)."""
    _require_bodies(store, actor, "all dead letters")

    def build() -> tuple[str, int]:
        with store.connect() as conn:
            rows = conn.execute(
                select(dead_letters)
                .order_by(dead_letters.c.received_at.desc(), dead_letters.c.id.desc())
                .limit(limit)
            ).mappings()
            letters = [
                {
                    "id": int(row["id"]),
                    "received_at": _iso(row["received_at"]),
                    "last_received_at": _iso(row["last_received_at"] or row["received_at"]),
                    "reason": row["reason"],
                    "verified": bool(row["verified"]),
                    "deliveries": int(row["delivery_count"] or 1),
                    "size": int(row["size"]),
                    "source_ip": row["source_ip"],
                    "reprocessed_at": _iso(row["reprocessed_at"]),
                    "reprocess_outcome": row["reprocess_outcome"],
                    "body": row["body"],
                }
                for row in rows
            ]
        document = {"exported_at": datetime.now(UTC).isoformat(), "dead_letters": letters}
        return json.dumps(document, ensure_ascii=False, indent=2), len(letters)

    text, _ = audited(
        actor, "export", "dead_letter", "all dead letters", build,
        store=store,
        detail=lambda built: f"{built[1]:,} bodies as JSON",
    )  # fmt: skip
    return text


def _iso(value: datetime | None) -> str | None:
    aware = _aware(value)
    return aware.isoformat() if aware else None


# -- reprocessing -------------------------------------------------------------------------------


def reprocess(store: EventStore, actor: Actor | None, letter_id: int) -> ReprocessOutcome:
    """Reprocess one dead letter (admin, audited)."""
    return audited(
        actor, "reprocess_dead_letter", "dead_letter", str(letter_id),
        lambda: reprocess_letter(store, letter_id),
        store=store,
        detail=lambda outcome: outcome.text if not outcome.already else f"already: {outcome.text}",
    )  # fmt: skip


def reprocess_all(store: EventStore, actor: Actor | None) -> ReprocessSummary:
    """Reprocess every dead letter not yet made into an event, oldest first (admin, audited)."""

    def run() -> ReprocessSummary:
        with store.connect() as conn:
            ids = [
                int(i)
                for i in conn.execute(
                    select(dead_letters.c.id)
                    .where(_not_done())
                    .order_by(dead_letters.c.received_at, dead_letters.c.id)
                ).scalars()
            ]
        # One transaction per letter: one that fails never holds up the others.
        return ReprocessSummary(tuple(reprocess_letter(store, i) for i in ids))

    return audited(
        actor, "reprocess_dead_letter", "dead_letter", "all dead letters", run,
        store=store,
        detail=lambda summary: summary.words,
    )  # fmt: skip


def _not_done() -> Any:
    return or_(
        dead_letters.c.reprocess_outcome.is_(None),
        dead_letters.c.reprocess_outcome.like(f"{FAILED}:%"),
    )


def _outcome_text(kind: str, words: str) -> str:
    return fit(f"{kind}: {words}", OUTCOME_LENGTH) or kind


def reprocess_letter(
    store: EventStore, letter_id: int, *, now: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> ReprocessOutcome:
    """Run one dead letter's body through the receiver's parse path and store it as an event.

    No role check here: `reprocess` and `reprocess_all` are the entries for people. Raises
    `UnknownDeadLetter`, and `StoreUnavailable` when the database is down (nothing changes).
    """
    with store.connect() as conn:
        row = (
            conn.execute(select(dead_letters).where(dead_letters.c.id == letter_id))
            .mappings()
            .first()
        )
    if row is None:
        raise UnknownDeadLetter(f"no dead letter {letter_id}")
    letter = _letter(row)
    if letter.done:
        return ReprocessOutcome(
            letter_id, letter.outcome_kind or STORED, letter.reprocess_outcome or "", already=True
        )
    body = row["body"].encode("utf-8", "surrogatepass")
    if row["body_digest"] and row["body_digest"] != "sha256:" + hashlib.sha256(body).hexdigest():
        # The body was kept with replacement characters (not UTF-8, NUL): it is not what Lean
        # sent, so its event_id and contents could be wrong. Replay the original instead.
        return _mark_failed(
            store,
            letter_id,
            "the kept body is not the delivered bytes (not UTF-8 text); it cannot be "
            "reprocessed faithfully",
            now(),
        )
    try:
        event = parse_event(body)
    except WebhookPayloadError as exc:
        return _mark_failed(store, letter_id, f"still unreadable — {exc.reason}", now())
    record = EventRecord.of(
        event,
        body,
        received_at=letter.received_at,
        verified=letter.verified,
        source_ip=letter.source_ip,
    )
    try:
        return _store_event(store, letter, record, now())
    except DifferentBody:
        return _mark(
            store,
            letter_id,
            KEPT_APART,
            f"event {record.event_id} is stored with the body it first came with; this other "
            "body stays here, and reprocessing cannot change that",
            now(),
        )
    except StoreRejected as exc:
        return _mark_failed(store, letter_id, f"the event store refused the event — {exc}", now())


def _store_event(
    store: EventStore, letter: DeadLetter, record: EventRecord, when: datetime
) -> ReprocessOutcome:
    """The event and the dead letter's mark in one transaction: both or neither."""
    with store.connect(write=True) as conn:
        # Claim the letter first: two admins reprocessing at once make one event, not two
        # deliveries (PostgreSQL re-checks the condition once the first transaction commits).
        claimed = conn.execute(
            update(dead_letters)
            .where(dead_letters.c.id == letter.id, _not_done())
            .values(reprocessed_at=when.astimezone(UTC).replace(tzinfo=None))
        ).rowcount
        if not claimed:
            outcome = conn.execute(
                select(dead_letters.c.reprocess_outcome).where(dead_letters.c.id == letter.id)
            ).scalar()
            return ReprocessOutcome(letter.id, outcome_kind(outcome) or STORED, outcome or "",
                                    already=True)  # fmt: skip
        # The receiver's own upsert: same event_id rules, a repeat counted, never inserted twice.
        result = store.upsert_event(conn, record)
        stored = conn.execute(
            select(events.c.delivery_count, events.c.last_received_at).where(
                events.c.event_id == result.event_id
            )
        ).one()
        # Lean delivered the unreadable body `deliveries` times: the event counts them all.
        last = max(_aware(stored.last_received_at), letter.last_received_at)  # type: ignore[type-var]
        conn.execute(
            update(events)
            .where(events.c.event_id == result.event_id)
            .values(
                delivery_count=events.c.delivery_count + (letter.deliveries - 1),
                last_received_at=last.astimezone(UTC).replace(tzinfo=None),
            )
        )
        if result.delivery_count > 1:
            kind = DUPLICATE
            words = f"event {result.event_id} was already stored; this delivery was counted"
        else:
            kind, words = STORED, f"event {result.event_id}"
        text = _outcome_text(kind, words)
        conn.execute(
            update(dead_letters)
            .where(dead_letters.c.id == letter.id)
            .values(reprocess_outcome=text)
        )
    return ReprocessOutcome(letter.id, kind, text, event_id=result.event_id)


def _mark_failed(store: EventStore, letter_id: int, words: str, when: datetime) -> ReprocessOutcome:
    """Say why the letter still fails; its body stays as it was. A letter made into an event
    meanwhile (by someone else) keeps that outcome."""
    return _mark(store, letter_id, FAILED, words, when)


def _mark(
    store: EventStore, letter_id: int, kind: str, words: str, when: datetime
) -> ReprocessOutcome:
    """Record what reprocessing found (`failed` or `kept apart`) on a letter not done yet."""
    text = _outcome_text(kind, words)
    with store.connect(write=True) as conn:
        conn.execute(
            update(dead_letters)
            .where(dead_letters.c.id == letter_id, _not_done())
            .values(
                reprocessed_at=when.astimezone(UTC).replace(tzinfo=None), reprocess_outcome=text
            )
        )
    return ReprocessOutcome(letter_id, kind, text)


__all__ = [
    "BODIES_NEED",
    "DeadLetter",
    "ReprocessOutcome",
    "ReprocessSummary",
    "UnknownDeadLetter",
    "export_all",
    "export_body",
    "list_dead_letters",
    "read_body",
    "reprocess",
    "reprocess_all",
    "reprocess_letter",
]
