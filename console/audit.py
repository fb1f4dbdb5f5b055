"""The audit log: who looked at which customer or bank connection, and every action, with its
outcome. Written by the console, never changed or removed by it (the database refuses too)."""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select

from console.access import Actor
from console.formatting import csv_safe_cell
from console.store import (
    EventStore,
    StoreRejected,
    StoreUnavailable,
    _aware,
    _fit_row,
    audit_log,
)

log = logging.getLogger(__name__)

# What the log calls each thing an operator can do (the admin screen filters on these).
ACTIONS = {
    "view_customer": "looked up a customer",
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


def search(
    store: EventStore,
    *,
    actor: str | None = None,
    action: str | None = None,
    subject: str | None = None,
    since: datetime | None = None,
    limit: int = 1000,
) -> list[AuditEntry]:
    """The newest lines first, filtered; `actor` and `subject` match exactly (case-insensitive
    for the actor's e-mail)."""
    store.migrate()
    statement = select(audit_log).order_by(audit_log.c.at.desc(), audit_log.c.id.desc())
    if actor:
        statement = statement.where(audit_log.c.actor == actor.strip().lower())
    if action:
        statement = statement.where(audit_log.c.action == action)
    if subject:
        statement = statement.where(audit_log.c.subject == subject.strip())
    if since is not None:
        statement = statement.where(audit_log.c.at >= since)
    with store.connect() as conn:
        rows = conn.execute(statement.limit(max(1, min(limit, 10_000)))).mappings().all()
    return [
        AuditEntry(
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
        for row in rows
    ]


def audit_rows(entries: list[AuditEntry]) -> list[dict[str, str]]:
    """Rows for the admin screen's table (text only: shown literally)."""
    return [
        {
            "When (UTC)": entry.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "Who": entry.actor,
            "Role": entry.role,
            "Did": entry.action_words,
            "Outcome": entry.outcome,
            "Of": entry.subject_kind or "",
            "Id": entry.subject or "",
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
