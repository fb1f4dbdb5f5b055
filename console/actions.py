"""What the console does to Lean on an operator's behalf: each action checks the role first and
leaves a line in the audit log, whatever its outcome.

Screens hide what a role cannot use; these functions check again, so a stale page, a crafted
rerun or a new screen that forgets to hide a button still cannot act beyond the role.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from console import audit
from console.access import AccessDenied, Actor, require
from console.book import request_sync
from console.runtime import get_store
from console.store import EventStore
from lean_api.client import LeanClient
from lean_api.config import LeanSettings
from lean_api.errors import LeanError
from lean_api.models import Customer, RefreshTrigger

T = TypeVar("T")


def audited(
    actor: Actor | None,
    action: str,
    subject_kind: str,
    subject: str,
    run: Callable[[], T],
    *,
    store: EventStore | None = None,
    detail: Callable[[T], str] | None = None,
    reason: str | None = None,
) -> T:
    """Check the role, run the action, and audit what happened (denied, failed with Lean's code,
    or done) with the operator's `reason` when one was asked; the outcome is re-raised or
    returned unchanged."""
    book = store or get_store()
    try:
        require(actor, action)
    except AccessDenied:
        audit.record(book, actor, action, subject_kind=subject_kind, subject=subject,
                     outcome="denied", reason=reason)  # fmt: skip
        raise
    try:
        result = run()
    except LeanError as exc:
        words = f"Lean {exc.status_code or ''} {exc.code or ''}".strip()
        if exc.results_id:
            words += f" · results_id {exc.results_id}"
        audit.record(book, actor, action, subject_kind=subject_kind, subject=subject,
                     outcome="failed", detail=words, reason=reason)  # fmt: skip
        raise
    audit.record(book, actor, action, subject_kind=subject_kind, subject=subject,
                 detail=detail(result) if detail else None, reason=reason)  # fmt: skip
    return result


def trigger_refresh(client: LeanClient, entity_id: str, actor: Actor | None) -> RefreshTrigger:
    """Ask Lean to fetch fresh data for the bank connection (admin)."""
    return audited(
        actor, "trigger_refresh", "entity", entity_id,
        lambda: client.trigger_refresh(entity_id),
        detail=lambda trigger: f"refresh_id {trigger.refresh_id}",
    )  # fmt: skip


def create_customer(client: LeanClient, app_user_id: str, actor: Actor | None) -> Customer:
    """Create a Lean customer for `app_user_id` (admin)."""
    return audited(
        actor, "create_customer", "app_user_id", app_user_id,
        lambda: client.create_customer(app_user_id),
        detail=lambda customer: f"customer_id {customer.customer_id}",
    )  # fmt: skip


def start_book_sync(store: EventStore, settings: LeanSettings, actor: Actor | None) -> bool:
    """Start a sync of the book index with Lean now (admin); False when one already runs."""
    return audited(
        actor, "sync_book", "book", "all customers",
        lambda: request_sync(store, settings),
        store=store,
        detail=lambda started: "started" if started else "one was already running",
    )  # fmt: skip
