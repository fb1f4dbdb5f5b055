"""The embedded Lean sandbox: a real HTTP implementation of the Lean endpoints the console uses.

Lean's envelopes, error bodies and status codes; an OAuth token endpoint that issues JWTs with
`exp` and refuses wrong credentials or scopes; deterministic seed data; fault injection.
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
import secrets
import threading
import time
import uuid
from collections import Counter, OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import jwt
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox import incidents
from sandbox import seed as seedlib
from sandbox.faults import FaultConfig, FaultInjector, FaultMiddleware
from sandbox.seed import SandboxData, SeedAccount, SeedCustomer, SeedEntity, SeedRefresh

log = logging.getLogger(__name__)

UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
APP_USER_ID_RE = re.compile(r"^[\w.@:+\-]{1,128}$")
MAX_PAGE_SIZE = 500
# Tokens whose claims the sandbox keeps after issuing them (each process asks for one an hour).
ISSUED_TOKENS_KEPT = 1024


@dataclass
class SandboxConfig:
    """How the sandbox behaves: credentials, token lifetime, refresh duration, seed."""

    client_id: str = "3f0e9c2a-7b1d-4c8e-9a6f-5d2b1e0c4a77"
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    token_ttl: int = 3599
    refresh_seconds: float = 8.0
    seed: int = 2026
    anchor: datetime | None = None
    faults: FaultConfig = field(default_factory=FaultConfig)

    def __repr__(self) -> str:
        return f"SandboxConfig(client_id={self.client_id!r}, seed={self.seed}, token_ttl={self.token_ttl})"


def _now() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime | date | None, digits: int = 6) -> str | None:
    """Lean-style timestamps: UTC with a `Z` and `digits` fractional digits (0, 3, 6 or 9).

    Lean's precision depends on the object, so each serialiser says which one its field has
    (Lean's examples: 9 on envelopes and errors, 6 on entities, 3 on consent windows and
    refreshes, 0 on booking dates). Nine digits from a datetime pad its microseconds.
    """
    if value is None:
        return None
    if not isinstance(value, datetime):
        return value.isoformat()
    value = value.astimezone(UTC)
    whole = value.strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{value.microsecond:06d}000"[:digits]
    return f"{whole}.{fraction}Z" if digits else f"{whole}Z"


def now_stamp() -> str:
    """Now at Lean's nanosecond precision (the `timestamp` of envelopes and errors)."""
    ns = time.time_ns()
    whole = datetime.fromtimestamp(ns // 1_000_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{whole}.{ns % 1_000_000_000:09d}Z"


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return iso(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class LeanJSONResponse(JSONResponse):
    """JSON with Lean's timestamp and amount formats."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, default=_json_default, ensure_ascii=False).encode()


class LeanErrorResponse(Exception):
    """Raised inside a handler to answer with Lean's error envelope."""

    def __init__(self, status_code: int, code: str, message: str) -> None:
        self.status_code = status_code
        self.code = code
        self.message = message


# Lean's refresh errors carry no `results_id` (its 403 and 429 examples); the others do.
ERRORS_WITHOUT_RESULTS_ID = frozenset({"CONSENT_EXPIRED", "DUPLICATED_REQUEST"})


def error_body(code: str, message: str) -> dict[str, Any]:
    """Lean's error envelope."""
    body: dict[str, Any] = (
        {} if code in ERRORS_WITHOUT_RESULTS_ID else {"results_id": str(uuid.uuid4())}
    )
    body.update({"timestamp": now_stamp(), "status": code, "message": message, "metadata": None})
    return body


class SandboxState:
    """The sandbox's data plus what changed since start (new customers, refreshes)."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.data: SandboxData = seedlib.generate(config.seed, config.anchor)
        # Re-entrant: an API call may check and then start a refresh under one hold.
        self.lock = threading.RLock()
        self.signing_key = secrets.token_bytes(32)
        # The key and claims of the tokens issued last, by token: a call with one of them is not
        # verified again (a fifth of a call's work here) while that key signs; other tokens are.
        self.issued_tokens: OrderedDict[str, tuple[bytes, dict[str, Any]]] = OrderedDict()
        self.stats: Counter[str] = Counter()
        # The last requests that reached a handler, for tests and debugging: (method, path).
        self.request_log: deque[tuple[str, str]] = deque(maxlen=2000)
        self.customer_order: list[str] = sorted(
            self.data.customers, key=lambda cid: (self.data.customers[cid].created_at, cid)
        )
        # Availability changes at run time (the webhook emitter flips banks), so it lives here.
        self.bank_availability: dict[str, dict[str, dict[str, bool]]] = {
            bank.identifier: {
                "active": {"payments": bank.active_payments, "data": bank.active_data},
                "enabled": {"payments": bank.enabled_payments, "data": bank.enabled_data},
            }
            for bank in self.data.banks
        }
        # Listeners (the webhook emitter) hear about refreshes and customers made at run time.
        self.listeners: list[Callable[[str, Any], None]] = []

    def notify(self, kind: str, obj: Any) -> None:
        """Tell listeners something happened (never fails the request)."""
        for listener in list(self.listeners):
            try:
                listener(kind, obj)
            except Exception:  # a listener must not break the API call that triggered it
                log.exception("sandbox listener failed on %s", kind)

    def start_refresh(self, entity: SeedEntity, now: datetime, rng: random.Random) -> SeedRefresh:
        """Start a refresh of `entity` now, with outcomes drawn from `rng`, and announce it."""
        customer = self.data.customers[entity.customer_id]
        entity_level, per_account = seedlib.refresh_outcome(rng, entity, now)
        refresh = SeedRefresh(
            str(uuid.uuid4()), entity.entity_id, customer.customer_id, customer.app_user_id,
            now, now + timedelta(seconds=self.config.refresh_seconds), entity_level, per_account,
        )  # fmt: skip
        with self.lock:
            entity.refreshes.append(refresh)
            self.data.refreshes[refresh.refresh_id] = refresh
        self.notify("refresh.created", refresh)
        return refresh

    # -- lookups that raise Lean's errors ----------------------------------------------------

    def customer(self, customer_id: str) -> SeedCustomer:
        """A customer by id, or Lean's 400/404."""
        _require_uuid("customer_id", customer_id)
        customer = self.data.customers.get(customer_id.lower())
        if customer is None:
            raise LeanErrorResponse(
                404,
                "UNKNOWN_CUSTOMER",
                "The customer_id provided did not match a customer in our records.",
            )
        return customer

    def entity(self, entity_id: str | None) -> SeedEntity:
        """An entity by id, or Lean's 400/404."""
        _require_uuid("entity_id", entity_id)
        entity = self.data.entities.get((entity_id or "").lower())
        if entity is None:
            raise LeanErrorResponse(
                404,
                "UNKNOWN_ENTITY",
                "The entity_id provided did not match an account in our records.",
            )
        return entity

    def account(self, entity: SeedEntity, account_id: str) -> SeedAccount:
        """An account of an entity, or Lean's 400/404."""
        _require_uuid("account_id", account_id)
        account = self.data.accounts.get(account_id.lower())
        if account is None or account.entity_id != entity.entity_id:
            raise LeanErrorResponse(
                404,
                "UNKNOWN_ACCOUNT",
                "The account_id provided did not match an account in our records.",
            )
        return account


def _require_uuid(name: str, value: str | None) -> None:
    if not value or not UUID_RE.match(value):
        raise LeanErrorResponse(
            400,
            "INVALID_PARAMETERS",
            f"The request is badly formatted or a parameter of the wrong type has been provided, field: {name}, value: {value}.",
        )


def _page_params(
    request: Request, number_key: str, size_key: str, default_size: int = 50
) -> tuple[int, int]:
    try:
        number = int(request.query_params.get(number_key, 0))
        size = int(request.query_params.get(size_key, default_size))
    except ValueError:
        raise LeanErrorResponse(
            400, "INVALID_PARAMETERS", f"{number_key} and {size_key} must be integers."
        ) from None
    if number < 0 or not 1 <= size <= MAX_PAGE_SIZE:
        raise LeanErrorResponse(
            400,
            "INVALID_PARAMETERS",
            f"{number_key} must be >= 0 and {size_key} between 1 and {MAX_PAGE_SIZE}.",
        )
    return number, size


def _paginate(items: list[Any], number: int, size: int) -> tuple[list[Any], dict[str, Any]]:
    total = len(items)
    pages = (total + size - 1) // size
    return items[number * size : (number + 1) * size], {
        "number": number,
        "size": size,
        "total_elements": total,
        "total_pages": pages,
        "sort": None,
    }


# ---------------------------------------------------------------------------------------------
# Serialisers: seed objects -> Lean payloads
# ---------------------------------------------------------------------------------------------


def customer_json(customer: SeedCustomer) -> dict[str, Any]:
    """A customer as Lean returns it."""
    return {"customer_id": customer.customer_id, "app_user_id": customer.app_user_id}


def consent_status_at(consent: seedlib.SeedConsent, now: datetime) -> str:
    """A consent's status as Lean would report it at `now`."""
    if consent.status == "ACTIVE" and consent.expires <= now:
        return "EXPIRED"
    return consent.status


def consent_accounts(entity: SeedEntity) -> list[dict[str, Any]]:
    """The account identifiers a consent covers, in the order and schemes Lean's examples show.

    Per account: its IBAN, the holder's national ID when the bank reports one, a masked card
    number for cards, then the account number. Only the IBAN and account number carry a name.
    """
    national_id = seedlib.reports_national_id(entity.entity_id)
    rows: list[dict[str, Any]] = []

    def add(scheme: str, identification: str, name: str | None) -> None:
        rows.append(
            {
                "scheme_name": scheme,
                "identification": identification,
                "name": name,
                "secondary_identification": None,
            }
        )

    for account in entity.accounts:
        label = f"{account.holder.name_en} {account.sub_type.replace('_', ' ').title()} Account"
        add("IBAN", account.iban, label)
        if national_id:
            add("NATIONAL_ID", account.holder.national_id, None)
        if account.masked_pan:
            add("MASKED_PAN", account.masked_pan, None)
        add("ACCOUNT_NUMBER", account.bban, label)
    return rows


def entity_json(entity: SeedEntity, now: datetime, listing: bool = False) -> dict[str, Any]:
    """An entity with its consents, as the entity API returns it (permissions as a map).

    The entity's own `status` is the connection's (ACTIVE while it exists), not its consent's: a
    revoked consent leaves the entity ACTIVE. Lean sends it, with `updated_at`, only in the
    entities-by-date-range listing (`listing=True`); per customer and by id it omits both.
    Precisions as Lean's: 6 digits on the entity and a consent's own times, 3 on its window.
    """
    accounts = consent_accounts(entity)
    consents = []
    for consent in entity.consents:
        status = consent_status_at(consent, now)
        lapsed_now = status == "EXPIRED" and consent.status == "ACTIVE"
        consents.append(
            {
                "id": consent.id,
                "bank_consent_id": consent.bank_consent_id,
                "bank_identifier": None,
                "consent_type": None,
                "consent_status": status,
                "standard_consent_status": None,
                "permissions": consent.permissions,
                "creation_date_time": iso(consent.created, 6),
                "status_update_date_time": iso(
                    consent.expires if lapsed_now else consent.status_updated, 6
                ),
                "expiration_date_time": iso(consent.expires, 3),
                "transaction_from_date_time": iso(consent.transactions_from, 3),
                "transaction_to_date_time": iso(consent.transactions_to, 3),
                "accounts": accounts,
            }
        )
    body: dict[str, Any] = {
        "id": entity.entity_id,
        "customer_id": entity.customer_id,
        "bank_identifier": entity.bank.identifier,
        "permissions": entity.permissions,
        "bank_type": "RETAIL",
        "created_at": iso(entity.created_at, 6),
        "consents": consents,
    }
    if listing:
        body["status"] = "ACTIVE"
        body["updated_at"] = iso(entity.created_at, 6)
    return body


def bank_json(
    bank: seedlib.BankProfile, account_type: str, availability: dict[str, dict[str, bool]]
) -> dict[str, Any]:
    """A bank as `/banks/v1/` returns it."""
    return {
        "identifier": bank.identifier,
        "name": bank.name,
        "arabic_name": bank.arabic_name,
        "commercial_name": bank.name,
        "commercial_name_arabic": bank.arabic_name,
        "logo": f"https://cdn.leantech.me/img/banks/color-{bank.identifier.split('_')[0].lower()}.png",
        "logo_alt": f"https://cdn.leantech.me/img/banks/white-{bank.identifier.split('_')[0].lower()}.png",
        "main_color": bank.color,
        "background_color": "#ffffff",
        "theme": "light",
        "country_code": "SAU",
        "active": availability["active"]["data"],
        "mock": bank.mock,
        "traits": ["auth-redirect", "decoupled-auth-redirect"] if bank.mock else ["auth-redirect"],
        "supported_account_types": ["CURRENT", "SAVINGS", "CREDIT"],
        "supported_account_sub_types": ["CURRENT", "SAVINGS", "CREDIT"],
        "bank_type": "RETAIL",
        "swift_code": bank.swift,
        "transfer_limits": [{"currency": "SAR", "min": 10, "max": 100000}],
        "international_transfer_limits": [],
        "international_destinations": [],
        "account_type": account_type,
        "connection_type": "OPEN_BANKING",
        "availability": {key: dict(flags) for key, flags in availability.items()},
    }


def account_json(account: SeedAccount, bank: seedlib.BankProfile) -> dict[str, Any]:
    """An account as data v2 returns it."""
    kind = account.sub_type.replace("_", " ").title()
    short_name = f"{account.holder.first_en} {account.holder.last_en}"
    label = f"{short_name} {kind} Account"
    return {
        "entity_id": account.entity_id,
        "account_id": account.account_id,
        "account_holder_name": account.holder.name_en,
        "account_holder_short_name": short_name,
        "status": account.status,
        "status_update_date_time": iso(
            datetime.combine(account.opening_date, datetime.min.time(), UTC), 3
        ),
        "currency": "SAR",
        "account_type": "PERSONAL",
        "account_sub_type": account.sub_type,
        "nickname": f"{kind} Account",
        "description": label,
        "opening_date": account.opening_date,
        "maturity_date": None,
        "account": [
            {"scheme_name": "IBAN", "identification": account.iban, "name": label},
            # Cards add their masked number, without a name (Lean's accounts example).
            *(
                [{"scheme_name": "PAN", "identification": account.masked_pan, "name": None}]
                if account.masked_pan
                else []
            ),
            {"scheme_name": "BBAN", "identification": account.bban, "name": label},
        ],
        "servicer": {"scheme_name": "BICFI", "identification": bank.swift},
        "regional_data": None,
    }


def identity_json(
    entity_id: str,
    person: seedlib.Person,
    account_role: str | None = None,
    party_type: str | None = None,
) -> dict[str, Any]:
    """A person's identity, with the keys of Lean's identity example.

    The account holder's `account_role` and `party_type` are null: Lean's examples name only
    secondary parties (BENEFICIARY, POWER_OF_ATTORNEY, JOINT), never a sole holder. A joint
    account's second party carries them (`seedlib.joint_party`).
    """
    phone = person.mobile.lstrip("+")  # Lean's example: digits only, with the country code
    return {
        "entity_id": entity_id,
        "full_legal_name": person.name_en,
        "name": person.name_en,
        "national_id": person.national_id,
        "birth_date": person.birth_date,
        "gender": person.gender,
        "email_address": person.email,
        "legal_structure": None,
        "phone": phone,
        "mobile_number": phone,
        "address": seedlib.national_address(person),
        "account_role": account_role,
        "party_type": party_type,
        "party_id": str(100000 + int(person.national_id[-6:]) % 900000),
        "party_number": person.national_id[-8:],
        "regional_data": None,
    }


def account_identities(entity: SeedEntity, account: SeedAccount) -> list[dict[str, Any]]:
    """Who is on an account: the holder, and the second party of a joint account."""
    joint = seedlib.joint_party(account)
    if joint is None:
        return [identity_json(entity.entity_id, account.holder)]
    person, role = joint
    return [
        identity_json(entity.entity_id, account.holder, None, "JOINT"),
        identity_json(entity.entity_id, person, role, "JOINT"),
    ]


# Lean's words for the sandbox's kinds of transaction: (transaction_type, sub_transaction_type,
# bank_transaction_code code and sub_code), all from Lean's transactions example.
TRANSACTION_WORDS = {
    "SALARY": ("LOCAL_BANK_TRANSFER", "DEPOSIT", "Received Real-Time Credit Transfers", "ACH Credit"),
    "GOVERNMENT": ("LOCAL_BANK_TRANSFER", "DEPOSIT", "Received Real-Time Credit Transfers", "ACH Credit"),
    "RENT": ("LOCAL_BANK_TRANSFER", "MONEY_TRANSFER", "Issued Real-Time Credit Transfers", "ACH Debit"),
    "TRANSFER_OUT": ("LOCAL_BANK_TRANSFER", "MONEY_TRANSFER", "Issued Real-Time Credit Transfers", "ACH Debit"),
    "SAVINGS_OUT": ("SAME_BANK_TRANSFER", "MONEY_TRANSFER", "Issued Real-Time Credit Transfers", "ACH Debit"),
    "SAVINGS_TOP_UP": ("SAME_BANK_TRANSFER", "MONEY_TRANSFER", "Received Real-Time Credit Transfers", "ACH Credit"),
    "SAVINGS_IN": ("SAME_BANK_TRANSFER", "MONEY_TRANSFER", "Received Real-Time Credit Transfers", "ACH Credit"),
    "PROFIT": ("SAME_BANK_TRANSFER", "DEPOSIT", "Received Real-Time Credit Transfers", "ACH Credit"),
    "CARD_PAYMENT": ("SAME_BANK_TRANSFER", "DEPOSIT", "Received Real-Time Credit Transfers", "ACH Credit"),
    "PURCHASE": ("POS", "PURCHASE", "Customer Card Transactions", "ACH Debit"),
    "ONLINE": ("E_COMMERCE", "PURCHASE", "Customer Card Transactions", "ACH Debit"),
    "REFUND": ("POS", "REFUND", "Customer Card Transactions", "ACH Credit"),
    "BILL": ("BILL_PAYMENTS", "NOT_APPLICABLE", "Issued Real-Time Credit Transfers", "ACH Debit"),
    "ATM": ("ATM", "WITHDRAWAL", "Customer Card Transactions", "Cash Withdrawal"),
    "CASH_DEPOSIT": ("TELLER", "DEPOSIT", "Counter Transactions", "Branch Deposit"),
    "REMITTANCE": ("INTERNATIONAL_TRANSFER", "MONEY_TRANSFER", "Issued Real-Time Credit Transfers", "ACH Debit"),
}  # fmt: skip


def _transaction_agent(bank: seedlib.BankProfile | None) -> dict[str, Any]:
    """A bank on one side of a transfer, as Lean's transactions name it (with its address)."""
    building, street, district, post_code, town, _ = seedlib.agent_address(bank)
    if bank is None:
        swift, name, country = (
            seedlib.FOREIGN_BANK[0],
            seedlib.FOREIGN_BANK[1],
            "United Arab Emirates",
        )
        scheme, identification = "OTHER", swift
    else:
        name, country = bank.name, "Saudi Arabia"
        scheme, identification = "BICFI", f"KSAOB.{bank.swift[:4]}"
    return {
        "scheme_name": scheme,
        "identification": identification,
        "name": name,
        "postal_address": {
            "address_type": "BUSINESS",
            "address_line": f"{building}, {street}, {building}, {town}",
            "building_number": building,
            "country": country,
            "country_subdivision": district,
            "post_code": post_code,
            "street_name": street,
            "town_name": town,
        },
    }


def _party_account(name: str, iban: str) -> dict[str, Any]:
    # Lean's transactions leave `scheme_name` null on both parties' accounts.
    return {"name": name, "scheme_name": None, "identification": iban}


def transaction_json(
    entity: SeedEntity, account: SeedAccount, index: int, row: dict[str, Any]
) -> dict[str, Any]:
    """A seeded transaction with every key and word of Lean's transactions example.

    `index` is the transaction's place within its booking day, as in Lean's example.
    """
    kind, sub_kind, code, sub_code = TRANSACTION_WORDS[row["kind"]]
    reference = row["transaction_id"].replace("-", "")[:12].upper()
    booked = iso(row["booking_date_time"], 0)
    card, merchant = row["card"], row["merchant"]
    counterparty: seedlib.Counterparty | None = row["counterparty"]
    own_bank = seedlib.bank_of(account)
    own_name = f"{account.holder.name_en} {account.sub_type.replace('_', ' ').title()} Account"
    parties: dict[str, Any] = dict.fromkeys(
        ("creditor_account", "creditor_agent", "debtor_account", "debtor_agent")
    )
    if counterparty is not None:
        theirs = (
            _party_account(counterparty.name, counterparty.iban),
            _transaction_agent(counterparty.bank),
        )
        ours = (_party_account(own_name, account.iban), _transaction_agent(own_bank))
        incoming = row["credit_debit_indicator"] == "CREDIT"
        (parties["creditor_account"], parties["creditor_agent"]) = ours if incoming else theirs
        (parties["debtor_account"], parties["debtor_agent"]) = theirs if incoming else ours
    exchange = None
    if row["fx_rate"] is not None:
        exchange = {
            "source_currency": "SAR",
            "target_currency": "AED",
            "unit_currency": "SAR",
            "exchange_rate": row["fx_rate"],
            "contract_identification": f"FX{reference}",
            "quotation_date": iso(
                row["booking_date_time"].replace(hour=0, minute=0, second=0, microsecond=0), 0
            ),
            "instructed_amount": {"currency": "SAR", "amount": row["amount"]},
        }
    balance = row["balance_after"]
    return {
        "entity_id": entity.entity_id,
        "account_id": account.account_id,
        "transaction_id": row["transaction_id"],
        "transaction_information": row["transaction_information"],
        "transaction_reference": reference,
        "credit_debit_indicator": row["credit_debit_indicator"],
        "amount": {"currency": "SAR", "amount": row["amount"]},
        "transaction_mutability": "IMMUTABLE",
        "booking_date_time": booked,
        "insights": None,
        "balance": {
            "type": "PREVIOUSLY_CLOSED_BOOKED",
            "credit_debit_indicator": "CREDIT" if balance >= 0 else "DEBIT",
            "amount": {"currency": "SAR", "amount": abs(balance)},
        },
        "status": row["status"],
        "statement_reference": [f"STMT-{row['booking_date_time']:%Y%m}-{account.bban[-4:]}"],
        "value_date_time": booked,
        "index": index,
        "charge_amount": {"amount": row["charge"], "currency": "SAR", "charge_included": False},
        "bank_transaction_code": {"code": code, "sub_code": sub_code},
        "card_instrument": {
            "authorization_type": card["authorization"],
            "card_scheme_name": card["scheme"],
            "identification": f"{'*' * 12}{card['last4']}",
            "name": account.holder.name_en.upper(),
        }
        if card
        else None,
        "merchant_details": {
            "merchant_category_code": f"CC{merchant.mcc}",
            "merchant_name": merchant.name,
        }
        if merchant
        else None,
        "proprietary_bank_transaction_code": {"code": row["kind"], "issuer": own_bank.swift},
        "currency_exchange": exchange,
        **parties,
        "local_time_zone": "UTC+00:00",
        "transaction_type": kind,
        "sub_transaction_type": sub_kind,
        "payment_modes": None,
        "flags": [],
        "regional_data": None,
    }


def transactions_json(
    entity: SeedEntity, account: SeedAccount, rows: tuple[dict[str, Any], ...]
) -> list[dict[str, Any]]:
    """Transactions newest first, each indexed within its booking day (oldest first)."""
    per_day: dict[date, int] = {}
    indexes: list[int] = []
    for row in reversed(rows):
        day = row["booking_date_time"].date()
        indexes.append(per_day.get(day, 0))
        per_day[day] = indexes[-1] + 1
    indexes.reverse()
    return [transaction_json(entity, account, n, row) for n, row in zip(indexes, rows, strict=True)]


# Lean's balance types (its balances example lists these thirteen for one account).
BALANCE_TYPES = (
    "CLOSING_AVAILABLE", "CLOSING_BOOKED", "CLOSING_CLEARED", "EXPECTED", "FORWARD_AVAILABLE",
    "INFORMATION", "INTERIM_AVAILABLE", "INTERIM_BOOKED", "INTERIM_CLEARED", "OPENING_AVAILABLE",
    "OPENING_BOOKED", "OPENING_CLEARED", "PREVIOUSLY_CLOSED_BOOKED",
)  # fmt: skip


def balances_json(entity: SeedEntity, account: SeedAccount, when: datetime) -> list[dict[str, Any]]:
    """An account's balances in Lean's thirteen types, with its credit lines.

    Booked and cleared balances are the account's balance; available ones less card holds;
    opening and previously closed ones are the balance before today's transactions.
    """
    rng = seedlib.stable_rng("balances", account.account_id)
    booked = account.balance
    held = seedlib.money(rng.uniform(0, min(400.0, float(abs(booked)) * 0.03)))
    day_start = when.replace(hour=0, minute=0, second=0, microsecond=0)
    today = seedlib.transactions_for(account, day_start, when) if when > day_start else ()
    opening = booked + sum((seedlib.outflow(r) for r in today), Decimal(0))
    card = account.sub_type in seedlib.CARD_SUB_TYPES_SPEND
    lines: list[tuple[str, Decimal]] = []
    if card:
        limit = next(
            (
                Decimal(x)
                for x in (5000, 10000, 20000, 30000, 50000)
                if x >= abs(booked) * Decimal("1.1")
            ),
            Decimal(75000),
        )
        lines = [("CREDIT", limit), ("AVAILABLE", limit - abs(booked) - held)]
    elif account.sub_type == "CURRENT":
        if rng.random() < 0.35:
            lines.append(("PRE_AGREED", Decimal(rng.choice((1000, 2000, 5000)))))
        if rng.random() < 0.15:
            lines.append((rng.choice(("EMERGENCY", "TEMPORARY")), Decimal(rng.choice((500, 1000)))))
    amounts = {
        "CLOSING_AVAILABLE": booked - held, "CLOSING_BOOKED": booked, "CLOSING_CLEARED": booked,
        "EXPECTED": booked - held, "FORWARD_AVAILABLE": booked - held, "INFORMATION": booked,
        "INTERIM_AVAILABLE": booked - held, "INTERIM_BOOKED": booked, "INTERIM_CLEARED": booked,
        "OPENING_AVAILABLE": opening - held, "OPENING_BOOKED": opening, "OPENING_CLEARED": opening,
        "PREVIOUSLY_CLOSED_BOOKED": opening,
    }  # fmt: skip
    rows = []
    for n, kind in enumerate(BALANCE_TYPES):
        amount = amounts[kind]
        rows.append(
            {
                "entity_id": entity.entity_id,
                "account_id": account.account_id,
                "credit_debit_indicator": "CREDIT" if amount >= 0 else "DEBIT",
                "type": kind,
                "amount": {"currency": "SAR", "amount": abs(amount)},
                # Lean stamps each balance as it reads it: a few milliseconds apart.
                "date_time": iso(when + timedelta(milliseconds=3 * n), 3),
                "credit_line": [
                    {
                        # A card's limit is part of what it can spend, not of what it holds.
                        "included": line == "CREDIT" and kind.endswith("AVAILABLE"),
                        "amount": {"currency": "SAR", "amount": value},
                        "type": line,
                    }
                    for line, value in lines
                ],
                "regional_data": None,
            }
        )
    return rows


# Fractional digits of the per-account records' times, as Lean's examples show them.
RECORD_TIME_DIGITS = {
    "previous_payment_date_time": 0,
    "scheduled_payment_date_time": 0,
    "first_payment_date_time": 3,
    "last_payment_date_time": 3,
    "next_payment_date_time": 3,
    "final_payment_date_time": 3,
}


def _stamped(row: dict[str, Any]) -> dict[str, Any]:
    return {
        key: iso(value, RECORD_TIME_DIGITS.get(key, 6)) if isinstance(value, datetime) else value
        for key, value in row.items()
    }


def refresh_view(
    refresh: SeedRefresh, now: datetime, camel_case: bool = True, success_word: str = "SUCCESS"
) -> dict[str, Any]:
    """A refresh as the status API shows it at `now`: PENDING until it finishes.

    Webhooks say `SUCCESS` (the integration guide); the status API says `OK` (its example), so
    the API passes `success_word="OK"`.
    """

    def word(status: str) -> str:
        return success_word if status == "SUCCESS" else status

    finished = refresh.finishes_at is not None and refresh.finishes_at <= now
    progress = 1.0
    if not finished:
        total = (
            (refresh.finishes_at or now + timedelta(hours=1)) - refresh.created_at
        ).total_seconds()
        progress = max(0.0, min(0.99, (now - refresh.created_at).total_seconds() / max(total, 1)))
    availability_key = "transactionAvailability" if camel_case else "transaction_availability"
    account_data = []
    for index, row in enumerate(refresh.account_statuses):
        out: dict[str, Any] = {"account_id": row["account_id"]}
        for n, data_type in enumerate(seedlib.ACCOUNT_DATA_TYPES):
            if data_type in row:
                # Data types complete one after another; unfinished ones still read PENDING.
                done = finished or (index + n / 10) / (len(refresh.account_statuses) + 1) < progress
                out[data_type] = word(row[data_type]) if done else "PENDING"
        if "transaction_availability" in row and (finished or out.get("transactions") != "PENDING"):
            out[availability_key] = row["transaction_availability"]
        account_data.append(out)
    return {
        "refresh_id": refresh.refresh_id,
        "entity_id": refresh.entity_id,
        "customer_id": refresh.customer_id,
        "app_user_id": refresh.app_user_id,
        "status": "FINISHED" if finished else "PENDING",
        "data_status": {
            "accounts": word(refresh.entity_statuses["accounts"])
            if finished or progress > 0.1
            else "PENDING",
            "identity": word(refresh.entity_statuses["identity"])
            if finished or progress > 0.2
            else "PENDING",
            "account_data": account_data,
        },
        "created_at": refresh.created_at,
        "updated_at": refresh.finishes_at if finished else max(refresh.created_at, now),
    }


# `refreshed_at` has 3 fractional digits in Lean's data examples, 2 in its balances and
# beneficiaries examples; the sandbox answers each type as its example does.
REFRESHED_AT_DIGITS = {"balances": 2, "beneficiaries": 2}


def data_envelope(
    data_type: str, items: list[Any], page: dict[str, Any], refreshed_at: datetime | None
) -> dict[str, Any]:
    """Data v2's answer envelope."""
    key = data_type.replace("-", "_")
    data: dict[str, Any] = {"type": data_type}
    if data_type == "identities":
        data["account_id"] = None  # Lean's identity answers name no account here
    data.update({key: items, "page": page})
    return {
        "status": "OK",
        "results_id": str(uuid.uuid4()),
        "message": "Data successfully retrieved",
        "meta": None,
        "timestamp": now_stamp(),
        "status_detail": None,
        "refreshed_at": iso(refreshed_at, REFRESHED_AT_DIGITS.get(data_type, 3)),
        "type": data_type,
        "data": data,
    }


# ---------------------------------------------------------------------------------------------
# The application
# ---------------------------------------------------------------------------------------------

Handler = Callable[[Request], Awaitable[Any]]


def create_app(config: SandboxConfig | None = None) -> Starlette:
    """Build the sandbox ASGI app. `app.state.sandbox` and `app.state.faults` expose its insides."""
    config = config or SandboxConfig()
    state = SandboxState(config)
    injector = FaultInjector(config.faults)

    def endpoint(
        handler: Handler, *, scope: str | None = "api"
    ) -> Callable[[Request], Awaitable[Response]]:
        async def wrapped(request: Request) -> Response:
            state.stats["requests"] += 1
            state.request_log.append((request.method, request.url.path))
            try:
                if scope:
                    _authorize(request, state, scope)
                result = await handler(request)
            except LeanErrorResponse as exc:
                state.stats[f"errors.{exc.code}"] += 1
                return LeanJSONResponse(
                    error_body(exc.code, exc.message), status_code=exc.status_code
                )
            if isinstance(result, Response):
                return result
            return LeanJSONResponse(result)

        return wrapped

    # -- OAuth ---------------------------------------------------------------------------------

    async def token(request: Request) -> Response:
        state.stats["token_requests"] += 1
        form = await request.form()
        if form.get("grant_type") != "client_credentials":
            return JSONResponse(
                {
                    "error": "unsupported_grant_type",
                    "error_description": "Only client_credentials is supported.",
                },
                status_code=400,
            )
        client_ok = secrets.compare_digest(
            str(form.get("client_id", "")), config.client_id
        ) and secrets.compare_digest(str(form.get("client_secret", "")), config.client_secret)
        if not client_ok:
            return JSONResponse(
                {"error": "invalid_client", "error_description": "Client authentication failed."},
                status_code=401,
            )
        scope = str(form.get("scope", "")).strip()
        if scope == "api":
            claims_scope = [
                "customer.read",
                "customer.write",
                "bank.read",
                "data.read",
                "webhook.read",
            ]
        elif (
            scope.startswith("customer.")
            and scope.removeprefix("customer.").lower() in state.data.customers
        ):
            claims_scope = ["customer.read", "connect.write", "connect.read", "bank.read"]
        else:
            return JSONResponse(
                {
                    "error": "invalid_scope",
                    "error_description": f"The requested scope is invalid: {scope or '(none)'}.",
                },
                status_code=400,
            )
        # Per kind of scope, so a test can prove one token per scope however many calls it made.
        state.stats["tokens_issued.api" if scope == "api" else "tokens_issued.customer"] += 1
        issued = time.time()
        claims = {
            "sub": config.client_id,
            "iss": str(request.base_url).rstrip("/"),
            "aud": str(request.base_url).rstrip("/"),
            "iat": int(issued),
            "nbf": int(issued),
            # Rounded up: the token lives at least the `expires_in` it is sent with (rounded down,
            # it lived up to a second less, and a client renewing at 90% of it could be late).
            "exp": math.ceil(issued + config.token_ttl),
            "jti": str(uuid.uuid4()),
            "scope": claims_scope,
            "lean_scope": scope,
        }
        access_token = jwt.encode(claims, state.signing_key, algorithm="HS256")
        with state.lock:
            state.issued_tokens[access_token] = (state.signing_key, claims)
            while len(state.issued_tokens) > ISSUED_TOKENS_KEPT:
                state.issued_tokens.popitem(last=False)
        return JSONResponse(
            {
                "access_token": access_token,
                "scope": scope,
                "token_type": "Bearer",
                "expires_in": config.token_ttl,
            }
        )

    # -- Customers -----------------------------------------------------------------------------

    async def create_customer(request: Request) -> Any:
        try:
            body = await request.json()
        except ValueError:
            raise LeanErrorResponse(
                400, "INVALID_PARAMETERS", "The request body is not valid JSON."
            ) from None
        app_user_id = body.get("app_user_id") if isinstance(body, dict) else None
        if not isinstance(app_user_id, str) or not APP_USER_ID_RE.match(app_user_id):
            raise LeanErrorResponse(
                400,
                "INVALID_PARAMETERS",
                "app_user_id is required: 1-128 letters, digits or . _ - @ : +",
            )
        with state.lock:
            if app_user_id in state.data.by_app_user_id:
                raise LeanErrorResponse(
                    409,
                    "CUSTOMER_ALREADY_EXISTS",
                    f"A customer with app_user_id {app_user_id} already exists.",
                )
            person = seedlib._person(
                seedlib.stable_rng("person", app_user_id), len(state.customer_order) + 1
            )
            customer = SeedCustomer(str(uuid.uuid4()), app_user_id, person, _now())
            state.data.customers[customer.customer_id] = customer
            state.data.by_app_user_id[app_user_id] = customer
            state.customer_order.append(customer.customer_id)
        state.notify("customer.created", customer)
        return customer_json(customer)

    async def list_customers(request: Request) -> Any:
        number, size = _page_params(request, "page_number", "page_size")
        # Newest first, like a console operator expects.
        ordered = [state.data.customers[cid] for cid in reversed(state.customer_order)]
        items, page = _paginate(ordered, number, size)
        return {"data": [customer_json(c) for c in items], "page": page}

    async def get_customer(request: Request) -> Any:
        return customer_json(state.customer(request.path_params["customer_id"]))

    async def get_customer_by_app_user_id(request: Request) -> Any:
        app_user_id = request.path_params["app_user_id"]
        customer = state.data.by_app_user_id.get(app_user_id)
        if customer is None:
            raise LeanErrorResponse(
                404, "UNKNOWN_CUSTOMER", f"No customer has app_user_id {app_user_id}."
            )
        return customer_json(customer)

    async def customer_entities(request: Request) -> Any:
        customer = state.customer(request.path_params["customer_id"])
        now = _now()
        entities = sorted(
            state.data.entities_by_customer.get(customer.customer_id, []),
            key=lambda e: e.created_at,
            reverse=True,
        )
        return [entity_json(e, now) for e in entities]

    async def customer_entity(request: Request) -> Any:
        customer = state.customer(request.path_params["customer_id"])
        entity = state.entity(request.path_params["entity_id"])
        if entity.customer_id != customer.customer_id:
            raise LeanErrorResponse(
                404,
                "UNKNOWN_ENTITY",
                "The entity_id provided did not match an entity of this customer.",
            )
        return entity_json(entity, _now())

    async def entities_created(request: Request) -> Any:
        number, size = _page_params(request, "page_number", "page_size", 100)
        try:
            start = date.fromisoformat(request.query_params["start_date"])
            end = date.fromisoformat(request.query_params["end_date"])
        except (KeyError, ValueError):
            raise LeanErrorResponse(
                400, "INVALID_PARAMETERS", "start_date and end_date are required as YYYY-MM-DD."
            ) from None
        now = _now()
        matching = sorted(
            (e for e in state.data.entities.values() if start <= e.created_at.date() <= end),
            key=lambda e: (e.created_at, e.entity_id),
        )
        items, page = _paginate(matching, number, size)
        return {"data": [entity_json(e, now, listing=True) for e in items], "page": page}

    # -- Banks ---------------------------------------------------------------------------------

    async def banks(request: Request) -> Any:
        account_type = request.query_params.get("account_types", "PERSONAL").upper()
        if account_type not in ("PERSONAL", "BUSINESS"):
            raise LeanErrorResponse(
                400, "INVALID_PARAMETERS", "account_types must be PERSONAL or BUSINESS."
            )
        seed, now = state.data.seed, _now()
        return [
            # Outages follow the incident schedule, so this agrees with the webhooks at any moment.
            bank_json(b, account_type, incidents.availability_at(seed, b.identifier, base, now))
            for b in state.data.banks
            for base in [state.bank_availability[b.identifier]]
        ]

    # -- Data v2 -------------------------------------------------------------------------------

    def last_refreshed(entity: SeedEntity) -> datetime | None:
        finished = [
            r.finishes_at for r in entity.refreshes if r.finishes_at and r.finishes_at <= _now()
        ]
        return max(finished) if finished else entity.created_at

    async def accounts(request: Request) -> Any:
        entity = state.entity(request.query_params.get("entity_id"))
        number, size = _page_params(request, "page", "size")
        items, page = _paginate(entity.accounts, number, size)
        return data_envelope(
            "accounts", [account_json(a, entity.bank) for a in items], page, last_refreshed(entity)
        )

    async def account_data(request: Request) -> Any:
        entity = state.entity(request.query_params.get("entity_id"))
        account = state.account(entity, request.path_params["account_id"])
        data_type = request.path_params["data_type"]
        number, size = _page_params(request, "page", "size")
        consent = entity.current_consent
        if data_type == "transactions":
            end = min(_now(), consent.transactions_to)
            start = max(consent.transactions_from, end - timedelta(days=365))
            rows = transactions_json(entity, account, seedlib.transactions_for(account, start, end))
        elif data_type == "balances":
            rows = balances_json(entity, account, last_refreshed(entity) or _now())
        elif data_type == "identities":
            rows = account_identities(entity, account)
        else:
            generator = {
                "beneficiaries": seedlib.beneficiaries_for,
                "direct-debits": seedlib.direct_debits_for,
                "standing-orders": seedlib.standing_orders_for,
                "scheduled-payments": seedlib.scheduled_payments_for,
            }.get(data_type)
            if generator is None:
                raise LeanErrorResponse(404, "DATA_NOT_FOUND", f"Unknown data type {data_type}.")
            rows = [
                {"account_id": account.account_id, **_stamped(row)} for row in generator(account)
            ]
        items, page = _paginate(rows, number, size)
        return data_envelope(data_type, items, page, last_refreshed(entity))

    async def identity(request: Request) -> Any:
        entity = state.entity(request.query_params.get("entity_id"))
        person = state.data.customers[entity.customer_id].person
        _, page = _paginate([person], 0, 50)
        return data_envelope(
            "identities", [identity_json(entity.entity_id, person)], page, last_refreshed(entity)
        )

    # -- Refreshes -----------------------------------------------------------------------------

    async def trigger_refresh(request: Request) -> Any:
        try:
            body = await request.json()
        except ValueError:
            raise LeanErrorResponse(
                400, "INVALID_PARAMETERS", "The request body is not valid JSON."
            ) from None
        entity = state.entity(body.get("entity_id") if isinstance(body, dict) else None)
        now = _now()
        if consent_status_at(entity.current_consent, now) != "ACTIVE":
            raise LeanErrorResponse(
                403,
                "CONSENT_EXPIRED",
                "Consent was suspended, revoked, or expired. New consent is required, please connect the entity once again.",
            )
        with state.lock:
            if any(
                r.finishes_at is None or r.finishes_at > now
                for r in entity.refreshes
                if r.created_at > now - timedelta(hours=1)
            ):
                raise LeanErrorResponse(
                    429, "DUPLICATED_REQUEST", "Data refresh is already pending."
                )
            rng = seedlib.stable_rng("refresh", entity.entity_id, now.isoformat())
            refresh = state.start_refresh(entity, now, rng)
        return {
            "refresh_id": refresh.refresh_id,
            "status": "OK",
            "message": "Data refresh triggered successfully",
            "timestamp": now_stamp(),
        }

    async def list_refreshes(request: Request) -> Any:
        entity = state.entity(request.query_params.get("entity_id"))
        number, size = _page_params(request, "page", "size")
        now = _now()
        ordered = sorted(entity.refreshes, key=lambda r: r.created_at, reverse=True)
        items, page = _paginate(ordered, number, size)
        content = []
        for refresh in items:
            view = refresh_view(refresh, now)
            content.append(
                {
                    "refresh_id": view["refresh_id"],
                    "entity_id": view["entity_id"],
                    "customer_id": view["customer_id"],
                    "status": view["status"],
                    "created_at": iso(view["created_at"], 3),
                    "updated_at": iso(view["updated_at"], 3),
                }
            )
        return {"content": content, "page": page}

    async def get_refresh(request: Request) -> Any:
        refresh_id = request.path_params["refresh_id"]
        _require_uuid("refresh_id", refresh_id)
        entity = state.entity(request.query_params.get("entity_id"))
        refresh = state.data.refreshes.get(refresh_id.lower())
        if refresh is None or refresh.entity_id != entity.entity_id:
            raise LeanErrorResponse(
                404,
                "UNKNOWN_RESULTS_ID",
                "The refresh_id provided has not been recognized by Lean.",
            )
        view = refresh_view(refresh, _now(), success_word="OK")
        view.pop("app_user_id")
        view["created_at"] = iso(view["created_at"], 3)
        view["updated_at"] = iso(view["updated_at"], 3)
        return view

    # -- Verification --------------------------------------------------------------------------

    async def verify_entity(request: Request) -> Any:
        try:
            body = await request.json()
        except ValueError:
            raise LeanErrorResponse(
                400, "INVALID_PARAMETERS", "The request body is not valid JSON."
            ) from None
        if not isinstance(body, dict):
            raise LeanErrorResponse(
                400, "INVALID_PARAMETERS", "The request body must be an object."
            )
        entity = state.entity(body.get("entity_id"))
        ids = [
            i.get("value")
            for i in body.get("identifications") or []
            if isinstance(i, dict) and i.get("type") == "NATIONAL_ID"
        ]
        if not ids or not all(isinstance(v, str) and re.fullmatch(r"[12]\d{9}", v) for v in ids):
            raise LeanErrorResponse(
                400,
                "INVALID_PARAMETERS",
                "identifications must hold a NATIONAL_ID of 10 digits starting with 1 or 2.",
            )
        owner = state.data.customers[entity.customer_id].person.national_id
        verified = owner in ids
        return {
            "status": "OK",
            "results_id": str(uuid.uuid4()),
            "message": "Data successfully retrieved",
            "meta": None,
            "timestamp": now_stamp(),
            "status_detail": None,
            "verifications": {
                "entity_ownership_verified": verified,
                "verification_method": "OPEN_BANKING",
                "ibans": [
                    {"iban": a.iban, "iban_ownership_verified": verified} for a in entity.accounts
                ],
            },
        }

    # -- Admin ---------------------------------------------------------------------------------

    async def admin_faults(request: Request) -> Response:
        if request.method == "PUT":
            try:
                injector.set(FaultConfig.from_mapping(await request.json()))
            except (ValueError, TypeError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(injector.as_dict())

    async def admin_stats(_: Request) -> Response:
        return JSONResponse(dict(state.stats))

    async def admin_health(_: Request) -> Response:
        return JSONResponse(
            {
                "status": "ok",
                "customers": len(state.data.customers),
                "entities": len(state.data.entities),
            }
        )

    # Imported here: the Link route builds on this module's state and error bodies.
    from sandbox.link import link_routes

    routes = [
        Route("/oauth2/token", token, methods=["POST"]),
        Route("/customers/v1/", endpoint(create_customer), methods=["POST"]),
        Route(
            "/customers/v1",
            endpoint(create_customer),
            methods=["POST"],
            name="create_customer_no_slash",
        ),
        Route("/customers/v1", endpoint(list_customers), methods=["GET"]),
        Route("/customers/v1/entities", endpoint(entities_created), methods=["GET"]),
        Route(
            "/customers/v1/app-user-id/{app_user_id:path}",
            endpoint(get_customer_by_app_user_id),
            methods=["GET"],
        ),
        Route("/customers/v1/{customer_id}", endpoint(get_customer), methods=["GET"]),
        Route("/customers/v1/{customer_id}/entities", endpoint(customer_entities), methods=["GET"]),
        Route(
            "/customers/v1/{customer_id}/entities/{entity_id}",
            endpoint(customer_entity),
            methods=["GET"],
        ),
        Route("/banks/v1/", endpoint(banks), methods=["GET"]),
        Route("/banks/v1", endpoint(banks), methods=["GET"], name="banks_no_slash"),
        Route("/data/v2/accounts", endpoint(accounts), methods=["GET"]),
        Route(
            "/data/v2/accounts/{account_id}/{data_type}", endpoint(account_data), methods=["GET"]
        ),
        Route("/data/v2/identity", endpoint(identity), methods=["GET"]),
        Route("/data/v2/refreshes", endpoint(trigger_refresh), methods=["POST"]),
        Route("/data/v2/refreshes", endpoint(list_refreshes), methods=["GET"]),
        Route("/data/v2/refreshes/{refresh_id}", endpoint(get_refresh), methods=["GET"]),
        Route("/verifications/v2/entity", endpoint(verify_entity), methods=["POST"]),
        *link_routes(state),  # Lean's Link SDK `connect`, played by the sandbox
        Route("/_sandbox/faults", admin_faults, methods=["GET", "PUT"]),
        Route("/_sandbox/stats", admin_stats, methods=["GET"]),
        Route("/_sandbox/health", admin_health, methods=["GET"]),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(FaultMiddleware, injector=injector)])
    app.state.sandbox = state
    app.state.faults = injector
    return app


def bearer_claims(request: Request, state: SandboxState) -> dict[str, Any]:
    """The claims of the request's bearer token, or Lean's 401 for a missing, invalid or
    expired one."""
    kind, _, token = request.headers.get("authorization", "").partition(" ")
    if kind.lower() != "bearer" or not token:
        raise LeanErrorResponse(401, "UNAUTHORIZED", "A bearer access token is required.")
    issued = state.issued_tokens.get(token)
    if issued is not None and issued[0] == state.signing_key:  # not revoked by a new key
        if issued[1]["exp"] <= time.time():
            raise LeanErrorResponse(401, "UNAUTHORIZED", "The access token has expired.")
        return issued[1]
    try:
        return jwt.decode(
            token, state.signing_key, algorithms=["HS256"], options={"verify_aud": False}
        )
    except jwt.ExpiredSignatureError:
        raise LeanErrorResponse(401, "UNAUTHORIZED", "The access token has expired.") from None
    except jwt.PyJWTError:
        raise LeanErrorResponse(401, "UNAUTHORIZED", "The access token is not valid.") from None


def _authorize(request: Request, state: SandboxState, scope: str) -> None:
    claims = bearer_claims(request, state)
    if claims.get("lean_scope") != scope:
        raise LeanErrorResponse(403, "FORBIDDEN", f"This call needs a token with scope {scope}.")
