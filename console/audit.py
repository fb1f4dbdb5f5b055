"""The audit log: who looked at which customer or bank connection, and every action, with its
outcome. Written by the console, never changed or removed by it (the database refuses too)."""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, insert, literal, or_, select, true

from console.access import Actor
from console.formatting import csv_safe_cell, rows_words
from console.identifiers import canonical_uuid
from console.store import (
    EventStore,
    StoreRejected,
    StoreUnavailable,
    _aware,
    _fit_row,
    audit_log,
    index_customers,
    index_entities,
)

log = logging.getLogger(__name__)

# What the log calls each thing an operator can do (the admin screen filters on these).
ACTIONS = {
    "view_customer": "looked up a customer",
    "reload_customer": "asked Lean for a customer again",
    "view_entity": "opened a bank connection",
    "view_data": "opened a connection's accounts and data",
    "view_refreshes": "opened a connection's data refreshes",
    "reveal": "showed personal data unmasked",
    "create_customer": "created a customer",
    "connect_bank": "connected a bank through Link",
    "trigger_refresh": "triggered a data refresh",
    "verify_ownership": "verified entity ownership",
    "sync_book": "started a sync with Lean",
    "export": "exported data",
    "view_audit_log": "searched the audit log",
    "triage": "triaged a customer",
    "view_dead_letter": "opened a dead letter",
    "reprocess_dead_letter": "reprocessed a dead letter",
}
OUTCOMES = ("ok", "denied", "failed")


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit log."""

    at: datetime
    actor: str
    role: str
    how: str
    action: str
    subject_kind: str | None
    subject: str | None
    outcome: str
    detail: str | None
    reason: str | None

    @property
    def action_words(self) -> str:
        """The action as a sentence fragment ("triggered a data refresh")."""
        return ACTIONS.get(self.action, self.action)


def record(
    store: EventStore,
    actor: Actor | None,
    action: str,
    *,
    subject_kind: str | None = None,
    subject: str | None = None,
    outcome: str = "ok",
    detail: str | None = None,
    reason: str | None = None,
) -> bool:
    """Append one line; False (and an error in the server log) when the database refused it.

    Never raises: an operator's work is not lost to a full disk, and the failure is visible to
    whoever runs the console.
    """
    values = _fit_row(
        audit_log,
        {
            "at": datetime.now(UTC),
            "actor": actor.email.strip().lower() if actor else "nobody signed in",
            "role": actor.role.word if actor else "none",
            "how": actor.how if actor else "none",
            "action": action,
            "subject_kind": subject_kind,
            "subject": subject,
            "outcome": outcome if outcome in OUTCOMES else "failed",
            "detail": detail,
            "reason": reason,
        },
    )
    try:
        store.migrate()
        with store.connect(write=True) as conn:
            conn.execute(insert(audit_log).values(**values))
    except (StoreUnavailable, StoreRejected) as exc:
        log.error("audit log not written (%s %s): %s", action, outcome, exc)
        return False
    return True


@dataclass(frozen=True)
class SubjectQuery:
    """What the screen's "Subject" box asks for: lines whose subject is `text` or starts with it
    (the first characters of an id, as tables show them), and those of `related` subjects: the
    customer an app_user_id names in the book index, and that customer's bank connections."""

    text: str
    related: tuple[str, ...] = ()
    # The customer the text was taken to mean (its own id, or the one its app_user_id names).
    customer_id: str | None = None
    by_app_user_id: bool = False
    connections: int = 0


def subject_query(store: EventStore, text: str) -> SubjectQuery:
    """`text` with the subjects it also means, from the book index (never Lean): an app_user_id
    or a customer_id brings the customer's id and its bank connections' ids."""
    text = text.strip()
    if not text or len(text) > 256:
        return SubjectQuery(text)
    store.migrate()
    with store.connect() as conn:
        by_app_user = conn.execute(
            select(index_customers.c.customer_id)
            .where(index_customers.c.app_user_id == text)
            .limit(2)
        ).scalars().all()  # fmt: skip
        # An app_user_id two customers share names neither: the text alone is searched.
        customer_id = by_app_user[0] if len(by_app_user) == 1 else None
        if customer_id is None:
            customer_id = conn.execute(
                select(index_customers.c.customer_id).where(
                    index_customers.c.customer_id == (canonical_uuid(text) or text.lower())
                )
            ).scalar()
        if customer_id is None:
            return SubjectQuery(text)
        entity_ids = tuple(
            conn.execute(
                select(index_entities.c.entity_id)
                .where(index_entities.c.customer_id == customer_id)
                .order_by(index_entities.c.entity_id)
                .limit(MAX_RELATED)
            ).scalars()
        )
    return SubjectQuery(
        text,
        (customer_id, *entity_ids),
        customer_id=customer_id,
        by_app_user_id=len(by_app_user) == 1,
        connections=len(entity_ids),
    )


# A customer's bank connections searched with it; more is not one customer's book.
MAX_RELATED = 200


def _filters(
    *,
    dialect: str,
    actor: str | None = None,
    action: str | None = None,
    subject: str | SubjectQuery | None = None,
    since: datetime | None = None,
) -> list[Any]:
    conditions: list[Any] = []
    if actor:
        conditions.append(audit_log.c.actor == actor.strip().lower())
    if action:
        conditions.append(audit_log.c.action == action)
    query = SubjectQuery(subject.strip()) if isinstance(subject, str) else subject
    if query is not None and query.text:
        # A whole UUID as the log writes it, however it was pasted.
        text = canonical_uuid(query.text) or query.text
        # Ids are stored in lower case: the start of one pasted from an upper-case ticket is
        # looked for lowered (an app_user_id is case-sensitive: only hex digits are lowered).
        # One range, not the text and its lower case OR'd: with its bounds unknown to the
        # planner, SQLite read two ranges by time instead (90 ms at 50,000 lines).
        start = text.lower() if _ID_START.fullmatch(text) else text
        subject_is = [_starts_with(start, dialect)]
        if query.related:
            subject_is.append(audit_log.c.subject.in_(query.related))
        # The audit log's own searches name the text searched: found by "Did", not here. Apart
        # from the OR, so that each of its terms is an index's (SQLite scanned by time else).
        conditions += [or_(*subject_is), audit_log.c.action != "view_audit_log"]
    if since is not None:
        conditions.append(audit_log.c.at >= since)
    return conditions


_ID_START = re.compile(r"[0-9A-Fa-f-]+")


def _starts_with(text: str, dialect: str) -> Any:
    """Subjects starting with `text`, through an index on either database (`substr(...) = text`
    scanned every line of the period: 3.5 s at a million lines). SQLite compares bytes, so the
    prefix is a range; PostgreSQL orders by its collation, where a range is not a prefix, so a
    `LIKE` the `text_pattern_ops` index answers (schema step 11)."""
    if dialect == "postgresql":
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return audit_log.c.subject.like(escaped + "%")
    at_least = audit_log.c.subject >= text
    last = ord(text[-1])
    if last >= 0x10FFFF:
        return and_(at_least, func.substr(audit_log.c.subject, 1, len(text)) == text)
    return and_(at_least, audit_log.c.subject < text[:-1] + chr(last + 1))


def search(
    store: EventStore,
    *,
    actor: str | None = None,
    action: str | None = None,
    subject: str | SubjectQuery | None = None,
    since: datetime | None = None,
    limit: int = 1000,
) -> list[AuditEntry]:
    """The newest lines first, filtered; `actor` matches exactly (case-insensitive), `subject`
    whole or as the start of a line's subject (see `SubjectQuery`)."""
    store.migrate()
    statement = (
        select(audit_log)
        .where(
            *_filters(
                dialect=store.dialect, actor=actor, action=action, subject=subject, since=since
            )
        )
        .order_by(audit_log.c.at.desc(), audit_log.c.id.desc())
    )
    with store.connect() as conn:
        rows = conn.execute(statement.limit(max(1, min(limit, 10_000)))).mappings().all()
    return [_entry(row) for row in rows]


def _entry(row: Any) -> AuditEntry:
    return AuditEntry(
        at=_aware(row["at"]) or datetime.now(UTC),
        actor=row["actor"],
        role=row["role"],
        how=row["how"],
        action=row["action"],
        subject_kind=row["subject_kind"],
        subject=row["subject"],
        outcome=row["outcome"],
        detail=row["detail"],
        reason=row["reason"],
    )


# ---------------------------------------------------------------------------------------------
# The admin screen's pages: keyset on (at, id), newest first, the cursor a line's id in the URL
# ---------------------------------------------------------------------------------------------

PAGE_SIZE = 50


@dataclass(frozen=True)
class AuditPage:
    """One page of the audit log and where the reader can go from it."""

    entries: list[AuditEntry]
    total: int  # matching lines when the page was read
    start: int  # position of the first line in the list, from 0
    newer: int | None  # `before` of the previous page (0: the first page); None on the first
    older: int | None  # `before` of the next page; None on the last
    # `before` named no line of the log (a mistyped or foreign link): this is the first page.
    cursor_unknown: bool = False

    @property
    def position_words(self) -> str:
        """ "lines 1–13 of 13", "line 4 of 4": the count is exact (read with the page), so
        never "about"."""
        return rows_words(self.start, len(self.entries), self.total, exact=True, noun="line")


def _cursor(before: int) -> tuple[Any, Any]:
    at = select(audit_log.c.at).where(audit_log.c.id == before).scalar_subquery()
    return at, literal(before)


def _older_than(before: int) -> Any:
    at, row_id = _cursor(before)
    return or_(audit_log.c.at < at, and_(audit_log.c.at == at, audit_log.c.id < row_id))


def _at_or_newer_than(before: int) -> Any:
    at, row_id = _cursor(before)
    return or_(audit_log.c.at > at, and_(audit_log.c.at == at, audit_log.c.id >= row_id))


def audit_page(
    store: EventStore,
    *,
    actor: str | None = None,
    action: str | None = None,
    subject: str | SubjectQuery | None = None,
    since: datetime | None = None,
    before: int | None = None,
    page_size: int = PAGE_SIZE,
) -> AuditPage:
    """The page of matching lines just after line `before` (the first page when None), newest
    first. Lines added while the reader pages never shift a page: the cursor is a line."""
    store.migrate()
    size = max(1, min(page_size, 1000))
    matching = and_(
        true(),
        *_filters(dialect=store.dialect, actor=actor, action=action, subject=subject, since=since),
    )
    here = and_(matching, _older_than(before)) if before else matching
    order = (audit_log.c.at.desc(), audit_log.c.id.desc())
    with store.connect() as conn:
        cursor_unknown = bool(before) and (
            conn.execute(select(audit_log.c.id).where(audit_log.c.id == before)).first() is None
        )
        if cursor_unknown:
            before, here = None, matching
        rows = conn.execute(
            select(audit_log).where(here).order_by(*order).limit(size + 1)
        ).mappings().all()  # fmt: skip
        total = int(
            conn.execute(select(func.count()).select_from(audit_log).where(matching)).scalar()
        )
        start, newer = 0, None
        if before:
            above = and_(matching, _at_or_newer_than(before))
            start = int(
                conn.execute(select(func.count()).select_from(audit_log).where(above)).scalar()
            )
            nearest = list(
                conn.execute(
                    select(audit_log.c.id)
                    .where(above)
                    .order_by(audit_log.c.at.asc(), audit_log.c.id.asc())
                    .limit(size + 1)
                ).scalars()
            )
            newer = int(nearest[size]) if len(nearest) > size else 0
    shown = rows[:size]
    return AuditPage(
        entries=[_entry(row) for row in shown],
        total=total,
        start=start,
        newer=newer,
        older=int(shown[-1]["id"]) if len(rows) > size else None,
        cursor_unknown=cursor_unknown,
    )


def export_csv(
    store: EventStore,
    *,
    actor: str | None = None,
    action: str | None = None,
    subject: str | SubjectQuery | None = None,
    since: datetime | None = None,
    max_rows: int = 50_000,
    masked: Callable[[AuditEntry], AuditEntry] = lambda e: e,
) -> str:
    """Every matching line (newest first, at most `max_rows`) as CSV, read page by page."""
    entries: list[AuditEntry] = []
    before: int | None = None
    while len(entries) < max_rows:
        page = audit_page(
            store, actor=actor, action=action, subject=subject, since=since, before=before,
            page_size=min(1000, max_rows - len(entries)),
        )  # fmt: skip
        entries.extend(masked(e) for e in page.entries)
        if page.older is None:
            break
        before = page.older
    return audit_csv(entries)


def audit_rows(entries: list[AuditEntry]) -> list[dict[str, str]]:
    """Rows for the admin screen's table (text only: shown literally)."""
    return [
        {
            "When (UTC)": entry.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "Who": entry.actor,
            "Role": entry.role,
            "Did": entry.action_words,
            "Outcome": entry.outcome,
            "Subject kind": entry.subject_kind or "",
            "Subject": entry.subject or "",
            "Detail": entry.detail or "",
            "Reason given": entry.reason or "",
        }
        for entry in entries
    ]


def audit_csv(entries: list[AuditEntry]) -> str:
    """The entries as CSV for an auditor; cells a spreadsheet would run as formulas are
    neutralised."""
    out = io.StringIO()
    rows = audit_rows(entries)
    writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["When (UTC)"])
    writer.writeheader()
    for row in rows:
        writer.writerow({key: csv_safe_cell(value) for key, value in row.items()})
    return out.getvalue()
