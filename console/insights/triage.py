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
    # The signature header's shape: "sha512" (well-formed `sha512=<128 hex>`), "none" (no
    # header) or "other" (another algorithm, malformed). Only its shape: never the value.
    signature_shape: str = "none"
    source_ip: str | None = None

    @property
    def credible(self) -> bool:
        """A well-formed sha512 signature that did not match the body: what Lean sends when our
        secret is wrong or was rotated. Anything else (no signature, another algorithm, a
        malformed one) is what a forger sends, never Lean."""
        return "does not match" in self.reason and self.signature_shape == "sha512"

    @property
    def signature_words(self) -> str:
        """What was wrong with the signature, in the console's words."""
        reason = self.reason.lower()
        for needle, words in REFUSAL_WORDS:
            if needle in reason:
                return words
        return self.reason


# A refusal reason (the receiver's words) → what it says about the signature.
REFUSAL_WORDS = (
    ("missing", "no signature"),
    ("unsupported", "wrong signature algorithm"),
    ("malformed", "malformed signature"),
    ("does not match", "signature did not match"),
    ("not configured", "no webhook secret configured on our side"),
)


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
            f"bank {bank}: data switched off {since_words}{lasted}",
            f"from bank.availability.updated webhooks ({len(changes)} change{'s' if len(changes) != 1 else ''} in the window)",
            *(f"affects entity {entity_id}" for entity_id in connected),
        ]
        # Refreshes that failed because the bank is off are this finding's, not escalations.
        for entity in (e for e in history.entities if e.bank_identifier == bank):
            during = [
                r
                for r in _finished(history, entity)
                if r.problems()
                and _switched_off_during(history, entity, r) == state.state
                and (since is None or (r.finished_at or r.started_at or EPOCH) >= since)
            ]
            if during:
                evidence.append(
                    f"{len(during)} refresh{'es' if len(during) != 1 else ''} of entity "
                    f"{entity.entity_id} failed or came back partial while "
                    f"{OFF_WORDS[state.state]} — expected, not a reason to refresh again or "
                    "escalate: "
                    + ", ".join(r.refresh_id for r in during[:REPEATED_REFRESHES])
                    + (
                        f" (+{len(during) - REPEATED_REFRESHES} more)"
                        if len(during) > REPEATED_REFRESHES
                        else ""
                    )
                )
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


# The bank's data switched off, in the words a refresh's evidence uses.
OFF_WORDS = {
    "disabled_by_lean": "Lean had the bank's data switched off",
    "disabled_by_us": "the bank's data was switched off in our Lean portal",
}


def _finished(history: History, entity: EntityFact) -> list[RefreshFact]:
    return [r for r in history.refreshes_of(entity.entity_id) if r.finished]


def _switched_off_during(history: History, entity: EntityFact, refresh: RefreshFact) -> str | None:
    """`disabled_by_lean` / `disabled_by_us` when the entity's bank had its data switched off
    when the refresh started or finished (availability history); None otherwise."""
    changes = history.bank_changes.get(entity.bank_identifier or "") or []
    for moment in (refresh.started_at, refresh.finished_at):
        if changes and moment is not None:
            state = current_state(changes, "data", moment).state
            if state in OFF_WORDS:
                return state
    return None


def _switched_off_now(history: History, entity: EntityFact) -> str | None:
    changes = history.bank_changes.get(entity.bank_identifier or "") or []
    state = current_state(changes, "data", history.now).state
    return state if state in OFF_WORDS else None


def _plural(n: int) -> str:
    return f"{n} refresh{'es' if n != 1 else ''}"


def refresh_incomplete(history: History) -> list[Finding]:
    """The latest finished refresh of an entity left data types partial or failed.

    Refreshes that ran while the bank's data was switched off (availability history) were
    bound to fail: they never count towards an escalation. While the bank is still off they
    belong to the bank finding (which lists them); once it is back, the advice is to refresh
    again. Failures while the bank was available are judged as usual, and the evidence says
    which were which."""
    found = []
    for entity in history.entities:
        finished = _finished(history, entity)
        if not finished or not finished[0].problems():
            continue
        off_during = {r.refresh_id: _switched_off_during(history, entity, r) for r in finished}
        off_now = _switched_off_now(history, entity)
        latest = finished[0]
        available = [r for r in finished if not off_during[r.refresh_id]]
        if off_during[latest.refresh_id]:
            found.extend(_incomplete_while_off(history, entity, finished, off_during, off_now))
            continue
        recent = available[:REPEATED_REFRESHES]
        repeated = len(recent) == REPEATED_REFRESHES and all(r.problems() for r in recent)
        excused = [
            r
            for r in finished
            if off_during[r.refresh_id]
            and r.problems()
            and r.started_at
            and recent[-1].started_at
            and r.started_at >= recent[-1].started_at
        ]
        evidence = [f"entity {entity.entity_id} at {_bank(entity)}", _latest_words(latest)]
        if repeated:
            evidence.append(
                f"the last {REPEATED_REFRESHES} finished refreshes"
                + (" while the bank was available" if excused else "")
                + " all came back incomplete: "
                + ", ".join(r.refresh_id for r in recent)
            )
        if excused:
            evidence.append(
                f"{_plural(len(excused))} in between failed or came back partial while "
                f"{OFF_WORDS[off_during[excused[0].refresh_id] or 'disabled_by_lean']} — "
                "expected, not counted: " + ", ".join(r.refresh_id for r in excused)
            )
        bank_off = (
            " The bank's data is switched off now (see the bank finding): do not refresh "
            "again until it is back."
            if off_now
            else ""
        )
        if off_now:
            evidence.append(
                "these failed while the bank was available; its data was switched off after"
            )
        found.append(
            Finding(
                "refresh_incomplete_repeated" if repeated else "refresh_incomplete",
                Severity.CRITICAL if repeated else Severity.WARNING,
                _incomplete_title(latest),
                evidence,
                (
                    f"Escalate to Lean: the same data came back incomplete {REPEATED_REFRESHES} "
                    "times in a row while the bank was available. Send the refresh_ids in the "
                    "evidence (and the debug bundle)." + bank_off
                    if repeated
                    else (
                        "Refresh again once the bank is back on (Data refreshes screen): the "
                        "bank's data is switched off now (see the bank finding). If it stays "
                        "incomplete after that, escalate to Lean."
                        if off_now
                        else "Refresh again (Data refreshes screen): banks often answer fully "
                        "the next time. If it stays incomplete, escalate to Lean."
                    )
                ),
                latest.finished_at or latest.started_at,
                {"entity_id": entity.entity_id, "refresh_id": latest.refresh_id},
            )
        )
    return found


def _latest_words(latest: RefreshFact) -> str:
    parts = [
        f"{name.replace('_', ' ')} {latest.worst_word(name)} for {bad} of {total} "
        f"account{'s' if total != 1 else ''}"
        for name, (bad, total) in latest.problems().items()
    ]
    return (
        f"latest finished refresh {latest.refresh_id} ({stamp(latest.finished_at)}): "
        + "; ".join(parts)
    )


def _incomplete_title(latest: RefreshFact) -> str:
    problems = latest.problems()
    first = next(iter(problems))
    bad, total = problems[first]
    title = (
        f"{first.replace('_', ' ').capitalize()} {latest.worst_word(first)} for {bad} of "
        f"{total} account{'s' if total != 1 else ''} on the latest refresh"
    )
    if len(problems) > 1:
        title += f" (and {len(problems) - 1} more data type{'s' if len(problems) > 2 else ''})"
    return title


def _incomplete_while_off(
    history: History,
    entity: EntityFact,
    finished: list[RefreshFact],
    off_during: dict[str, str | None],
    off_now: str | None,
) -> list[Finding]:
    """The latest incomplete refresh ran while the bank's data was switched off."""
    latest = finished[0]
    # The run of incomplete refreshes up to the latest, split by the bank's state at the time.
    run: list[RefreshFact] = []
    for r in finished:
        if not r.problems():
            break
        run.append(r)
    while_off = [r for r in run if off_during[r.refresh_id]]
    while_on = [r for r in run if not off_during[r.refresh_id]]
    words = OFF_WORDS[off_during[latest.refresh_id] or "disabled_by_lean"]
    evidence = [
        f"entity {entity.entity_id} at {_bank(entity)}",
        _latest_words(latest),
        f"{_plural(len(while_off))} failed or came back partial while {words} — expected: "
        + ", ".join(r.refresh_id for r in while_off),
    ]
    if while_on:
        evidence.append(
            f"before that, {_plural(len(while_on))} came back incomplete while the bank was "
            "available: " + ", ".join(r.refresh_id for r in while_on)
        )
    refs = {"entity_id": entity.entity_id, "refresh_id": latest.refresh_id}
    when = latest.finished_at or latest.started_at
    if off_now and not while_on:
        return []  # the bank finding lists them; it is the one thing to act on
    if off_now:
        return [
            Finding(
                "refresh_incomplete_bank_off",
                Severity.INFO,
                "Refreshes were already incomplete before the bank's data was switched off",
                evidence,
                "Nothing to do while the bank is off (see the bank finding). Once it is back "
                "on, refresh again; if that is incomplete too, escalate to Lean with the "
                "refresh_ids in the evidence.",
                when,
                refs,
            )
        ]
    changes = history.bank_changes.get(entity.bank_identifier or "") or []
    back = current_state(changes, "data", history.now).since
    evidence.append(f"the bank's data is available again since {stamp(back)}")
    return [
        Finding(
            "refresh_incomplete_bank_off",
            Severity.WARNING,
            _incomplete_title(latest) + " (while the bank's data was switched off)",
            evidence,
            "Refresh again (Data refreshes screen): the bank is back on, and the failures came "
            "while it was off. If the new refresh is incomplete too, escalate to Lean.",
            when,
            refs,
        )
    ]


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


# Example entity ids a collapsed finding shows (the debug bundle counts the rest).
EXAMPLE_CLAIMS = 3


def corroborated_claims(history: History) -> list[RejectionFact]:
    """Refused `entity.created` deliveries Lean would have sent: a well-formed sha512 signature
    that did not match, for an entity Lean lists for this customer, whose verified
    `entity.created` is not stored. Newest first."""
    if not history.lean_answered:
        return []
    verified = {w.entity_id for w in history.webhooks_of("entity.created") if w.verified}
    return sorted(
        (
            r
            for r in history.rejections
            if r.claimed_type == "entity.created"
            and r.credible
            and r.claimed_entity_id
            and history.entity(r.claimed_entity_id) is not None
            and r.claimed_entity_id not in verified
        ),
        key=lambda r: r.at,
        reverse=True,
    )


def _count_words(counts: dict[str, int]) -> str:
    return ", ".join(f"{word} ×{n}" for word, n in sorted(counts.items(), key=lambda i: -i[1]))


def entity_created_refused(history: History) -> list[Finding]:
    """Deliveries claiming to be this customer's `entity.created` that our endpoint refused, as
    ONE finding: anyone can claim anything without the secret, so only a signature mismatch Lean
    corroborates (it lists the entity, and its verified `entity.created` is missing) is action
    needed; the rest is possibly forged."""
    verified = {w.entity_id for w in history.webhooks_of("entity.created") if w.verified}
    claims = [
        r
        for r in history.rejections
        if r.claimed_type == "entity.created" and r.claimed_entity_id not in verified
    ]
    if not claims:
        return []
    claims.sort(key=lambda r: r.at, reverse=True)
    corroborated = corroborated_claims(history)
    entities = list(dict.fromkeys(r.claimed_entity_id or "(none)" for r in claims))
    reasons: dict[str, int] = {}
    for r in claims:
        reasons[r.signature_words] = reasons.get(r.signature_words, 0) + 1
    sources: dict[str, int] = {}
    for r in claims:
        sources[r.source_ip or "unknown"] = sources.get(r.source_ip or "unknown", 0) + 1
    first, last = claims[-1].at, claims[0].at
    examples = ", ".join(entities[:EXAMPLE_CLAIMS]) + (
        f" (+{len(entities) - EXAMPLE_CLAIMS} more)" if len(entities) > EXAMPLE_CLAIMS else ""
    )
    evidence = [
        f"{len(claims)} refused deliver{'ies' if len(claims) != 1 else 'y'} on record claimed "
        f"to be this customer's entity.created, for {len(entities)} distinct "
        f"entit{'ies' if len(entities) != 1 else 'y'}; first {stamp(first)}, last {stamp(last)}",
        f"why refused: {_count_words(reasons)}",
        f"entities claimed (unverified): {examples}",
        f"sent from: {_count_words(sources)}",
    ]
    unlisted = [r for r in claims if r.credible and r not in corroborated]
    if corroborated:
        latest = corroborated[0]
        entity = history.entity(latest.claimed_entity_id)
        evidence.append(
            f"entity {latest.claimed_entity_id}: a well-formed sha512 signature that did not "
            f"match the body, last {stamp(latest.at)} (event "
            f"{latest.claimed_event_id or '(none)'}); Lean does list it"
            + (f" at {_bank(entity)}" if entity else "")
            + " for this customer, and no verified entity.created for it is stored"
        )
        others = len({r.claimed_entity_id for r in corroborated}) - 1
        if others:
            evidence.append(f"{others} more entit{'ies' if others != 1 else 'y'} Lean lists alike")
        if len(corroborated) < len(claims):
            evidence.append(
                f"the other {len(claims) - len(corroborated)} look forged: "
                "no Lean-listed entity, or no valid-looking signature"
            )
        refs = {
            "entity_id": latest.claimed_entity_id or "",
            "event_id": latest.claimed_event_id or "",
        }
        return [
            Finding(
                "entity_created_refused",
                Severity.CRITICAL,
                "Our endpoint refused the bank connection's entity.created webhook",
                evidence,
                "Fix our side: our webhook secret (LEAN_WEBHOOK_SECRET) may not match the one in "
                "Lean's portal, or it was rotated. Lean retries for 3 hours; after that ask Lean "
                "to resend the event_id. The customer need not do anything.",
                min(r.at for r in corroborated),
                {k: v for k, v in refs.items() if v},
            )
        ]
    if unlisted and not history.lean_answered:
        evidence.append(
            f"{len(unlisted)} carried a well-formed sha512 signature that did not match; Lean "
            "did not answer, so whether it lists the claimed entities is unknown"
        )
    elif unlisted:
        evidence.append(
            f"{len(unlisted)} carried a well-formed sha512 signature that did not match, but "
            "Lean lists none of the entities they claim for this customer"
        )
    return [
        Finding(
            "entity_created_refused",
            Severity.WARNING if unlisted else Severity.INFO,
            f"Possibly forged: {len(claims)} refused deliver{'ies' if len(claims) != 1 else 'y'} "
            "claimed this customer's entity.created",
            evidence,
            (
                "Open the triage again when Lean answers. "
                if unlisted and not history.lean_answered
                else ""
            )
            + "Check the sender (source IPs listed); nothing to do for the customer.",
            first,
            {"refused_claims": str(len(claims))},
        )
    ]


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
    # Refused claims alone do not explain it: anyone can send one (a credible one names an
    # entity Lean lists, and then there is one). Unreadable deliveries passed the signature.
    if history.dead_letters:
        return []
    return [
        Finding(
            "link_abandoned",
            Severity.WARNING,
            "The customer never finished connecting a bank",
            [
                f"Lean lists no bank connection for customer {history.customer_id}",
                "no entity.created webhook is stored, none is a dead letter, and no refused "
                "delivery names an entity Lean lists",
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
    # Only a credible refusal (a sha512 mismatch) explains the missing webhook; forged claims
    # must not hide it.
    claimed = {r.claimed_entity_id for r in history.rejections if r.credible}
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
