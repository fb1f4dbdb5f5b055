"""What the console does to Lean on an operator's behalf: each action checks the role first.

Screens hide what a role cannot use; these functions check again, so a stale page, a crafted
rerun or a new screen that forgets to hide a button still cannot act beyond the role.
"""

from __future__ import annotations

from console.access import Actor, require
from console.book import request_sync
from console.store import EventStore
from lean_api.client import LeanClient
from lean_api.config import LeanSettings
from lean_api.models import Customer, RefreshTrigger


def trigger_refresh(client: LeanClient, entity_id: str, actor: Actor | None) -> RefreshTrigger:
    """Ask Lean to fetch fresh data for the bank connection (admin)."""
    require(actor, "trigger_refresh")
    return client.trigger_refresh(entity_id)


def create_customer(client: LeanClient, app_user_id: str, actor: Actor | None) -> Customer:
    """Create a Lean customer for `app_user_id` (admin)."""
    require(actor, "create_customer")
    return client.create_customer(app_user_id)


def start_book_sync(store: EventStore, settings: LeanSettings, actor: Actor | None) -> bool:
    """Start a sync of the book index with Lean now (admin); False when one already runs."""
    require(actor, "sync_book")
    return request_sync(store, settings)
