"""The connection journey's services: what is handed to Lean's Link SDK `connect`, checked first;
the page that renders the web SDK; and, on the embedded sandbox, the stand-in for the browser SDK
(a call to the sandbox's `POST /_sandbox/link` with the customer-scoped token).

No Streamlit here. The customer token is only ever sent to Lean (or the sandbox) and put into the
SDK's configuration; everything meant for a screen or a log shows it masked.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit

import jwt
import requests
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from console.banks import STATE_LABELS
from console.events import TYPE_LABELS, status_words, summarize
from console.messages import OperatorMessage, describe_error
from console.store import EventFilter, EventStore, StoredEvent
from lean_api.auth import LINK_MIN_LIFETIME, CachedToken
from lean_api.config import LeanSettings
from lean_api.errors import (
    APIConnectionError,
    APITimeoutError,
    LeanAPIError,
    error_from_response,
)
from lean_api.models import PERMISSIONS, Bank, Entity

# Lean's web Link SDK for KSA, loaded from Lean's CDN (Lean's "Web" integration page).
LINK_SDK_URL = "https://cdn.leantech.me/link/loader/prod/sa/latest/lean-link-loader.min.js"
# The embedded sandbox's stand-in for the browser SDK (sandbox/link.py).
SANDBOX_LINK_PATH = "/_sandbox/link"
# The console's audit-log word for minting a customer token and running Link (admin: an action
# unknown to console.access.NEEDS needs admin).
CONNECT_ACTION = "connect_bank"
# Riyadh time: what an access window's dates mean to the people who pick them.
KSA = timedelta(hours=3)
# Lean states no limits on the access window; these refuse what no consent could mean (the
# embedded sandbox's Link refuses the same: sandbox/link.py).
EARLIEST_ACCESS_FROM = datetime(2000, 1, 1, tzinfo=UTC)
LONGEST_ACCESS_AHEAD = timedelta(days=3 * 365)

# Lean's nine data permissions in operators' words.
PERMISSION_WORDS: dict[str, str] = {
    "identity": "identity — who owns the accounts",
    "accounts": "accounts — the list of accounts",
    "balance": "balance — balances",
    "transactions": "transactions — transaction history",
    "identities": "identities — the parties on each account",
    "scheduled_payments": "scheduled_payments — future-dated payments",
    "standing_orders": "standing_orders — standing orders",
    "direct_debits": "direct_debits — direct debits",
    "beneficiaries": "beneficiaries — saved payees",
}
DEFAULT_PERMISSIONS = ("identity", "accounts", "balance", "transactions")

# How the sandbox's Link may end, keyed by the word the sandbox is asked for, in operators' words.
# Lean's SDK calls back with status SUCCESS, CANCELLED or ERROR; an ERROR carries one of Lean's
# LinkSDK statuses in `secondary_status` (REJECTED_BY_BANK, FAILED).
OUTCOME_WORDS: dict[str, str] = {
    "SUCCESS": "SUCCESS — the customer connects their bank",
    "CANCELLED": "CANCELLED — the customer closes Link",
    "REJECTED_BY_BANK": "ERROR · REJECTED_BY_BANK — the bank login fails",
    "FAILED": "ERROR · FAILED — the bank is unavailable",
}

LinkMode = Literal["simulated", "lean_sdk", "production"]


def link_mode(settings: LeanSettings, environment_kind: str) -> LinkMode:
    """How Link runs here: Lean's web SDK on Lean's own sandbox (`LEAN_ENV=sandbox` and Lean's
    host); the sandbox's stand-in when the API is the embedded (or another local) sandbox; not at
    all in production, where customers connect their banks in the company's own app."""
    if settings.environment == "production":
        return "production"
    host = (urlsplit(settings.api_url).hostname or "").lower()
    if environment_kind != "embedded" and (host == "leantech.me" or host.endswith(".leantech.me")):
        return "lean_sdk"
    return "simulated"


# ---------------------------------------------------------------------------------------------
# The customer token, as screens may show it
# ---------------------------------------------------------------------------------------------


def token_expiry(token: CachedToken) -> datetime:
    """When the token stops working: the earlier of what the auth server said and its `exp`."""
    expires = token.expires_at
    try:
        claims = jwt.decode(token.value, options={"verify_signature": False})
        if isinstance(claims.get("exp"), int | float):
            expires = min(expires, float(claims["exp"]))
    except jwt.PyJWTError:
        pass  # an opaque token: the auth server's expires_in decides alone
    return datetime.fromtimestamp(expires, UTC)


def time_left_words(expires_at: datetime, now: datetime) -> str:
    """`59 min left (until 14:05:09 UTC)`, or `expired at …`."""
    left = (expires_at - now).total_seconds()
    until = f"{expires_at:%H:%M:%S} UTC"
    if left <= 0:
        return f"expired at {until}"
    if left < 60:
        return f"{int(left)} s left (until {until})"
    return f"{int(left // 60)} min left (until {until})"


def usable_for_link(expires_at: datetime, now: datetime) -> bool:
    """True when the SDK would accept the token: at least ten minutes left."""
    return (expires_at - now).total_seconds() >= LINK_MIN_LIFETIME


def masked(secret: str) -> str:
    """A token as screens show it: that there is one and its length, never any of it."""
    return f"•••••••• (hidden, {len(secret)} characters)" if secret else ""


# ---------------------------------------------------------------------------------------------
# Choices in Link, and the configuration handed to `connect`
# ---------------------------------------------------------------------------------------------


def window_start(day: date) -> datetime:
    """The first moment of `day` in Riyadh."""
    return datetime.combine(day, time(0, 0), UTC) - KSA


def window_end(day: date) -> datetime:
    """The last second of `day` in Riyadh."""
    return window_start(day) + timedelta(days=1, seconds=-1)


def lean_time(value: datetime) -> str:
    """An ISO 8601 time in Riyadh's offset, as Lean's examples write access windows; the value
    as it is when Riyadh's clock cannot show it (year 1, or the last hours of year 9999)."""
    try:
        riyadh = value.astimezone(UTC) + KSA
    except (OverflowError, ValueError):
        return value.isoformat(timespec="seconds")
    return riyadh.replace(tzinfo=None).isoformat(timespec="seconds") + "+03:00"


def _utc_clock(value: datetime) -> str:
    """`HH:MM:SS` in UTC; the raw value when it cannot be moved to UTC (off the calendar)."""
    try:
        return value.astimezone(UTC).strftime("%H:%M:%S")
    except (OverflowError, ValueError):
        return value.isoformat(timespec="seconds")


class LinkChoice(BaseModel):
    """What the customer is asked for in Link: the bank, the permissions and the access window.

    Validated with `context={"now": datetime, "available_banks": set of identifiers}`: the bank
    must be available now, `access_to` in the future (at most three years ahead) and after
    `access_from` (not before 2000).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    customer_id: str
    bank_identifier: str | None = None
    permissions: tuple[str, ...] = Field(min_length=1)
    access_from: datetime | None = None
    access_to: datetime | None = None

    @field_validator("customer_id")
    @classmethod
    def _customer_id(cls, value: str) -> str:
        try:
            return str(uuid.UUID(value.strip()))
        except ValueError:
            raise ValueError("customer_id must be a Lean customer_id (a UUID).") from None

    @field_validator("permissions", mode="before")
    @classmethod
    def _permissions(cls, value: Any) -> Any:
        if isinstance(value, str) or not isinstance(value, Iterable):
            raise ValueError("permissions must be a list of Lean's permission words.")
        words = list(dict.fromkeys(value))  # once each, in the order asked
        if not words:
            raise ValueError("Choose at least one permission.")
        unknown = [str(w)[:40] for w in words if w not in PERMISSIONS]
        if unknown:
            raise ValueError(
                f"Unknown permission {unknown[0]!r}: Lean's words are {', '.join(PERMISSIONS)}."
            )
        return tuple(words)

    @field_validator("access_from", "access_to")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value

    @model_validator(mode="after")
    def _in_context(self, info: ValidationInfo) -> LinkChoice:
        context = info.context or {}
        now: datetime = context.get("now") or datetime.now(UTC)
        if self.access_from is not None and self.access_from < EARLIEST_ACCESS_FROM:
            raise ValueError("The access window must start on or after 2000-01-01.")
        if self.access_to is not None and self.access_to <= now:
            raise ValueError("The access window must end in the future (access_to is past).")
        if self.access_to is not None and self.access_to > now + LONGEST_ACCESS_AHEAD:
            raise ValueError(
                "The access window must end at most three years ahead "
                f"(on or before {(now + LONGEST_ACCESS_AHEAD).date().isoformat()})."
            )
        if self.access_from and self.access_to and self.access_from >= self.access_to:
            raise ValueError(
                "The access window must start before it ends (access_from ≥ access_to)."
            )
        if self.bank_identifier is not None:
            available = context.get("available_banks")
            if available is None:
                raise ValueError("The banks available now are not known: load them first.")
            if self.bank_identifier not in available:
                raise ValueError(
                    f"The bank {self.bank_identifier[:60]!r} is not available for data now: "
                    "choose one of the available banks."
                )
        return self


class ConnectConfig(LinkChoice):
    """The object handed to Lean's web SDK `Lean.connect(...)`, checked before it is rendered:
    an app token, a customer token with at least ten minutes left, known permissions, an ordered
    window that is not past, an available bank, and `sandbox: true` (the only place this console
    renders the SDK is Lean's sandbox)."""

    app_token: SecretStr
    access_token: SecretStr
    access_token_expires_at: datetime
    success_redirect_url: str
    fail_redirect_url: str
    sandbox: Literal[True] = True
    show_consent_explanation: bool = True
    language: Literal["en", "ar"] = "en"

    @field_validator("app_token")
    @classmethod
    def _app_token(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError(
                "LEAN_APP_TOKEN is not set: Lean's Link SDK needs the application token from "
                "Lean's developer dashboard."
            )
        return value

    @field_validator("access_token")
    @classmethod
    def _access_token(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("There is no customer token: mint one first.")
        return value

    @field_validator("success_redirect_url", "fail_redirect_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc:
            raise ValueError("The redirect URLs must be absolute http(s) URLs.")
        return value

    @model_validator(mode="after")
    def _token_lifetime(self, info: ValidationInfo) -> ConnectConfig:
        now: datetime = (info.context or {}).get("now") or datetime.now(UTC)
        expires = self.access_token_expires_at
        expires = expires.replace(tzinfo=UTC) if expires.tzinfo is None else expires
        if not usable_for_link(expires, now):
            raise ValueError(
                f"The customer token has {time_left_words(expires, now)}; Lean's Link SDK needs "
                "at least 10 minutes. Mint a new one."
            )
        return self

    def sdk_config(self, *, reveal: bool = True) -> dict[str, Any]:
        """The object for `Lean.connect`; with `reveal=False` the tokens are masked (for screens)."""
        app_token = self.app_token.get_secret_value()
        access_token = self.access_token.get_secret_value()
        config: dict[str, Any] = {
            "app_token": app_token if reveal else masked(app_token),
            "access_token": access_token if reveal else masked(access_token),
            "customer_id": self.customer_id,
            "permissions": list(self.permissions),
            "sandbox": self.sandbox,
            "show_consent_explanation": self.show_consent_explanation,
            "success_redirect_url": self.success_redirect_url,
            "fail_redirect_url": self.fail_redirect_url,
            "language": self.language,
        }
        if self.bank_identifier:
            config["bank_identifier"] = self.bank_identifier
        if self.access_from:
            config["access_from"] = lean_time(self.access_from)
        if self.access_to:
            config["access_to"] = lean_time(self.access_to)
        return config


def check_config(
    data: Mapping[str, Any], *, now: datetime, available_banks: Iterable[str]
) -> ConnectConfig:
    """A `ConnectConfig` from `data`, checked against now and the banks available now; raises
    `ValidationError` (see `problems`)."""
    return ConnectConfig.model_validate(
        dict(data), context={"now": now, "available_banks": set(available_banks)}
    )


def check_choice(
    data: Mapping[str, Any], *, now: datetime, available_banks: Iterable[str]
) -> LinkChoice:
    """A `LinkChoice` from `data`, checked as `check_config` checks it."""
    return LinkChoice.model_validate(
        dict(data), context={"now": now, "available_banks": set(available_banks)}
    )


def problems(exc: ValidationError) -> list[str]:
    """A validation failure as sentences for the operator (never the values themselves)."""
    out = []
    for error in exc.errors(include_input=False, include_url=False):
        message = str(error.get("msg", "")).removeprefix("Value error, ")
        where = ".".join(str(part) for part in error.get("loc", ()))
        if error.get("type") == "too_short" and where == "permissions":
            message = "Choose at least one permission."
        elif error.get("type") == "missing":
            message = f"{where} is required."
        elif error.get("type") == "extra_forbidden":
            message = f"{where} is not something Lean's connect accepts."
        out.append(message)
    return out


def _script_value(value: Any) -> str:
    """A value as JavaScript inside <script>: JSON that cannot close the script or open HTML."""
    text = json.dumps(value, ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def connect_html(config: ConnectConfig, *, sdk_url: str = LINK_SDK_URL) -> str:
    """The page that opens Lean's web Link SDK with `config`, inside the console (the customer's
    browser talks to Lean; the callback's outcome is shown under it)."""
    body = ",\n    ".join(
        f"{key}: {_script_value(value)}" for key, value in config.sdk_config().items()
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8">
<script src="{sdk_url}"></script>
<style>body{{font-family:sans-serif;margin:0}} #lean-outcome{{padding:8px;white-space:pre-wrap}}</style>
</head><body>
<div id="lean-link"></div>
<p id="lean-outcome">Opening Lean's Link…</p>
<script>
  function showOutcome(response) {{
    var words = (response && response.status) || "NO STATUS";
    if (response && response.secondary_status) words += " · " + response.secondary_status;
    if (response && response.message) words += " — " + response.message;
    document.getElementById("lean-outcome").textContent = "Link ended: " + words;
  }}
  if (typeof Lean === "undefined") {{
    document.getElementById("lean-outcome").textContent =
      "Lean's Link SDK could not be loaded from Lean's CDN: check this browser's network.";
  }} else {{
    Lean.connect({{
    {body},
    callback: showOutcome
    }});
  }}
</script>
</body></html>"""


def redirect_urls(page_url: str | None, customer_id: str) -> tuple[str, str]:
    """Where Lean sends the customer after Link: back to this screen, saying how it ended."""
    parts = urlsplit(page_url or "http://localhost:8501/connect")
    base = f"{parts.scheme or 'http'}://{parts.netloc or 'localhost:8501'}/connect"
    return (
        f"{base}?{urlencode({'customer_id': customer_id, 'link': 'success'})}",
        f"{base}?{urlencode({'customer_id': customer_id, 'link': 'fail'})}",
    )


# ---------------------------------------------------------------------------------------------
# The embedded sandbox's Link (the stand-in for the browser SDK)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkResult:
    """How Link ended, in the words of Lean's SDK callback."""

    status: str
    secondary_status: str | None
    message: str | None
    bank_identifier: str | None

    @property
    def succeeded(self) -> bool:
        """True when the customer connected their bank."""
        return self.status.upper() == "SUCCESS"

    @property
    def lean_words(self) -> str:
        """`ERROR · REJECTED_BY_BANK`."""
        return " · ".join(w for w in (self.status, self.secondary_status) if w)


def run_sandbox_link(
    api_url: str,
    token: CachedToken,
    choice: LinkChoice,
    outcome: str,
    *,
    session: requests.Session | None = None,
    timeout: tuple[float, float] = (5.0, 15.0),
) -> LinkResult:
    """Play Link in the embedded sandbox with the customer token (what the browser SDK would do).

    Raises the `LeanAPIError` of the sandbox's refusal (bad token, unavailable bank, ...), or
    `APIConnectionError` / `APITimeoutError` when it cannot be reached.
    """
    url = f"{api_url.rstrip('/')}{SANDBOX_LINK_PATH}"
    body: dict[str, Any] = {
        "customer_id": choice.customer_id,
        "bank_identifier": choice.bank_identifier,
        "permissions": list(choice.permissions),
        "outcome": outcome,
    }
    if choice.access_from:
        body["access_from"] = lean_time(choice.access_from)
    if choice.access_to:
        body["access_to"] = lean_time(choice.access_to)
    http = session or requests
    try:
        response = http.post(
            url,
            json=body,
            timeout=timeout,
            headers={"Authorization": f"Bearer {token.value}", "Accept": "application/json"},
        )
    except requests.Timeout as exc:
        raise APITimeoutError(
            "The sandbox's Link did not answer in time.", method="POST", url=url
        ) from exc
    except requests.RequestException as exc:
        raise APIConnectionError(
            "The console could not reach the sandbox's Link.", method="POST", url=url
        ) from exc
    if not response.ok:
        raise error_from_response(
            response.status_code,
            response.content,
            method="POST",
            url=url,
            retry_after=response.headers.get("Retry-After"),
        )
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or not isinstance(answer.get("status"), str):
        raise error_from_response(
            502, b'{"status": "INVALID_RESPONSE", "message": "Link answered without a status."}'
        )
    bank = answer.get("bank") if isinstance(answer.get("bank"), dict) else {}
    return LinkResult(
        status=answer["status"],
        secondary_status=_text(answer.get("secondary_status")),
        message=_text(answer.get("message")),
        bank_identifier=_text(bank.get("bank_identifier")),
    )


def _text(value: Any) -> str | None:
    return str(value)[:300] if value not in (None, "") else None


def link_outcome_words(result: LinkResult) -> tuple[str, str, str]:
    """(what happened, what next, tone `good`/`warn`/`bad`) for how Link ended."""
    if result.succeeded:
        return (
            "Link succeeded: the customer connected their bank.",
            "Lean now creates the bank connection and sends entity.created, then fetches its "
            "data (refresh webhooks). Both are followed below.",
            "good",
        )
    if result.status.upper() == "CANCELLED":
        return (
            "Link was cancelled: the customer closed it before connecting a bank. Nothing was "
            "created.",
            "Ask the customer to connect again when ready; the same customer and a fresh token "
            "will do.",
            "warn",
        )
    if (result.secondary_status or "").upper() == "REJECTED_BY_BANK":
        return (
            "Link failed: the bank rejected the customer's login. Nothing was created.",
            "Ask the customer to check their bank credentials and connect again; if it keeps "
            "failing, try later or another bank.",
            "bad",
        )
    return (
        "Link failed: the bank could not complete the connection (it may be unavailable). "
        "Nothing was created.",
        "Check the bank's availability on the Banks screen, then ask the customer to try again "
        "later or with another bank.",
        "bad",
    )


def link_error_message(exc: Exception) -> OperatorMessage:
    """A refusal by Link (or a failure to reach it) as an operator message."""
    message = describe_error(exc, "customer", changes_state=True)
    if not isinstance(exc, LeanAPIError):
        return message
    if exc.status_code in (401, 403):
        return OperatorMessage(
            "Link refused the customer token:",
            "Mint a new customer token for this customer and run Link again.",
            detail=exc.message,
            code=exc.code,
            status_code=exc.status_code,
            results_id=exc.results_id,
        )
    if exc.status_code == 400:
        return OperatorMessage(
            "Link refused the request; nothing was created:",
            "Correct the choice (an available bank, at least one permission, a future access "
            "window) and run Link again.",
            "warning",
            detail=exc.message,
            code=exc.code,
            status_code=exc.status_code,
            results_id=exc.results_id,
        )
    return message


# ---------------------------------------------------------------------------------------------
# Banks, and what follows Link: the connection and its webhooks
# ---------------------------------------------------------------------------------------------


def split_banks(banks: Iterable[Bank]) -> tuple[list[Bank], list[dict[str, str]]]:
    """The banks a customer can connect now (data available), and the others with why not."""
    available: list[Bank] = []
    unavailable: list[dict[str, str]] = []
    for bank in sorted(banks, key=lambda b: b.display_name.lower()):
        state = bank.availability.state("data")
        if state == "available":
            available.append(bank)
            continue
        why = {
            "disabled_by_lean": "Lean switched data off for this bank (availability.active.data "
            "is false): wait until Lean switches it back on.",
            "disabled_by_us": "Our application switched it off in Lean's developer portal "
            "(availability.enabled.data is false).",
        }.get(state, "Lean did not say whether it is available.")
        unavailable.append(
            {
                "Bank": bank.display_name,
                "Identifier": bank.identifier,
                "Data": STATE_LABELS.get(state, state),
                "Why": why,
            }
        )
    return available, unavailable


JOURNEY_TYPES = ("entity.created", "entity.updated", "entity.data.refresh.updated")


def journey_webhooks(
    store: EventStore, customer_id: str, entity_id: str | None = None, *, limit: int = 50
) -> list[StoredEvent]:
    """The customer's connection and refresh webhooks in the store, newest first (one entity's
    when `entity_id` is given)."""
    flt = EventFilter(types=JOURNEY_TYPES, customer_id=customer_id, entity_id=entity_id)
    return store.query_events(flt, limit=limit)


def webhook_rows(events: Iterable[StoredEvent]) -> list[dict[str, Any]]:
    """Rows for the live webhook table (text only, shown literally)."""
    return [
        {
            "Occurred (UTC)": _utc_clock(e.occurred_at),
            "Type": TYPE_LABELS.get(e.type, e.type),
            "What": summarize(e),
            "Status": status_words(e),
        }
        for e in events
    ]


def created_entity_id(
    events: Iterable[StoredEvent],
    since: datetime | None = None,
    known: Collection[str] = (),
) -> str | None:
    """The entity named by the newest `entity.created` (at or after `since`, not in `known`:
    the connections the customer had before this Link)."""
    for event in events:
        if event.type != "entity.created" or not event.entity_id or event.entity_id in known:
            continue
        if since is None or event.occurred_at >= since - timedelta(seconds=5):
            return event.entity_id
    return None


def newest_connection(
    entities: Iterable[Entity], since: datetime | None = None, known: Collection[str] = ()
) -> Entity | None:
    """The customer's newest bank connection, as Lean lists them: one created at or after
    `since` and not in `known`, or one of `known` reconnected since (a consent given at or after
    `since`: Lean reuses the entity when a customer links the same bank again)."""
    epoch = datetime.min.replace(tzinfo=UTC)
    floor = since - timedelta(seconds=5) if since is not None else None
    candidates: list[tuple[datetime, Entity]] = []
    for entity in entities:
        if entity.id not in known:
            when = entity.created_at
            if floor is None or (when is not None and when >= floor):
                candidates.append((when or epoch, entity))
        elif floor is not None and (consent := entity.current_consent) is not None:
            given = consent.creation_date_time
            if given is not None and given >= floor:
                candidates.append((given, entity))
    return max(candidates, key=lambda c: c[0], default=(epoch, None))[1]


@dataclass(frozen=True)
class RefreshProgress:
    """The first refresh of a new connection, as its webhooks tell it."""

    state: Literal["waiting", "pending", "finished"]
    words: str
    event_id: str | None = None


def refresh_progress(events: Iterable[StoredEvent], entity_id: str) -> RefreshProgress:
    """Where the connection's data fetch stands, from its newest refresh webhook."""
    refreshes = [
        e for e in events if e.type == "entity.data.refresh.updated" and e.entity_id == entity_id
    ]
    if not refreshes:
        return RefreshProgress(
            "waiting", "No refresh webhook yet: Lean sends one as soon as it starts fetching."
        )
    finished = [e for e in refreshes if (e.status or "").upper() in ("FINISHED", "OK")]
    newest = finished[0] if finished else refreshes[0]
    words = f"{summarize(newest)} ({status_words(newest)})"
    return RefreshProgress("finished" if finished else "pending", words, newest.event_id)
