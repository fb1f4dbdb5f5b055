"""An entity's accounts and their data as operators read them: balances in words, transactions as
rows, a balance line and monthly cash flow, identity and the other records, identifiers masked.

Shaping is pure (models in, rows and series out); the few `fetch_*` functions call Lean. Fields
Lean sends that the models do not name yet (`transaction_mutability`, `merchant_details`, a
transaction's running `balance`, a balance's `credit_line`) are read from `model_extra`, so the
screen works on Lean's full shapes before the models catch up.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from console.access import Actor, require
from console.actions import audited
from console.masking import (
    ascii_digits,
    mask_address,
    mask_email,
    mask_identifier,
    mask_name,
    mask_payload,
    mask_phone,
    mask_tail,
    redact_names,
)
from console.messages import OperatorMessage, describe_error
from console.national_id import NationalId, parse_national_id
from console.refreshes import (
    DATA_TYPE_LABELS,
    FAILED,
    NO_DETAILS,
    PARTIAL,
    SUCCEEDED,
    account_row_labels,
    outcome_word,
)
from lean_api.client import LeanClient
from lean_api.errors import LeanAPIError
from lean_api.models import (
    ACCOUNT_DATA_TYPES,
    Account,
    Balance,
    Identity,
    OwnershipVerification,
    Refresh,
    Transaction,
)

# Lean's balance types (its balances example) in the operator's words, in reading order.
BALANCE_TYPE_WORDS: dict[str, str] = {
    "CLOSING_BOOKED": "Closing booked",
    "CLOSING_AVAILABLE": "Closing available",
    "CLOSING_CLEARED": "Closing cleared",
    "INTERIM_BOOKED": "Interim booked (during the day)",
    "INTERIM_AVAILABLE": "Interim available (during the day)",
    "INTERIM_CLEARED": "Interim cleared (during the day)",
    "OPENING_BOOKED": "Opening booked",
    "OPENING_AVAILABLE": "Opening available",
    "OPENING_CLEARED": "Opening cleared",
    "FORWARD_AVAILABLE": "Forward available",
    "EXPECTED": "Expected",
    "PREVIOUSLY_CLOSED_BOOKED": "Previously closed booked",
    "INFORMATION": "Information only",
}
CREDIT_LINE_WORDS = {
    "AVAILABLE": "Available credit",
    "CREDIT": "Credit limit",
    "EMERGENCY": "Emergency credit",
    "PRE_AGREED": "Pre-agreed overdraft",
    "TEMPORARY": "Temporary credit",
}
# The balance a running line ends at, best first.
ANCHOR_BALANCE_TYPES = (
    "CLOSING_BOOKED",
    "INTERIM_BOOKED",
    "CLOSING_AVAILABLE",
    "INTERIM_AVAILABLE",
)
# Per-account records counted on the screen, with the client's data type and the screen's words.
RECORD_TYPES: dict[str, str] = {
    "beneficiaries": "Beneficiaries",
    "direct-debits": "Direct debits",
    "standing-orders": "Standing orders",
    "scheduled-payments": "Scheduled payments",
}
TRANSACTION_LIMIT = 2000
RECORD_LIMIT = 500
_CURRENCY_CODE = re.compile(r"[A-Z]{3}", re.ASCII)


# ---------------------------------------------------------------------------------------------
# Reading fields, whether the model names them or keeps them as extras
# ---------------------------------------------------------------------------------------------


def field_of(obj: Any, name: str, default: Any = None) -> Any:
    """`obj.name`, or the unknown field `name` a model kept, or `obj[name]` for a dict."""
    if obj is None:
        return default
    if isinstance(obj, Mapping):
        value = obj.get(name)
    else:
        extra = getattr(obj, "model_extra", None) or {}
        value = extra[name] if name in extra else getattr(obj, name, None)
    return default if value is None else value


def path_of(obj: Any, *names: str) -> Any:
    """`field_of` along a path: `path_of(tx, "merchant_details", "merchant_name")`."""
    for name in names:
        obj = field_of(obj, name)
        if obj is None:
            return None
    return obj


def to_decimal(value: Any) -> Decimal | None:
    """An amount as Decimal (numbers or numeric strings); None when missing or unreadable."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    try:
        parsed = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return parsed if parsed.is_finite() else None


def signed(indicator: Any, amount: Any) -> Decimal | None:
    """An amount with its sign: DEBIT is negative, CREDIT (or no indicator) positive."""
    value = to_decimal(amount)
    if value is None:
        return None
    return -abs(value) if str(indicator or "").upper() == "DEBIT" else value


def money_words(amount: Decimal | None, currency: str | None) -> str:
    """`-1,234.50` and SAR → "1,234.50 SAR overdrawn (debit)"; `None` → "amount not given"."""
    if amount is None:
        return "amount not given"
    text = f"{abs(amount):,.2f} {currency or '(currency not given)'}"
    return f"{text} overdrawn (debit)" if amount < 0 else f"{text} in credit"


def balance_type_words(kind: str | None) -> str:
    """`CLOSING_BOOKED` → "Closing booked"; an unknown type is shown as Lean wrote it."""
    if not kind:
        return "Type not given"
    return BALANCE_TYPE_WORDS.get(kind.upper(), kind)


def _as_float(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


def _day(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d}" if value else ""


# ---------------------------------------------------------------------------------------------
# Accounts
# ---------------------------------------------------------------------------------------------


def account_label(account: Account, *, reveal: bool = False) -> str:
    """ "Current Account · SA04 •••• •••• •• 0I · SAR": how an operator picks an account."""
    name = account.nickname or account.description or account.account_sub_type or "Account"
    iban = account.iban
    shown = (iban if reveal else mask_identifier("IBAN", iban)) if iban else ""
    parts = [name, shown, account.currency or ""]
    return " · ".join(p for p in parts if p)


# ---------------------------------------------------------------------------------------------
# Balances
# ---------------------------------------------------------------------------------------------


def credit_line_words(balance: Balance) -> str:
    """ "Emergency credit 131.61 SAR (not in the balance) · Credit limit 462.60 SAR (in the
    balance)"; "" when the bank lists none."""
    lines = field_of(balance, "credit_line") or []
    if isinstance(lines, Mapping):
        lines = [lines]
    words = []
    for line in lines if isinstance(lines, list) else []:
        kind = str(field_of(line, "type") or "")
        label = CREDIT_LINE_WORDS.get(kind.upper(), kind or "Credit line")
        amount = to_decimal(path_of(line, "amount", "amount"))
        currency = path_of(line, "amount", "currency") or ""
        included = field_of(line, "included")
        where = {True: "in the balance", False: "not in the balance"}.get(included, "")
        text = f"{label} {amount:,.2f} {currency}".strip() if amount is not None else label
        words.append(f"{text} ({where})" if where else text)
    return " · ".join(words)


def balance_rows(balances: Iterable[Balance]) -> list[dict[str, Any]]:
    """One row per balance, Lean's known types first in reading order, unknown ones after."""
    order = {kind: n for n, kind in enumerate(BALANCE_TYPE_WORDS)}
    ordered = sorted(
        balances, key=lambda b: (order.get((b.type or "").upper(), len(order)), b.type or "")
    )
    rows = []
    for balance in ordered:
        amount = signed(balance.credit_debit_indicator, balance.amount.amount)
        rows.append(
            {
                "Balance": balance_type_words(balance.type),
                "In words": money_words(amount, balance.amount.currency),
                "Amount": _as_float(amount),
                "Currency": balance.amount.currency or "",
                "Credit lines": credit_line_words(balance) or "none listed",
                "As of": f"{balance.date_time:%Y-%m-%d %H:%M} UTC" if balance.date_time else "",
                "Lean type": balance.type or "",
            }
        )
    return rows


def anchor_balance(balances: Iterable[Balance]) -> Balance | None:
    """The balance a running line ends at: closing booked, else interim booked, else available."""
    by_type = {(b.type or "").upper(): b for b in balances if b.amount.amount is not None}
    for kind in ANCHOR_BALANCE_TYPES:
        if kind in by_type:
            return by_type[kind]
    return None


# ---------------------------------------------------------------------------------------------
# Transactions
# ---------------------------------------------------------------------------------------------


def transaction_amount(tx: Transaction) -> Decimal | None:
    """The transaction's amount with its sign (debits negative); None when Lean gave none."""
    return signed(tx.credit_debit_indicator, tx.amount.amount)


def transaction_when(tx: Transaction) -> datetime | None:
    """When the transaction happened: its booking time, else its value date."""
    return tx.booking_date_time or tx.value_date_time


def running_balance(tx: Transaction) -> tuple[Decimal, str | None] | None:
    """The account's balance right after the transaction, when Lean sent it, with its currency."""
    balance = field_of(tx, "balance")
    if balance is None:
        return None
    amount = signed(
        field_of(balance, "credit_debit_indicator"), path_of(balance, "amount", "amount")
    )
    if amount is None:
        return None
    return amount, path_of(balance, "amount", "currency")


def _newest_first(transactions: Iterable[Transaction]) -> list[Transaction]:
    epoch = datetime.min
    return sorted(
        transactions,
        key=lambda t: w.replace(tzinfo=None) if (w := transaction_when(t)) else epoch,
        reverse=True,
    )


def transaction_rows(
    transactions: Iterable[Transaction], *, holder_names: Iterable[str | None] = ()
) -> list[dict[str, Any]]:
    """The table of transactions, newest first; the account holder's names (`holder_names`) are
    masked where a description repeats them ("Mae Zulauf Savings Account")."""
    names = [n for n in holder_names if n]
    rows = []
    for tx in _newest_first(transactions):
        when = transaction_when(tx)
        kinds = [field_of(tx, "transaction_type"), field_of(tx, "sub_transaction_type")]
        rows.append(
            {
                "Date": f"{when:%Y-%m-%d %H:%M}" if when else "",
                "Description": redact_names(tx.transaction_information, names),
                "Amount": _as_float(transaction_amount(tx)),
                "Currency": tx.amount.currency or "",
                "Status": (tx.status or "not given").title(),
                "Merchant": path_of(tx, "merchant_details", "merchant_name") or "",
                "Mutability": str(field_of(tx, "transaction_mutability") or "not given").title(),
                "Type": " / ".join(str(k) for k in kinds if k),
                "Reference": str(field_of(tx, "transaction_reference") or ""),
                "transaction_id": tx.transaction_id or "",
            }
        )
    return rows


def main_currency(
    transactions: Iterable[Transaction], balance: Balance | None = None
) -> str | None:
    """The account's currency: its anchor balance's, else the commonest among transactions."""
    if balance is not None and balance.amount.currency:
        return balance.amount.currency
    counts = Counter(t.amount.currency for t in transactions if t.amount.currency)
    return counts.most_common(1)[0][0] if counts else None


@dataclass(frozen=True)
class BalancePoint:
    """The account's balance at one moment."""

    at: datetime
    balance: Decimal


@dataclass(frozen=True)
class BalanceSeries:
    """The balance over time in one currency, how it was worked out, and what was left out."""

    currency: str | None
    points: list[BalancePoint]
    method: str
    notes: list[str] = field(default_factory=list)


def currency_words(code: str | None) -> str:
    """An ISO currency code as it is; anything else (it comes from Lean) as neutral words, so
    notes built with it stay the console's own words."""
    if code and _CURRENCY_CODE.fullmatch(code):
        return code
    return "an unnamed currency" if not code else "an unreadable currency"


def _other_currency_note(skipped: Counter[str], currency: str | None) -> list[str]:
    if not skipped:
        return []
    listed = ", ".join(f"{n} in {currency_words(c)}" for c, n in sorted(skipped.items()))
    return [
        f"Transactions in other currencies ({listed}) are left out of this "
        f"{currency_words(currency)} line: amounts in different currencies are never added together."
    ]


def balance_series(
    transactions: Iterable[Transaction], balances: Iterable[Balance] = ()
) -> BalanceSeries:
    """The account's balance over time.

    From the running balance Lean sends with each transaction when it does; otherwise walked back
    from the current booked balance, undoing one transaction at a time. Only the account's own
    currency is drawn; transactions in another currency are counted in a note, never added.
    """
    items = list(transactions)
    anchor = anchor_balance(list(balances))
    currency = main_currency(items, anchor)
    skipped: Counter[str] = Counter(
        t.amount.currency or "" for t in items if t.amount.currency != currency
    )
    mine = [t for t in items if t.amount.currency == currency]

    running = [
        (when, rb)
        for t in mine
        if (when := transaction_when(t)) is not None and (rb := running_balance(t)) is not None
    ]
    if running and all(rb[1] in (None, currency) for _, rb in running):
        points = sorted((BalancePoint(w, rb[0]) for w, rb in running), key=lambda p: p.at)
        notes = _other_currency_note(skipped, currency)
        if len(running) < len(mine):
            notes.append(
                f"{len(mine) - len(running)} transactions came without a running balance and "
                "are not drawn."
            )
        return BalanceSeries(
            currency, points, "Lean's running balance after each transaction", notes
        )

    if anchor is None or anchor.signed_amount is None:
        note = "No booked balance and no running balance from Lean, so there is no line to draw."
        return BalanceSeries(currency, [], "none", [note, *_other_currency_note(skipped, currency)])

    notes = _other_currency_note(skipped, currency)
    current = anchor.signed_amount
    dated = [t for t in mine if transaction_when(t) is not None]
    newest = max((transaction_when(t) for t in dated), default=None)  # type: ignore[type-var]
    end = anchor.date_time or newest
    points = [BalancePoint(end, current)] if end else []
    missing = 0
    pending = 0
    for tx in _newest_first(dated):
        if (tx.status or "").upper() == "PENDING":
            pending += 1  # a pending transaction is not in the booked balance yet
            continue
        amount = transaction_amount(tx)
        if amount is None:
            missing += 1
            continue
        when = transaction_when(tx)
        assert when is not None
        points.append(BalancePoint(when, current))
        current -= amount
        points.append(BalancePoint(when, current))
    # Built newest first (after, then before each transaction); oldest first for the chart,
    # keeping that order between the two points of one transaction.
    points.reverse()
    points.sort(key=lambda p: p.at)
    if missing:
        notes.append(
            f"{missing} transactions have no amount; the line before them may be off by those amounts."
        )
    if pending:
        notes.append(
            f"{pending} pending transactions are not in the booked balance and are left out."
        )
    kind = balance_type_words(anchor.type).lower()
    return BalanceSeries(
        currency,
        points,
        f"the current {kind} balance, walked back one transaction at a time",
        notes,
    )


@dataclass(frozen=True)
class MonthlyFlow:
    """Money in and out of the account in one month, in one currency."""

    month: date
    currency: str
    credits: Decimal
    debits: Decimal
    count: int

    @property
    def net(self) -> Decimal:
        """Credits minus debits."""
        return self.credits - self.debits


@dataclass(frozen=True)
class CashFlow:
    """Monthly credits and debits per currency, and what could not be counted."""

    months: list[MonthlyFlow]
    notes: list[str] = field(default_factory=list)

    @property
    def currencies(self) -> list[str]:
        """The currencies present, the one with most transactions first."""
        counts = Counter()
        for month in self.months:
            counts[month.currency] += month.count
        return [c for c, _ in counts.most_common()]

    def of(self, currency: str) -> list[MonthlyFlow]:
        """The months of one currency, oldest first."""
        return [m for m in self.months if m.currency == currency]


def monthly_cash_flow(transactions: Iterable[Transaction]) -> CashFlow:
    """Credits and debits per calendar month (UTC), one series per currency, never summed across."""
    totals: dict[tuple[str, date], list[Any]] = {}
    no_amount = no_date = no_currency = 0
    for tx in transactions:
        when = transaction_when(tx)
        amount = to_decimal(tx.amount.amount)
        if when is None:
            no_date += 1
            continue
        if amount is None:
            no_amount += 1
            continue
        if not tx.amount.currency:
            no_currency += 1
            continue
        key = (tx.amount.currency, date(when.year, when.month, 1))
        slot = totals.setdefault(key, [Decimal(0), Decimal(0), 0])
        if str(tx.credit_debit_indicator or "").upper() == "DEBIT":
            slot[1] += abs(amount)
        else:
            slot[0] += abs(amount)
        slot[2] += 1
    months = [
        MonthlyFlow(month, currency, credits, debits, count)
        for (currency, month), (credits, debits, count) in sorted(
            totals.items(), key=lambda kv: (kv[0][1], kv[0][0])
        )
    ]
    notes = []
    for n, what in ((no_date, "no date"), (no_amount, "no amount"), (no_currency, "no currency")):
        if n:
            notes.append(f"{n} transactions with {what} are not counted.")
    if len({m.currency for m in months}) > 1:
        notes.append(
            "The account has transactions in more than one currency; each is charted on its "
            "own, never added together."
        )
    return CashFlow(months, notes)


# ---------------------------------------------------------------------------------------------
# Identity and other records
# ---------------------------------------------------------------------------------------------


def _address_words(address: Any) -> str:
    if not isinstance(address, Mapping):
        return str(address) if address else ""
    if address.get("address_line"):
        # The bank's one-line address already holds the street, district and town.
        extra = [address.get(k) for k in ("region", "country")]
        return ", ".join(str(v) for v in [address["address_line"], *extra] if v)
    parts: list[str] = []
    for value in address.values():
        if value not in (None, "") and str(value) not in parts:
            parts.append(str(value))
    return ", ".join(parts)


def identity_item(person: int, field_name: str) -> str:
    """The reveal item of one identity field (`identity:0:National ID`)."""
    return f"identity:{person}:{field_name}"


def _identity_fields(identity: Identity) -> list[tuple[str, Any, str]]:
    """(field, value as the bank gave it, value masked); masked == value when nothing is hidden."""
    address = field_of(identity, "address")
    national = identity.national_id or ""
    return [
        ("Full legal name", identity.full_legal_name, mask_name(identity.full_legal_name)),
        ("Name", identity.name, mask_name(identity.name)),
        ("National ID", national, mask_tail(ascii_digits(national)) if national else ""),
        ("Birth date", _day(identity.birth_date), _day(identity.birth_date)),
        ("Gender", identity.gender, identity.gender),
        ("Email", identity.email_address, mask_email(identity.email_address)),
        ("Mobile", identity.mobile_number, mask_phone(identity.mobile_number)),
        ("Address", _address_words(address), mask_address(address)),
        ("Party type", field_of(identity, "party_type"), field_of(identity, "party_type")),
        ("Account role", field_of(identity, "account_role"), field_of(identity, "account_role")),
    ]


def identity_rows(
    identity: Identity, *, reveal: bool = False, revealed: Container[str] = (), person: int = 0
) -> list[dict[str, str]]:
    """The account holder as the bank knows them. Names, the national ID, e-mail, mobile and
    address are masked unless `reveal`, or their item (`identity_item`) is in `revealed`."""
    rows = []
    for name, value, masked in _identity_fields(identity):
        shown = value if reveal or identity_item(person, name) in revealed else masked
        rows.append({"Field": name, "Value": str(shown) if shown else "not given"})
    return rows


def identity_choices(identity: Identity, person: int = 0) -> dict[str, str]:
    """The identity's masked fields as "Reveal a row" offers them: item → `Email: y•••@h•••.com`."""
    return {
        identity_item(person, name): f"{name}: {masked}"
        for name, value, masked in _identity_fields(identity)
        if value and masked != value
    }


def record_item(data_type: str, index: int) -> str:
    """The reveal item of one saved payment (`beneficiaries:0`)."""
    return f"{data_type}:{index}"


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(inner, Mapping | list):
                _flatten(name, inner, out)
            else:
                out[name] = inner
    elif isinstance(value, list):
        if all(not isinstance(v, Mapping | list) for v in value):
            out[prefix] = ", ".join(str(v) for v in value)
        else:
            for n, inner in enumerate(value):
                _flatten(f"{prefix}[{n}]", inner, out)
    else:
        out[prefix] = value


def _record_data(item: Any) -> dict[str, Any]:
    data = item.model_dump(mode="json") if hasattr(item, "model_dump") else dict(item)
    data.pop("entity_id", None)
    data.pop("account_id", None)
    return data


def record_rows(
    items: Iterable[Any],
    *,
    reveal: bool = False,
    revealed: Container[str] = (),
    data_type: str = "",
) -> list[dict[str, Any]]:
    """Beneficiaries, direct debits, standing or scheduled payments as flat rows.

    Nested objects become `creditor_account.identification` columns. Personal data (account
    identifiers, card numbers, national IDs, people's names, phones, e-mail and addresses; see
    `console.masking.mask_payload`) is masked unless `reveal` or the row's item
    (`record_item(data_type, n)`) is in `revealed`. Values are text (tables show it literally).
    """
    rows = []
    for index, item in enumerate(items):
        data = _record_data(item)
        if not (reveal or record_item(data_type, index) in revealed):
            data = mask_payload(data)
        flat: dict[str, Any] = {}
        _flatten("", data, flat)
        rows.append(
            {
                k: ("" if v is None else v if isinstance(v, int | float | str) else json.dumps(v))
                for k, v in flat.items()
            }
        )
    return rows


def record_choices(items: Iterable[Any], data_type: str) -> dict[str, str]:
    """Each saved payment as "Reveal a row" offers it: `1 · 196784 · M•••• · SA50 •••• …`."""
    choices = {}
    for index, item in enumerate(items):
        masked = mask_payload(_record_data(item))
        flat: dict[str, Any] = {}
        _flatten("", masked, flat)
        ident = next((str(v) for k, v in flat.items() if k.endswith("_id") and v), "")
        people = [str(v) for k, v in flat.items() if k.endswith(("name", "identification")) and v]
        label = " · ".join(p for p in (f"Row {index + 1}", ident, *people[:2]) if p)
        choices[record_item(data_type, index)] = label
    return choices


# ---------------------------------------------------------------------------------------------
# Ownership verification
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OwnershipCheck:
    """What the operator asked (the ID, masked) and what Lean answered."""

    national_id_masked: str
    result: OwnershipVerification


def verify_ownership(
    client: LeanClient, entity_id: str, typed: str | None, actor: Actor | None
) -> OwnershipCheck:
    """Check the role and the typed national ID, then ask Lean. An invalid ID raises
    `InvalidNationalId` before any call; the full ID is sent to Lean and kept nowhere else."""
    require(actor, "verify_ownership")
    national_id: NationalId = parse_national_id(typed)
    result = audited(
        actor, "verify_ownership", "entity", entity_id,
        lambda: client.verify_entity_ownership(entity_id, national_id.value),
        # The audit log keeps the verdict and the masked ID, never the ID itself.
        detail=lambda answer: f"national ID {national_id.masked}: "
        f"verified={answer.entity_ownership_verified}",
    )  # fmt: skip
    return OwnershipCheck(national_id.masked, result)


def ownership_verdict(check: OwnershipCheck) -> tuple[str, str]:
    """The verdict in words and its tone (`good`, `bad`, `warn`)."""
    who = f"The person with national ID {check.national_id_masked}"
    verified = check.result.entity_ownership_verified
    if verified is True:
        return f"Verified — {who} owns this bank connection.", "good"
    if verified is False:
        return f"Not verified — {who} is not the owner Lean knows for this bank connection.", "bad"
    return "Lean did not say whether the ownership is verified.", "warn"


def verification_rows(check: OwnershipCheck, *, reveal: bool = False) -> list[dict[str, str]]:
    """One row per IBAN Lean checked, masked unless `reveal`."""
    words = {True: "Owned by this person", False: "Not owned by this person"}
    return [
        {
            "IBAN": (item.iban or "") if reveal else mask_identifier("IBAN", item.iban),
            "Result": words.get(item.iban_ownership_verified, "Not stated by Lean"),
        }
        for item in check.result.ibans
    ]


# ---------------------------------------------------------------------------------------------
# Refreshes
# ---------------------------------------------------------------------------------------------


def newest_pending(refreshes: Iterable[Refresh]) -> Refresh | None:
    """The most recently created refresh that is still PENDING, if any."""
    pending = [r for r in refreshes if (r.status or "").upper() == "PENDING"]
    if not pending:
        return None
    epoch = datetime.min
    return max(pending, key=lambda r: r.created_at.replace(tzinfo=None) if r.created_at else epoch)


def find_pending_refresh(client: LeanClient, entity_id: str) -> Refresh | None:
    """The entity's running refresh from the newest page of its refreshes, if Lean lists one."""
    return newest_pending(client.list_refreshes(entity_id, 0, 20).items)


def data_status_words(status: str | None) -> str:
    """`SUCCESS` → "Success", `PENDING` → "Pending"; an unknown word is kept; None → "—"."""
    if not status:
        return "—"
    known = {"SUCCESS", "PARTIAL", "FAILED", "UNSUPPORTED", "PENDING"}
    return status.title() if status.upper() in known else status


def refresh_account_rows(
    refresh: Refresh, labels: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """One row per account: the status of each data type in words, and the transaction window.

    An account is named by `labels` (`console.refreshes.account_labels`: name and masked IBAN)
    when it is there, else by its full account_id; two accounts never share a row label.
    """
    if refresh.data_status is None:
        return []
    names = account_row_labels(refresh, dict(labels or {}))
    rows = []
    for name, account in zip(names, refresh.data_status.account_data, strict=True):
        row: dict[str, Any] = {"Account": name}
        for data_type, value in account.statuses().items():
            row[data_type.replace("_", " ").capitalize()] = data_status_words(value)
        window = account.transaction_availability
        row["Transactions from"] = _day(window.start) if window else ""
        row["to"] = _day(window.end) if window else ""
        rows.append(row)
    return rows


def refresh_next_step(refresh: Refresh) -> str:
    """What the operator does next after a finished refresh, in one line from its outcome."""
    word = outcome_word(refresh)
    if word == SUCCEEDED:
        return "All good: every data type succeeded or is unsupported; the data below is fresh."
    if word == PARTIAL:
        partial = ", ".join(f"{name} partial" for name in _types_with(refresh, "PARTIAL"))
        return f"Refresh again later: {partial}."
    if word == FAILED:
        failed = ", ".join(_types_with(refresh, "FAILED"))
        return f"Failed ({failed}) — see which data types on the Data refreshes screen."
    if word == NO_DETAILS:
        return "Lean gave no status per data type: look at the Data refreshes screen."
    return "Lean answered with a word the console does not know: look at the Data refreshes screen."


def _types_with(refresh: Refresh, status: str) -> list[str]:
    """The data types with `status` (the connection-level ones first) on any account."""
    data = refresh.data_status
    if data is None:
        return []
    found = [
        label
        for label, value in (
            ("account list", data.accounts),
            ("connection identity", data.identity),
        )
        if value == status
    ]
    # "identity" alone would read the same as the connection's: say which one.
    labels = {**DATA_TYPE_LABELS, "identity": "account identity"}
    found.extend(
        labels[name]
        for name in ACCOUNT_DATA_TYPES
        if any(account.statuses()[name] == status for account in data.account_data)
    )
    return found


def identity_levels_note(refresh: Refresh) -> str | None:
    """When the connection's identity failed (or was partial) while an account's identity
    succeeded: what each of the two means, in one sentence. None otherwise."""
    data = refresh.data_status
    if data is None or data.identity not in ("FAILED", "PARTIAL"):
        return None
    if not any(account.identity == "SUCCESS" for account in data.account_data):
        return None
    return (
        f"Identity {data.identity.lower()} for the connection but succeeded on the accounts: the "
        "connection's identity is the holder's profile (national ID, name, address — the Identity "
        "section), which Lean could not read in full; an account's identity is the holder the "
        "bank names on that account, which it did read."
    )


# ---------------------------------------------------------------------------------------------
# Fetching (calls Lean)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Transactions:
    """An account's transactions, and whether there were more than the console reads."""

    items: list[Transaction]
    truncated: bool


TRANSACTION_PAGE_SIZE = 50


@dataclass(frozen=True)
class TransactionPage:
    """One page of an account's transactions as Lean pages them (`number` from 0)."""

    items: list[Transaction]
    number: int
    size: int
    total: int | None  # Lean's total_elements, when it says
    has_next: bool

    @property
    def start(self) -> int:
        """Position of the page's first transaction in the account's list, from 0."""
        return self.number * self.size


@dataclass(frozen=True)
class RecordSet:
    """One kind of record of an account, or Lean's final answer why there is none (in words:
    exceptions do not survive the screens' cache)."""

    items: list[Any]
    problem: OperatorMessage | None = None
    truncated: bool = False


def fetch_accounts(client: LeanClient, entity_id: str) -> list[Account]:
    """Every account of the entity."""
    return list(client.iter_accounts(entity_id))


def fetch_balances(client: LeanClient, entity_id: str, account_id: str) -> list[Balance]:
    """Every balance of one account."""
    return list(client.iter_account_data(entity_id, account_id, "balances"))


def fetch_transactions(
    client: LeanClient, entity_id: str, account_id: str, limit: int = TRANSACTION_LIMIT
) -> Transactions:
    """The account's transactions, at most `limit` of them."""
    items: list[Transaction] = []
    for tx in client.iter_account_data(entity_id, account_id, "transactions", size=100):
        if len(items) >= limit:
            return Transactions(items, truncated=True)
        items.append(tx)
    return Transactions(items, truncated=False)


def fetch_transaction_page(
    client: LeanClient,
    entity_id: str,
    account_id: str,
    number: int,
    size: int = TRANSACTION_PAGE_SIZE,
) -> TransactionPage:
    """One page of the account's transactions: one call to Lean, whatever the account holds."""
    result = client.get_account_data(entity_id, account_id, "transactions", max(0, number), size)
    return TransactionPage(
        items=list(result.items),
        number=max(0, number),
        size=size,
        total=result.page.total_elements,
        has_next=result.has_next,
    )


def fetch_records(
    client: LeanClient, entity_id: str, account_id: str, limit: int = RECORD_LIMIT
) -> dict[str, RecordSet]:
    """Beneficiaries, direct debits, standing orders and scheduled payments of one account.

    Lean's final answers for one kind (no data yet, not permitted) are kept beside it so the
    others still show; passing failures (timeouts, 5xx) are raised, so the screen can fall back
    to the last good answer.
    """
    result: dict[str, RecordSet] = {}
    for data_type in RECORD_TYPES:
        items: list[Any] = []
        truncated = False
        try:
            for item in client.iter_account_data(entity_id, account_id, data_type):
                if len(items) >= limit:
                    truncated = True
                    break
                items.append(item)
        except LeanAPIError as exc:
            if exc.status_code >= 500 or exc.status_code == 429:
                raise
            result[data_type] = RecordSet([], describe_error(exc, RECORD_TYPES[data_type].lower()))
            continue
        result[data_type] = RecordSet(items, None, truncated)
    return result
