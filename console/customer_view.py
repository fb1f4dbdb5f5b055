"""One customer as the Customers screen shows them: who they are, their bank connections, and every
account with its balance, loaded from Lean with the independent calls in parallel.

The calls and what each waits for (the longest dependent chain is three calls deep):

    by customer_id:  customer ─┐
                     entities ─┼─► accounts of each entity ─► balances of each account
                     banks ×2 ─┘   (one call per entity)      (one call per account)
    by app_user_id:  customer ─► entities ─► accounts ─► balances (four deep: Lean needs the
                     customer_id before it lists the entities)

`fetch_customer_view` runs them on a bounded thread pool: each entity's accounts are asked for as
soon as the entities are known, each account's balances as soon as its entity's accounts are, so
the view takes about as long as the chain, not the sum. `fetch_customer_view_sequential` asks the
same questions one after another: the naive reference of the bench and the correctness test.

Keeping it warm: Lean's data changes only when something happens to the customer, and Lean tells
us with a webhook (entity.created / entity.updated, a finished data refresh) that names the
customer or one of their entities; a bank's availability changes with bank.availability.updated.
`CustomerWatermark` reads, with two indexed queries, the id of the newest stored event about the
customer and the newest about bank availability. The screen caches the view under that watermark:
a newer event, stored by this process or by a receiver in another process sharing the database,
changes the key, so the next view asks Lean again instead of waiting for a TTL. The watermark is
read before Lean is asked, so an event stored while the view loads makes the next view fresh too.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import pyarrow as pa
from sqlalchemy import func, literal_column, select
from sqlalchemy.engine import Connection

from console.account_data import anchor_balance, fetch_accounts, fetch_balances, money_words
from console.customers import (
    BANK_ACCOUNT_TYPES,
    CustomerOverview,
    CustomerQuery,
    bank_directory,
    entity_table,
    fetch_customer,
    merge_bank_listings,
    summarize_customer,
)
from console.formatting import TONES, tone_of
from console.masking import mask_identifier, redact_names
from console.store import (
    BANK_EVENT_TYPE,
    BANK_NEWEST_INDEX,
    IS_BANK_EVENT,
    EventStore,
    events,
)
from lean_api import LeanClient
from lean_api.calls import in_this_context
from lean_api.errors import LeanError
from lean_api.models import PERMISSIONS, Account, Balance, Bank, Customer, Entity

T = TypeVar("T")

# One view fans out to 2 + 2 + one call per entity + one per account (5 × 4: 29 calls, the widest
# wave 20). Twenty at once ask all balances of such a customer in one round trip and stay within
# the client's connection pool (lean_api.client.POOL_SIZE).
CUSTOMER_VIEW_WORKERS = 20


@dataclass(frozen=True)
class CustomerView:
    """A customer, their entities, each entity's accounts and the balance shown for each account,
    as Lean gave them; `problems` names the parts Lean did not give (the rest is still shown).

    Only what the screen shows is kept (the banks of the customer's entities, one balance per
    account: closing booked, else interim booked, else available): a warm view is a copy of
    this, and Lean's thirteen balance types of twenty accounts would make it ten times larger.
    """

    customer: Customer
    entities: list[Entity]
    banks: dict[str, Bank]
    accounts: dict[str, list[Account]] = field(default_factory=dict)  # by entity_id
    # by account_id; None when Lean gave no balance to show, absent when it did not answer
    balances: dict[str, Balance | None] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when Lean answered every call of the view."""
        return not self.problems


def _problem(what: str, exc: LeanError) -> str:
    return f"{what}: {str(exc)[:200] or type(exc).__name__}"


def _at_bank(entity: Entity | None, names: Mapping[str, str]) -> str:
    """ "at Al Rajhi Bank (connection 77938d84)": which of the customer's banks, in words."""
    if entity is None:
        return "at an unknown bank connection"
    details = entity.bank_details
    bank = (
        names.get(entity.bank_identifier or "")
        or (details.name if details else None)
        or entity.bank_identifier
        or "an unknown bank"
    )
    return f"at {bank} (connection {entity.id[:8]})"


def _names_of(directory: Future[dict[str, Bank]]) -> dict[str, str]:
    """Bank identifier -> name from the directory being fetched ({} when Lean did not give it)."""
    try:
        return {key: bank.display_name for key, bank in directory.result().items()}
    except LeanError:
        return {}


def fetch_customer_view(
    client: LeanClient, query: CustomerQuery, *, workers: int = CUSTOMER_VIEW_WORKERS
) -> CustomerView:
    """The whole view, independent calls in parallel (see the module docstring).

    The customer and their entities are the view: when Lean does not give them, their `LeanError`
    is raised. The bank directory, accounts and balances are details: a failure is a problem
    noted in the view. Every call keeps the caller's context (the screen's time budget and who
    the calls are recorded for).
    """
    # The caller's context, taken once: balance calls are submitted from the accounts calls'
    # callbacks, in the pool's threads, where the screen's context is not current.
    run_here = in_this_context(lambda fn: fn())
    with ThreadPoolExecutor(max(1, workers), thread_name_prefix="customer-view") as pool:

        def submit(fn: Callable[[], T]) -> Future[T]:
            return pool.submit(run_here, fn)

        banks_future = submit(lambda: bank_directory(client))
        if query.kind == "customer_id":
            customer_future = submit(lambda: client.get_customer(query.value))
            entities_future = submit(lambda: client.list_entities(query.value))
            customer = customer_future.result()
            entities = entities_future.result()
        else:
            customer = fetch_customer(client, query)
            entities = client.list_entities(customer.customer_id)
        accounts, balances, problems = _accounts_and_balances(
            submit, client, entities, lambda: _names_of(banks_future)
        )
        try:
            banks = _banks_of(banks_future.result(), entities)
        except LeanError as exc:
            banks = {}
            problems.insert(0, _problem("bank names", exc))
    return CustomerView(customer, entities, banks, accounts, balances, problems)


def _banks_of(directory: dict[str, Bank], entities: Iterable[Entity]) -> dict[str, Bank]:
    """The part of the bank directory the customer's entities name."""
    return {
        e.bank_identifier: directory[e.bank_identifier]
        for e in entities
        if e.bank_identifier in directory
    }


def _accounts_and_balances(
    submit: Callable[[Callable[[], Any]], Future[Any]],
    client: LeanClient,
    entities: list[Entity],
    bank_names: Callable[[], Mapping[str, str]] = dict,
) -> tuple[dict[str, list[Account]], dict[str, Balance | None], list[str]]:
    """Each entity's accounts in parallel; each account's balances asked as soon as its entity's
    accounts are in (the pool's callbacks submit them), all collected in the entities' order."""
    lock = threading.Lock()
    balance_futures: dict[str, tuple[str, Future[list[Balance]]]] = {}

    # A future wakes `result()` before it runs its callbacks: each entity's event says its
    # balance calls are all submitted.
    submitted = {entity.id: threading.Event() for entity in entities}

    def ask_balances(entity_id: str, done: Future[list[Account]]) -> None:
        try:
            if done.exception() is not None:
                return
            for account in done.result():
                future = submit(lambda a=account.account_id: fetch_balances(client, entity_id, a))
                with lock:
                    balance_futures[account.account_id] = (entity_id, future)
        finally:
            submitted[entity_id].set()

    account_futures: dict[str, Future[list[Account]]] = {}
    for entity in entities:
        future = submit(lambda e=entity.id: fetch_accounts(client, e))
        future.add_done_callback(lambda done, e=entity.id: ask_balances(e, done))
        account_futures[entity.id] = future

    accounts: dict[str, list[Account]] = {}
    problems: list[str] = []
    by_id = {entity.id: entity for entity in entities}
    names: Mapping[str, str] | None = None

    def at_bank(entity_id: str) -> str:
        nonlocal names
        if names is None:  # only when something is missing: then wait for the bank names
            names = bank_names()
        return _at_bank(by_id.get(entity_id), names)

    for entity_id, future in account_futures.items():
        try:
            accounts[entity_id] = future.result()
        except LeanError as exc:
            problems.append(_problem(f"accounts {at_bank(entity_id)}", exc))
    balances: dict[str, Balance | None] = {}
    for entity_id in accounts:
        submitted[entity_id].wait()
        for account in accounts[entity_id]:
            with lock:
                asked = balance_futures.get(account.account_id)
            where = f"{account.account_id[:8]} {at_bank(entity_id)}"
            if asked is None:  # the pool refused the call (shutting down)
                problems.append(f"balances of account {where}: not asked")
                continue
            try:
                balances[account.account_id] = anchor_balance(asked[1].result())
            except LeanError as exc:
                problems.append(_problem(f"balances of account {where}", exc))
    return accounts, balances, problems


def fetch_customer_view_sequential(client: LeanClient, query: CustomerQuery) -> CustomerView:
    """The same view, one call after another: the naive reference (bench, correctness test)."""
    customer = fetch_customer(client, query)
    entities = client.list_entities(customer.customer_id)
    problems: list[str] = []
    try:
        listings = [client.list_banks(account_type) for account_type in BANK_ACCOUNT_TYPES]
        banks = _banks_of(merge_bank_listings(listings), entities)
    except LeanError as exc:
        banks = {}
        problems.append(_problem("bank names", exc))
    names = {key: bank.display_name for key, bank in banks.items()}
    accounts: dict[str, list[Account]] = {}
    balances: dict[str, Balance | None] = {}
    for entity in entities:
        try:
            accounts[entity.id] = fetch_accounts(client, entity.id)
        except LeanError as exc:
            problems.append(_problem(f"accounts {_at_bank(entity, names)}", exc))
            continue
        for account in accounts[entity.id]:
            try:
                balances[account.account_id] = anchor_balance(
                    fetch_balances(client, entity.id, account.account_id)
                )
            except LeanError as exc:
                where = f"{account.account_id[:8]} {_at_bank(entity, names)}"
                problems.append(_problem(f"balances of account {where}", exc))
    return CustomerView(customer, entities, banks, accounts, balances, problems)


# ---------------------------------------------------------------------------------------------
# What the screen shows of the accounts
# ---------------------------------------------------------------------------------------------


def account_overview_rows(view: CustomerView) -> list[dict[str, Any]]:
    """One row per account, bank by bank: masked identifiers, holder names redacted, the balance
    in words (booked, else available) and as a number for sorting."""
    rows = []
    for entity in view.entities:
        bank = view.banks.get(entity.bank_identifier or "")
        bank_name = bank.display_name if bank else (entity.bank_identifier or "Unknown bank")
        for account in view.accounts.get(entity.id, []):
            balance = view.balances.get(account.account_id)
            amount = balance.signed_amount if balance else None
            currency = (balance.amount.currency if balance else None) or account.currency
            if account.account_id not in view.balances:
                words = "not loaded"
            elif balance is None:
                words = "no balance given"
            else:
                words = money_words(amount, currency)
            name = account.nickname or account.description or "(no name given)"
            rows.append(
                {
                    "Bank": bank_name,
                    "Account": redact_names(
                        name, [account.account_holder_name, account.account_holder_short_name]
                    ),
                    "Type": " / ".join(
                        t for t in (account.account_type, account.account_sub_type) if t
                    ),
                    "Status": account_status_words(account.status),
                    "Balance": words,
                    "Amount": float(amount) if isinstance(amount, Decimal) else None,
                    "IBAN": mask_identifier("IBAN", account.iban) if account.iban else "",
                    "Entity ID": entity.id,
                    "account_id": account.account_id,
                }
            )
    return rows


ACCOUNT_STATUS_WORDS = {"ENABLED": "Open", "DISABLED": "Disabled by the bank"}


def account_status_words(code: str | None) -> str:
    """`DISABLED` → "Disabled by the bank · DISABLED"; a word the console does not know is still
    shown, with Lean's code."""
    if not code or not code.strip():
        return "Not given by Lean"
    meaning = ACCOUNT_STATUS_WORDS.get(code.strip().upper(), "Not known to the console")
    return f"{meaning} · {code.strip()}"


# A status cell is a pill: the words, on the colour of their tone (console.formatting's palette,
# that the pandas Styler painted whole cells with; its drawing was most of the warm screen's time).
TONE_COLOURS = {
    tone: re.search(r"background-color:\s*(#[0-9a-fA-F]+)", css).group(1)  # type: ignore[union-attr]
    for tone, css in TONES.items()
}


@dataclass(frozen=True)
class ToneColumn:
    """The words a status column holds and the colour of each (st.column_config.MultiselectColumn
    draws each cell as a pill of its colour, the words inside: never the colour alone)."""

    options: tuple[str, ...]
    colours: tuple[str, ...]


def tone_pills(rows: list[dict[str, Any]], column: str) -> ToneColumn:
    """Turn `column` of `rows` into one-word-list cells (`[label]`, or `[]` when empty) and say
    which colour each label is drawn on."""
    labels: dict[str, str] = {}
    for row in rows:
        label = row.get(column)
        if isinstance(label, str) and label:
            labels.setdefault(label, TONE_COLOURS[tone_of(label) or "muted"])
            row[column] = [label]
        else:
            row[column] = []
    return ToneColumn(tuple(labels), tuple(labels.values()))


def permissions_short(granted: Iterable[str]) -> str:
    """The permissions in a cell that fits 1280 px: "9 of 9: all", "8 of 9: no identities",
    "1 of 9: only identity", else how many are missing ("5 of 9: 4 missing"); the bank
    connection's screen lists every permission of every consent."""
    names = list(dict.fromkeys(granted))
    held = [name for name in PERMISSIONS if name in names]
    extra = sum(name not in PERMISSIONS for name in names)
    missing = [name for name in PERMISSIONS if name not in names]
    if not held:
        words = "none"
    elif not missing:
        words = "all"
    elif len(missing) == 1:
        words = f"no {missing[0]}"
    elif len(held) == 1:
        words = f"only {held[0]}"
    else:
        words = f"{len(missing)} missing"
    return f"{len(held)} of {len(PERMISSIONS)}: {words}" + (f" + {extra} more" if extra else "")


# The bank rows: what an operator reads first whole at 1280 px, the dates and ids to the right.
ENTITY_COLUMNS = (
    "Bank",
    "Consent",
    "Bank available",
    "Permissions",
    "Days left",
    "Needs attention",
    "Connected",
    "Consent expires",
    "Entity ID",
    "Bank identifier",
)
ACCOUNT_COLUMNS = ("Bank", "Account", "Balance", "IBAN", "Status", "Type")


@dataclass(frozen=True)
class CustomerScreen:
    """What the Customers screen draws of one view, built once per view (Arrow tables: the
    screen hands them to Streamlit as they are, with no pandas work on a warm run)."""

    view: CustomerView
    overview: CustomerOverview
    entity_ids: list[str]  # row -> entity_id, for the selected bank row
    entities: pa.Table | None
    entity_widths: dict[str, int]
    entity_tones: dict[str, ToneColumn]
    accounts: pa.Table | None
    account_widths: dict[str, int]
    account_rows: int


# A table cell's text in pixels, as the dataframe draws it (the console's font at 14 px; a mask's
# bullets are narrow) and its padding; a pill adds its own.
_CHAR_PIXELS, _NARROW_PIXELS, _CELL_PADDING, _PILL_PADDING = 6.1, 4.0, 18, 16


def _cell_pixels(cell: Any) -> int:
    pill = isinstance(cell, list)
    text = str(cell[0]) if pill and cell else "" if pill else str(cell)
    letters = sum(_NARROW_PIXELS if ch == "•" else _CHAR_PIXELS for ch in text)
    return round(letters) + _CELL_PADDING + (_PILL_PADDING if pill else 0)


def _widths(rows: list[dict[str, Any]], most: Mapping[str, int]) -> dict[str, int]:
    """Each column just wide enough for its longest cell (and its header), at most `most[column]`
    pixels: what an operator reads first fits 1280 px whole."""
    return {
        column: min(
            max([_cell_pixels(column)] + [_cell_pixels(row[column]) for row in rows]), limit
        )
        for column, limit in most.items()
    }


def _arrow(rows: list[dict[str, Any]], columns: Iterable[str]) -> pa.Table | None:
    """The rows' `columns` as an Arrow table (straight from the rows: through pandas it took a
    hundred times longer)."""
    if not rows:
        return None
    return pa.Table.from_pylist([{c: row[c] for c in columns if c in row} for row in rows])


def customer_screen(view: CustomerView, now: datetime | None = None) -> CustomerScreen:
    """The view as the screen shows it: the summary, the bank rows (statuses as pills of their
    tone, permissions short) and the accounts, with column widths that fit their text."""
    overview = summarize_customer(view.customer, view.entities, view.banks, now)
    entity_rows = entity_table(overview.entities)
    for row, entity in zip(entity_rows, overview.entities, strict=True):
        row["Permissions"] = permissions_short(entity.granted)
    tones = {column: tone_pills(entity_rows, column) for column in ("Consent", "Bank available")}
    account_rows = account_overview_rows(view)
    return CustomerScreen(
        view=view,
        overview=overview,
        entity_ids=[row["Entity ID"] for row in entity_rows],
        entities=_arrow(entity_rows, ENTITY_COLUMNS),
        entity_widths=_widths(
            entity_rows,
            {
                "Bank": 160,
                "Consent": 250,
                "Bank available": 190,
                "Permissions": 240,
                "Days left": 180,
                "Needs attention": 110,
            },
        ),
        accounts=_arrow(account_rows, ACCOUNT_COLUMNS),
        account_widths=_widths(
            account_rows,
            {"Bank": 160, "Account": 160, "Balance": 220, "IBAN": 160, "Status": 230},
        ),
        account_rows=len(account_rows),
        entity_tones=tones,
    )


# ---------------------------------------------------------------------------------------------
# Freshness: the newest stored event the view depends on
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerWatermark:
    """Ids of the newest stored events about a customer (or their entities) and about bank
    availability. A view cached under an older watermark is out of date."""

    customer_event_id: int
    bank_event_id: int


def customer_watermark(
    store: EventStore,
    *,
    customer_id: str | None = None,
    app_user_id: str | None = None,
    entity_ids: Iterable[str] = (),
) -> CustomerWatermark:
    """Two to four indexed lookups (`max(id)` by customer_id, app_user_id, entity_id and the
    bank availability type), asked in one statement.

    Raises `StoreUnavailable` / `StoreRejected` when the database cannot answer.
    """
    about_customer = [
        _newest(events.c[column] == value)
        for column, value in (("customer_id", customer_id), ("app_user_id", app_user_id))
        if value
    ]
    entity_ids = sorted(set(entity_ids))
    if entity_ids:
        about_customer.append(_newest(events.c.entity_id.in_(entity_ids)))
    with store.connect() as conn:
        banks, *found = conn.execute(select(newest_bank_event(conn), *about_customer)).one()
    newest_id = max((int(value or 0) for value in found), default=0)
    return CustomerWatermark(newest_id, int(banks or 0))


def newest_bank_event(conn: Connection) -> Any:
    """The id of the newest bank availability event, as a scalar subquery: one seek in its own
    index (`BANK_NEWEST_INDEX`). SQLite is told the index's name: without statistics it took the
    type's index, in time order, and read every bank event for the newest id."""
    if conn.dialect.name == "sqlite":
        return literal_column(
            f"(SELECT max(id) FROM {events.name} INDEXED BY {BANK_NEWEST_INDEX} "
            f"WHERE type = '{BANK_EVENT_TYPE}')"
        )
    return _newest(IS_BANK_EVENT)


def _newest(condition: Any) -> Any:
    """The highest event id matching `condition`, as a scalar subquery."""
    return select(func.max(events.c.id)).where(condition).scalar_subquery()


class KnownCustomers:
    """What the process learnt of customers from Lean, for the next watermark: app_user_id →
    customer_id (Lean never changes it) and each customer's entity ids (as last listed)."""

    def __init__(self, max_entries: int = 4096) -> None:
        self._max_entries = max_entries
        self._customer_ids: dict[str, str] = {}
        self._entity_ids: dict[str, tuple[str, ...]] = {}
        self._lock = threading.Lock()

    def learn(self, view: CustomerView) -> None:
        """Remember the customer's ids from a view Lean just gave."""
        customer = view.customer
        with self._lock:
            if len(self._entity_ids) >= self._max_entries:
                self._customer_ids.clear()
                self._entity_ids.clear()
            if customer.app_user_id:
                self._customer_ids[customer.app_user_id] = customer.customer_id
            self._entity_ids[customer.customer_id] = tuple(e.id for e in view.entities)

    def watermark(self, store: EventStore, query: CustomerQuery) -> CustomerWatermark:
        """The watermark of the customer the query names (see `customer_watermark`)."""
        with self._lock:
            customer_id = (
                query.value if query.kind == "customer_id" else self._customer_ids.get(query.value)
            )
            entity_ids = self._entity_ids.get(customer_id or "", ())
        return customer_watermark(
            store,
            customer_id=customer_id,
            app_user_id=query.value if query.kind == "app_user_id" else None,
            entity_ids=entity_ids,
        )


_known = KnownCustomers()


def known_customers() -> KnownCustomers:
    """The process's record, shared by every session."""
    return _known
