"""Typed views of Lean's payloads.

Every model keeps the fields it does not know (`model_extra`), accepts status words it has never
seen, and normalises the drift listed in `api-notes.md`: `OK`/`SUCCESS`, snake/camel
`transaction_availability`, 3/6/9 fractional digits and odd offsets, permission lists vs maps,
`bearer`/`Bearer`, and the three page envelopes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AliasChoices, AliasGenerator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

PERMISSIONS: tuple[str, ...] = (
    "identity",
    "accounts",
    "balance",
    "transactions",
    "identities",
    "scheduled_payments",
    "standing_orders",
    "direct_debits",
    "beneficiaries",
)

# Per-account data types reported by a refresh, in the order operators read them.
ACCOUNT_DATA_TYPES: tuple[str, ...] = (
    "balance",
    "identity",
    "transactions",
    "beneficiaries",
    "direct_debits",
    "scheduled_payments",
    "standing_orders",
)

KNOWN_DATA_STATUSES = frozenset({"PENDING", "SUCCESS", "PARTIAL", "FAILED", "UNSUPPORTED"})
KNOWN_REFRESH_STATUSES = frozenset({"PENDING", "FINISHED"})
KNOWN_CONSENT_STATUSES = frozenset(
    {"ACTIVE", "REVOKED", "EXPIRED", "AWAITING_AUTHORIZATION", "REJECTED", "SUSPENDED"}
)

# --------------------------------------------------------------------------------------------
# Normalisers
# --------------------------------------------------------------------------------------------

_DT_RE = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<time>\d{2}:\d{2}(?::\d{2})?)(?:[.,](?P<frac>\d+))?)?"
    r"\s*(?P<tz>Z|z|[+-]\d{1,2}(?::?\d{2})?)?$",
    re.ASCII,  # Arabic-Indic and other Unicode digits are not Lean's
)


def parse_lean_datetime(value: Any) -> datetime | None:
    """Parse Lean's timestamps into aware UTC datetimes; `None` for empty or unreadable values.

    Handles `Z`, 3/6/9 fractional digits, offsets like `+4:00` or `+0400`, and plain dates.
    Naive timestamps are taken as UTC, which is what Lean sends when it omits the offset.
    """
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, int | float):
        # Epoch seconds or milliseconds; NaN, infinities and years past 9999 are unreadable.
        try:
            seconds = value / 1000 if value > 10**11 else value
            return datetime.fromtimestamp(seconds, UTC)
        except (ValueError, OverflowError, OSError):
            return None
    if not isinstance(value, str) or len(value) > 64:
        return None
    match = _DT_RE.match(value.strip())
    if not match:
        return None
    time_part = match["time"] or "00:00:00"
    if len(time_part) == 5:
        time_part += ":00"
    frac = (match["frac"] or "0")[:6].ljust(6, "0")
    tz = match["tz"] or "Z"
    if tz in ("Z", "z"):
        offset = "+00:00"
    else:
        sign, digits = tz[0], tz[1:].replace(":", "")
        hours, minutes = (digits[:-2], digits[-2:]) if len(digits) > 2 else (digits, "00")
        offset = f"{sign}{int(hours):02d}:{minutes}"
    try:
        parsed = datetime.fromisoformat(f"{match['date']}T{time_part}.{frac}{offset}")
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        # Out of range: month 13, hour 25, or an offset pushing year 9999 past the calendar.
        return None


def sub_microsecond_nanos(value: Any) -> int:
    """The nanoseconds beyond the microsecond in a Lean timestamp (`...123456789Z` → 789).

    Python's datetime stops at microseconds; ordering events by Lean's clock at full precision
    needs the rest, kept beside the datetime.
    """
    if not isinstance(value, str) or len(value) > 64:
        return 0
    match = _DT_RE.match(value.strip())
    if not match or not match["frac"]:
        return 0
    return int(match["frac"][6:9].ljust(3, "0"))


def normalize_data_status(value: Any) -> str | None:
    """`OK` and `SUCCESS` both mean success; other words are upper-cased and kept."""
    if value is None:
        return None
    word = str(value).strip().upper()
    return "SUCCESS" if word in ("OK", "SUCCESSFUL", "SUCCEEDED") else word or None


def normalize_refresh_status(value: Any) -> str | None:
    """A refresh's top-level status comes as `FINISHED` or `OK`; both mean finished."""
    if value is None:
        return None
    word = str(value).strip().upper()
    return "FINISHED" if word in ("OK", "SUCCESS", "COMPLETED") else word or None


def normalize_permissions(value: Any) -> dict[str, bool]:
    """Webhooks send a list of names, the entity API a map of booleans; both become a map.

    Every one of the nine known permissions is present; unknown names are kept.
    """
    result = dict.fromkeys(PERMISSIONS, False)
    if value is None:
        return result
    if isinstance(value, dict):
        for name, granted in value.items():
            result[str(name).strip().lower()] = _truthy(granted)
    elif isinstance(value, Iterable) and not isinstance(value, str | bytes):
        for name in value:
            result[str(name).strip().lower()] = True
    return result


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "y")
    return bool(value)


def _normalize_token_type(value: Any) -> str:
    return "Bearer" if str(value or "bearer").strip().lower() == "bearer" else str(value)


def _amount(value: Any) -> Any:
    # Amounts arrive as numbers or strings; Decimal keeps halalas exact.
    if isinstance(value, float):
        return Decimal(repr(value))
    return value


LeanDateTime = Annotated[datetime | None, BeforeValidator(parse_lean_datetime)]
DataStatus = Annotated[str | None, BeforeValidator(normalize_data_status)]
RefreshStatus = Annotated[str | None, BeforeValidator(normalize_refresh_status)]
PermissionMap = Annotated[dict[str, bool], BeforeValidator(normalize_permissions)]
Money = Annotated[Decimal | None, BeforeValidator(_amount)]


class LeanModel(BaseModel):
    """Base for every payload: unknown fields are kept, not rejected."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=False)


# --------------------------------------------------------------------------------------------
# Auth, customers, pages
# --------------------------------------------------------------------------------------------


class AccessToken(LeanModel):
    """An OAuth token as Lean's auth server returns it."""

    access_token: str
    token_type: Annotated[str, BeforeValidator(_normalize_token_type)] = "Bearer"
    expires_in: int | None = None
    scope: str | None = None


class Customer(LeanModel):
    """A Lean customer: Lean's `customer_id` and the company's own `app_user_id`."""

    customer_id: str
    app_user_id: str | None = None


class PageInfo(LeanModel):
    """Where a page sits in the whole list."""

    number: int = 0
    size: int = 0
    total_elements: int | None = None
    total_pages: int | None = None


T = TypeVar("T", bound=BaseModel)


def has_next_page(items: list[Any], page: PageInfo) -> bool:
    """True when another page follows: by `total_pages` when given, else while pages are full."""
    if not items:
        return False
    if page.total_pages is not None:
        return page.number + 1 < page.total_pages
    return len(items) >= max(page.size, 1)


class Page(BaseModel, Generic[T]):
    """One page of a list, whichever envelope it came in."""

    items: list[T]
    page: PageInfo

    @property
    def has_next(self) -> bool:
        """True when another page follows this one."""
        return has_next_page(self.items, self.page)


def unwrap_page(body: Any, item_key: str | None = None) -> tuple[list[Any], dict[str, Any]]:
    """Find the items and page info in any of Lean's list envelopes.

    `{"data": [...], "page"}`, `{"content": [...], "page"}`, data v2's
    `{"data": {"<type>": [...], "page"}}`, and bare arrays.
    """
    if isinstance(body, list):
        return body, {"number": 0, "size": len(body), "total_elements": len(body), "total_pages": 1}
    if not isinstance(body, dict):
        return [], {}
    page = body.get("page") or {}
    for key in ("data", "content", "results"):
        inner = body.get(key)
        if isinstance(inner, list):
            return inner, page
        if isinstance(inner, dict):
            items = _find_items(inner, item_key)
            if items is not None:
                return items, inner.get("page") or page
    # A bare object is not a list envelope unless the caller names the list it expects.
    items = _find_items(body, item_key) if item_key else None
    return (items or []), page


def _find_items(container: dict[str, Any], item_key: str | None) -> list[Any] | None:
    if item_key:
        for key in (item_key, item_key.replace("-", "_"), item_key.replace("_", "-")):
            if isinstance(container.get(key), list):
                return container[key]
    lists = [v for k, v in container.items() if isinstance(v, list) and k != "page"]
    return lists[0] if len(lists) == 1 else None


# --------------------------------------------------------------------------------------------
# Entities and consents
# --------------------------------------------------------------------------------------------


class ConsentAccount(LeanModel):
    """An account a consent covers, by IBAN or account number."""

    scheme_name: str | None = None
    identification: str | None = None
    name: str | None = None
    secondary_identification: str | None = None


class Consent(LeanModel):
    """One consent the customer gave the bank, with its window and status."""

    id: str | None = None
    bank_consent_id: str | None = None
    consent_status: Annotated[str | None, BeforeValidator(lambda v: v and str(v).upper())] = None
    permissions: PermissionMap = Field(default_factory=dict)
    creation_date_time: LeanDateTime = None
    status_update_date_time: LeanDateTime = None
    expiration_date_time: LeanDateTime = None
    transaction_from_date_time: LeanDateTime = None
    transaction_to_date_time: LeanDateTime = None
    accounts: list[ConsentAccount] = Field(default_factory=list)

    def expires_in(self, now: datetime | None = None) -> timedelta | None:
        """Time left before the consent expires (negative once expired)."""
        if self.expiration_date_time is None:
            return None
        return self.expiration_date_time - (now or datetime.now(UTC))

    def effective_status(self, now: datetime | None = None) -> str | None:
        """The status as an operator should read it: an ACTIVE consent past its expiry is EXPIRED."""
        left = self.expires_in(now)
        if self.consent_status == "ACTIVE" and left is not None and left.total_seconds() <= 0:
            return "EXPIRED"
        return self.consent_status


class BankDetails(LeanModel):
    """The bank as webhooks describe it."""

    identifier: str | None = None
    name: str | None = None
    logo: str | None = None
    account_type: str | None = None
    main_color: str | None = None
    background_color: str | None = None


class Entity(LeanModel):
    """A customer's connection to one bank (Lean's entity), with its consents."""

    id: str = Field(validation_alias=AliasChoices("id", "entity_id"))
    customer_id: str | None = None
    app_user_id: str | None = None
    bank_identifier: str | None = None
    bank_type: str | None = None
    permissions: PermissionMap = Field(default_factory=dict)
    created_at: LeanDateTime = None
    updated_at: LeanDateTime = None
    status: str | None = None
    consents: list[Consent] = Field(default_factory=list)
    bank_details: BankDetails | None = None

    def model_post_init(self, _context: Any) -> None:
        if not self.bank_identifier and self.bank_details and self.bank_details.identifier:
            self.bank_identifier = self.bank_details.identifier

    @property
    def current_consent(self) -> Consent | None:
        """The consent that governs the entity now: the newest one."""
        if not self.consents:
            return None
        epoch = datetime.min.replace(tzinfo=UTC)
        return max(self.consents, key=lambda c: c.creation_date_time or epoch)

    @property
    def granted_permissions(self) -> list[str]:
        """Names of the permissions the entity holds."""
        return [name for name, granted in self.permissions.items() if granted]


# --------------------------------------------------------------------------------------------
# Banks
# --------------------------------------------------------------------------------------------


class CapabilityFlags(LeanModel):
    """Per-capability switches (data, payments)."""

    data: bool | None = None
    payments: bool | None = None


class BankAvailability(LeanModel):
    """`active` is Lean's switch, `enabled` is ours (the developer portal)."""

    active: CapabilityFlags = Field(default_factory=CapabilityFlags)
    enabled: CapabilityFlags = Field(default_factory=CapabilityFlags)

    def state(self, capability: str = "data") -> str:
        """`available`, `disabled_by_lean`, `disabled_by_us`, or `unknown`."""
        active = getattr(self.active, capability, None)
        enabled = getattr(self.enabled, capability, None)
        if active is False:
            return "disabled_by_lean"
        if enabled is False:
            return "disabled_by_us"
        if active and enabled:
            return "available"
        return "unknown"

    def is_available(self, capability: str = "data") -> bool:
        """A bank is usable for a capability only when both switches are on."""
        return self.state(capability) == "available"


class Bank(LeanModel):
    """A bank Lean connects to, with its availability."""

    identifier: str
    name: str | None = None
    arabic_name: str | None = None
    commercial_name: str | None = None
    commercial_name_arabic: str | None = None
    logo: str | None = None
    main_color: str | None = None
    background_color: str | None = None
    country_code: str | None = None
    active: bool | None = None
    mock: bool | None = None
    traits: list[str] = Field(default_factory=list)
    supported_account_types: list[str] = Field(default_factory=list)
    bank_type: str | None = None
    swift_code: str | None = None
    account_type: str | None = None
    connection_type: str | None = None
    availability: BankAvailability = Field(default_factory=BankAvailability)

    @property
    def display_name(self) -> str:
        """The name an operator recognises."""
        return self.commercial_name or self.name or self.identifier


# --------------------------------------------------------------------------------------------
# Data v2
# --------------------------------------------------------------------------------------------


def _upper_word(value: Any) -> Any:
    # Enum words arrive as `Credit`, `credit` or `CREDIT`; an empty string means not given.
    if isinstance(value, str):
        return value.strip().upper() or None
    return value


def _listed(value: Any) -> Any:
    # A list that a bank sent as one value, or not at all.
    if value is None:
        return []
    if isinstance(value, str | dict):
        return [value]
    return value


def _address_map(value: Any) -> Any:
    # An address sent as one line of text instead of an object.
    if isinstance(value, str):
        return {"address_line": value} if value.strip() else None
    return value


def _frequency_object(value: Any) -> Any:
    # Direct debits send a frequency word; standing orders an object. A word becomes an object.
    if isinstance(value, str):
        return {"frequency_type": value}
    return value


def _no_empty_text(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


Word = Annotated[str | None, BeforeValidator(_upper_word)]


class DataModel(LeanModel):
    """A data v2 record: snake_case keys as Lean sends them, camelCase accepted too."""

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
        alias_generator=AliasGenerator(
            validation_alias=lambda name: AliasChoices(name, to_camel(name))
        ),
    )


class Amount(DataModel):
    """A money amount with its currency."""

    amount: Money = None
    currency: str | None = None


class AccountIdentifier(DataModel):
    """One way to name an account (IBAN, BBAN, ...)."""

    scheme_name: str | None = None
    identification: str | None = None
    name: str | None = None


class PostalAddress(DataModel):
    """A bank's address, as payments' agents carry it."""

    address_type: str | None = None
    address_line: str | None = None
    building_number: str | None = None
    street_name: str | None = None
    town_name: str | None = None
    post_code: str | None = None
    country: str | None = None
    country_subdivision: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "country_subdivision", "country_sub_division", "countrySubdivision"
        ),
    )
    department: str | None = None
    sub_department: str | None = None


class Agent(DataModel):
    """The bank on one side of a payment (`KSAOB.SABB`, a BIC, ...)."""

    scheme_name: str | None = None
    identification: str | None = None
    name: str | None = None
    postal_address: PostalAddress | None = None


class Account(DataModel):
    """A bank account reached through an entity."""

    account_id: str
    entity_id: str | None = None
    account_holder_name: str | None = None
    account_holder_short_name: str | None = None
    status: str | None = None
    status_update_date_time: LeanDateTime = None
    currency: str | None = None
    account_type: str | None = None
    account_sub_type: str | None = None
    nickname: str | None = None
    description: str | None = None
    opening_date: LeanDateTime = None
    maturity_date: LeanDateTime = None
    account: list[AccountIdentifier] = Field(default_factory=list)
    servicer: AccountIdentifier | None = None

    @property
    def iban(self) -> str | None:
        """The account's IBAN, when the bank gave one."""
        for ident in self.account:
            if (ident.scheme_name or "").upper() == "IBAN":
                return ident.identification
        return None


class CreditLine(DataModel):
    """Credit an account may draw on (a card's limit, an overdraft), and whether the balance
    counts it."""

    included: bool | None = None
    amount: Amount = Field(default_factory=Amount)
    type: Word = None


def _signed(indicator: str | None, amount: Decimal | None) -> Decimal | None:
    if amount is None:
        return None
    return -abs(amount) if (indicator or "").upper() == "DEBIT" else amount


class Balance(DataModel):
    """One balance of an account (closing available, closing booked, ...)."""

    account_id: str | None = None
    entity_id: str | None = None
    type: str | None = None
    credit_debit_indicator: str | None = None
    amount: Amount = Field(default_factory=Amount)
    date_time: LeanDateTime = None
    credit_line: Annotated[list[CreditLine], BeforeValidator(_listed)] = Field(default_factory=list)

    @property
    def signed_amount(self) -> Decimal | None:
        """The amount with its sign: debit balances are negative."""
        return _signed(self.credit_debit_indicator, self.amount.amount)


class TransactionBalance(DataModel):
    """The account's balance after a transaction, as the bank reports it."""

    type: Word = None
    credit_debit_indicator: Word = None
    amount: Amount = Field(default_factory=Amount)

    @property
    def signed_amount(self) -> Decimal | None:
        """The balance with its sign: an overdrawn (debit) balance is negative."""
        return _signed(self.credit_debit_indicator, self.amount.amount)


class MerchantDetails(DataModel):
    """Where a card was used."""

    merchant_name: str | None = None
    merchant_category_code: str | None = None

    @property
    def mcc(self) -> str | None:
        """The four-digit merchant category code (Lean writes `CC5411`)."""
        code = (self.merchant_category_code or "").strip().upper()
        return code.removeprefix("CC") or None


class BankTransactionCode(DataModel):
    """The bank's family and sub-family for a transaction (`Customer Card Transactions`)."""

    code: str | None = None
    sub_code: str | None = None


class ProprietaryBankTransactionCode(DataModel):
    """The bank's own code for a transaction, and who issued it."""

    code: str | None = None
    issuer: str | None = None


class CardInstrument(DataModel):
    """The card used: scheme (mada is `LOCAL_SCHEME`), how it was authorised, masked number."""

    authorization_type: Word = None
    card_scheme_name: Word = None
    identification: str | None = None
    name: str | None = None


class ChargeAmount(Amount):
    """A fee on a transaction; `charge_included` says whether the amount already holds it."""

    charge_included: bool | None = None


class CurrencyExchange(DataModel):
    """The exchange behind a transaction in another currency."""

    source_currency: str | None = None
    target_currency: str | None = None
    unit_currency: str | None = None
    exchange_rate: Money = None
    contract_identification: str | None = None
    quotation_date: LeanDateTime = None
    instructed_amount: Amount | None = None


class Transaction(DataModel):
    """A booked or pending transaction, with the bank's running balance when it gives one."""

    transaction_id: str | None = None
    account_id: str | None = None
    entity_id: str | None = None
    credit_debit_indicator: Word = None
    amount: Amount = Field(default_factory=Amount)
    status: Word = None
    booking_date_time: LeanDateTime = None
    value_date_time: LeanDateTime = None
    transaction_information: str | None = None
    transaction_type: Word = None
    sub_transaction_type: Word = None
    transaction_reference: str | None = None
    transaction_mutability: Word = None
    balance: TransactionBalance | None = None
    statement_reference: Annotated[list[str], BeforeValidator(_listed)] = Field(
        default_factory=list
    )
    index: int | None = None
    charge_amount: ChargeAmount | None = None
    bank_transaction_code: BankTransactionCode | None = None
    proprietary_bank_transaction_code: ProprietaryBankTransactionCode | None = None
    card_instrument: CardInstrument | None = None
    merchant_details: MerchantDetails | None = None
    currency_exchange: CurrencyExchange | None = None
    creditor_account: AccountIdentifier | None = None
    creditor_agent: Agent | None = None
    debtor_account: AccountIdentifier | None = None
    debtor_agent: Agent | None = None
    local_time_zone: str | None = None
    flags: Annotated[list[Any], BeforeValidator(_listed)] = Field(default_factory=list)

    @property
    def signed_amount(self) -> Decimal | None:
        """The amount with its sign: money out (DEBIT) is negative."""
        return _signed(self.credit_debit_indicator, self.amount.amount)

    @property
    def balance_after(self) -> Decimal | None:
        """The account's balance after this transaction, signed; None when the bank gave none."""
        return self.balance.signed_amount if self.balance else None

    @property
    def merchant_name(self) -> str | None:
        """The merchant's name for card payments."""
        return self.merchant_details.merchant_name if self.merchant_details else None


class IdentityAddress(DataModel):
    """A person's address as the bank holds it (Saudi national address parts)."""

    address_line: str | None = None
    address_type: str | None = None
    building_type: str | None = None
    apartment_or_villa_number: str | None = None
    building_name: str | None = None
    street: str | None = None
    area: str | None = None
    street_address: str | None = None
    post_code: str | None = None
    town_name: str | None = None
    region: str | None = None
    po_box: str | None = None
    country: str | None = None

    @property
    def one_line(self) -> str:
        """The address on one line: the bank's own line when given, else its parts."""
        if self.address_line:
            parts = [self.address_line, self.region, self.country]
        else:
            parts = [self.street_address or self.street, self.area, self.town_name,
                     self.post_code, self.region, self.country]  # fmt: skip
        return ", ".join(p for p in parts if p)


class Identity(DataModel):
    """A person on an account as the bank knows them: the holder, or a joint party with a role.

    `address` stays a plain mapping (screens read its keys); `postal_address` reads it typed.
    """

    entity_id: str | None = None
    full_legal_name: str | None = None
    name: str | None = None
    national_id: str | None = None
    birth_date: LeanDateTime = None
    gender: Annotated[str | None, BeforeValidator(_no_empty_text)] = None
    email_address: str | None = None
    mobile_number: str | None = None
    phone: str | None = None
    legal_structure: str | None = None
    address: Annotated[dict[str, Any] | None, BeforeValidator(_address_map)] = None
    account_role: Word = None
    party_type: Word = None
    party_id: str | None = None
    party_number: str | None = None

    @property
    def postal_address(self) -> IdentityAddress | None:
        """The address, typed."""
        return IdentityAddress.model_validate(self.address) if self.address else None


class DataItem(LeanModel):
    """A per-account record without a richer model (beneficiary, direct debit, ...)."""


class Beneficiary(DataItem, DataModel):
    """A payee saved on the account. `reference` carries the bank's activation word."""

    account_id: str | None = None
    beneficiary_id: str | None = None
    beneficiary_type: Word = None
    account_holder_name: str | None = None
    account_holder_short_name: str | None = None
    creditor_agent: Agent | None = None
    creditor_account: AccountIdentifier | None = None
    reference: str | None = None

    @property
    def activated(self) -> bool | None:
        """True when the bank has activated the beneficiary (`KSA_OB_ACTIVATED`)."""
        word = (self.reference or "").strip().upper()
        return {"KSA_OB_ACTIVATED": True, "KSA_OB_NOT_ACTIVATED": False}.get(word)


class DirectDebit(DataItem, DataModel):
    """A mandate letting a company (an insurer, a BNPL provider) pull money from the account."""

    account_id: str | None = None
    direct_debit_id: str | None = None
    status_code: Word = None
    frequency: Word = None
    mandate_identification: str | None = None
    name: str | None = None
    previous_payment_date_time: LeanDateTime = None
    previous_payment_amount: Amount | None = None


_INTERVAL_DAY = re.compile(r"^IntervalDay:\s*(\d+)$", re.IGNORECASE)


class StandingOrderFrequency(DataModel):
    """How often a standing order pays: a type and an interval (`IntervalDay:5`)."""

    frequency_type: Word = None
    interval: str | None = None

    @property
    def every_days(self) -> int | None:
        """Days between payments when the interval says so (`IntervalDay:7` → 7)."""
        word = (self.interval or "").strip()
        match = _INTERVAL_DAY.match(word)
        if match:
            return int(match[1]) or None
        return 1 if word.upper() in ("EVERYDAY", "EVERYWORKINGDAY") else None

    @property
    def words(self) -> str:
        """The frequency as an operator reads it: "every 7 days", "every working day"."""
        word = (self.interval or "").strip()
        days = self.every_days
        if word.upper() == "EVERYWORKINGDAY":
            return "every working day"
        if days == 1:
            return "every day"
        if days:
            return f"every {days} days"
        return word or (self.frequency_type or "").replace("_", " ").lower() or "not given"


class StandingOrder(DataItem, DataModel):
    """A payment the bank repeats on a schedule."""

    account_id: str | None = None
    standing_order_id: str | None = None
    standing_order_status_code: Word = None
    standing_order_type: Word = None
    frequency: Annotated[StandingOrderFrequency | None, BeforeValidator(_frequency_object)] = None
    number_of_payments: int | None = None
    reference: str | None = None
    purpose: str | None = None
    first_payment_date_time: LeanDateTime = None
    last_payment_date_time: LeanDateTime = None
    next_payment_date_time: LeanDateTime = None
    final_payment_date_time: LeanDateTime = None
    first_payment_amount: Amount | None = None
    last_payment_amount: Amount | None = None
    next_payment_amount: Amount | None = None
    final_payment_amount: Amount | None = None
    creditor_agent: Agent | None = None
    creditor_account: AccountIdentifier | None = None


class ScheduledPayment(DataItem, DataModel):
    """A one-off payment booked for a later day."""

    account_id: str | None = None
    scheduled_payment_id: str | None = None
    scheduled_type: Word = None
    scheduled_payment_date_time: LeanDateTime = None
    debtor_reference: str | None = None
    reference: str | None = None
    instructed_amount: Amount | None = None
    creditor_agent: Agent | None = None
    creditor_account: AccountIdentifier | None = None


# The model each per-account data endpoint's items are read into.
ACCOUNT_DATA_MODELS: dict[str, type[BaseModel]] = {
    "balances": Balance,
    "transactions": Transaction,
    "beneficiaries": Beneficiary,
    "identities": Identity,
    "direct-debits": DirectDebit,
    "scheduled-payments": ScheduledPayment,
    "standing-orders": StandingOrder,
}


class DataResult(BaseModel, Generic[T]):
    """A data v2 answer: the envelope plus its items."""

    status: DataStatus = None
    results_id: str | None = None
    message: str | None = None
    timestamp: LeanDateTime = None
    refreshed_at: LeanDateTime = None
    type: str | None = None
    items: list[T] = Field(default_factory=list)
    page: PageInfo = Field(default_factory=PageInfo)

    @property
    def has_next(self) -> bool:
        """True when another page follows this one."""
        return has_next_page(self.items, self.page)


# --------------------------------------------------------------------------------------------
# Refreshes and verification
# --------------------------------------------------------------------------------------------


class TransactionAvailability(DataModel):
    """Which transaction window the bank returned."""

    start: LeanDateTime = None
    end: LeanDateTime = None
    complete_months: int | None = None


class AccountRefreshStatus(DataModel):
    """One account's status per data type within a refresh."""

    account_id: str | None = None
    balance: DataStatus = None
    identity: DataStatus = None
    transactions: DataStatus = None
    beneficiaries: DataStatus = None
    direct_debits: DataStatus = None
    scheduled_payments: DataStatus = None
    standing_orders: DataStatus = None
    transaction_availability: TransactionAvailability | None = Field(
        default=None,
        validation_alias=AliasChoices("transaction_availability", "transactionAvailability"),
    )

    def statuses(self) -> dict[str, str | None]:
        """Status per data type, in `ACCOUNT_DATA_TYPES` order."""
        return {name: getattr(self, name) for name in ACCOUNT_DATA_TYPES}


class RefreshDataStatus(DataModel):
    """Entity-level statuses and the per-account breakdown."""

    accounts: DataStatus = None
    identity: DataStatus = None
    account_data: list[AccountRefreshStatus] = Field(default_factory=list)


class Refresh(DataModel):
    """A data refresh and how far it got (refresh status API and webhook payload)."""

    refresh_id: str
    entity_id: str | None = None
    customer_id: str | None = None
    app_user_id: str | None = None
    status: RefreshStatus = None
    data_status: RefreshDataStatus | None = None
    created_at: LeanDateTime = None
    updated_at: LeanDateTime = None


class RefreshTrigger(LeanModel):
    """Lean's answer to a manual refresh request."""

    refresh_id: str
    status: str | None = None
    message: str | None = None
    timestamp: LeanDateTime = None


class IbanVerification(LeanModel):
    """Whether one IBAN belongs to the identified person."""

    iban: str | None = None
    iban_ownership_verified: bool | None = None


class OwnershipVerification(LeanModel):
    """Result of verifying that a national ID owns the entity's accounts."""

    status: DataStatus = None
    results_id: str | None = None
    message: str | None = None
    timestamp: LeanDateTime = None
    entity_ownership_verified: bool | None = None
    verification_method: str | None = None
    ibans: list[IbanVerification] = Field(default_factory=list)

    @classmethod
    def from_response(cls, body: dict[str, Any]) -> OwnershipVerification:
        """Flatten Lean's `verifications` object into the envelope."""
        verifications = body.get("verifications") or {}
        merged = {k: v for k, v in body.items() if k != "verifications"}
        merged.update(verifications)
        return cls.model_validate(merged)
