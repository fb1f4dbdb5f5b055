"""Reading the book index for the screens: the customers queue with its columns and filters,
consent expiry across the book with its CSV, and how fresh the index is. No Streamlit, no Lean."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, false, func, or_, select

from console.book import (
    APPLIED_KEY,
    CURSOR_KEY,
    INDEXED_TYPES,
    LAST_APPLIED_KEY,
    RECONNECT_WORDS,
    SKIPPED_KEY,
    SyncProgress,
    latest_sync,
)
from console.events import refresh_summary
from console.formatting import csv_safe_cell
from console.store import (
    CURRENT_STATE_ORDER,
    EventStore,
    _aware,
    _utc_naive,
    events,
    index_consents,
    index_customers,
    index_entities,
    index_refreshes,
    meta,
)
from lean_api.models import BankAvailability, Refresh

C, E, K = index_customers, index_entities, index_consents


def _now() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------------------------------------
# Reading the index for the screens
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilter:
    """Which customers the browse list is narrowed to."""

    search: str = ""
    needs_reconnect: bool = False
    expiring_within_days: int | None = None
    bank_down: bool = False


@dataclass(frozen=True)
class CustomerRow:
    """One customer as the browse list shows it, from the index."""

    customer_id: str
    app_user_id: str | None
    banks: list[str] = field(default_factory=list)
    banks_down: list[str] = field(default_factory=list)
    worst_consent: str | None = None
    next_expiry: datetime | None = None
    last_refresh: str | None = None
    last_refresh_at: datetime | None = None


@dataclass(frozen=True)
class IndexStatus:
    """How complete and fresh the index is."""

    customers: int
    entities: int
    consents: int
    events_applied: int
    events_skipped: int
    events_pending: int
    last_applied_at: datetime | None
    last_sync: SyncProgress | None
    last_finished_sync: SyncProgress | None


def index_status(store: EventStore) -> IndexStatus:
    """Counts, the indexer's position and the latest syncs."""
    with store.connect() as conn:
        counts = [
            int(conn.execute(select(func.count()).select_from(t)).scalar_one()) for t in (C, E, K)
        ]
        values = dict(
            conn.execute(
                select(meta.c.key, meta.c.value).where(
                    meta.c.key.in_((CURSOR_KEY, APPLIED_KEY, SKIPPED_KEY, LAST_APPLIED_KEY))
                )
            ).all()
        )
        pending = int(
            conn.execute(
                select(func.count())
                .select_from(events)
                .where(
                    events.c.id > int(values.get(CURSOR_KEY) or 0),
                    events.c.type.in_(INDEXED_TYPES),
                )
            ).scalar_one()
        )
    last_applied = values.get(LAST_APPLIED_KEY)
    return IndexStatus(
        customers=counts[0],
        entities=counts[1],
        consents=counts[2],
        events_applied=int(values.get(APPLIED_KEY) or 0),
        events_skipped=int(values.get(SKIPPED_KEY) or 0),
        events_pending=pending,
        last_applied_at=datetime.fromisoformat(last_applied) if last_applied else None,
        last_sync=latest_sync(store),
        last_finished_sync=latest_sync(store, finished=True),
    )


def _ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    seconds = max((now - moment).total_seconds(), 0)
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"


def freshness_note(status: IndexStatus, now: datetime | None = None) -> str:
    """How fresh the index is, in the console's own words (safe as Markdown)."""
    now = now or _now()
    done = status.last_finished_sync
    parts = [
        f"Index: {status.customers:,} customers, {status.entities:,} bank connections",
        f"last full sync with Lean {_ago(done.finished_at if done else None, now)}",
        f"{status.events_applied:,} webhook events applied"
        + (f" (latest {_ago(status.last_applied_at, now)})" if status.last_applied_at else ""),
    ]
    if status.events_pending:
        parts.append(f"{status.events_pending:,} waiting")
    if status.events_skipped:
        parts.append(f"{status.events_skipped:,} unreadable skipped")
    return " · ".join(parts)


def customer_of_entity(store: EventStore, entity_id: str) -> str | None:
    """Whose bank connection this is, from the book index (None when the index has not seen it)."""
    store.migrate()
    with store.connect() as conn:
        return conn.execute(
            select(E.c.customer_id).where(E.c.entity_id == entity_id.strip().lower())
        ).scalar()


@dataclass(frozen=True)
class IndexedBank:
    """A bank as the book index names it (the name only when an entity event gave one)."""

    identifier: str
    name: str | None = None


def bank_of(
    store: EventStore, *, entity_id: str | None, refresh_id: str | None = None
) -> IndexedBank | None:
    """The bank of an event that names none (a refresh): the refresh index first, else the
    entity's bank in the book index; None when neither has seen it."""
    store.migrate()
    identifier, name = None, None
    with store.connect() as conn:
        if refresh_id:
            identifier = conn.execute(
                select(index_refreshes.c.bank_identifier).where(
                    index_refreshes.c.refresh_id == refresh_id.strip()
                )
            ).scalar()
        if entity_id:
            row = conn.execute(
                select(E.c.bank_identifier, E.c.bank_name).where(
                    E.c.entity_id == entity_id.strip().lower()
                )
            ).first()
            if row is not None and (identifier is None or identifier == row.bank_identifier):
                identifier, name = row.bank_identifier, row.bank_name
    return IndexedBank(identifier, name) if identifier else None


def consent_status_of(store: EventStore, entity_id: str, now: datetime | None = None) -> str | None:
    """The entity's current consent word as the book index last saw it (an ACTIVE consent past
    its expiry reads EXPIRED); None when the index has not seen the entity."""
    store.migrate()
    with store.connect() as conn:
        row = conn.execute(
            select(E.c.consent_status, E.c.consent_expires_at).where(
                E.c.entity_id == entity_id.strip().lower()
            )
        ).first()
    if row is None:
        return None
    return effective_status(row.consent_status, _aware(row.consent_expires_at), now or _now())


def banks_down(store: EventStore) -> dict[str, str]:
    """Banks whose latest `bank.availability.updated` (by Lean's clock) says data is not
    available: identifier -> `disabled_by_lean` / `disabled_by_us`."""
    ranked = (
        select(
            events.c.bank_identifier,
            events.c.payload,
            func.row_number()
            .over(partition_by=events.c.bank_identifier, order_by=CURRENT_STATE_ORDER)
            .label("rank"),
        )
        .where(events.c.type == "bank.availability.updated", events.c.bank_identifier.is_not(None))
        .subquery()
    )
    with store.connect() as conn:
        rows = conn.execute(
            select(ranked.c.bank_identifier, ranked.c.payload).where(ranked.c.rank == 1)
        ).all()
    down = {}
    for identifier, body in rows:
        try:
            payload = json.loads(body).get("payload") or {}
            state = BankAvailability.model_validate(payload.get("availability") or {}).state("data")
        except (ValueError, AttributeError, TypeError):
            continue
        if state in ("disabled_by_lean", "disabled_by_us"):
            down[identifier] = state
    return down


def effective_status(status: str | None, expires_at: datetime | None, now: datetime) -> str | None:
    """Lean's consent word, with an ACTIVE consent past its expiry read as EXPIRED."""
    if status == "ACTIVE" and expires_at is not None and expires_at <= now:
        return "EXPIRED"
    return status


def _consent_rank(status: str | None) -> int:
    if status is None:
        return 3
    if status in RECONNECT_WORDS:
        return 0
    return 2 if status == "ACTIVE" else 1


def _needs_reconnect_clause(now: datetime, down: Iterable[str]) -> Any:
    down = list(down)
    clause = or_(
        and_(E.c.consent_status.is_not(None), E.c.consent_status != "ACTIVE"),
        and_(E.c.consent_status == "ACTIVE", E.c.consent_expires_at <= now),
    )
    return or_(clause, E.c.bank_identifier.in_(down)) if down else clause


def _expiring_clause(now: datetime, days: int) -> Any:
    return and_(
        E.c.consent_status == "ACTIVE",
        E.c.consent_expires_at > now,
        E.c.consent_expires_at <= now + timedelta(days=days),
    )


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def customer_page(
    store: EventStore,
    flt: QueueFilter = QueueFilter(),
    *,
    limit: int = 50,
    offset: int = 0,
    now: datetime | None = None,
) -> tuple[list[CustomerRow], int]:
    """One page of customers from the index with their columns, and how many match in all.

    With an expiry filter the soonest expiry comes first; otherwise by app_user_id.
    """
    now = now or _now()
    naive_now = _utc_naive(now)
    down = banks_down(store) if (flt.needs_reconnect or flt.bank_down) else {}
    conditions = []
    owned = E.c.customer_id == C.c.customer_id
    if flt.search.strip():
        pattern = _like(flt.search.strip())
        conditions.append(
            or_(
                C.c.customer_id.ilike(pattern, escape="\\"),
                C.c.app_user_id.ilike(pattern, escape="\\"),
            )
        )
    if flt.needs_reconnect:
        conditions.append(exists().where(owned, _needs_reconnect_clause(naive_now, down)))
    if flt.expiring_within_days is not None:
        conditions.append(
            exists().where(owned, _expiring_clause(naive_now, flt.expiring_within_days))
        )
    if flt.bank_down:
        conditions.append(
            exists().where(owned, E.c.bank_identifier.in_(list(down))) if down else false()
        )
    if flt.expiring_within_days is not None:
        soonest = (
            select(func.min(E.c.consent_expires_at))
            .where(owned, _expiring_clause(naive_now, flt.expiring_within_days))
            .scalar_subquery()
        )
        order = [soonest.asc(), C.c.customer_id]
    else:
        order = [C.c.app_user_id.is_(None).asc(), C.c.app_user_id, C.c.customer_id]
    with store.connect() as conn:
        total = int(
            conn.execute(select(func.count()).select_from(C).where(*conditions)).scalar_one()
        )
        customers = conn.execute(
            select(C.c.customer_id, C.c.app_user_id)
            .where(*conditions)
            .order_by(*order)
            .limit(limit)
            .offset(offset)
        ).all()
        ids = [c.customer_id for c in customers]
        entity_rows = (
            conn.execute(select(E).where(E.c.customer_id.in_(ids)).order_by(E.c.created_at))
            .mappings()
            .all()
            if ids
            else []
        )
    down = down or (banks_down(store) if entity_rows else {})
    refreshes = latest_refreshes(store, [e["entity_id"] for e in entity_rows])
    by_customer: dict[str, list[Any]] = {}
    for entity in entity_rows:
        by_customer.setdefault(entity["customer_id"], []).append(entity)
    rows = []
    for customer_id, app_user_id in customers:
        owned_entities = by_customer.get(customer_id, [])
        statuses = [
            effective_status(e["consent_status"], _aware(e["consent_expires_at"]), now)
            for e in owned_entities
        ]
        known = [s for s in statuses if s is not None]
        expiries = [
            _aware(e["consent_expires_at"])
            for e, s in zip(owned_entities, statuses, strict=True)
            if s == "ACTIVE" and e["consent_expires_at"] is not None
        ]
        latest = max(
            (refreshes[e["entity_id"]] for e in owned_entities if e["entity_id"] in refreshes),
            key=lambda r: r[1],
            default=None,
        )
        rows.append(
            CustomerRow(
                customer_id=customer_id,
                app_user_id=app_user_id,
                banks=[e["bank_identifier"] or "unknown" for e in owned_entities],
                banks_down=sorted(
                    {e["bank_identifier"] for e in owned_entities if e["bank_identifier"] in down}
                ),
                worst_consent=min(known, key=_consent_rank) if known else None,
                next_expiry=min(expiries) if expiries else None,  # type: ignore[type-var]
                last_refresh=latest[0] if latest else None,
                last_refresh_at=latest[1] if latest else None,
            )
        )
    return rows, total


def latest_refreshes(store: EventStore, entity_ids: list[str]) -> dict[str, tuple[str, datetime]]:
    """Per entity, its latest stored refresh (by Lean's clock): (summary, when)."""
    if not entity_ids:
        return {}
    ranked = (
        select(
            events.c.entity_id,
            events.c.payload,
            events.c.lean_timestamp,
            events.c.received_at,
            func.row_number()
            .over(partition_by=events.c.entity_id, order_by=CURRENT_STATE_ORDER)
            .label("rank"),
        )
        .where(events.c.type == "entity.data.refresh.updated", events.c.entity_id.in_(entity_ids))
        .subquery()
    )
    with store.connect() as conn:
        rows = conn.execute(select(ranked).where(ranked.c.rank == 1)).mappings().all()
    found = {}
    for row in rows:
        when = _aware(row["lean_timestamp"] or row["received_at"])
        try:
            refresh = Refresh.model_validate(json.loads(row["payload"]).get("payload") or {})
            summary = refresh_summary(refresh)
        except (ValueError, AttributeError, TypeError):
            summary = "unreadable refresh event"
        found[row["entity_id"]] = (summary, when)
    return found


def customer_table(
    rows: Iterable[CustomerRow],
    now: datetime | None = None,
    bank_names: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Rows for the browse table, in the operator's words (`bank_names`: identifier -> name)."""
    now = now or _now()
    names = bank_names or {}
    table = []
    for row in rows:
        banks = ", ".join(names.get(b, b) for b in row.banks) or "No bank connected"
        if row.banks_down:
            banks += " · down: " + ", ".join(names.get(b, b) for b in row.banks_down)
        table.append(
            {
                "app_user_id": row.app_user_id,
                "customer_id": row.customer_id,
                "Banks": banks,
                "Worst consent": row.worst_consent or ("Not synced yet" if row.banks else "—"),
                "Next expiry": _expiry_words(row.next_expiry, now),
                "Last refresh": row.last_refresh or "—",
                "Refreshed": f"{row.last_refresh_at:%Y-%m-%d %H:%M}"
                if row.last_refresh_at
                else "—",
            }
        )
    return table


def _expiry_words(expires_at: datetime | None, now: datetime) -> str:
    if expires_at is None:
        return "—"
    days = int((expires_at - now).total_seconds() // 86400)
    left = "today" if days < 1 else ("in 1 day" if days == 1 else f"in {days} days")
    return f"{expires_at:%Y-%m-%d} · {left}"


@dataclass(frozen=True)
class ExpiringConsent:
    """A bank connection whose current consent expires soon."""

    app_user_id: str | None
    customer_id: str
    entity_id: str
    bank_identifier: str | None
    bank_name: str | None
    expires_at: datetime


def expiring_consents(
    store: EventStore,
    within_days: int,
    *,
    bank: str | None = None,
    now: datetime | None = None,
    limit: int = 100_000,
) -> list[ExpiringConsent]:
    """Connections whose current, active consent expires within `within_days`, soonest first."""
    now = now or _now()
    statement = (
        select(
            C.c.app_user_id,
            E.c.customer_id,
            E.c.entity_id,
            E.c.bank_identifier,
            E.c.bank_name,
            E.c.consent_expires_at,
        )
        .select_from(E.outerjoin(C, C.c.customer_id == E.c.customer_id))
        .where(_expiring_clause(_utc_naive(now), within_days))
        .order_by(E.c.consent_expires_at, E.c.entity_id)
        .limit(limit)
    )
    if bank:
        statement = statement.where(E.c.bank_identifier == bank)
    with store.connect() as conn:
        rows = conn.execute(statement).all()
    return [
        ExpiringConsent(
            app_user_id=r.app_user_id,
            customer_id=r.customer_id,
            entity_id=r.entity_id,
            bank_identifier=r.bank_identifier,
            bank_name=r.bank_name,
            expires_at=_aware(r.consent_expires_at),  # type: ignore[arg-type]
        )
        for r in rows
    ]


def expiry_by_bank(items: Iterable[ExpiringConsent]) -> list[dict[str, Any]]:
    """Expiring connections counted per bank, the bank with most first."""
    banks: dict[str, dict[str, Any]] = {}
    for item in items:
        key = item.bank_identifier or "unknown"
        entry = banks.setdefault(
            key,
            {"Bank": key, "Expiring": 0, "Soonest": None},
        )
        entry["Expiring"] += 1
        if entry["Soonest"] is None or item.expires_at < entry["Soonest"]:
            entry["Soonest"] = item.expires_at
    return sorted(banks.values(), key=lambda b: (-b["Expiring"], b["Bank"]))


EXPIRY_CSV_COLUMNS = ("app_user_id", "customer_id", "entity_id", "bank", "expiry")


def expiry_csv(items: Iterable[ExpiringConsent]) -> str:
    """The reconnect campaign list: app_user_id, customer_id, entity_id, bank, expiry."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPIRY_CSV_COLUMNS)
    for item in items:
        writer.writerow(
            [
                csv_safe_cell(item.app_user_id or ""),
                csv_safe_cell(item.customer_id),
                csv_safe_cell(item.entity_id),
                csv_safe_cell(item.bank_identifier or ""),
                item.expires_at.isoformat(),
            ]
        )
    return buffer.getvalue()
