"""Triage rules: what happened to one customer, why, and what support does next.

Pure rules over a constructed `History` (what Lean, the stored webhooks, the refused and
unreadable deliveries, the bank availability changes and the request log say about one
customer). Each rule returns `Finding`s with the evidence it used and the next action; the
diagnosis is every finding ranked by severity, then recency. Nothing here reads a database,
calls Lean or draws a screen, and nothing in a `History` is personal data (no names, IBANs or
national IDs: the gatherer leaves them out).

Titles and next actions are the console's own words (numbers at most); identifiers and Lean's
words go in the evidence, which screens show literally.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import IntEnum

from console.insights.bank_health import AvailabilityChange, current_state, describe_duration

# A refresh still PENDING after this long will not finish by itself: Lean's refreshes take
# seconds to minutes.
STUCK_AFTER = timedelta(hours=1)
# Refreshes whose data types came back partial or failed this many times in a row: escalate.
REPEATED_REFRESHES = 3
# Lean calls looked at for failures (5xx, timeouts, no answer).
CALLS_WINDOW = timedelta(days=1)
RECONNECT_WORDS = {"REVOKED", "SUSPENDED", "REJECTED"}
SOURCE_WORDS = {
    "API": "Lean's refresh list",
    "webhook": "the stored webhooks",
    "both": "Lean's refresh list and the stored webhooks",
}
EPOCH = datetime.min.replace(tzinfo=UTC)


class Severity(IntEnum):
    """How urgent a finding is; lower sorts first. Each has a word and a colour (st.badge)."""

    CRITICAL = 0
    WARNING = 1
    INFO = 2
    OK = 3

    @property
    def word(self) -> str:
        """The finding's severity as the screen writes it."""
        return {0: "Action needed", 1: "Attention", 2: "Note", 3: "Fine"}[self.value]

    @property
    def color(self) -> str:
        """The badge colour that repeats the word."""
        return {0: "red", 1: "orange", 2: "blue", 3: "green"}[self.value]


# -- the history ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsentFact:
    """One consent of a bank connection (no accounts: those carry IBANs and names)."""

    consent_id: str | None
    status: str | None  # Lean's word, upper case
    created_at: datetime | None = None
    status_updated_at: datetime | None = None
    expires_at: datetime | None = None
    permissions: tuple[str, ...] = ()

    def effective_status(self, now: datetime) -> str | None:
        """Lean's word, with an ACTIVE consent past its expiry read as EXPIRED."""
        if self.status == "ACTIVE" and self.expires_at is not None and self.expires_at <= now:
            return "EXPIRED"
        return self.status


@dataclass(frozen=True)
class EntityFact:
    """A bank connection as Lean (or the book index) describes it."""

    entity_id: str
    bank_identifier: str | None = None
    created_at: datetime | None = None
    status: str | None = None
    permissions: tuple[str, ...] = ()
    consents: tuple[ConsentFact, ...] = ()

    @property
    def current_consent(self) -> ConsentFact | None:
        """The newest consent (by creation), which governs the connection now."""
        if not self.consents:
            return None
        return max(self.consents, key=lambda c: c.created_at or EPOCH)


@dataclass(frozen=True)
class AccountStatuses:
    """One account's status per data type in one refresh (Lean's words, normalised)."""

    account_id: str
    statuses: dict[str, str | None]


@dataclass(frozen=True)
class RefreshFact:
    """A data refresh and how far it got."""

    refresh_id: str
    entity_id: str | None
    status: str | None  # PENDING, FINISHED (Lean's OK normalised), or a word we do not know
    started_at: datetime | None = None
    finished_at: datetime | None = None
    accounts: tuple[AccountStatuses, ...] = ()
    # Where it was seen: "API", "webhook" or "both".
    source: str = "API"

    @property
    def pending(self) -> bool:
        """Lean has not said it finished."""
        return (self.status or "").upper() == "PENDING"

    @property
    def finished(self) -> bool:
        """Lean said it finished."""
        return (self.status or "").upper() == "FINISHED"

    def problems(self) -> dict[str, tuple[int, int]]:
        """Data type → (accounts where it came back partial or failed, accounts reporting it)."""
        counts: dict[str, tuple[int, int]] = {}
        for account in self.accounts:
            for data_type, status in account.statuses.items():
                if status is None:
                    continue
                bad, total = counts.get(data_type, (0, 0))
                counts[data_type] = (bad + (status in ("PARTIAL", "FAILED")), total + 1)
        return {name: n for name, n in counts.items() if n[0]}

    def worst_word(self, data_type: str) -> str:
        """`failed` when any account failed the data type, else `partial`."""
        words = {a.statuses.get(data_type) for a in self.accounts}
        return "failed" if "FAILED" in words else "partial"


@dataclass(frozen=True)
class WebhookFact:
    """A stored webhook about the customer (type and ids; never its body)."""

    event_id: str
    type: str
    at: datetime
    received_at: datetime | None = None
    entity_id: str | None = None
    refresh_id: str | None = None
    status: str | None = None
    verified: bool = True
    deliveries: int = 1


@dataclass(frozen=True)
class RejectionFact:
    """A delivery our endpoint refused, with what its (unverified) body claimed to be."""

    at: datetime
    status_code: int
    reason: str
    claimed_type: str | None = None
    claimed_event_id: str | None = None
    claimed_customer_id: str | None = None
    claimed_entity_id: str | None = None


@dataclass(frozen=True)
class DeadLetterFact:
    """An unreadable delivery that names one of the customer's ids (its body is not kept here)."""

    at: datetime
    reason: str
    deliveries: int = 1
    mentions: str = ""  # which of the customer's ids the body names
    reprocessed_at: datetime | None = None
    reprocess_outcome: str | None = None


@dataclass(frozen=True)
class LeanCallFact:
    """One call the console made to Lean for this customer (the request log)."""

    at: datetime
    method: str
    route: str
    status: int | None
    outcome: str
    lean_code: str | None = None
    results_id: str | None = None
    latency_ms: int = 0
    retries: int = 0
    screen: str | None = None
    entity_id: str | None = None
    refresh_id: str | None = None

    @property
    def failed_at_lean(self) -> bool:
        """Lean answered 5xx, or did not answer at all (timeout, connection refused)."""
        return self.status is None or self.status >= 500


@dataclass
class History:
    """Everything known about one customer, from Lean and from the store, at `now`."""

    now: datetime
    customer_id: str
    app_user_id: str | None = None
    # Lean answered for the customer (False: Lean failed; the rest comes from the store).
    lean_answered: bool = True
    lean_problem: str | None = None
    # Lean knows the customer (None: not asked or not answered).
    customer_found: bool | None = True
    entities: list[EntityFact] = field(default_factory=list)
    refreshes: list[RefreshFact] = field(default_factory=list)
    webhooks: list[WebhookFact] = field(default_factory=list)
    rejections: list[RejectionFact] = field(default_factory=list)
    dead_letters: list[DeadLetterFact] = field(default_factory=list)
    # bank identifier → its availability changes (Lean's clock), the window's opening one first.
    bank_changes: dict[str, list[AvailabilityChange]] = field(default_factory=dict)
    lean_calls: list[LeanCallFact] = field(default_factory=list)
    # False when the request log is not available in this console.
    request_log_available: bool = True
    # The oldest webhook the store holds: before it, the console was not listening.
    listening_since: datetime | None = None

    def entity(self, entity_id: str | None) -> EntityFact | None:
        """The customer's entity with that id, if any."""
        return next((e for e in self.entities if e.entity_id == entity_id), None)

    def refreshes_of(self, entity_id: str) -> list[RefreshFact]:
        """The entity's refreshes, newest first."""
        return sorted(
            (r for r in self.refreshes if r.entity_id == entity_id),
            key=lambda r: (r.started_at or r.finished_at or EPOCH, r.refresh_id),
            reverse=True,
        )

    def webhooks_of(self, event_type: str, entity_id: str | None = None) -> list[WebhookFact]:
        """Stored webhooks of a type (about one entity when given)."""
        return [
            w
            for w in self.webhooks
            if w.type == event_type and (entity_id is None or w.entity_id == entity_id)
        ]


# -- findings ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """What one rule found: how bad, in words, on what evidence, and what to do next."""

    rule: str
    severity: Severity
    title: str
    evidence: list[str]
    next_action: str
    since: datetime | None = None
    # Ids an escalation needs (entity_id, refresh_id, results_id, …): the debug bundle keeps them.
    refs: dict[str, str] = field(default_factory=dict)


def ago(moment: datetime, now: datetime) -> str:
    """`3 d 4 h ago`, `in 2 h` — how far `moment` is from `now`, in words."""
    delta = now - moment
    if delta >= timedelta(0):
        return f"{describe_duration(delta)} ago"
    return f"in {describe_duration(-delta)}"


def stamp(moment: datetime | None) -> str:
    """`2026-11-28 10:02 UTC` (or `unknown time`)."""
    if moment is None:
        return "unknown time"
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def whole_days(delta: timedelta) -> int:
    """Whole days in `delta` (never negative)."""
    return max(0, int(delta.total_seconds() // 86400))


def _bank(entity: EntityFact) -> str:
    return entity.bank_identifier or "bank not given"


def consent_expired(history: History) -> list[Finding]:
    """An entity whose current consent has expired: the customer must reconnect."""
    found = []
    for entity in history.entities:
        consent = entity.current_consent
        if consent is None or consent.effective_status(history.now) != "EXPIRED":
            continue
        expired = consent.expires_at or consent.status_updated_at
        days = whole_days(history.now - expired) if expired else None
        title = (
            f"Consent expired {days} day{'s' if days != 1 else ''} ago"
            if days is not None
            else "Consent expired"
        )
        evidence = [
            f"entity {entity.entity_id} at {_bank(entity)}",
            f"current consent {consent.consent_id or '(no id)'}: Lean's status {consent.status}",
            f"expired {stamp(expired)}",
        ]
        if consent.status == "ACTIVE":
            evidence.append("Lean still says ACTIVE, but its expiry date has passed")
        found.append(
            Finding(
                "consent_expired",
                Severity.CRITICAL,
                title,
                evidence,
                "Ask the customer to reconnect this bank through Link (a new consent). Lean "
                "refuses refreshes until then (403 CONSENT_EXPIRED); the data fetched before "
                "stays readable.",
                expired,
                {"entity_id": entity.entity_id},
            )
        )
    return found


REVOKE_WHO = {
    "REVOKED": "revoked — withdrawn by the customer, at the bank or in your app",
    "SUSPENDED": "suspended — stopped by the bank",
    "REJECTED": "rejected — the bank refused the authorisation",
}


def consent_revoked(history: History) -> list[Finding]:
    """An entity whose current consent was revoked, suspended or rejected: reconnect."""
    found = []
    for entity in history.entities:
        consent = entity.current_consent
        if consent is None or consent.status not in RECONNECT_WORDS:
            continue
        when = consent.status_updated_at
        evidence = [
            f"entity {entity.entity_id} at {_bank(entity)}",
            f"current consent {consent.consent_id or '(no id)'}: "
            f"{REVOKE_WHO.get(consent.status, consent.status)}",
            f"status changed {stamp(when)}" + (f" ({ago(when, history.now)})" if when else ""),
        ]
        updates = history.webhooks_of("entity.updated", entity.entity_id)
        if updates:
            latest = max(updates, key=lambda w: w.at)
            evidence.append(f"entity.updated webhook {latest.event_id} at {stamp(latest.at)}")
        found.append(
            Finding(
                "consent_revoked",
                Severity.CRITICAL,
                f"Consent {consent.status.lower()}",
                evidence,
                "Ask the customer to reconnect this bank through Link (a new consent); nothing "
                "can be fetched until they do.",
                when,
                {"entity_id": entity.entity_id},
            )
        )
    return found


def bank_unavailable(history: History) -> list[Finding]:
    """The bank of one of the customer's connections is switched off for data now."""
    found = []
    banks = {e.bank_identifier for e in history.entities if e.bank_identifier}
    for bank in sorted(banks):
        changes = history.bank_changes.get(bank) or []
        state = current_state(changes, "data", history.now)
        if state.state not in ("disabled_by_lean", "disabled_by_us"):
            continue
        since = state.since
        since_words = (
            f"{'since' if state.exact else 'since at least'} {stamp(since)}"
            if since
            else "since an unknown time"
        )
        lasted = f" ({describe_duration(history.now - since)})" if since else ""
        connected = [e.entity_id for e in history.entities if e.bank_identifier == bank]
        evidence = [
            f"bank {bank}: data {since_words}{lasted}",
            f"from bank.availability.updated webhooks ({len(changes)} changes in the window)",
            *(f"affects entity {entity_id}" for entity_id in connected),
        ]
        if state.state == "disabled_by_lean":
            found.append(
                Finding(
                    "bank_disabled_by_lean",
                    Severity.WARNING,
                    "Lean has switched this bank's data off",
                    evidence,
                    "Wait: nothing to do on our side or the customer's. Lean switches the bank "
                    "back on when it recovers; tell the customer the bank is temporarily "
                    "unavailable.",
                    since,
                    {"bank_identifier": bank},
                )
            )
        else:
            found.append(
                Finding(
                    "bank_disabled_by_us",
                    Severity.CRITICAL,
                    "This bank's data is switched off in our Lean portal",
                    evidence,
                    "Switch the bank back on for data in Lean's developer portal (the "
                    "`enabled` flag is ours), or tell the customer why it is off.",
                    since,
                    {"bank_identifier": bank},
                )
            )
    return found


def refresh_incomplete(history: History) -> list[Finding]:
    """The latest finished refresh of an entity left data types partial or failed."""
    found = []
    for entity in history.entities:
        finished = [r for r in history.refreshes_of(entity.entity_id) if r.finished]
        if not finished or not (problems := finished[0].problems()):
            continue
        latest = finished[0]
        recent = finished[:REPEATED_REFRESHES]
        repeated = len(recent) == REPEATED_REFRESHES and all(r.problems() for r in recent)
        parts = [
            f"{name.replace('_', ' ')} {latest.worst_word(name)} for {bad} of {total} "
            f"account{'s' if total != 1 else ''}"
            for name, (bad, total) in problems.items()
        ]
        evidence = [
            f"entity {entity.entity_id} at {_bank(entity)}",
            f"latest finished refresh {latest.refresh_id} ({stamp(latest.finished_at)}): "
            + "; ".join(parts),
        ]
        if repeated:
            evidence.append(
                f"the last {REPEATED_REFRESHES} finished refreshes all came back incomplete: "
                + ", ".join(r.refresh_id for r in recent)
            )
        first = next(iter(problems))
        bad, total = problems[first]
        title = (
            f"{first.replace('_', ' ').capitalize()} {latest.worst_word(first)} for {bad} of "
            f"{total} account{'s' if total != 1 else ''} on the latest refresh"
        )
        if len(problems) > 1:
            title += f" (and {len(problems) - 1} more data type{'s' if len(problems) > 2 else ''})"
        found.append(
            Finding(
                "refresh_incomplete_repeated" if repeated else "refresh_incomplete",
                Severity.CRITICAL if repeated else Severity.WARNING,
                title,
                evidence,
                (
                    f"Escalate to Lean: the same data came back incomplete {REPEATED_REFRESHES} "
                    "times in a row. Send the refresh_ids in the evidence (and the debug bundle)."
                    if repeated
                    else "Refresh again (Data refreshes screen): banks often answer fully the "
                    "next time. If it stays incomplete, escalate to Lean."
                ),
                latest.finished_at or latest.started_at,
                {"entity_id": entity.entity_id, "refresh_id": latest.refresh_id},
            )
        )
    return found


def refresh_stuck(history: History) -> list[Finding]:
    """A refresh still PENDING hours after it started: Lean must look at it."""
    found = []
    for refresh in history.refreshes:
        if not refresh.pending or refresh.started_at is None:
            continue
        waited = history.now - refresh.started_at
        if waited < STUCK_AFTER:
            continue
        results = sorted(
            {
                c.results_id
                for c in history.lean_calls
                if c.results_id and c.refresh_id == refresh.refresh_id
            }
        )
        evidence = [
            f"refresh {refresh.refresh_id} of entity {refresh.entity_id or '(not given)'}",
            f"started {stamp(refresh.started_at)}, still PENDING after "
            f"{describe_duration(waited)} (according to {SOURCE_WORDS.get(refresh.source, refresh.source)})",
        ]
        evidence.append(
            "results_id of the console's calls about it: " + ", ".join(results)
            if results
            else "no results_id on record: open the refresh on the Data refreshes screen once "
            "to ask Lean for its status (the request log keeps the results_id)"
        )
        refs = {"refresh_id": refresh.refresh_id}
        if refresh.entity_id:
            refs["entity_id"] = refresh.entity_id
        if results:
            refs["results_id"] = results[-1]
        found.append(
            Finding(
                "refresh_stuck",
                Severity.CRITICAL,
                f"Refresh pending for {describe_duration(waited)}",
                evidence,
                "Escalate to Lean with the refresh_id and results_id in the evidence (attach the "
                "debug bundle). Triggering another refresh will not unstick this one.",
                refresh.started_at,
                refs,
            )
        )
    return found


def entity_created_refused(history: History) -> list[Finding]:
    """Our endpoint refused a delivery claiming to be this customer's `entity.created`."""
    stored = {w.entity_id for w in history.webhooks_of("entity.created")}
    found = []
    seen: set[str | None] = set()
    for rejection in sorted(history.rejections, key=lambda r: r.at, reverse=True):
        if rejection.claimed_type != "entity.created":
            continue
        if rejection.claimed_entity_id in stored or rejection.claimed_entity_id in seen:
            continue
        seen.add(rejection.claimed_entity_id)
        attempts = [
            r
            for r in history.rejections
            if r.claimed_type == "entity.created"
            and r.claimed_entity_id == rejection.claimed_entity_id
        ]
        first = min(r.at for r in attempts)
        evidence = [
            f"refused {len(attempts)} time{'s' if len(attempts) != 1 else ''}, last "
            f"{stamp(rejection.at)}: HTTP {rejection.status_code}, {rejection.reason}",
            f"the body claimed entity {rejection.claimed_entity_id or '(none)'}, customer "
            f"{rejection.claimed_customer_id or '(none)'}, event "
            f"{rejection.claimed_event_id or '(none)'} (unverified: the signature did not match)"
            if rejection.status_code == 401
            else f"the body claimed entity {rejection.claimed_entity_id or '(none)'}, "
            f"event {rejection.claimed_event_id or '(none)'} (unverified)",
            "no entity.created for it is stored",
        ]
        entity = history.entity(rejection.claimed_entity_id)
        if entity is not None:
            evidence.append(
                f"Lean does list entity {entity.entity_id} at {_bank(entity)}: the connection "
                "itself worked"
            )
        refs = {"event_id": rejection.claimed_event_id or ""}
        if rejection.claimed_entity_id:
            refs["entity_id"] = rejection.claimed_entity_id
        found.append(
            Finding(
                "entity_created_refused",
                Severity.CRITICAL,
                "Our endpoint refused the bank connection's entity.created webhook",
                evidence,
                (
                    "Fix our side: the webhook secret (LEAN_WEBHOOK_SECRET) does not match the "
                    "one in Lean's portal, or it was rotated. Lean retries for 3 hours; after "
                    "that ask Lean to resend the event_id. The customer need not do anything."
                    if rejection.status_code == 401
                    else "Fix our side: our endpoint refused the delivery (see the reason). "
                    "Once fixed, ask Lean to resend the event_id. The customer need not do "
                    "anything."
                ),
                first,
                refs,
            )
        )
    return found


def entity_created_dead_letter(history: History) -> list[Finding]:
    """An unreadable delivery names this customer: it may have been its `entity.created`."""
    found = []
    for letter in sorted(history.dead_letters, key=lambda d: d.at, reverse=True):
        if letter.reprocess_outcome and letter.reprocessed_at:
            continue
        found.append(
            Finding(
                "webhook_dead_letter",
                Severity.CRITICAL,
                "A webhook about this customer could not be read (dead letter)",
                [
                    f"received {stamp(letter.at)}, {letter.deliveries} "
                    f"deliver{'ies' if letter.deliveries != 1 else 'y'}: {letter.reason}",
                    f"its body names {letter.mentions}",
                ],
                "Look at the dead letter on the Webhooks screen; once the cause is fixed, "
                "reprocess it from there.",
                letter.at,
                {"mentions": letter.mentions},
            )
        )
    return found


def link_abandoned(history: History) -> list[Finding]:
    """The customer exists but never connected a bank, and nothing was refused or lost."""
    if not history.lean_answered or history.customer_found is False or history.entities:
        return []
    if history.webhooks_of("entity.created"):
        return []
    claimed = [r for r in history.rejections if r.claimed_type == "entity.created"]
    if claimed or history.dead_letters:
        return []
    return [
        Finding(
            "link_abandoned",
            Severity.WARNING,
            "The customer never finished connecting a bank",
            [
                f"Lean lists no bank connection for customer {history.customer_id}",
                "no entity.created webhook is stored, none was refused and none is a dead letter",
            ],
            "The customer most likely left Link before finishing (or the bank refused them). "
            "Ask them to connect again; check first that their bank is available (Banks).",
            None,
        )
    ]


def entity_created_missing(history: History) -> list[Finding]:
    """Lean lists a connection made while we were listening, but its `entity.created` never
    arrived, and nothing refused or lost it."""
    if not history.lean_answered or history.listening_since is None:
        return []
    stored = {w.entity_id for w in history.webhooks_of("entity.created")}
    claimed = {r.claimed_entity_id for r in history.rejections}
    found = []
    for entity in history.entities:
        created = entity.created_at
        if entity.entity_id in stored or entity.entity_id in claimed or created is None:
            continue
        # Before the first stored webhook the console was not listening; and Lean may still be
        # retrying one made in the last 3 hours.
        if created < history.listening_since or history.now - created < timedelta(hours=3):
            continue
        found.append(
            Finding(
                "entity_created_missing",
                Severity.WARNING,
                "The bank connection's entity.created webhook never arrived",
                [
                    f"Lean lists entity {entity.entity_id} at {_bank(entity)}, created "
                    f"{stamp(created)}",
                    f"the console has been receiving webhooks since {stamp(history.listening_since)}"
                    ", yet none announced it, and no refused delivery claims it",
                ],
                "Check Lean's webhook configuration (URL, subscribed events) and our endpoint's "
                "logs for that time. The connection itself works; only the notice is missing.",
                created,
                {"entity_id": entity.entity_id},
            )
        )
    return found


def lean_calls_failing(history: History) -> list[Finding]:
    """Lean answered the console's calls for this customer with 5xx or not at all."""
    recent = [c for c in history.lean_calls if history.now - c.at <= CALLS_WINDOW]
    failing = [c for c in recent if c.failed_at_lean]
    if not failing:
        return []
    failing.sort(key=lambda c: c.at, reverse=True)
    routes = sorted({f"{c.method} {c.route}" for c in failing})
    results = [c.results_id for c in failing if c.results_id]
    evidence = [
        f"{len(failing)} of the last {len(recent)} calls to Lean in 24 h failed on Lean's side",
        *(
            f"{stamp(c.at)} {c.method} {c.route}: "
            + (f"HTTP {c.status}" if c.status is not None else "no answer")
            + (f" {c.lean_code}" if c.lean_code else "")
            + (f" · results_id {c.results_id}" if c.results_id else "")
            + f" · {c.outcome}"
            for c in failing[:5]
        ),
    ]
    if len(routes) > 1:
        evidence.append("endpoints: " + ", ".join(routes))
    refs = {"results_id": results[0]} if results else {}
    return [
        Finding(
            "lean_calls_failing",
            Severity.CRITICAL,
            "Lean is failing the console's calls for this customer",
            evidence,
            "A Lean-side problem: escalate to Lean with the results_ids and times in the "
            "evidence (attach the debug bundle). Retrying later may work.",
            failing[0].at,
            refs,
        )
    ]


def lean_not_answering(history: History) -> list[Finding]:
    """Lean did not answer while the history was gathered: say the diagnosis is partial."""
    if history.lean_answered:
        return []
    return [
        Finding(
            "lean_not_answering",
            Severity.INFO,
            "Lean did not answer: this diagnosis is from stored webhooks only",
            [history.lean_problem or "Lean did not answer in time"],
            "Read the rest with that in mind, and open the triage again in a few minutes.",
            history.now,
        )
    ]


# The rules, in the order their findings are listed when severity and time tie.
RULES: tuple[Callable[[History], list[Finding]], ...] = (
    consent_expired,
    consent_revoked,
    refresh_stuck,
    lean_calls_failing,
    entity_created_refused,
    entity_created_dead_letter,
    bank_unavailable,
    refresh_incomplete,
    entity_created_missing,
    link_abandoned,
    lean_not_answering,
)


def all_clear(history: History) -> Finding | None:
    """Everything looks fine: every connection has an active consent and its latest refresh
    succeeded. None when that cannot be said."""
    if not history.entities:
        return None
    evidence = []
    for entity in history.entities:
        consent = entity.current_consent
        status = consent.effective_status(history.now) if consent else None
        if status != "ACTIVE":
            return None
        finished = [r for r in history.refreshes_of(entity.entity_id) if r.finished]
        if not finished or finished[0].problems():
            return None
        latest = finished[0]
        left = consent.expires_at - history.now if consent and consent.expires_at else None
        evidence.append(
            f"entity {entity.entity_id} at {_bank(entity)}: consent ACTIVE"
            + (f", expires in {whole_days(left)} days" if left is not None else "")
            + f"; latest refresh {latest.refresh_id} finished {stamp(latest.finished_at)} with "
            f"every data type complete on {len(latest.accounts)} account"
            + ("s" if len(latest.accounts) != 1 else "")
        )
    evidence.append(
        f"{len(history.webhooks)} stored webhooks, {len(history.rejections)} refused, "
        f"{len(history.dead_letters)} dead letters about this customer"
    )
    return Finding(
        "all_clear",
        Severity.OK,
        "Everything looks fine",
        evidence,
        "Nothing to fix on Lean's or our side. If the customer still sees a problem, ask what "
        "exactly and when, and look at the timeline below.",
        None,
    )


def no_rule_matched(history: History) -> Finding:
    """Nothing explains the situation: say so, with what is known."""
    refreshes = len(history.refreshes)
    return Finding(
        "no_rule_matched",
        Severity.INFO,
        "No rule matched",
        [
            f"{len(history.entities)} bank connections, {refreshes} refreshes, "
            f"{len(history.webhooks)} stored webhooks, {len(history.lean_calls)} Lean calls",
            "no expired or revoked consent, no stuck or incomplete refresh, no refused webhook, "
            "no bank outage, no failing Lean call — and not enough to call it fine (e.g. no "
            "finished refresh yet)",
        ],
        "No rule matched: read the timeline below, and escalate with the debug bundle if the "
        "customer's problem is not explained there.",
        None,
    )


def diagnose(
    history: History, rules: Sequence[Callable[[History], list[Finding]]] = RULES
) -> list[Finding]:
    """Every rule's findings, ranked: severity first, then the most recent first."""
    findings = [finding for rule in rules for finding in rule(history)]
    problems = [f for f in findings if f.severity < Severity.INFO]
    if not problems:
        clear = all_clear(history)
        findings.append(clear if clear is not None else no_rule_matched(history))
    return rank(findings)


def rank(findings: Iterable[Finding]) -> list[Finding]:
    """Severity first, then recency (newest first; an undated finding last in its severity)."""
    ordered = list(findings)
    ordered.sort(key=lambda f: f.since or EPOCH, reverse=True)
    ordered.sort(key=lambda f: f.severity)
    return ordered
