"""Bank availability history and refresh health, as rules over constructed or stored history.

Availability comes from `bank.availability.updated` events: each says what Lean's switch
(`active`) and ours (`enabled`) were at that moment, for data and for payments. Health comes from
finished refreshes: per data type, how many succeeded, were partial, failed or were unsupported.
Nothing here reads a database or draws a screen.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from lean_api.models import ACCOUNT_DATA_TYPES, BankAvailability, Refresh

CAPABILITIES = ("data", "payments")
AVAILABLE = "available"
# Before the first change we hold, the state is not known: it is neither up nor down.
NO_RECORD = "no_record"
STATE_WORDS = {
    "available": "Available",
    "disabled_by_lean": "Disabled by Lean",
    "disabled_by_us": "Disabled by us (portal)",
    "unknown": "Unknown (Lean's flags unreadable or missing)",
    NO_RECORD: "No record",
}

HEALTHY, DEGRADED, DOWN, NOT_ENOUGH_DATA = "HEALTHY", "DEGRADED", "DOWN", "NOT ENOUGH DATA"
# A data type the bank answers only with UNSUPPORTED: not a fault, nothing to judge.
NOT_SUPPORTED = "NOT SUPPORTED"
# Problems first: the order the Overview and the Banks list sort by.
SEVERITY = {DOWN: 0, DEGRADED: 1, NOT_ENOUGH_DATA: 2, HEALTHY: 3, NOT_SUPPORTED: 3}


def state_word(state: str) -> str:
    """An availability state in the operator's words (unknown states are shown as they are)."""
    return STATE_WORDS.get(state, state)


# ---------------------------------------------------------------------------------------------
# Availability history
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AvailabilityChange:
    """What one `bank.availability.updated` event said, and when (Lean's clock)."""

    at: datetime
    data: str
    payments: str

    def state(self, capability: str) -> str:
        """The state of `data` or `payments` after this change."""
        return self.data if capability == "data" else self.payments


def change_from_payload(at: datetime, payload: Any) -> AvailabilityChange:
    """A change from an event's `payload` object; flags that cannot be read give `unknown`."""
    raw = payload.get("availability") if isinstance(payload, dict) else None
    try:
        availability = BankAvailability.model_validate(raw if isinstance(raw, dict) else {})
    except ValidationError:
        # A word Lean never used ("maybe") for a flag: say we do not know, never guess.
        return AvailabilityChange(at, "unknown", "unknown")
    return AvailabilityChange(at, availability.state("data"), availability.state("payments"))


def change_from_body(at: datetime, body: str) -> AvailabilityChange:
    """A change from a stored event's raw body (the whole envelope)."""
    try:
        envelope = json.loads(body)
    except ValueError:
        return AvailabilityChange(at, "unknown", "unknown")
    return change_from_payload(at, envelope.get("payload") if isinstance(envelope, dict) else None)


@dataclass(frozen=True)
class Span:
    """A stretch of time in one availability state."""

    capability: str
    state: str
    start: datetime
    end: datetime

    @property
    def duration(self) -> timedelta:
        """How long the span lasted."""
        return self.end - self.start


def ordered(changes: Iterable[AvailabilityChange]) -> list[AvailabilityChange]:
    """Changes by Lean's clock: events arrive late and out of order, the clock decides."""
    return sorted(changes, key=lambda c: c.at)


def spans(
    changes: Iterable[AvailabilityChange], capability: str, since: datetime, until: datetime
) -> list[Span]:
    """The states of one capability over [since, until), adjacent equal states merged.

    The state at `since` is the one set by the last change before it; with none, `no_record`.
    """
    history = ordered(changes)
    state = NO_RECORD
    for change in history:
        if change.at <= since:
            state = change.state(capability)
    out: list[Span] = []
    cursor = since
    for change in history:
        if change.at <= since or change.at >= until:
            continue
        if change.at > cursor:
            out.append(Span(capability, state, cursor, change.at))
        cursor, state = change.at, change.state(capability)
    if until > cursor:
        out.append(Span(capability, state, cursor, until))
    merged: list[Span] = []
    for span in out:
        if merged and merged[-1].state == span.state:
            merged[-1] = Span(capability, span.state, merged[-1].start, span.end)
        else:
            merged.append(span)
    return merged


def uptime(
    changes: Iterable[AvailabilityChange], capability: str, since: datetime, until: datetime
) -> float | None:
    """Share of the recorded time in [since, until) the capability was available (0–1).

    Time before the first recorded change does not count either way; `None` when nothing of the
    window is on record.
    """
    recorded = [s for s in spans(changes, capability, since, until) if s.state != NO_RECORD]
    total = sum((s.duration for s in recorded), timedelta())
    if not total:
        return None
    up = sum((s.duration for s in recorded if s.state == AVAILABLE), timedelta())
    return up / total


@dataclass(frozen=True)
class CurrentState:
    """The state a capability is in now, and since when.

    `exact` is False when the state already held at the oldest change on record, so it began
    at or before `since` ("since at least …").
    """

    state: str
    since: datetime | None
    exact: bool

    def lasted(self, now: datetime) -> timedelta | None:
        """How long the state has held by `now`."""
        return now - self.since if self.since else None


def current_state(
    changes: Iterable[AvailabilityChange], capability: str, now: datetime
) -> CurrentState:
    """The latest recorded state at `now` and when it began (the first change of its run)."""
    history = [c for c in ordered(changes) if c.at <= now]
    if not history:
        return CurrentState(NO_RECORD, None, False)
    state = history[-1].state(capability)
    since = history[-1].at
    exact = False
    for change in reversed(history[:-1]):
        if change.state(capability) != state:
            exact = True
            break
        since = change.at
    return CurrentState(state, since, exact)


def current_outage(
    changes: Iterable[AvailabilityChange], capability: str, now: datetime
) -> CurrentState | None:
    """The ongoing outage of a capability (any recorded state but available), or None."""
    current = current_state(changes, capability, now)
    if current.state in (AVAILABLE, NO_RECORD):
        return None
    return current


def percent(share: float) -> str:
    """A share as a whole percentage that never rounds a few to none or nearly all to all:
    2 of 1,000 is "<1%", 999 of 1,000 is ">99%" ("0%" beside a count of 2 read as a mistake)."""
    words = f"{share:.0%}"
    if words == "0%" and share > 0:
        return "<1%"
    if words == "100%" and share < 1:
        return ">99%"
    return words


def describe_duration(length: timedelta) -> str:
    """`3 d 4 h`, `2 h 5 min`, `12 min`, `under a minute`."""
    minutes = int(length.total_seconds() // 60)
    if minutes < 1:
        return "under a minute"
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


# ---------------------------------------------------------------------------------------------
# Health beyond the flag
# ---------------------------------------------------------------------------------------------

OUTCOMES = ("SUCCESS", "PARTIAL", "FAILED", "UNSUPPORTED")
OTHER = "OTHER"  # a status word Lean never documented, or a refresh finished with PENDING parts


@dataclass(frozen=True)
class HealthThresholds:
    """The numbers the classification uses; the screen shows them as they are."""

    min_refreshes: int = 5
    down_failed_share: float = 0.5
    degraded_share: float = 0.1

    def describe(self) -> list[str]:
        """The rules in the operator's words, in the order they are applied."""
        n = self.min_refreshes
        return [
            f"**DOWN**: data availability is off (Lean's switch or ours), or at least "
            f"{self.down_failed_share:.0%} of the refreshes of the last 24 h failed "
            f"(with at least {n} of them).",
            f"**DEGRADED**: at least {self.degraded_share:.0%} failed or partial over the last "
            f"24 h (or over 7 days when the last 24 h had fewer than {n}), or one data type is "
            "DOWN.",
            f"**NOT ENOUGH DATA**: fewer than {n} finished refreshes in 7 days: nothing to judge by.",
            "**HEALTHY**: none of the above. Unsupported data types are shown but never counted "
            "against a bank; unknown status words count as not successful, not as failed.",
            f"**NOT SUPPORTED** (a data type): at least {n} refreshes in 7 days, all unsupported.",
        ]


@dataclass
class OutcomeCounts:
    """How the refreshes of one data type (or all) ended."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys((*OUTCOMES, OTHER), 0))

    def add(self, outcome: str, n: int = 1) -> None:
        """Count `n` refreshes that ended with `outcome` (unknown words count as OTHER)."""
        key = outcome if outcome in OUTCOMES else OTHER
        self.counts[key] += n

    def merge(self, other: OutcomeCounts) -> None:
        """Add another set of counts to this one."""
        for key, n in other.counts.items():
            self.counts[key] = self.counts.get(key, 0) + n

    @property
    def total(self) -> int:
        """Every refresh counted, unsupported included."""
        return sum(self.counts.values())

    @property
    def judged(self) -> int:
        """Refreshes that say something about the bank: all but the unsupported ones."""
        return self.total - self.counts["UNSUPPORTED"]

    def share(self, outcome: str) -> float | None:
        """Share of all counted refreshes with `outcome` (0–1), None when nothing was counted."""
        return self.counts.get(outcome, 0) / self.total if self.total else None

    def judged_share(self, *outcomes: str) -> float:
        """Share of the judged refreshes that ended in one of `outcomes`."""
        return sum(self.counts[o] for o in outcomes) / self.judged if self.judged else 0.0


_RANK = {"FAILED": 0, OTHER: 1, "PARTIAL": 2, "SUCCESS": 3, "UNSUPPORTED": 4}


def refresh_outcomes(refresh: Refresh) -> dict[str, str]:
    """Per data type, how one refresh ended: the worst of its accounts' statuses.

    Worst first: FAILED, an unknown word, PARTIAL, SUCCESS, UNSUPPORTED. A data type no account
    reported is left out. Identity also counts the entity-level identity status.
    """
    statuses: dict[str, list[str]] = {name: [] for name in ACCOUNT_DATA_TYPES}
    data_status = refresh.data_status
    if data_status is None:
        return {}
    for account in data_status.account_data:
        for name, status in account.statuses().items():
            if status:
                statuses[name].append(status)
    if data_status.identity:
        statuses["identity"].append(data_status.identity)
    out = {}
    for name, words in statuses.items():
        if words:
            keyed = [w if w in _RANK else OTHER for w in words]
            out[name] = min(keyed, key=_RANK.__getitem__)
    return out


def refresh_from_body(body: str) -> Refresh | None:
    """The refresh in a stored `entity.data.refresh.updated` body, or None when unreadable."""
    try:
        envelope = json.loads(body)
        payload = envelope.get("payload") if isinstance(envelope, dict) else None
        return Refresh.model_validate(payload) if isinstance(payload, dict) else None
    except (ValueError, ValidationError):
        return None


def count_outcomes(
    refreshes: Iterable[tuple[datetime, Refresh]], since: datetime
) -> dict[str, OutcomeCounts]:
    """Per data type, how the refreshes finished at or after `since` ended."""
    counts = {name: OutcomeCounts() for name in ACCOUNT_DATA_TYPES}
    for finished_at, refresh in refreshes:
        if finished_at < since:
            continue
        for name, outcome in refresh_outcomes(refresh).items():
            counts[name].add(outcome)
    return counts


def combined(counts: dict[str, OutcomeCounts]) -> OutcomeCounts:
    """All data types together."""
    total = OutcomeCounts()
    for per_type in counts.values():
        total.merge(per_type)
    return total


@dataclass(frozen=True)
class Verdict:
    """A health word with the reason an operator can check."""

    word: str
    reason: str

    @property
    def severity(self) -> int:
        """0 for DOWN … 3 for HEALTHY."""
        return SEVERITY.get(self.word, 2)


def classify(
    last_day: OutcomeCounts,
    last_week: OutcomeCounts,
    availability: str = AVAILABLE,
    thresholds: HealthThresholds = HealthThresholds(),
    *,
    refreshes: tuple[int, int] | None = None,
) -> Verdict:
    """HEALTHY / DEGRADED / DOWN / NOT ENOUGH DATA, by the rules `thresholds.describe()` states.

    For one data type each refresh is one result. For several data types together, a refresh
    gives one result per data type: `refreshes` then says how many refreshes (24 h, 7 days)
    the results came from, and the minimum applies to refreshes, not results.
    """
    n = thresholds.min_refreshes
    day_n, week_n = refreshes or (last_day.judged, last_week.judged)
    unit = "results" if refreshes else "refreshes"
    if availability in ("disabled_by_lean", "disabled_by_us"):
        return Verdict(DOWN, f"data availability: {state_word(availability)}")
    if last_week.total >= n and not last_week.judged:
        return Verdict(NOT_SUPPORTED, f"all {last_week.total} {unit} in 7 days were unsupported")
    if day_n >= n:
        failed = last_day.judged_share("FAILED")
        if failed >= thresholds.down_failed_share:
            return Verdict(DOWN, f"{percent(failed)} of {last_day.judged} {unit} failed in 24 h")
        window, counts, count = "24 h", last_day, day_n
    elif week_n >= n:
        window, counts, count = "7 days", last_week, week_n
    else:
        return Verdict(NOT_ENOUGH_DATA, f"{week_n} finished refreshes in 7 days (fewer than {n})")
    bad = counts.judged_share("FAILED", "PARTIAL")
    of = f"{counts.judged} {unit}" + (f" of {count} refreshes" if refreshes else "")
    word = DEGRADED if bad >= thresholds.degraded_share else HEALTHY
    return Verdict(word, f"{percent(bad)} of {of} failed or partial in {window}")


@dataclass(frozen=True)
class BankVerdict:
    """The bank's health word, and each data type's."""

    overall: Verdict
    by_type: dict[str, Verdict]


def classify_bank(
    last_day: dict[str, OutcomeCounts],
    last_week: dict[str, OutcomeCounts],
    availability: str = AVAILABLE,
    thresholds: HealthThresholds = HealthThresholds(),
) -> BankVerdict:
    """The bank as a whole (all data types together), worsened to DEGRADED by a type that is DOWN."""
    by_type = {
        name: classify(
            last_day.get(name, OutcomeCounts()), last_week.get(name, OutcomeCounts()),
            thresholds=thresholds,
        )
        for name in ACCOUNT_DATA_TYPES
    }  # fmt: skip
    # A refresh reports most data types at once: the type with the most results has one per
    # refresh, so it tells how many refreshes the combined results came from.
    refreshes = (
        max((c.judged for c in last_day.values()), default=0),
        max((c.judged for c in last_week.values()), default=0),
    )
    overall = classify(
        combined(last_day), combined(last_week), availability, thresholds, refreshes=refreshes
    )
    if overall.word in (HEALTHY, NOT_ENOUGH_DATA):
        # Only a type that is DOWN: one DEGRADED type among seven is within the bank's spread.
        failing = [name for name, v in by_type.items() if v.word == DOWN]
        if failing:
            worst = min(failing, key=lambda name: by_type[name].severity)
            overall = Verdict(
                DEGRADED,
                f"{worst.replace('_', ' ')}: {by_type[worst].word} ({by_type[worst].reason})",
            )
    return BankVerdict(overall, by_type)


def sort_problems_first(verdicts: Sequence[tuple[str, Verdict]]) -> list[tuple[str, Verdict]]:
    """(name, verdict) pairs, DOWN first, then DEGRADED, not enough data, HEALTHY; by name within."""
    return sorted(verdicts, key=lambda item: (item[1].severity, item[0]))
