"""Customer lookups for the Customers screen: validate input, call Lean, shape what to show."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlencode

from console.banks import STATE_LABELS
from console.entities import status_words, time_left_words, whole_days
from console.formatting import literal_md, shorten
from lean_api import LeanClient
from lean_api.calls import in_this_context
from lean_api.models import PERMISSIONS, Bank, Customer, Entity

LookupKind = Literal["customer_id", "app_user_id"]
APP_USER_ID_MAX = 256
EXPIRING_SOON = timedelta(days=7)
# Consent statuses after which Lean will not fetch data until the customer reconnects.
NEEDS_RECONNECT = frozenset({"EXPIRED", "REVOKED", "SUSPENDED", "REJECTED"})


class InvalidLookup(ValueError):
    """The operator's input cannot be a valid identifier; no call was made.

    The message is Markdown for the screen: the operator's text in it is shown literally.
    """


@dataclass(frozen=True)
class CustomerQuery:
    """A validated lookup: which identifier, and its value."""

    kind: LookupKind
    value: str


def parse_customer_query(kind: str, raw: str | None) -> CustomerQuery:
    """Check the operator's input before any call; raise `InvalidLookup` with the reason."""
    text = (raw or "").strip()
    if kind == "customer_id":
        if not text:
            raise InvalidLookup("Enter a customer_id.")
        try:
            parsed = uuid.UUID(text)
        except ValueError:
            raise InvalidLookup(
                f"{literal_md(shorten(text))} is not a customer_id. A customer_id is a UUID such as "
                "f08fb010-878f-407a-9ac2-a7840fb56185 (32 hex digits in groups of 8-4-4-4-12)."
            ) from None
        if len(text.replace("-", "")) != 32 or text.startswith(("{", "urn:")):
            raise InvalidLookup(
                f"{literal_md(shorten(text))} is not written as a customer_id UUID."
            )
        return CustomerQuery("customer_id", str(parsed))
    if kind == "app_user_id":
        if not text:
            raise InvalidLookup("Enter an app_user_id.")
        if len(text) > APP_USER_ID_MAX:
            raise InvalidLookup(f"An app_user_id is at most {APP_USER_ID_MAX} characters.")
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
            raise InvalidLookup("An app_user_id cannot contain control characters.")
        return CustomerQuery("app_user_id", text)
    raise InvalidLookup(f"Unknown lookup kind {kind!r}.")


def parse_new_app_user_id(raw: str | None) -> str:
    """Validate an app_user_id for a new customer (same rules as a lookup)."""
    return parse_customer_query("app_user_id", raw).value


def looks_like_uuid(text: str) -> bool:
    """True when `text` is shaped like a UUID (to suggest the right lookup kind)."""
    return bool(re.fullmatch(r"[0-9a-fA-F]{8}(-?[0-9a-fA-F]{4}){3}-?[0-9a-fA-F]{12}", text.strip()))


def guessed_kind(text: str | None) -> str:
    """The lookup a box that takes either id makes: a UUID is a customer_id, anything else an
    app_user_id (an app_user_id that is a UUID is chosen as such on the Customers screen)."""
    return "customer_id" if looks_like_uuid(text or "") else "app_user_id"


# ---------------------------------------------------------------------------------------------
# One customer
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntitySummary:
    """One bank connection as the Customers screen lists it."""

    entity_id: str
    bank_identifier: str
    bank_name: str
    connected_at: datetime | None
    consent_status: str
    consent_expires_at: datetime | None
    consent_expires_in: timedelta | None
    permissions_granted: int
    bank_available: bool | None
    # `available`, `disabled_by_lean`, `disabled_by_us` or `unknown` (console.banks.STATE_LABELS).
    bank_state: str = "unknown"
    granted: tuple[str, ...] = ()

    @property
    def bank_disabled(self) -> bool:
        """Lean or we switched the bank off for data."""
        return self.bank_state in ("disabled_by_lean", "disabled_by_us")

    @property
    def needs_attention(self) -> bool:
        """Anything short of an active consent at an available bank needs someone to look."""
        return self.consent_status != "ACTIVE" or self.bank_disabled

    @property
    def needs_reconnect(self) -> bool:
        """The customer must reconnect before Lean fetches data again."""
        return self.consent_status in NEEDS_RECONNECT

    @property
    def expiring_soon(self) -> bool:
        """Active, but expiring within a week."""
        return (
            self.consent_status == "ACTIVE"
            and self.consent_expires_in is not None
            and self.consent_expires_in <= EXPIRING_SOON
        )


@dataclass(frozen=True)
class CustomerOverview:
    """A customer and their bank connections."""

    customer: Customer
    entities: list[EntitySummary] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """Connections by what the operator has to do about them."""
        return {
            "entities": len(self.entities),
            "active": sum(e.consent_status == "ACTIVE" for e in self.entities),
            "expiring_soon": sum(e.expiring_soon for e in self.entities),
            "needs_reconnect": sum(e.needs_reconnect for e in self.entities),
            "needs_attention": sum(e.needs_attention for e in self.entities),
            "bank_disabled": sum(e.bank_disabled for e in self.entities),
        }


def summarize_entity(entity: Entity, banks: dict[str, Bank], now: datetime) -> EntitySummary:
    """Reduce an entity to what the customer view shows."""
    consent = entity.current_consent
    bank = banks.get(entity.bank_identifier or "")
    status = (consent.effective_status(now) if consent else None) or entity.status or "UNKNOWN"
    return EntitySummary(
        entity_id=entity.id,
        bank_identifier=entity.bank_identifier or "unknown",
        bank_name=bank.display_name if bank else (entity.bank_identifier or "Unknown bank"),
        connected_at=entity.created_at,
        consent_status=status,
        consent_expires_at=consent.expiration_date_time if consent else None,
        consent_expires_in=consent.expires_in(now) if consent else None,
        permissions_granted=len(entity.granted_permissions),
        bank_available=bank.availability.is_available("data") if bank else None,
        bank_state=bank.availability.state("data") if bank else "unknown",
        granted=tuple(entity.granted_permissions),
    )


BANK_ACCOUNT_TYPES = ("PERSONAL", "BUSINESS")


def bank_directory(client: LeanClient) -> dict[str, Bank]:
    """Every bank Lean lists (personal and business), by identifier.

    The two lists are asked for at once (one round trip, not two), each in the caller's context
    (the screen's time budget, who the calls are recorded for); a personal listing wins.
    """
    with ThreadPoolExecutor(len(BANK_ACCOUNT_TYPES), thread_name_prefix="banks") as pool:
        listings = [
            pool.submit(in_this_context(client.list_banks), account_type)
            for account_type in BANK_ACCOUNT_TYPES
        ]
        return merge_bank_listings(listing.result() for listing in listings)


def merge_bank_listings(listings: Iterable[list[Bank]]) -> dict[str, Bank]:
    """Banks by identifier, the first listing naming a bank winning."""
    directory: dict[str, Bank] = {}
    for listing in listings:
        for bank in listing:
            directory.setdefault(bank.identifier, bank)
    return directory


def fetch_customer(client: LeanClient, query: CustomerQuery) -> Customer:
    """The customer the query names; Lean's `NotFoundError` when there is none."""
    if query.kind == "customer_id":
        return client.get_customer(query.value)
    return client.get_customer_by_app_user_id(query.value)


def customer_overview(
    client: LeanClient,
    customer: Customer,
    banks: dict[str, Bank],
    now: datetime | None = None,
) -> CustomerOverview:
    """The customer with their entities, newest connection first."""
    return summarize_customer(customer, client.list_entities(customer.customer_id), banks, now)


def fetch_customer_entities(
    client: LeanClient, query: CustomerQuery
) -> tuple[Customer, list[Entity]]:
    """The customer the query names and their entities, as Lean gave them."""
    customer = fetch_customer(client, query)
    return customer, client.list_entities(customer.customer_id)


def summarize_customer(
    customer: Customer,
    entities: list[Entity],
    banks: dict[str, Bank],
    now: datetime | None = None,
) -> CustomerOverview:
    """The customer with their entities, newest connection first (no call to Lean)."""
    now = now or datetime.now(UTC)
    summaries = sorted(
        (summarize_entity(e, banks, now) for e in entities),
        key=lambda s: s.connected_at or datetime.min.replace(tzinfo=UTC),
        reverse=True,
    )
    return CustomerOverview(customer, summaries)


def entity_table(entities: Iterable[EntitySummary]) -> list[dict[str, Any]]:
    """Rows for the entities table, in the operator's words."""
    rows = []
    for e in entities:
        rows.append(
            {
                "Bank": e.bank_name,
                "Consent": consent_label(e),
                "Bank available": STATE_LABELS.get(e.bank_state, STATE_LABELS["unknown"]),
                "Needs attention": "Yes" if e.needs_attention else "No",
                "Connected": e.connected_at,
                "Consent expires": e.consent_expires_at,
                "Days left": days_left_words(e),
                "Permissions": permissions_words(e),
                "Entity ID": e.entity_id,
                "Bank identifier": e.bank_identifier,
            }
        )
    return rows


def days_left_words(entity: EntitySummary) -> str:
    """Whole days left on the consent ("240 days"), or words when there is no count to give."""
    if entity.consent_expires_at is None or entity.consent_expires_in is None:
        return "no expiry given"
    if entity.consent_expires_in.total_seconds() <= 0:
        return time_left_words(
            entity.consent_expires_at, entity.consent_expires_at - entity.consent_expires_in
        )
    if entity.consent_status != "ACTIVE":
        return "not active"  # the Consent column beside it says which state (whole at 1280 px)
    days = whole_days(entity.consent_expires_in)
    return "less than a day" if days == 0 else (f"{days} day" if days == 1 else f"{days} days")


def permissions_words(entity: EntitySummary) -> str:
    """`5 of 9: identity, accounts, balance, transactions, identities` (all, or none, in words)."""
    count = f"{sum(name in PERMISSIONS for name in entity.granted)} of {len(PERMISSIONS)}"
    if not entity.granted:
        return f"{count}: none"
    if set(PERMISSIONS) <= set(entity.granted):
        return f"{count}: all" + (
            f" + {', '.join(sorted(set(entity.granted) - set(PERMISSIONS)))}"
            if len(entity.granted) > len(PERMISSIONS)
            else ""
        )
    return f"{count}: {', '.join(entity.granted)}"


def ticket_url(page_url: str | None, host: str | None, customer_id: str) -> str:
    """The full link to this customer for a ticket.

    `page_url` is the Customers page as the operator's browser sees it (st.context.url); without
    it, the request's Host header; without that (tests, scripts), the local console.
    """
    query = urlencode({"customer_id": customer_id})
    if page_url and page_url.startswith(("http://", "https://")):
        return f"{page_url.split('?')[0].rstrip('/')}?{query}"
    base = f"http://{host}" if host else "http://localhost:8501"
    return f"{base}/customers?{query}"


def consent_label(entity: EntitySummary) -> str:
    """The consent status in words with Lean's code and, when it matters, how soon it expires."""
    label = status_words(entity.consent_status)
    if entity.expiring_soon and entity.consent_expires_in is not None:
        seconds = entity.consent_expires_in.total_seconds()
        when = f"{seconds / 86400:.0f} d" if seconds >= 86400 else f"{seconds / 3600:.0f} h"
        return f"{label} · expires in {when}"
    return label


# ---------------------------------------------------------------------------------------------
# Many customers
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchResult:
    """Customers whose ids contain the search text, and how much of the list was searched."""

    matches: list[Customer]
    scanned: int
    complete: bool


def search_customers(
    client: LeanClient, text: str, *, limit: int = 200, max_scan: int = 20_000, page_size: int = 200
) -> SearchResult:
    """Case-insensitive substring search over `app_user_id` and `customer_id`.

    Lean has no search endpoint, so this walks the pages; `max_scan` bounds the walk and
    `complete` says whether every customer was looked at.
    """
    needle = text.strip().lower()
    matches: list[Customer] = []
    scanned = 0
    for customer in client.iter_customers(page_size=page_size):
        scanned += 1
        if needle in customer.customer_id.lower() or needle in (customer.app_user_id or "").lower():
            matches.append(customer)
            if len(matches) >= limit:
                return SearchResult(matches, scanned, complete=False)
        if scanned >= max_scan:
            return SearchResult(matches, scanned, complete=False)
    return SearchResult(matches, scanned, complete=True)
