"""Lean's Link SDK `connect`, played by the sandbox (sandbox only: real Lean has no such endpoint).

Lean's Link runs in the customer's browser: the customer picks a bank, logs in there, and grants
the permissions asked for; Lean then creates the entity, starts the first data refresh and sends
`entity.created` and `entity.data.refresh.updated` webhooks. The embedded sandbox has no browser
in the loop, so `POST /_sandbox/link` does Link's part:

- it is authorised with the CUSTOMER-scoped token (`scope=customer.<customer_id>`), as the SDK is:
  an app-scoped (`api`) token is refused with 403, an expired or invalid one with 401, and one with
  under ten minutes left with 401 (the SDK refuses those too);
- the body says what the customer would do in Link: `bank_identifier` (available banks only),
  `permissions` (Lean's nine words, at least one), an optional access window `access_from` /
  `access_to` (ISO 8601) and the `outcome` to simulate;
- the answer is the SDK's callback object (`status` SUCCESS, CANCELLED or ERROR with a
  `secondary_status`); on success the entity, its consent and accounts exist and the first refresh
  runs, on failure nothing was created. Linking a bank the customer already has an entity for
  reconnects it (a new consent on the same entity, `entity.updated`), as Lean does;
- the body is refused unread above 64 KB (413), and must be UTF-8 JSON (400 otherwise).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lean_api.auth import LINK_MIN_LIFETIME
from lean_api.models import PERMISSIONS, parse_lean_datetime
from sandbox import incidents
from sandbox import seed as seedlib
from sandbox.app import LeanErrorResponse, LeanJSONResponse, SandboxState, error_body
from sandbox.seed import SeedConsent, SeedCustomer

LINK_PATH = "/_sandbox/link"
# Without an access window, a consent covers a year of history and lasts a year, as the seed's.
DEFAULT_WINDOW = timedelta(days=365)
# Lean states no limits on the access window; the sandbox refuses what no consent could mean:
# history from before 2000, or access lasting more than three years from now.
EARLIEST_ACCESS_FROM = datetime(2000, 1, 1, tzinfo=UTC)
LONGEST_ACCESS_AHEAD = timedelta(days=3 * 365)
# What Link sends is a few hundred bytes; anything past this is refused unread (413).
MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class LinkEnd:
    """How a Link session ends, in the words of Lean's SDK callback."""

    status: str  # SUCCESS · CANCELLED · ERROR
    secondary_status: str | None  # Lean's LinkSDK statuses: REJECTED_BY_BANK, FAILED, ...
    message: str


# The outcomes the sandbox can play, keyed by the word a caller asks for. Lean's web SDK calls
# back with status SUCCESS, CANCELLED or ERROR; an ERROR carries one of Lean's "LinkSDK statuses"
# (REJECTED_BY_BANK: the bank rejected the operation; FAILED: a generic failure).
OUTCOMES: dict[str, LinkEnd] = {
    "SUCCESS": LinkEnd("SUCCESS", None, "Successful connection"),
    "CANCELLED": LinkEnd("CANCELLED", None, "The customer closed Link before connecting a bank."),
    "REJECTED_BY_BANK": LinkEnd(
        "ERROR",
        "REJECTED_BY_BANK",
        "Bank rejected the operation: the customer's bank login failed.",
    ),
    "FAILED": LinkEnd(
        "ERROR", "FAILED", "Generic failure: the bank did not answer; it is unavailable now."
    ),
}


def _bad(message: str) -> LeanErrorResponse:
    return LeanErrorResponse(400, "INVALID_PARAMETERS", message)


def customer_of_token(request: Request, state: SandboxState, now: float) -> SeedCustomer:
    """The customer a Link call acts for, from its customer-scoped bearer token; Lean's 401/403
    for a missing, invalid, expired, nearly expired or app-scoped token."""
    from sandbox.app import bearer_claims  # sandbox.app registers these routes

    claims = bearer_claims(request, state)
    scope = str(claims.get("lean_scope") or "")
    if not scope.startswith("customer."):
        raise LeanErrorResponse(
            403,
            "FORBIDDEN",
            "Link needs a customer-scoped token (scope customer.<customer_id>); "
            f"this token has scope {scope or '(none)'}.",
        )
    left = float(claims.get("exp", 0)) - now
    if left < LINK_MIN_LIFETIME:
        raise LeanErrorResponse(
            401,
            "UNAUTHORIZED",
            f"The access token has {max(0, int(left // 60))} minutes left; Link needs at least "
            f"{int(LINK_MIN_LIFETIME // 60)}.",
        )
    return state.customer(scope.removeprefix("customer."))


@dataclass(frozen=True)
class LinkAsk:
    """What the customer does in Link, checked."""

    bank: seedlib.BankProfile
    permissions: dict[str, bool]
    access_from: datetime | None
    access_to: datetime | None
    outcome: LinkEnd


def read_ask(body: Any, state: SandboxState, customer: SeedCustomer, now: datetime) -> LinkAsk:
    """The Link request's body, checked as Lean would; Lean's 400 (or 403) with the reason."""
    if not isinstance(body, dict):
        raise _bad("The request body must be an object.")
    claimed = body.get("customer_id")
    if claimed is not None and str(claimed).lower() != customer.customer_id:
        raise LeanErrorResponse(
            403, "FORBIDDEN", "The access token belongs to another customer than customer_id."
        )
    identifier = body.get("bank_identifier")
    bank = state.data.banks_by_id.get(identifier) if isinstance(identifier, str) else None
    if bank is None:
        raise _bad("bank_identifier must name one of the banks GET /banks/v1/ lists.")
    flags = incidents.availability_at(
        state.data.seed, bank.identifier, state.bank_availability[bank.identifier], now
    )
    if not flags["active"]["data"] or not flags["enabled"]["data"]:
        who = (
            "disabled by Lean (availability.active.data is false)"
            if not flags["active"]["data"]
            else "disabled by the application (availability.enabled.data is false)"
        )
        raise _bad(f"The bank {bank.identifier} is not available for data now: {who}.")
    asked = body.get("permissions")
    if not isinstance(asked, list) or not asked:
        raise _bad(f"permissions must list at least one of: {', '.join(PERMISSIONS)}.")
    unknown = [p for p in asked if p not in PERMISSIONS]
    if unknown:
        raise _bad(f"Unknown permission {str(unknown[0])[:40]}; use {', '.join(PERMISSIONS)}.")
    access_from = _when(body.get("access_from"), "access_from")
    access_to = _when(body.get("access_to"), "access_to")
    if access_from is not None and access_from < EARLIEST_ACCESS_FROM:
        raise _bad("access_from must be on or after 2000-01-01.")
    if access_to is not None and access_to <= now:
        raise _bad("access_to must be in the future.")
    if access_to is not None and access_to > now + LONGEST_ACCESS_AHEAD:
        raise _bad(
            "access_to must be at most three years ahead "
            f"(on or before {(now + LONGEST_ACCESS_AHEAD).date().isoformat()})."
        )
    if access_from is not None and access_to is not None and access_from >= access_to:
        raise _bad("access_from must be before access_to.")
    if access_from is not None and access_from >= (access_to or now + DEFAULT_WINDOW):
        raise _bad("access_from must be before the end of the access window.")
    word = body.get("outcome", "SUCCESS")
    outcome = OUTCOMES.get(word) if isinstance(word, str) else None
    if outcome is None:
        raise _bad(f"outcome must be one of {', '.join(OUTCOMES)}.")
    return LinkAsk(
        bank, {name: name in asked for name in PERMISSIONS}, access_from, access_to, outcome
    )


def _when(value: Any, name: str) -> datetime | None:
    if value is None or value == "":
        return None
    parsed = parse_lean_datetime(value) if isinstance(value, str) else None
    if parsed is None:
        # parse_lean_datetime also answers None for dates off the calendar (year 1 at +03:00).
        raise _bad(f"{name} must be an ISO 8601 date-time, such as 2026-12-01T00:00:00+03:00.")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def connect(state: SandboxState, customer: SeedCustomer, ask: LinkAsk, now: datetime) -> str:
    """Connect the bank, announce it, and start a refresh; the webhook word announced.

    A customer's first Link to a bank creates the entity, its consent and accounts
    (`entity.created`). Linking a bank the customer already has an entity for reconnects it, as
    Lean does ("your customer reconnects the same bank account": `entity.updated`): a new ACTIVE
    consent on the same entity, the previous active one superseded. Looking for the entity and
    adding one happen under the state's lock, so simultaneous Links make one entity.
    """
    rng = seedlib.stable_rng("link", customer.customer_id, now.isoformat())
    window_from = ask.access_from or now - DEFAULT_WINDOW
    window_to = ask.access_to or now + DEFAULT_WINDOW
    consent = SeedConsent(
        str(uuid.UUID(int=rng.getrandbits(128), version=4)), str(rng.randint(100000, 999999)),
        "ACTIVE", dict(ask.permissions), now, now, window_to, window_from, window_to,
    )  # fmt: skip
    with state.lock:
        entity = next(
            (
                e
                for e in state.data.entities_by_customer.get(customer.customer_id, [])
                if e.bank.identifier == ask.bank.identifier
            ),
            None,
        )
        if entity is None:
            entity = seedlib.new_connection(rng, customer, ask.bank, consent, now)
            state.data.add_entity(entity)
            kind = "entity.created"
        else:
            for old in entity.consents:
                if old.status == "ACTIVE":
                    old.status, old.status_updated = "EXPIRED", now
            entity.consents.append(consent)
            entity.permissions = dict(ask.permissions)
            kind = "entity.updated"
        # Lean fetches the connection's data at once; a refresh already running is not doubled
        # (Lean's refresh endpoint answers 429 DUPLICATED_REQUEST for one).
        running = any(r.finishes_at is None or r.finishes_at > now for r in entity.refreshes)
    state.notify(kind, entity)
    if kind == "entity.created" or not running:
        state.start_refresh(entity, now, rng)
    return kind


async def read_json(request: Request) -> Any:
    """The request's JSON body: UTF-8 only, at most MAX_BODY_BYTES (413 past that, read no
    further), nesting no deeper than Python's parser can take; Lean's 400 otherwise."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise _bad("Content-Length must be a number of bytes.")
        if int(declared) > MAX_BODY_BYTES:
            raise _too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large()
        chunks.append(chunk)
    try:
        text = b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError:
        raise _bad("The request body must be JSON encoded as UTF-8.") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise _bad("The request body nests too deeply.") from None
    except ValueError:
        raise _bad("The request body is not valid JSON.") from None


def _too_large() -> LeanErrorResponse:
    return LeanErrorResponse(
        413, "PAYLOAD_TOO_LARGE", f"The request body is larger than {MAX_BODY_BYTES} bytes."
    )


def link_routes(state: SandboxState) -> list[Route]:
    """The sandbox-only Link route, bound to the sandbox's state."""

    async def link(request: Request) -> Response:
        state.stats["requests"] += 1
        state.request_log.append((request.method, request.url.path))
        try:
            customer = customer_of_token(request, state, time.time())
            body = await read_json(request)
            now = datetime.now(UTC)
            try:
                ask = read_ask(body, state, customer, now)
            except RecursionError:  # str() of a deep list in a message
                raise _bad("The request body nests too deeply.") from None
            if ask.outcome.status == "SUCCESS":
                connect(state, customer, ask, now)
            state.stats[f"link.{ask.outcome.secondary_status or ask.outcome.status}"] += 1
        except LeanErrorResponse as exc:
            state.stats[f"errors.{exc.code}"] += 1
            # A body refused unread leaves the connection with bytes nobody will read: close it.
            headers = {"Connection": "close"} if exc.status_code == 413 else None
            return LeanJSONResponse(
                error_body(exc.code, exc.message), status_code=exc.status_code, headers=headers
            )
        return LeanJSONResponse(
            {
                "method": "CONNECT",
                "status": ask.outcome.status,
                "secondary_status": ask.outcome.secondary_status,
                "message": ask.outcome.message,
                "bank": {"bank_identifier": ask.bank.identifier, "is_supported": True},
            }
        )

    return [Route(LINK_PATH, link, methods=["POST"])]
