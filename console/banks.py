"""Bank availability as operators and product managers read it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from console.insights.bank_health import (
    AvailabilityChange,
    BankVerdict,
    CurrentState,
    HealthThresholds,
    OutcomeCounts,
    change_from_body,
    classify_bank,
    current_outage,
    current_state,
    describe_duration,
    refresh_from_body,
    refresh_outcomes,
    state_word,
    uptime,
)
from lean_api.models import ACCOUNT_DATA_TYPES, Bank

if TYPE_CHECKING:
    from console.store import EventStore

STATE_LABELS = {
    "available": "Available",
    "disabled_by_lean": "Disabled by Lean",
    "disabled_by_us": "Disabled by us (portal)",
    "unknown": "Unknown",
}


def availability_rows(banks: list[Bank]) -> list[dict[str, Any]]:
    """One row per bank: data and payments availability, with who switched it off."""
    rows = [
        {
            "Bank": bank.display_name,
            "Arabic name": bank.commercial_name_arabic or bank.arabic_name or "",
            "Data": STATE_LABELS[bank.availability.state("data")],
            "Payments": STATE_LABELS[bank.availability.state("payments")],
            "Identifier": bank.identifier,
        }
        for bank in banks
    ]
    return sorted(rows, key=lambda r: (r["Data"] != STATE_LABELS["available"], r["Bank"]))


def availability_counts(banks: list[Bank], capability: str = "data") -> Counter[str]:
    """How many banks are in each availability state for a capability."""
    return Counter(bank.availability.state(capability) for bank in banks)


# ---------------------------------------------------------------------------------------------
# History and health (the Banks screen and the Overview)
# ---------------------------------------------------------------------------------------------

# The most refreshes read back per screen load; their statuses are in each body's JSON.
MAX_REFRESHES = 20_000
HISTORY_DAYS = 30
# The rules the screens apply and show.
THRESHOLDS = HealthThresholds()


@dataclass
class BankHistory:
    """What the store holds about every bank: availability changes and refresh outcomes."""

    now: datetime
    changes: dict[str, list[AvailabilityChange]] = field(default_factory=dict)
    # Per bank: (finished at, outcome per data type) of each refresh in the last 7 days.
    outcomes: dict[str, list[tuple[datetime, dict[str, str]]]] = field(default_factory=dict)
    # Per bank: refreshes finished in 7 days as counted by the database, read back or not;
    # under None those whose entity has no stored entity event, so no known bank.
    finished: dict[str | None, int] = field(default_factory=dict)

    @property
    def cut(self) -> bool:
        """True when more refreshes finished than were read back (the counts cover the newest)."""
        attributed = sum(n for bank, n in self.finished.items() if bank is not None)
        return sum(len(v) for v in self.outcomes.values()) < attributed

    @property
    def without_bank(self) -> int:
        """Refreshes of the last 7 days that could not be tied to a bank."""
        return self.finished.get(None, 0)


def load_history(store: EventStore, now: datetime | None = None) -> BankHistory:
    """Availability changes over 30 days and refresh outcomes over 7 days, for every bank."""
    now = now or datetime.now(UTC)
    history = BankHistory(now)
    for event in store.bank_availability_events(now - timedelta(days=HISTORY_DAYS)):
        if event.bank_identifier:
            change = change_from_body(event.occurred_at, event.payload)
            history.changes.setdefault(event.bank_identifier, []).append(change)
    week_ago = now - timedelta(days=7)
    history.finished = store.finished_refresh_counts(week_ago)
    for bank, finished_at, body in store.finished_refreshes(week_ago, limit=MAX_REFRESHES):
        refresh = refresh_from_body(body)
        if refresh is not None:
            outcomes = history.outcomes.setdefault(bank, [])
            outcomes.append((finished_at, refresh_outcomes(refresh)))
    return history


@dataclass
class BankReport:
    """One bank as the Banks screen shows it: availability now and since when, uptime, health."""

    bank: Bank
    changes: list[AvailabilityChange]
    data_since: CurrentState | None
    payments_since: CurrentState | None
    uptime_7d: float | None
    uptime_30d: float | None
    outage: CurrentState | None
    last_day: dict[str, OutcomeCounts]
    last_week: dict[str, OutcomeCounts]
    verdict: BankVerdict


def _count(
    outcomes: list[tuple[datetime, dict[str, str]]], since: datetime
) -> dict[str, OutcomeCounts]:
    counts = {name: OutcomeCounts() for name in ACCOUNT_DATA_TYPES}
    for finished_at, per_type in outcomes:
        if finished_at >= since:
            for name, outcome in per_type.items():
                counts.setdefault(name, OutcomeCounts()).add(outcome)
    return counts


def _since(
    changes: list[AvailabilityChange], capability: str, state: str, now: datetime
) -> CurrentState | None:
    """When the state Lean reports now began, from the stored changes; None when they disagree."""
    recorded = current_state(changes, capability, now)
    return recorded if recorded.state == state else None


def bank_report(
    bank: Bank, history: BankHistory, thresholds: HealthThresholds = THRESHOLDS
) -> BankReport:
    """Lean's current answer for `bank` joined with what the store recorded about it."""
    now = history.now
    changes = history.changes.get(bank.identifier, [])
    outcomes = history.outcomes.get(bank.identifier, [])
    data_state = bank.availability.state("data")
    last_day = _count(outcomes, now - timedelta(days=1))
    last_week = _count(outcomes, now - timedelta(days=7))
    return BankReport(
        bank=bank,
        changes=changes,
        data_since=_since(changes, "data", data_state, now),
        payments_since=_since(changes, "payments", bank.availability.state("payments"), now),
        uptime_7d=uptime(changes, "data", now - timedelta(days=7), now),
        uptime_30d=uptime(changes, "data", now - timedelta(days=HISTORY_DAYS), now),
        outage=current_outage(changes, "data", now) if data_state != "available" else None,
        last_day=last_day,
        last_week=last_week,
        verdict=classify_bank(last_day, last_week, data_state, thresholds),
    )


def describe_since(since: CurrentState | None, now: datetime) -> str:
    """`since 2026-11-27 14:03 UTC (5 h 2 min)`, `since at least …`, or that it is not on record."""
    if since is None or since.since is None:
        return "since: not on record"
    prefix = "since" if since.exact else "since at least"
    return f"{prefix} {since.since:%Y-%m-%d %H:%M} UTC ({describe_duration(now - since.since)})"


def availability_label(bank: Bank, capability: str) -> str:
    """`Available`, `Disabled by Lean`, … with Lean's and our switches spelled out."""
    state = bank.availability.state(capability)
    active = getattr(bank.availability.active, capability, None)
    enabled = getattr(bank.availability.enabled, capability, None)
    words = {True: "on", False: "off", None: "not given"}
    return f"{state_word(state)} (Lean: {words[active]}, portal: {words[enabled]})"


def percent(value: float | None) -> str:
    """`99.2%`, or `—` when there is nothing to measure."""
    return "—" if value is None else f"{value:.1%}"


def bank_link(identifier: str) -> str:
    """The console's own link to one bank."""
    return "/banks?" + urlencode({"bank": identifier})


def report_rows(reports: list[BankReport], now: datetime) -> list[dict[str, Any]]:
    """One row per bank for the list, problems first."""
    rows = []
    for report in sorted(reports, key=lambda r: (r.verdict.overall.severity, r.bank.display_name)):
        bank = report.bank
        rows.append(
            {
                "Health": report.verdict.overall.word,
                "Bank": bank.display_name,
                "Open": bank_link(bank.identifier),
                "Data": state_word(bank.availability.state("data")),
                "Data since": describe_since(report.data_since, now),
                "Payments": state_word(bank.availability.state("payments")),
                "Uptime 7 d": percent(report.uptime_7d),
                "Uptime 30 d": percent(report.uptime_30d),
                "Why": report.verdict.overall.reason,
                "Identifier": bank.identifier,
                "SWIFT": bank.swift_code or "",
                "Arabic name": bank.commercial_name_arabic or bank.arabic_name or "",
            }
        )
    return rows


def health_rows(report: BankReport) -> list[dict[str, Any]]:
    """Per data type: shares of refresh outcomes over 24 h and 7 days, and its health word."""
    rows = []
    for name in ACCOUNT_DATA_TYPES:
        day, week = report.last_day[name], report.last_week[name]
        verdict = report.verdict.by_type[name]
        row: dict[str, Any] = {"Data type": name.replace("_", " "), "Health": verdict.word}
        for label, counts in (("24 h", day), ("7 d", week)):
            row[f"Refreshes {label}"] = counts.total
            for outcome in ("SUCCESS", "PARTIAL", "FAILED", "UNSUPPORTED", "OTHER"):
                row[f"{outcome.title()} {label}"] = percent(counts.share(outcome))
        row["Why"] = verdict.reason
        rows.append(row)
    return rows


def unknown_fields(bank: Bank) -> dict[str, Any]:
    """Fields Lean sent that the model does not name (transfer limits, sub-types, themes, …)."""
    return dict(bank.model_extra or {})


def _limits(value: Any) -> str:
    if not isinstance(value, list) or not value:
        return "none given"
    parts = []
    for limit in value:
        if isinstance(limit, dict):
            currency = limit.get("currency") or ""
            parts.append(f"{currency} {limit.get('min', '?')} – {limit.get('max', '?')}".strip())
        else:
            parts.append(str(limit))
    return "; ".join(parts)


def bank_attributes(bank: Bank) -> list[dict[str, str]]:
    """The bank's description as Lean gives it, one (field, value) row each, as text."""
    extra = unknown_fields(bank)

    def words(values: Any) -> str:
        return ", ".join(map(str, values)) if isinstance(values, list) and values else "none given"

    rows = {
        "Identifier": bank.identifier,
        "Name": bank.name or "",
        "Arabic name": bank.arabic_name or "",
        "Commercial name": bank.commercial_name or "",
        "Commercial name (Arabic)": bank.commercial_name_arabic or "",
        "SWIFT code": bank.swift_code or "",
        "Bank type": bank.bank_type or "",
        "Account type": bank.account_type or "",
        "Connection type": bank.connection_type or "",
        "Country": bank.country_code or "",
        "Mock bank": {True: "yes", False: "no", None: ""}[bank.mock],
        "Traits": words(bank.traits),
        "Supported account types": words(bank.supported_account_types),
        "Supported account sub-types": words(extra.get("supported_account_sub_types")),
        "Transfer limits": _limits(extra.get("transfer_limits")),
        "International transfer limits": _limits(extra.get("international_transfer_limits")),
        "Data availability": availability_label(bank, "data"),
        "Payments availability": availability_label(bank, "payments"),
    }
    return [{"Field": name, "Value": value or "—"} for name, value in rows.items()]


def describe_outage(report: BankReport, now: datetime) -> str:
    """How long data has been unavailable: `none`, `2 h 5 min`, `≥ 3 d 1 h`, or not on record."""
    if report.bank.availability.state("data") == "available":
        return "none"
    outage = report.outage
    if (
        outage is None
        or outage.since is None
        or outage.state != report.bank.availability.state("data")
    ):
        return "not on record"
    return ("" if outage.exact else "≥ ") + describe_duration(now - outage.since)
