"""Support triage: from any identifier in a ticket to one customer's history, timeline and
diagnosis (`/triage?q=…`).

`find_subject` turns the pasted text into a customer (or candidates, or "unknown"), from the
store first and Lean second. `gather` builds that customer's `History` from Lean (customer,
bank connections, refreshes: independent calls in parallel) and from the store (webhooks,
refused deliveries, dead letters, bank availability, the request log), with bounded queries;
when Lean fails the history comes from the store alone and says so. `timeline`, `summary_text`
and `debug_bundle` shape it for the screen, the ticket and an escalation to Lean. No personal
data enters a `History`: no names, IBANs or national IDs, so none can leave through a summary
or a bundle.
"""

from __future__ import annotations

import contextvars
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlencode

from sqlalchemy import func, or_, select

from console.identifiers import Candidate, Resolution, resolve
from console.insights.bank_health import change_from_body, describe_duration, state_word
from console.insights.triage import (
    AccountStatuses,
    ConsentFact,
    DeadLetterFact,
    EntityFact,
    Finding,
    History,
    LeanCallFact,
    RefreshFact,
    RejectionFact,
    WebhookFact,
    corroborated_claims,
    stamp,
)
from console.refreshes import (
    REFRESH_EVENT_TYPE,
    fetch_refreshes,
    merge_refreshes,
    webhook_refreshes,
)
from console.store import (
    EventFilter,
    EventStore,
    StoredEvent,
    dead_letters,
    events,
    index_consents,
    index_customers,
    index_entities,
    rejections,
)
from lean_api.client import LeanClient
from lean_api.errors import LeanError, NotFoundError
from lean_api.models import Entity, Refresh

T = TypeVar("T")

# Bounds: one triage reads at most this much, whatever the customer's history holds.
WINDOW = timedelta(days=30)
MAX_ENTITIES = 10
DETAILED_REFRESHES = 3
MAX_EVENTS = 500
MAX_EVENTS_PER_ENTITY = 300
MAX_REJECTIONS = 100
MAX_DEAD_LETTERS = 20
MAX_CALLS = 200
LEAN_WORKERS = 4


# ---------------------------------------------------------------------------------------------
# Which customer the text means
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Meaning:
    """One thing the pasted text is, and the customer it leads to (None: no customer)."""

    kind: str  # customer_id · app_user_id · entity_id · refresh_id · event_id · iban · results_id
    value: str
    customer_id: str | None
    evidence: str


@dataclass(frozen=True)
class Subject:
    """What a triage is about: the customer, and what the text named (the focus)."""

    text: str
    meanings: tuple[Meaning, ...]
    # Set when every meaning leads to the same customer.
    customer_id: str | None = None
    # Why nothing could be found (the store and Lean were asked), or a Lean failure.
    problem: str | None = None
    shape: str = "text"  # uuid · iban · text (console.identifiers.normalise)

    @property
    def link_text(self) -> str:
        """What a link to this triage names: the text, except an IBAN (personal data), which is
        replaced by the bank connection it led to."""
        if self.shape == "iban":
            return next((m.value for m in self.meanings if m.kind == "entity_id"), "")
        return self.text

    @property
    def ambiguous(self) -> bool:
        """The text leads to more than one customer."""
        return self.customer_id is None and len(self.customers) > 1

    @property
    def customers(self) -> list[str]:
        """Each customer the text may lead to, once, in the order found."""
        return list(dict.fromkeys(m.customer_id for m in self.meanings if m.customer_id))


def find_subject(store: EventStore, client: LeanClient | None, raw: str | None) -> Subject:
    """The customer `raw` leads to: the store's evidence first (console.identifiers: ids, IBANs,
    Lean `results_id`s), then Lean itself for a customer_id or app_user_id nothing stored names.
    Raises `InvalidSearch` for text that is no identifier."""
    resolution = resolve(store, raw)
    meanings = [m for c in resolution.candidates if c.known for m in _meanings(store, c)]
    problem = None
    if not meanings and resolution.shape != "iban" and client is not None:
        meanings, problem = _ask_lean(client, resolution)
    customers = list(dict.fromkeys(m.customer_id for m in meanings if m.customer_id))
    return Subject(
        resolution.text,
        tuple(meanings),
        customers[0] if len(customers) == 1 else None,
        problem,
        resolution.shape,
    )


def _meanings(store: EventStore, candidate: Candidate) -> list[Meaning]:
    """The customer(s) behind one stored meaning of the text."""
    value = candidate.value
    if candidate.kind == "customer_id":
        return [Meaning("customer_id", value, value, candidate.evidence)]
    if candidate.kind == "app_user_id":
        return [
            Meaning("app_user_id", value, owner, candidate.evidence)
            for owner in _customers_of_app_user(store, value)
        ] or [Meaning("app_user_id", value, None, candidate.evidence)]
    if candidate.kind == "entity_id":
        owner = candidate.query.get("customer_id") or _owner_of(store, entity_id=value)
        return [Meaning(candidate.kind, value, owner, candidate.evidence)]
    if candidate.kind == "results_id":
        subject = candidate.query.get("q") or ""
        # The call names its customer, or only its entity.
        owner = subject if subject and _is_customer(store, subject) else None
        owner = owner or _owner_of(store, entity_id=subject) or subject or None
        return [Meaning("results_id", value, owner, candidate.evidence)]
    if candidate.kind == "refresh_id":
        return [
            Meaning("refresh_id", value, _owner_of(store, refresh_id=value), candidate.evidence)
        ]
    if candidate.kind == "event_id":
        event = store.get_event(value)
        owner = None
        if event is not None:
            owner = event.customer_id or (
                _owner_of(store, entity_id=event.entity_id) if event.entity_id else None
            )
        evidence = candidate.evidence
        if event is not None and owner is None:
            evidence += f" ({event.type}: about no customer)"
        return [Meaning("event_id", value, owner, evidence)]
    return []


def _is_customer(store: EventStore, customer_id: str) -> bool:
    with store.connect() as conn:
        return (
            conn.execute(
                select(index_customers.c.customer_id).where(
                    index_customers.c.customer_id == customer_id
                )
            ).first()
            is not None
            or conn.execute(
                select(events.c.id).where(events.c.customer_id == customer_id).limit(1)
            ).first()
            is not None
        )


def _customers_of_app_user(store: EventStore, app_user_id: str) -> list[str]:
    with store.connect() as conn:
        indexed = conn.execute(
            select(index_customers.c.customer_id)
            .where(index_customers.c.app_user_id == app_user_id)
            .limit(5)
        ).scalars()
        found = list(indexed)
        if not found:
            found = list(
                conn.execute(
                    select(events.c.customer_id)
                    .where(events.c.app_user_id == app_user_id, events.c.customer_id.is_not(None))
                    .distinct()
                    .limit(5)
                ).scalars()
            )
    return found


def _owner_of(
    store: EventStore, *, entity_id: str | None = None, refresh_id: str | None = None
) -> str | None:
    """The customer of an entity or refresh: the book index, else the stored webhooks."""
    with store.connect() as conn:
        if refresh_id:
            row = conn.execute(
                select(events.c.customer_id, events.c.entity_id)
                .where(events.c.refresh_id == refresh_id)
                .limit(1)
            ).first()
            if row is None:
                return None
            if row.customer_id:
                return str(row.customer_id)
            entity_id = row.entity_id
        if not entity_id:
            return None
        owner = conn.execute(
            select(index_entities.c.customer_id).where(index_entities.c.entity_id == entity_id)
        ).scalar()
        if owner:
            return str(owner)
        return conn.execute(
            select(events.c.customer_id)
            .where(events.c.entity_id == entity_id, events.c.customer_id.is_not(None))
            .limit(1)
        ).scalar()


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_").replace('"', "")


def _ask_lean(client: LeanClient, resolution: Resolution) -> tuple[list[Meaning], str | None]:
    """Nothing stored names the text: ask Lean for a customer with it (id, then app_user_id)."""
    attempts: list[tuple[str, Callable[[], Any]]] = []
    if resolution.shape == "uuid":
        attempts.append(("customer_id", lambda: client.get_customer(resolution.text)))
    attempts.append(("app_user_id", lambda: client.get_customer_by_app_user_id(resolution.text)))
    for kind, ask in attempts:
        try:
            customer = ask()
        except NotFoundError:
            continue
        except LeanError as exc:
            return [], f"Lean did not answer ({type(exc).__name__}: {exc})"[:300]
        return [
            Meaning(kind, resolution.text, customer.customer_id, f"Lean knows it as {kind}")
        ], None
    return [], None


# ---------------------------------------------------------------------------------------------
# Gathering one customer's history
# ---------------------------------------------------------------------------------------------


@dataclass
class Gathered:
    """A customer's history, and how it was gathered (for the screen's notes and the bundle)."""

    history: History
    timings_ms: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # The stored refresh webhooks, merged with Lean's refresh list.
    refresh_events: list[StoredEvent] = field(default_factory=list)


def _in_context(run: Callable[[], T]) -> Callable[[], T]:
    # Worker threads keep the screen's Lean deadline and request-log caller (context variables).
    context = contextvars.copy_context()
    return lambda: context.run(run)


def _timed(timings: dict[str, int], name: str, run: Callable[[], T]) -> Callable[[], T]:
    def timed() -> T:
        started = datetime.now(UTC)
        try:
            return run()
        finally:
            timings[name] = round((datetime.now(UTC) - started).total_seconds() * 1000)

    return timed


def gather(
    client: LeanClient | None,
    store: EventStore,
    customer_id: str,
    *,
    now: datetime | None = None,
) -> Gathered:
    """One customer's history from Lean and the store (see the module docstring)."""
    now = now or datetime.now(UTC)
    history = History(now=now, customer_id=customer_id)
    gathered = Gathered(history)
    timings = gathered.timings_ms
    api_entities: list[Entity] | None = None
    api_refreshes: dict[str, list[Refresh]] = {}
    lean_errors: list[str] = []
    with ThreadPoolExecutor(LEAN_WORKERS, thread_name_prefix="triage") as pool:
        if client is not None:
            customer_future = pool.submit(
                _in_context(
                    _timed(timings, "lean_customer", lambda: client.get_customer(customer_id))
                )
            )
            entities_future = pool.submit(
                _in_context(
                    _timed(timings, "lean_entities", lambda: client.list_entities(customer_id))
                )
            )
        # The store answers while Lean is asked.
        _store_part(store, history, gathered, customer_id, now)
        if client is not None:
            try:
                customer = customer_future.result()
                history.app_user_id = customer.app_user_id or history.app_user_id
                history.customer_found = True
            except NotFoundError:
                history.customer_found = False
            except LeanError as exc:
                lean_errors.append(_lean_words(exc))
                history.customer_found = None
            try:
                api_entities = entities_future.result()[:MAX_ENTITIES]
            except NotFoundError:
                api_entities = []
            except LeanError as exc:
                lean_errors.append(_lean_words(exc))
            if api_entities:
                futures = {
                    entity.id: pool.submit(
                        _in_context(
                            _timed(
                                timings,
                                f"lean_refreshes_{index}",
                                lambda entity_id=entity.id: fetch_refreshes(
                                    client, entity_id, DETAILED_REFRESHES
                                ),
                            )
                        )
                    )
                    for index, entity in enumerate(api_entities)
                }
                for entity_id, future in futures.items():
                    try:
                        api_refreshes[entity_id] = future.result()
                    except LeanError as exc:
                        lean_errors.append(_lean_words(exc))
    if client is None:
        lean_errors.append("no Lean client is configured")
    if lean_errors:
        history.lean_answered = False
        history.lean_problem = "Lean did not answer; from stored webhooks only: " + lean_errors[0]
        gathered.notes.append(history.lean_problem)
    if api_entities is not None:
        history.entities = [entity_fact(e) for e in api_entities]
    else:
        history.entities = _indexed_entities(store, customer_id, history.webhooks)
    history.refreshes = _refresh_facts(api_refreshes, gathered.refresh_events)
    _bank_changes(store, history, now)
    return gathered


def _lean_words(exc: LeanError) -> str:
    return str(exc)[:300] or type(exc).__name__


def entity_fact(entity: Entity) -> EntityFact:
    """A Lean entity without its accounts (they carry IBANs, names and national IDs)."""
    return EntityFact(
        entity_id=entity.id,
        bank_identifier=entity.bank_identifier,
        created_at=entity.created_at,
        status=entity.status,
        permissions=tuple(entity.granted_permissions),
        consents=tuple(
            ConsentFact(
                consent_id=c.id,
                status=c.consent_status,
                created_at=c.creation_date_time,
                status_updated_at=c.status_update_date_time,
                expires_at=c.expiration_date_time,
                permissions=tuple(n for n, granted in c.permissions.items() if granted),
            )
            for c in entity.consents
        ),
    )


def refresh_fact(refresh: Refresh, started: datetime | None, finished: datetime | None,
                 source: str) -> RefreshFact:  # fmt: skip
    """A refresh with its per-account statuses (account ids only)."""
    data = refresh.data_status
    return RefreshFact(
        refresh_id=refresh.refresh_id,
        entity_id=refresh.entity_id,
        status=refresh.status,
        started_at=started,
        finished_at=finished,
        accounts=tuple(
            AccountStatuses(a.account_id or "", a.statuses())
            for a in (data.account_data if data else [])
        ),
        source=source,
    )


_SHA512_HEADER = re.compile(r"\s*sha512\s*=\s*[0-9a-fA-F]{128}\s*")


def signature_shape(header: str | None) -> str:
    """The refused delivery's signature header, by shape only: `sha512` (well formed), `none`
    (absent or blank) or `other` (another algorithm, or malformed)."""
    if header is None or not header.strip():
        return "none"
    return "sha512" if _SHA512_HEADER.fullmatch(header) else "other"


def _store_part(
    store: EventStore, history: History, gathered: Gathered, customer_id: str, now: datetime
) -> None:
    started = datetime.now(UTC)
    stored: dict[str, StoredEvent] = {}
    for item in store.query_events(EventFilter(customer_id=customer_id), limit=MAX_EVENTS):
        stored[item.event_id] = item
    entity_ids = list(dict.fromkeys(e.entity_id for e in stored.values() if e.entity_id))[
        :MAX_ENTITIES
    ]
    with store.connect() as conn:
        indexed = conn.execute(
            select(index_entities.c.entity_id)
            .where(index_entities.c.customer_id == customer_id)
            .limit(MAX_ENTITIES)
        ).scalars()
        entity_ids = list(dict.fromkeys([*entity_ids, *indexed]))[:MAX_ENTITIES]
        app_user = conn.execute(
            select(index_customers.c.app_user_id).where(
                index_customers.c.customer_id == customer_id
            )
        ).scalar()
    for entity_id in entity_ids:
        for item in store.query_events(
            EventFilter(entity_id=entity_id), limit=MAX_EVENTS_PER_ENTITY
        ):
            stored.setdefault(item.event_id, item)
    history.app_user_id = app_user or next(
        (e.app_user_id for e in stored.values() if e.app_user_id), None
    )
    history.webhooks = sorted(
        (
            WebhookFact(
                event_id=e.event_id,
                type=e.type,
                at=e.occurred_at,
                received_at=e.received_at,
                entity_id=e.entity_id,
                refresh_id=e.refresh_id,
                status=e.status,
                verified=e.verified,
                deliveries=e.delivery_count,
            )
            for e in stored.values()
        ),
        key=lambda w: w.at,
    )
    gathered.refresh_events = [e for e in stored.values() if e.type == REFRESH_EVENT_TYPE]
    with store.connect() as conn:
        claims = [rejections.c.claimed_customer_id == customer_id]
        if entity_ids:
            claims.append(rejections.c.claimed_entity_id.in_(entity_ids))
        # Signature mismatches are read apart, so a flood of unsigned claims cannot push the one
        # delivery Lean may really have sent out of the window.
        mismatch = rejections.c.reason.like("%does not match%")
        rows = [
            *conn.execute(
                select(rejections)
                .where(or_(*claims), mismatch)
                .order_by(rejections.c.received_at.desc())
                .limit(MAX_REJECTIONS)
            ).mappings(),
            *conn.execute(
                select(rejections)
                .where(or_(*claims), ~mismatch)
                .order_by(rejections.c.received_at.desc())
                .limit(MAX_REJECTIONS)
            ).mappings(),
        ]
        history.rejections = [
            RejectionFact(
                at=_aware(row["received_at"]),  # type: ignore[arg-type]
                status_code=int(row["status_code"]),
                reason=str(row["reason"]),
                claimed_type=row["claimed_type"],
                claimed_event_id=row["claimed_event_id"],
                claimed_customer_id=row["claimed_customer_id"],
                claimed_entity_id=row["claimed_entity_id"],
                signature_shape=signature_shape(row["signature"]),
                source_ip=row["source_ip"],
            )
            for row in rows
        ]
        ids = [customer_id, *entity_ids]
        letters = conn.execute(
            select(
                dead_letters.c.received_at,
                dead_letters.c.reason,
                dead_letters.c.delivery_count,
                dead_letters.c.body,
                dead_letters.c.reprocessed_at,
                dead_letters.c.reprocess_outcome,
            )
            .where(
                dead_letters.c.received_at >= _naive(now - WINDOW * 3),
                or_(*(dead_letters.c.body.like(f"%{_escape_like(i)}%", escape="\\") for i in ids)),
            )
            .order_by(dead_letters.c.received_at.desc())
            .limit(MAX_DEAD_LETTERS)
        ).all()
        history.dead_letters = [
            DeadLetterFact(
                at=_aware(at),  # type: ignore[arg-type]
                reason=str(reason),
                deliveries=int(count or 1),
                # Only which of our ids it names: the body itself may hold personal data.
                mentions=", ".join(
                    ("customer " if i == customer_id else "entity ") + i for i in ids if i in body
                ),
                reprocessed_at=_aware(reprocessed_at),
                reprocess_outcome=outcome,
            )
            for at, reason, count, body, reprocessed_at, outcome in letters
        ]
        history.listening_since = _aware(
            conn.execute(select(func.min(events.c.received_at))).scalar()
        )
    history.lean_calls, history.request_log_available = _lean_calls(
        store, customer_id, entity_ids, now
    )
    gathered.timings_ms["store"] = round((datetime.now(UTC) - started).total_seconds() * 1000)


def _request_log_function(name: str) -> Callable[..., Any] | None:
    """A function of console.request_log, when this console has the request log."""
    try:
        from console import request_log  # optional: built alongside
    except ImportError:
        return None
    return getattr(request_log, name, None)


def _lean_calls(
    store: EventStore, customer_id: str, entity_ids: Sequence[str], now: datetime
) -> tuple[list[LeanCallFact], bool]:
    calls_for = _request_log_function("calls_for")
    if calls_for is None:
        return [], False
    try:
        rows = calls_for(
            store, customer_id=customer_id, entity_ids=tuple(entity_ids), since=now - WINDOW,
            limit=MAX_CALLS,
        )  # fmt: skip
    except Exception:  # another room's failure must not take the triage down
        return [], False
    calls = []
    for row in rows:
        at = _aware(row.get("at"))
        if at is None:
            continue
        calls.append(
            LeanCallFact(
                at=at,
                method=str(row.get("method") or ""),
                route=str(row.get("route") or row.get("endpoint") or ""),
                status=row.get("status"),
                outcome=str(row.get("outcome") or ""),
                lean_code=row.get("lean_code"),
                results_id=row.get("results_id"),
                latency_ms=int(row.get("latency_ms") or 0),
                retries=int(row.get("retries") or 0),
                screen=row.get("screen"),
                entity_id=row.get("entity_id"),
                refresh_id=row.get("refresh_id"),
            )
        )
    return calls, True


def _indexed_entities(
    store: EventStore, customer_id: str, webhooks: Iterable[WebhookFact]
) -> list[EntityFact]:
    """Lean did not answer: the customer's connections as the book index (and webhooks) saw them."""
    with store.connect() as conn:
        rows = (
            conn.execute(
                select(index_entities)
                .where(index_entities.c.customer_id == customer_id)
                .limit(MAX_ENTITIES)
            )
            .mappings()
            .all()
        )
        ids = [r["entity_id"] for r in rows]
        consent_rows = (
            conn.execute(select(index_consents).where(index_consents.c.entity_id.in_(ids)))
            .mappings()
            .all()
            if ids
            else []
        )
    found = []
    for row in rows:
        consents = tuple(
            ConsentFact(
                consent_id=c["consent_id"],
                status=c["status"],
                created_at=_aware(c["created_at"]),
                status_updated_at=_aware(c["status_updated_at"]),
                expires_at=_aware(c["expires_at"]),
                permissions=tuple(_json_list(c["permissions"])),
            )
            for c in consent_rows
            if c["entity_id"] == row["entity_id"]
        )
        if not consents and row["consent_status"]:
            consents = (
                ConsentFact(
                    row["consent_id"], row["consent_status"],
                    expires_at=_aware(row["consent_expires_at"]),
                ),
            )  # fmt: skip
        found.append(
            EntityFact(
                entity_id=row["entity_id"],
                bank_identifier=row["bank_identifier"],
                created_at=_aware(row["created_at"]),
                status=row["status"],
                permissions=tuple(_json_list(row["permissions"])),
                consents=consents,
            )
        )
    known = {e.entity_id for e in found}
    for webhook in webhooks:
        if webhook.entity_id and webhook.entity_id not in known:
            known.add(webhook.entity_id)
            found.append(EntityFact(entity_id=webhook.entity_id))
    return found[:MAX_ENTITIES]


def _json_list(text: str | None) -> list[str]:
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


def _refresh_facts(api: dict[str, list[Refresh]], stored: list[StoredEvent]) -> list[RefreshFact]:
    """Lean's refresh lists merged with the stored refresh webhooks, entity by entity."""
    by_entity: dict[str | None, dict[str, Any]] = {}
    for refresh_id, item in webhook_refreshes(stored).items():
        by_entity.setdefault(item.refresh.entity_id, {})[refresh_id] = item
    facts = []
    for entity_id in dict.fromkeys([*api, *by_entity]):
        for item in merge_refreshes(api.get(entity_id or ""), by_entity.get(entity_id, {})):
            refresh = item.refresh
            if refresh.entity_id is None and entity_id:
                refresh = refresh.model_copy(update={"entity_id": entity_id})
            facts.append(refresh_fact(refresh, item.started, item.finished, item.source))
    return facts


def _bank_changes(store: EventStore, history: History, now: datetime) -> None:
    banks = sorted({e.bank_identifier for e in history.entities if e.bank_identifier})
    for bank in banks:
        changes = [
            change_from_body(e.occurred_at, e.payload)
            for e in store.bank_availability_events(now - WINDOW, bank_identifier=bank, limit=500)
        ]
        if changes:
            history.bank_changes[bank] = changes


def _aware(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


# ---------------------------------------------------------------------------------------------
# The timeline
# ---------------------------------------------------------------------------------------------

TIME_COLUMN = "Time (UTC)"


def short_id(ident: str) -> str:
    """The start of a long id (`6c770e96…`), as the console's tables show them; short ids whole."""
    return ident if len(ident) <= 24 else ident[:8] + "…"


def _link(path: str, **query: str | None) -> str:
    """A link to one of the console's own pages (relative: it never leaves the console)."""
    return f"/{path}?" + urlencode({k: v for k, v in query.items() if v})


def bank_words(identifier: str | None, names: Mapping[str, str] | None = None) -> str:
    """A bank as an operator knows it: its name from the banks list, else its identifier."""
    if not identifier:
        return "a bank"
    return (names or {}).get(identifier) or identifier


def with_bank_names(text: str, names: Mapping[str, str] | None) -> str:
    """`text` with each bank identifier it quotes followed by the bank's name ("Al Rajhi Bank
    (RJHI_SAMAOB_SAU)"); the identifier stays, for support and for Lean."""
    for identifier, name in (names or {}).items():
        if name and identifier and identifier in text:
            text = re.sub(
                rf"(?<![\w(]){re.escape(identifier)}(?![\w)])", f"{name} ({identifier})", text
            )
    return text


# The request log's name for calls the triage screen made (its title in app.py's navigation).
TRIAGE_SCREEN = "Triage"


def timeline(history: History, bank_names: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Everything that happened to the customer, oldest first: one row per moment, in words,
    with the one id it is about (its kind says which) and a link to the console's own page.
    Banks are named by `bank_names` (identifier -> name) where known; the Id column keeps a bank
    row's identifier."""
    customer = history.customer_id
    rows: list[tuple[datetime, str, str, str, str]] = []

    def add(at: datetime | None, kind: str, what: str, ident: str | None, link: str) -> None:
        if at is not None:
            rows.append((at, kind, what, ident or "", link))

    for entity in history.entities:
        entity_link = _link("entities", entity_id=entity.entity_id, customer_id=customer)
        bank = bank_words(entity.bank_identifier, bank_names)
        add(entity.created_at, "Connection", f"Connected {bank}", entity.entity_id, entity_link)
        for consent in entity.consents:
            ident = consent.consent_id or entity.entity_id
            add(consent.created_at, "Consent", f"Consent granted ({bank})", ident, entity_link)
            expired = consent.expires_at is not None and consent.expires_at <= history.now
            # An EXPIRED consent's status changed when it expired: one row says both.
            if (
                consent.status != "ACTIVE"
                and consent.status_updated_at
                and not (consent.status == "EXPIRED" and expired)
            ):
                what = f"Consent {consent.status} ({bank})"
                add(consent.status_updated_at, "Consent", what, ident, entity_link)
            if expired:
                add(consent.expires_at, "Consent", f"Consent expired ({bank})", ident, entity_link)
    for refresh in history.refreshes:
        link = _link("refreshes", entity_id=refresh.entity_id, customer_id=customer,
                     refresh_id=refresh.refresh_id)  # fmt: skip
        add(refresh.started_at, "Refresh", "Refresh started", refresh.refresh_id, link)
        if refresh.finished_at:
            problems = refresh.problems()
            words = (
                "; ".join(
                    f"{n.replace('_', ' ')} {refresh.worst_word(n)} on {b} of {t}"
                    for n, (b, t) in problems.items()
                )
                if problems
                else "all data complete"
            )
            add(refresh.finished_at, "Refresh", f"Finished — {words}", refresh.refresh_id, link)
        elif refresh.pending and refresh.started_at:
            waited = describe_duration(history.now - refresh.started_at)
            add(history.now, "Refresh", f"Still pending after {waited}", refresh.refresh_id, link)
    for webhook in history.webhooks:
        what = webhook.type + (f" ({webhook.status})" if webhook.status else "")
        if not webhook.verified:
            what += " · unverified"
        if webhook.deliveries > 1:
            what += f" · delivered {webhook.deliveries}×"
        add(webhook.at, "Webhook", what, webhook.event_id,
            _link("webhooks", event_id=webhook.event_id))  # fmt: skip
    # Refusals, one row per claimed type and reason (a flood of forged claims stays one row):
    # a credible one (a sha512 mismatch) keeps its own row, with the entity it claims.
    grouped: dict[tuple[str, str], list[RejectionFact]] = {}
    for rejection in history.rejections:
        if rejection.credible:
            what = (
                f"Refused {rejection.claimed_type or 'a delivery'}: HTTP {rejection.status_code}, "
                f"{rejection.signature_words}"
            )
            add(rejection.at, "Refused", what,
                rejection.claimed_event_id or rejection.claimed_entity_id,
                _link("webhooks", customer_id=customer))  # fmt: skip
        else:
            key = (rejection.claimed_type or "a delivery", rejection.signature_words)
            grouped.setdefault(key, []).append(rejection)
    for (claimed, words), group in grouped.items():
        entities = {r.claimed_entity_id for r in group if r.claimed_entity_id}
        what = f"Refused {claimed}: {words}, possibly forged"
        if len(group) > 1:
            what += (
                f" · {len(group)}× from {stamp(min(r.at for r in group))}"
                f" · {len(entities)} entities claimed"
            )
        add(max(r.at for r in group), "Refused", what,
            group[0].claimed_entity_id if len(entities) == 1 else f"{len(entities)} entities",
            _link("webhooks", customer_id=customer))  # fmt: skip
    for letter in history.dead_letters:
        add(letter.at, "Dead letter", f"Unreadable delivery: {letter.reason}", letter.mentions,
            _link("webhooks", customer_id=customer))  # fmt: skip
    for bank, changes in history.bank_changes.items():
        for change in changes:
            add(change.at, "Bank", f"{bank_words(bank, bank_names)}: data {state_word(change.data)}", bank,
                _link("banks", bank=bank))  # fmt: skip
    for call in history.lean_calls:
        if call.screen == TRIAGE_SCREEN and call.outcome == "ok":
            # This screen's own reads (newest first, they filled the top of the timeline); one
            # that failed stays, as what Lean answered for this customer.
            continue
        answer = f"HTTP {call.status}" if call.status is not None else "no answer"
        what = f"{call.method} {call.route} → {answer}"
        if call.lean_code:
            what += f" {call.lean_code}"
        what += f" · {call.latency_ms} ms"
        if call.retries:
            what += f" · {call.retries} retries"
        add(call.at, "Lean call", what, call.results_id or call.refresh_id, "")
    rows.sort(key=lambda r: r[0])
    return [
        {TIME_COLUMN: at, "Kind": kind, "What happened": what, "Id": ident, "Open": link}
        for at, kind, what, ident, link in rows
    ]


# ---------------------------------------------------------------------------------------------
# For the ticket and for Lean
# ---------------------------------------------------------------------------------------------


def permalink(base_url: str | None, text: str) -> str:
    """The full link to this triage for a ticket (the console's own page)."""
    query = urlencode({"q": text})
    if base_url and base_url.startswith(("http://", "https://")):
        return f"{base_url.split('?')[0].rstrip('/')}?{query}"
    return f"http://localhost:8501/triage?{query}"


def summary_text(
    history: History,
    findings: Sequence[Finding],
    link: str,
    bank_names: Mapping[str, str] | None = None,
) -> str:
    """Plain text to paste into the ticket: ids, the diagnosis and the next action (banks by
    name where known, their identifiers beside)."""
    lines = [
        f"Triage of customer {history.customer_id}"
        + (f" (app_user_id {history.app_user_id})" if history.app_user_id else ""),
        f"At {stamp(history.now)} · {link}",
    ]
    if not history.lean_answered:
        lines.append("Lean did not answer; from stored webhooks only.")
    lines.append("")
    for number, finding in enumerate(findings, 1):
        lines.append(f"{number}. [{finding.severity.word}] {finding.title} (rule {finding.rule})")
        lines.extend(f"   - {with_bank_names(line, bank_names)}" for line in finding.evidence)
        lines.append(f"   Next: {finding.next_action}")
    lines.append("")
    lines.append("Bank connections:")
    for entity in history.entities or []:
        consent = entity.current_consent
        status = consent.effective_status(history.now) if consent else "no consent"
        lines.append(
            f"   - entity {entity.entity_id} · "
            f"{with_bank_names(entity.bank_identifier or '?', bank_names)} · consent {status}"
        )
    if not history.entities:
        lines.append("   - none")
    return _scrub("\n".join(lines))


def debug_bundle(gathered: Gathered, findings: Sequence[Finding]) -> str:
    """JSON for an escalation to Lean: ids, statuses, results_ids, timings and the rules that
    fired. No personal data: no names, IBANs, national IDs or message bodies."""
    history = gathered.history
    results_ids = sorted(
        {c.results_id for c in history.lean_calls if c.results_id}
        | {f.refs["results_id"] for f in findings if f.refs.get("results_id")}
    )
    bundle = {
        "generated_at": _iso(history.now),
        "customer_id": history.customer_id,
        "app_user_id": history.app_user_id,
        "lean_answered": history.lean_answered,
        "request_log_available": history.request_log_available,
        "rules_fired": [f.rule for f in findings],
        "findings": [
            {
                "rule": f.rule,
                "severity": f.severity.name.lower(),
                "title": f.title,
                "since": _iso(f.since),
                "refs": f.refs,
                "evidence": f.evidence,
            }
            for f in findings
        ],
        "entities": [
            {
                "entity_id": e.entity_id,
                "bank_identifier": e.bank_identifier,
                "status": e.status,
                "created_at": _iso(e.created_at),
                "permissions": list(e.permissions),
                "consents": [
                    {
                        "consent_id": c.consent_id,
                        "status": c.status,
                        "effective_status": c.effective_status(history.now),
                        "created_at": _iso(c.created_at),
                        "status_updated_at": _iso(c.status_updated_at),
                        "expires_at": _iso(c.expires_at),
                    }
                    for c in e.consents
                ],
            }
            for e in history.entities
        ],
        "refreshes": [
            {
                "refresh_id": r.refresh_id,
                "entity_id": r.entity_id,
                "status": r.status,
                "source": r.source,
                "started_at": _iso(r.started_at),
                "finished_at": _iso(r.finished_at),
                "duration_seconds": (r.finished_at - r.started_at).total_seconds()
                if r.started_at and r.finished_at
                else None,
                "accounts": {a.account_id: a.statuses for a in r.accounts},
            }
            for r in history.refreshes
        ],
        "webhooks": [
            {
                "event_id": w.event_id,
                "type": w.type,
                "lean_timestamp": _iso(w.at),
                "received_at": _iso(w.received_at),
                "entity_id": w.entity_id,
                "refresh_id": w.refresh_id,
                "status": w.status,
                "verified": w.verified,
                "deliveries": w.deliveries,
            }
            for w in history.webhooks
        ],
        "refused_deliveries": _refused_summary(history),
        "dead_letters": [
            {
                "received_at": _iso(d.at),
                "reason": d.reason,
                "deliveries": d.deliveries,
                "names": d.mentions,
            }
            for d in history.dead_letters
        ],
        "bank_availability": {
            bank: [{"at": _iso(c.at), "data": c.data, "payments": c.payments} for c in changes]
            for bank, changes in history.bank_changes.items()
        },
        "lean_calls": [
            {
                "at": _iso(c.at),
                "method": c.method,
                "route": c.route,
                "status": c.status,
                "outcome": c.outcome,
                "lean_code": c.lean_code,
                "results_id": c.results_id,
                "latency_ms": c.latency_ms,
                "retries": c.retries,
                "entity_id": c.entity_id,
                "refresh_id": c.refresh_id,
            }
            for c in history.lean_calls
        ],
        "results_ids": results_ids,
        "timings_ms": gathered.timings_ms,
    }
    return _scrub(json.dumps(bundle, indent=2, ensure_ascii=False, default=str))


# Example claimed entity ids the debug bundle shows per group (the rest are counted).
BUNDLE_EXAMPLES = 3


def _refused_summary(history: History) -> dict[str, Any]:
    """The refused deliveries, collapsed: counts, claimed entities (a few examples), first and
    last time, reasons and sources with counts; the credible ones (a sha512 mismatch) one by one.
    """
    refused = sorted(history.rejections, key=lambda r: r.at)
    if not refused:
        return {"count": 0}
    # Newest first, as the finding's examples.
    entities = list(
        dict.fromkeys(r.claimed_entity_id for r in reversed(refused) if r.claimed_entity_id)
    )
    credible = [r for r in refused if r.credible]
    corroborated = {id(r) for r in corroborated_claims(history)}

    def tally(values: Iterable[str]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for value in values:
            counts[value] = counts.get(value, 0) + 1
        return dict(sorted(counts.items(), key=lambda i: -i[1]))

    return {
        "count": len(refused),
        "note": "a sample: the receiver keeps a few rows per reason, source and minute",
        "first_at": _iso(refused[0].at),
        "last_at": _iso(refused[-1].at),
        "claimed_types": tally(r.claimed_type or "(none)" for r in refused),
        "reasons": tally(r.signature_words for r in refused),
        "signature_shapes": tally(r.signature_shape for r in refused),
        "source_ips": tally(r.source_ip or "unknown" for r in refused),
        "distinct_entities_claimed": len(entities),
        "example_entities_claimed": entities[:BUNDLE_EXAMPLES],
        "credible": [
            {
                "received_at": _iso(r.at),
                "status_code": r.status_code,
                "reason": r.reason,
                "claimed_type": r.claimed_type,
                "claimed_event_id": r.claimed_event_id,
                "claimed_entity_id": r.claimed_entity_id,
                "corroborated_by_lean": id(r) in corroborated,
            }
            for r in credible[-BUNDLE_EXAMPLES:]
        ],
        "credible_count": len(credible),
    }


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


# Free text (refusal reasons, Lean's words) could quote a body: anything shaped like an IBAN, a
# Saudi national ID or iqama, an e-mail address or a phone number is blanked on the way out.
_PERSONAL = re.compile(
    r"\b[A-Z]{2}\d{2}[0-9A-Z]{11,30}\b"  # IBAN
    r"|(?<![\w-])[12]\d{9}(?![\w-])"  # national ID / iqama
    r"|[\w.+-]+@[\w-]+\.[\w.-]+"  # e-mail
    r"|\+?9665\d{8}\b"  # Saudi mobile
)


def _scrub(text: str) -> str:
    return _PERSONAL.sub("[removed]", text)
