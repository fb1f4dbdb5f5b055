"""One bank connection (Lean's entity) as the Entity screen shows it: consents in words, the
permission matrix, the accounts each consent covers (masked), and where its customer is found.

Pure shaping over `lean_api` models and stored events; no Streamlit, no calls to Lean.
"""

from __future__ import annotations

import uuid
from collections.abc import Container, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from console.formatting import literal_md
from console.masking import (
    mask_account_name,
    mask_identifier,
    mask_name,
    redact_names,
    scheme_label,
)
from console.store import StoredEvent
from lean_api.models import PERMISSIONS, Account, Bank, Consent, Entity

# Lean's consent (and entity) status words in the operator's words. Colour on screen follows
# the leading word (console.formatting.tone_of), so "Expired …" reads red, "Active …" green.
STATUS_WORDS = {
    "ACTIVE": "Active",
    "AWAITING_AUTHORIZATION": "Waiting for the customer to authorise",
    "EXPIRED": "Expired",
    "REVOKED": "Revoked by the customer",
    "REJECTED": "Rejected during authorisation",
    "SUSPENDED": "Suspended by the bank",
}
PERMISSION_WORDS = {
    "identity": "Identity (the account holder)",
    "accounts": "Accounts",
    "balance": "Balances",
    "transactions": "Transactions",
    "identities": "Identities (per account)",
    "scheduled_payments": "Scheduled payments",
    "standing_orders": "Standing orders",
    "direct_debits": "Direct debits",
    "beneficiaries": "Beneficiaries",
}
GRANTED = "Granted"
NOT_GRANTED = "Not granted"
ENTITY_COLUMN = "Entity (now)"


class InvalidEntityId(ValueError):
    """The text cannot be an entity_id; no call was made. The message is Markdown for the screen."""


def status_words(code: str | None) -> str:
    """`AWAITING_AUTHORIZATION` → "Waiting for the customer to authorise · AWAITING_AUTHORIZATION".

    A word the console does not know is still shown, with Lean's code; None says Lean gave none.
    """
    if code is None or not str(code).strip():
        return "Not given by Lean"
    word = str(code).strip()
    meaning = STATUS_WORDS.get(word.upper())
    if meaning is None:
        return f"Not known to the console · {word}"
    return f"{meaning} · {word}"


def whole_days(delta: timedelta) -> int:
    """Whole days in a duration, rounded towards zero (12.9 days → 12)."""
    return (
        int(delta.total_seconds() // 86400)
        if delta >= timedelta(0)
        else -int(-delta.total_seconds() // 86400)
    )


def plural_days(days: int) -> str:
    """`1 day`, `12 days`."""
    return f"{days} day" if days == 1 else f"{days} days"


def time_left_words(expires_at: datetime | None, now: datetime | None = None) -> str:
    """ "expires in 12 days", "expires within a day", "expired 3 days ago", "expired today"."""
    if expires_at is None:
        return "no expiry given"
    left = expires_at - (now or datetime.now(UTC))
    if left > timedelta(0):
        days = whole_days(left)
        return "expires within a day" if days == 0 else f"expires in {plural_days(days)}"
    days = whole_days(-left)
    return "expired today" if days == 0 else f"expired {plural_days(days)} ago"


def parse_entity_id(raw: str | None) -> str:
    """Check an entity_id before any call (a UUID); raise `InvalidEntityId` with the reason."""
    text = (raw or "").strip()
    if not text:
        raise InvalidEntityId("Enter an entity_id.")
    try:
        parsed = uuid.UUID(text)
    except ValueError:
        parsed = None
    if parsed is None or len(text.replace("-", "")) != 32 or text.startswith(("{", "urn:")):
        shown = text if len(text) <= 60 else text[:59] + "…"
        raise InvalidEntityId(
            f"{literal_md(shown)} is not an entity_id. An entity_id is a UUID such as "
            "a2c45b62-0182-4fd8-85e0-f70ca5297eb5."
        )
    return str(parsed)


def customer_from_events(events: Iterable[StoredEvent]) -> str | None:
    """The customer_id the stored webhooks name for an entity (newest event first), if any."""
    for event in events:
        if event.customer_id:
            return event.customer_id
    return None


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value else "not given"


def _day(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d}" if value else "…"


def ordered_consents(entity: Entity) -> list[Consent]:
    """The entity's consents, newest first (the first is the one that governs it now)."""
    epoch = datetime.min.replace(tzinfo=UTC)
    return sorted(entity.consents, key=lambda c: c.creation_date_time or epoch, reverse=True)


def consent_title(index: int, consent: Consent) -> str:
    """`Consent 1 · a88120ac` (the console's own words and an id prefix, for headers and tabs)."""
    return f"Consent {index + 1} · {(consent.id or 'no id')[:8]}"


@dataclass(frozen=True)
class ConsentView:
    """One consent as the screen lists it."""

    title: str
    current: bool
    status: str
    effective_status: str | None
    created: str
    status_updated: str
    expires: str
    time_left: str
    transaction_window: str
    accounts: int
    permissions_granted: int
    consent_id: str
    bank_consent_id: str


def consent_views(entity: Entity, now: datetime | None = None) -> list[ConsentView]:
    """Every consent of the entity in words, newest first."""
    now = now or datetime.now(UTC)
    views = []
    for index, consent in enumerate(ordered_consents(entity)):
        effective = consent.effective_status(now)
        status = status_words(consent.consent_status)
        if effective != consent.consent_status:
            # Lean still says ACTIVE after the expiry passed: say both.
            status = f"{status_words(effective)} (Lean still says {consent.consent_status})"
        views.append(
            ConsentView(
                title=consent_title(index, consent),
                current=index == 0,
                status=status,
                effective_status=effective,
                created=_when(consent.creation_date_time),
                status_updated=_when(consent.status_update_date_time),
                expires=_when(consent.expiration_date_time),
                time_left=time_left_words(consent.expiration_date_time, now),
                transaction_window=f"{_day(consent.transaction_from_date_time)} – "
                f"{_day(consent.transaction_to_date_time)}",
                accounts=len(consent.accounts),
                permissions_granted=sum(consent.permissions.values()),
                consent_id=consent.id or "",
                bank_consent_id=consent.bank_consent_id or "",
            )
        )
    return views


def consent_rows(entity: Entity, now: datetime | None = None) -> list[dict[str, Any]]:
    """Rows for the consents table."""
    return [
        {
            "Consent": view.title + (" (current)" if view.current else ""),
            "Status": view.status,
            "Created": view.created,
            "Status updated": view.status_updated,
            "Expires": view.expires,
            "Time left": view.time_left,
            "Transactions from – to": view.transaction_window,
            "Account identifiers": view.accounts,
            "consent id": view.consent_id,
            "bank consent id": view.bank_consent_id,
        }
        for view in consent_views(entity, now)
    ]


def permission_names(entity: Entity) -> list[str]:
    """Lean's nine permissions in order, then any unknown ones the entity or a consent names."""
    unknown: set[str] = set()
    for permissions in [entity.permissions, *(c.permissions for c in entity.consents)]:
        unknown.update(name for name in permissions if name not in PERMISSIONS)
    return [*PERMISSIONS, *sorted(unknown)]


def permission_label(name: str) -> str:
    """`scheduled_payments` → "Scheduled payments · scheduled_payments"; unknown names as given."""
    words = PERMISSION_WORDS.get(name)
    return f"{words} · {name}" if words else f"Not known to the console · {name}"


def permission_matrix(entity: Entity) -> list[dict[str, str]]:
    """One row per permission; one column per consent (newest first) and one for the entity."""
    consents = ordered_consents(entity)
    rows = []
    for name in permission_names(entity):
        row = {"Permission": permission_label(name)}
        for index, consent in enumerate(consents):
            row[consent_title(index, consent)] = (
                GRANTED if consent.permissions.get(name) else NOT_GRANTED
            )
        row[ENTITY_COLUMN] = GRANTED if entity.permissions.get(name) else NOT_GRANTED
        rows.append(row)
    return rows


def consent_account_item(consent: Consent, index: int) -> str:
    """The reveal item of one identifier a consent covers (`consent:<id>:0`)."""
    return f"consent:{consent.id or ''}:{index}"


def account_rows(
    consent: Consent, *, reveal: bool = False, revealed: Container[str] = ()
) -> list[dict[str, str]]:
    """The accounts a consent covers, one identifier a row; the identifier and the account's name
    (banks name accounts after their holder) masked unless `reveal` or the row's item
    (`consent_account_item`) is in `revealed`."""
    rows = []
    for index, account in enumerate(consent.accounts):
        raw = account.identification or ""
        shown = reveal or consent_account_item(consent, index) in revealed
        name = account.name or ""
        rows.append(
            {
                "Account": (name if shown else mask_account_name(name)) or "(no name given)",
                "Scheme": scheme_label(account.scheme_name),
                "Identifier": raw if shown else mask_identifier(account.scheme_name, raw),
                "Lean scheme": account.scheme_name or "",
            }
        )
    return rows


def account_choices(consent: Consent) -> dict[str, str]:
    """The consent's identifiers as "Reveal a row" offers them: `IBAN SA04 •••• •••• •• 0I`."""
    return {
        consent_account_item(consent, index): f"{scheme_label(account.scheme_name)} "
        f"{mask_identifier(account.scheme_name, account.identification) or '(none)'}"
        for index, account in enumerate(consent.accounts)
    }


@dataclass(frozen=True)
class BankView:
    """The entity's bank: names, identifier, and a logo only when Lean's bank list gives one."""

    identifier: str
    name: str
    arabic_name: str
    logo_url: str | None


def bank_view(entity: Entity, banks: dict[str, Bank]) -> BankView:
    """The bank from Lean's bank list; the entity's own identifier when the list lacks it.

    The logo comes only from the bank list and only over https; the webhook's `bank_details`
    are never used for an image.
    """
    identifier = entity.bank_identifier or ""
    bank = banks.get(identifier)
    if bank is None:
        return BankView(identifier or "unknown", identifier or "Unknown bank", "", None)
    logo = (bank.logo or "").strip()
    return BankView(
        identifier=bank.identifier,
        name=bank.display_name,
        arabic_name=bank.commercial_name_arabic or bank.arabic_name or "",
        logo_url=logo if logo.lower().startswith("https://") else None,
    )


def data_account_item(account_id: str) -> str:
    """The reveal item of one account of Lean's data API (`account:<account_id>`)."""
    return f"account:{account_id}"


def data_account_rows(
    accounts: Iterable[Account], *, reveal: bool = False, revealed: Container[str] = ()
) -> list[dict[str, Any]]:
    """The entity's accounts as Lean's data API describes them; identifiers and the holder's
    name masked unless `reveal` or the account's item (`data_account_item`) is in `revealed`."""
    rows = []
    for account in accounts:
        shown = reveal or data_account_item(account.account_id) in revealed
        holders = [
            account.account_holder_name,
            field_of_extra(account, "account_holder_short_name"),
        ]
        identifiers = {
            scheme_label(i.scheme_name): (
                i.identification or ""
                if shown
                else mask_identifier(i.scheme_name, i.identification)
            )
            for i in account.account
        }
        name = account.nickname or account.description or "(no name given)"
        holder = account.account_holder_name or ""
        rows.append(
            {
                "Account": name if shown else redact_names(name, holders),
                "Holder": (holder if shown else mask_name(holder)) or "(not given)",
                "Type": " / ".join(
                    t for t in (account.account_type, account.account_sub_type) if t
                ),
                "Status": account.status or "not given",
                "Currency": account.currency or "",
                "Opened": f"{account.opening_date:%Y-%m-%d}" if account.opening_date else "",
                "Identifiers": " · ".join(f"{k} {v}" for k, v in identifiers.items() if v),
                "account_id": account.account_id,
            }
        )
    return rows


def data_account_choices(accounts: Iterable[Account]) -> dict[str, str]:
    """The accounts as "Reveal a row" offers them: `Current Account · SA04 •••• •••• •• 0I`."""
    choices = {}
    for account in accounts:
        holders = [
            account.account_holder_name,
            field_of_extra(account, "account_holder_short_name"),
        ]
        name = redact_names(account.nickname or account.description or "Account", holders)
        iban = account.iban
        choices[data_account_item(account.account_id)] = " · ".join(
            p for p in (name, mask_identifier("IBAN", iban) if iban else "") if p
        )
    return choices


def field_of_extra(model: Any, name: str) -> str | None:
    """A field the model names, or one it kept among its extras (Lean's newer keys)."""
    value = getattr(model, name, None)
    if value is None:
        value = (getattr(model, "model_extra", None) or {}).get(name)
    return str(value) if value else None
