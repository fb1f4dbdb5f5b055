"""One search box for every identifier support gets in a ticket.

An operator pastes whatever the ticket holds: a customer_id, an app_user_id, an entity_id, a
refresh_id, a webhook's event_id, a Lean `results_id` or an IBAN. Lean's ids are all UUIDs, so the shape alone cannot
say which one it is; the stored webhooks and the book index can. `resolve` answers with every
screen the text could mean, each with the evidence for it, and never calls Lean. A `results_id`
is found in the request log (console.request_log, when this console has it) and in the stored
refresh webhooks' bodies; it leads to the triage of the customer whose call it was.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, or_, select

from console.formatting import literal_md
from console.store import EventStore, events, index_customers, index_entities

MAX_QUERY_LENGTH = 256
# A Saudi IBAN: SA, two check digits, then 22 characters (2 bank digits and 18 account).
SAUDI_IBAN = re.compile(r"^SA\d{2}[0-9A-Z]{20}$")
ANY_IBAN = re.compile(r"^[A-Z]{2}\d{2}[0-9A-Z]{11,30}$")
ENTITY_EVENT_TYPES = ("entity.created", "entity.updated")
MAX_CANDIDATES = 20

CUSTOMERS_PAGE = "pages/customers.py"
ENTITIES_PAGE = "pages/entities.py"
REFRESHES_PAGE = "pages/refreshes.py"
WEBHOOKS_PAGE = "pages/webhooks.py"
TRIAGE_PAGE = "pages/triage.py"
REFRESH_EVENT_TYPE = "entity.data.refresh.updated"


class InvalidSearch(ValueError):
    """The text cannot be any identifier; the message says why, in the operator's words."""


@dataclass(frozen=True)
class Candidate:
    """One screen the searched text may mean, and why the console thinks so."""

    kind: str  # customer_id · app_user_id · entity_id · refresh_id · event_id · results_id
    value: str
    page: str
    query: dict[str, str] = field(hash=False)
    evidence: str
    known: bool  # True when the store holds it; False for "ask Lean" suggestions

    @property
    def label(self) -> str:
        """The link's text: what it opens (the value is shown apart, literally)."""
        return {
            "customer_id": "Customer",
            "app_user_id": "Customer (by app_user_id)",
            "entity_id": "Bank connection",
            "refresh_id": "Data refresh",
            "event_id": "Webhook event",
            "results_id": "Triage of the customer (Lean results_id)",
        }.get(self.kind, self.kind)


@dataclass(frozen=True)
class Resolution:
    """What the text may mean: one candidate opens at once, several are listed."""

    text: str
    shape: str  # uuid · iban · text
    candidates: tuple[Candidate, ...]

    @property
    def single(self) -> Candidate | None:
        """The one screen to open directly, when the evidence points at exactly one."""
        known = [c for c in self.candidates if c.known]
        # A guess ("ask Lean for it as …") is offered, never followed: a typo would otherwise
        # land on a screen saying Lean has no such customer.
        return known[0] if len(known) == 1 else None


def canonical_uuid(text: str) -> str | None:
    """A UUID as Lean and the console write it (lower case, dashed), however it was pasted:
    without dashes, in braces, as a `urn:uuid:`; None when `text` is no UUID."""
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        return None


def check_length(text: str) -> None:
    """Raise `InvalidSearch` when `text` is longer than any identifier."""
    if len(text) > MAX_QUERY_LENGTH:
        raise InvalidSearch(f"That is {len(text):,} characters; no identifier is longer than "
                            f"{MAX_QUERY_LENGTH}.")  # fmt: skip


def normalise(raw: str | None) -> tuple[str, str]:
    """(shape, canonical text) of a pasted identifier; raise `InvalidSearch` when it is none."""
    text = (raw or "").strip().strip("\"'`<>")
    if not text:
        raise InvalidSearch("Paste an identifier: a customer, entity, refresh or event id, an "
                            "app_user_id or an IBAN.")  # fmt: skip
    check_length(text)
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise InvalidSearch("An identifier cannot contain control characters (a line break?).")
    try:
        parsed = uuid.UUID(text)
    except ValueError:
        parsed = None
    if parsed is not None and len(text.replace("-", "")) == 32 and not text.startswith("{"):
        return "uuid", str(parsed)
    compact = re.sub(r"[\s-]", "", text).upper()
    if ANY_IBAN.match(compact):
        if not _iban_checksum_ok(compact):
            raise InvalidSearch(
                f"{literal_md(compact)} looks like an IBAN but its check digits are wrong: "
                "a character was probably mistyped."
            )
        return "iban", compact
    return "text", text


def _iban_checksum_ok(iban: str) -> bool:
    """ISO 13616: move the first four characters to the end, letters to numbers, mod 97 is 1."""
    rearranged = iban[4:] + iban[:4]
    digits = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(digits) % 97 == 1


def resolve(store: EventStore, raw: str | None) -> Resolution:
    """Every screen `raw` may mean, from the stored webhooks and the book index (no Lean call)."""
    shape, text = normalise(raw)
    store.migrate()
    with store.connect() as conn:
        found = _by_iban(conn, text) if shape == "iban" else _by_id(conn, text, shape)
    if shape != "iban" and not any(c.known for c in found):
        found = _by_results_id(store, text) or found
    return Resolution(text, shape, tuple(found[:MAX_CANDIDATES]))


def _request_log(name: str) -> Callable[..., Any] | None:
    """A function of console.request_log, when this console has the request log."""
    try:
        from console import request_log
    except ImportError:
        return None
    return getattr(request_log, name, None)


def _by_results_id(store: EventStore, text: str) -> list[Candidate]:
    """A Lean `results_id`: the console's call that got it (request log), else a stored refresh
    webhook whose body carries it. Each leads to the triage of its customer."""
    owners: list[tuple[str, str]] = []
    search_calls = _request_log("search_calls")
    filter_type = _request_log("RequestFilter")
    if search_calls is not None and filter_type is not None and len(text) <= 100:
        try:
            rows = search_calls(store, filter_type(text=text), limit=20)
        except Exception:  # the request log is another room's: its failure is not the search's
            rows = []
        for row in rows:
            if row.get("results_id") != text:
                continue
            subject = row.get("customer_id") or row.get("entity_id")
            if subject:
                owners.append(
                    (
                        subject,
                        f"the results_id of the console's call {row.get('method') or ''} "
                        f"{row.get('route') or ''}",
                    )
                )
    if not owners and len(text) <= 100:
        quoted = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        quoted = quoted.replace('"', "")
        with store.connect() as conn:
            rows = conn.execute(
                select(events.c.customer_id, events.c.entity_id)
                .where(
                    events.c.type == REFRESH_EVENT_TYPE,
                    or_(
                        events.c.payload.like(f'%"results_id": "{quoted}"%', escape="\\"),
                        events.c.payload.like(f'%"results_id":"{quoted}"%', escape="\\"),
                    ),
                )
                .limit(5)
            ).all()
        owners.extend(
            (customer_id or entity_id, "the results_id in a stored refresh webhook")
            for customer_id, entity_id in rows
            if customer_id or entity_id
        )
    seen: dict[str, Candidate] = {}
    for subject, evidence in owners:
        seen.setdefault(
            subject, Candidate("results_id", text, TRIAGE_PAGE, {"q": subject}, evidence, True)
        )
    return list(seen.values())


def _count_phrase(n: int) -> str:
    return "1 stored webhook" if n == 1 else f"{n:,} stored webhooks"


def _by_id(conn: Connection, text: str, shape: str) -> list[Candidate]:
    found: list[Candidate] = []
    counts = _event_counts(conn, text)
    in_index = conn.execute(
        select(index_customers.c.customer_id).where(index_customers.c.customer_id == text)
    ).first()
    if in_index or counts["customer_id"]:
        evidence = "in the book index" if in_index else "named as customer_id"
        if counts["customer_id"]:
            evidence += f"; named in {_count_phrase(counts['customer_id'])}"
        found.append(
            Candidate("customer_id", text, CUSTOMERS_PAGE, {"customer_id": text}, evidence, True)
        )
    app_users = conn.execute(
        select(index_customers.c.customer_id).where(index_customers.c.app_user_id == text).limit(5)
    ).all()
    if app_users or counts["app_user_id"]:
        evidence = (
            "the app_user_id of a customer in the book index"
            if app_users
            else f"named as app_user_id in {_count_phrase(counts['app_user_id'])}"
        )
        found.append(
            Candidate("app_user_id", text, CUSTOMERS_PAGE, {"app_user_id": text}, evidence, True)
        )
    entity = conn.execute(
        select(index_entities.c.customer_id).where(index_entities.c.entity_id == text)
    ).first()
    if entity or counts["entity_id"]:
        query = {"entity_id": text}
        owner = entity[0] if entity else _customer_in_events(conn, text)
        if owner:
            query["customer_id"] = owner
        evidence = "a bank connection in the book index" if entity else "named as entity_id"
        if counts["entity_id"]:
            evidence += f"; named in {_count_phrase(counts['entity_id'])}"
        found.append(Candidate("entity_id", text, ENTITIES_PAGE, query, evidence, True))
    if counts["refresh_id"]:
        owner = conn.execute(
            select(events.c.entity_id)
            .where(events.c.refresh_id == text, events.c.entity_id.is_not(None))
            .limit(1)
        ).first()
        query = {"refresh_id": text}
        page = WEBHOOKS_PAGE
        if owner:
            query = {"entity_id": owner[0], "refresh_id": text}
            page = REFRESHES_PAGE
        found.append(
            Candidate(
                "refresh_id",
                text,
                page,
                query,
                f"a data refresh named in {_count_phrase(counts['refresh_id'])}",
                True,
            )
        )
    if counts["event_id"]:
        found.append(
            Candidate("event_id", text, WEBHOOKS_PAGE, {"event_id": text}, "a stored webhook", True)
        )
    if not found:
        found.extend(_ask_lean(text, shape))
    return found


def _customer_in_events(conn: Connection, entity_id: str) -> str | None:
    """The customer the stored webhooks name beside an entity the index has not seen yet."""
    return conn.execute(
        select(events.c.customer_id)
        .where(events.c.entity_id == entity_id, events.c.customer_id.is_not(None))
        .limit(1)
    ).scalar()


def _event_counts(conn: Connection, text: str) -> dict[str, int]:
    """How many stored webhooks name `text` in each id column: one query, each part indexed."""
    columns = ("customer_id", "app_user_id", "entity_id", "refresh_id", "event_id")
    statement = select(
        *(
            select(func.count())
            .select_from(events)
            .where(events.c[name] == text)
            .scalar_subquery()
            .label(name)
            for name in columns
        )
    )
    row = conn.execute(statement).one()
    return {name: int(row[i] or 0) for i, name in enumerate(columns)}


def _ask_lean(text: str, shape: str) -> list[Candidate]:
    """Nothing stored names it: offer the lookups Lean can answer."""
    if shape == "uuid":
        return [
            Candidate(
                "customer_id",
                text,
                CUSTOMERS_PAGE,
                {"customer_id": text},
                "not in the stored webhooks or the book index; ask Lean for a customer with it",
                False,
            ),
            Candidate(
                "app_user_id",
                text,
                CUSTOMERS_PAGE,
                {"app_user_id": text},
                "or ask Lean for a customer whose app_user_id it is",
                False,
            ),
        ]
    return [
        Candidate(
            "app_user_id",
            text,
            CUSTOMERS_PAGE,
            {"app_user_id": text},
            "not stored here; ask Lean for a customer with this app_user_id",
            False,
        )
    ]


def _by_iban(conn: Connection, iban: str) -> list[Candidate]:
    """Bank connections whose stored entity webhooks name the IBAN (their consents' accounts)."""
    pattern = f"%{iban}%"
    statement = (
        select(events.c.entity_id, func.max(events.c.customer_id), func.count())
        .where(
            events.c.type.in_(ENTITY_EVENT_TYPES),
            events.c.entity_id.is_not(None),
            events.c.payload.like(pattern),
        )
        .group_by(events.c.entity_id)
        .limit(MAX_CANDIDATES)
    )
    rows = conn.execute(statement).all()
    found = []
    for entity_id, customer_id, n in rows:
        query = {"entity_id": entity_id}
        if customer_id:
            query["customer_id"] = customer_id
        found.append(
            Candidate(
                "entity_id",
                entity_id,
                ENTITIES_PAGE,
                query,
                f"a bank connection whose consent covers this IBAN ({_count_phrase(int(n))})",
                True,
            )
        )
    return found
