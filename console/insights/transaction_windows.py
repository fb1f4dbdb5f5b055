"""How far back an account's transactions go, against what the customer consented to.

Pure rules over a refresh's `transaction_availability` (start, end, complete months) and the
consent's transaction window. Each finding is a sentence in the operator's words: "data starts
5 months after the consent allows", "data ends 3 days before the refresh". A `gap` is something
support should explain to the customer; a `note` is context.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

from lean_api.models import AccountRefreshStatus, Consent, Refresh

FindingKind = Literal["gap", "note"]
GAP: FindingKind = "gap"
NOTE: FindingKind = "note"
# Banks report dates, consents timestamps: a day either way is the same day somewhere.
TOLERANCE_DAYS = 1
# Banks and Lean count a month cut at either end differently: one month is not a gap.
MONTHS_TOLERANCE = 1
ENDED_STATUSES = {
    "EXPIRED": "expired",
    "REVOKED": "revoked by the customer",
    "REJECTED": "rejected",
    "SUSPENDED": "suspended by the bank",
}
# A window reported with failed transactions is the bank's word on what it has, not data held.
FAILED_WINDOW_WORDS = (
    "transactions failed — this window is what the bank last reported, not data held"
)


@dataclass(frozen=True)
class WindowFinding:
    """One thing worth saying about an account's transaction window (or the consent's)."""

    account_id: str | None  # None: about the consent, not one account
    kind: FindingKind
    text: str


def complete_months_words(months: int | None) -> str:
    """`1 complete month`, `17 complete months`, or that the bank did not say."""
    if months is None:
        return "complete months not reported"
    return f"{months} complete month" if months == 1 else f"{months} complete months"


def _day(value: datetime | date) -> date:
    return value.astimezone(UTC).date() if isinstance(value, datetime) else value


def months_between(earlier: date, later: date) -> int:
    """Whole calendar months from `earlier` to `later` (2025-01-15 → 2025-06-14 is 4)."""
    months = (later.year - earlier.year) * 12 + later.month - earlier.month
    if later.day < earlier.day:
        months -= 1
    return max(months, 0)


def span_words(earlier: date, later: date) -> str:
    """`5 months`, `1 month`, `12 days`, `1 day`: months once a whole month has passed."""
    months = months_between(earlier, later)
    if months >= 1:
        return f"{months} month" if months == 1 else f"{months} months"
    days = (later - earlier).days
    return f"{days} day" if days == 1 else f"{days} days"


def complete_months_in(start: date, end: date) -> int:
    """Calendar months lying wholly inside `start`–`end` (both days included)."""
    first = start if start.day == 1 else _next_month(start)
    after = _next_month(end) if _is_month_end(end) else end.replace(day=1)
    return max((after.year - first.year) * 12 + after.month - first.month, 0)


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _is_month_end(day: date) -> bool:
    return _next_month(day).toordinal() - day.toordinal() == 1


def consent_findings(consent: Consent | None, now: datetime | None = None) -> list[WindowFinding]:
    """What the consent itself says about the transactions that can be fetched."""
    if consent is None:
        return [
            WindowFinding(None, GAP, "no consent found: the transaction window cannot be compared")
        ]
    found = []
    status = (consent.effective_status(now) or "").upper()
    if status in ENDED_STATUSES:
        when = (
            f" on {consent.expiration_date_time:%Y-%m-%d}"
            if status == "EXPIRED" and consent.expiration_date_time
            else ""
        )
        found.append(
            WindowFinding(
                None,
                GAP,
                f"consent {ENDED_STATUSES[status]}{when} — the customer must reconnect before "
                "newer transactions can be fetched",
            )
        )
    if consent.transaction_from_date_time is None and consent.transaction_to_date_time is None:
        found.append(WindowFinding(None, NOTE, "the consent states no transaction window"))
    return found


def account_findings(
    account: AccountRefreshStatus, consent: Consent | None, refreshed_at: datetime | None
) -> list[WindowFinding]:
    """Gaps between one account's reported transactions and the consent's window.

    `refreshed_at` is when the refresh ran: data should reach it, unless the consent ends first.
    """
    who = account.account_id
    window = account.transaction_availability
    status = (account.transactions or "").upper()
    if window is None or (window.start is None and window.end is None):
        if status == "FAILED":
            return [WindowFinding(who, GAP, "no transaction window reported — transactions failed")]
        if status == "PENDING":
            return [WindowFinding(who, NOTE, "no transaction window yet — transactions pending")]
        if status == "UNSUPPORTED":
            return [
                WindowFinding(
                    who, NOTE, "no transaction window reported — the bank does not support them"
                )
            ]
        if not status:
            return [
                WindowFinding(
                    who, NOTE, "no transaction window reported — transactions were not refreshed"
                )
            ]
        return [WindowFinding(who, GAP, "no transaction window reported")]

    found: list[WindowFinding] = []
    if status == "FAILED":
        found.append(WindowFinding(who, GAP, FAILED_WINDOW_WORDS))
    start = _day(window.start) if window.start else None
    end = _day(window.end) if window.end else None
    allowed_from = (
        _day(consent.transaction_from_date_time)
        if consent and consent.transaction_from_date_time
        else None
    )
    allowed_to = (
        _day(consent.transaction_to_date_time)
        if consent and consent.transaction_to_date_time
        else None
    )
    if start is None:
        found.append(WindowFinding(who, GAP, "the bank reported no start date"))
    elif allowed_from is not None:
        late = (start - allowed_from).days
        if late > TOLERANCE_DAYS:
            words = span_words(allowed_from, start)
            found.append(WindowFinding(who, GAP, f"data starts {words} after the consent allows"))
        elif -late > TOLERANCE_DAYS:
            words = span_words(start, allowed_from)
            found.append(WindowFinding(who, GAP, f"data starts {words} before the consent allows"))
        else:
            found.append(
                WindowFinding(
                    who, NOTE, f"consent allows no transactions before {allowed_from:%Y-%m-%d}"
                )
            )

    if end is None:
        found.append(WindowFinding(who, GAP, "the bank reported no end date"))
    else:
        refreshed = _day(refreshed_at) if refreshed_at else None
        if allowed_to is not None and (end - allowed_to).days > TOLERANCE_DAYS:
            words = span_words(allowed_to, end)
            found.append(WindowFinding(who, GAP, f"data ends {words} after the consent allows"))
        elif allowed_to is not None and refreshed is not None and allowed_to < refreshed:
            if (allowed_to - end).days > TOLERANCE_DAYS:
                words = span_words(end, allowed_to)
                found.append(
                    WindowFinding(who, GAP, f"data ends {words} before the consent's window ends")
                )
            else:
                found.append(
                    WindowFinding(
                        who, NOTE, f"consent allows no transactions after {allowed_to:%Y-%m-%d}"
                    )
                )
        elif refreshed is not None and (refreshed - end).days > TOLERANCE_DAYS:
            words = span_words(end, refreshed)
            found.append(WindowFinding(who, GAP, f"data ends {words} before the refresh"))

    if window.complete_months is None:
        found.append(WindowFinding(who, NOTE, "complete months not reported"))
    elif start is not None and end is not None:
        spans = complete_months_in(start, end)
        if window.complete_months < spans - MONTHS_TOLERANCE:
            found.append(
                WindowFinding(
                    who,
                    GAP,
                    f"only {complete_months_words(window.complete_months)} in a window "
                    f"spanning {spans}",
                )
            )
    if status == "PARTIAL":
        found.append(WindowFinding(who, GAP, "transactions partial: some may be missing"))
    return found


def window_findings(
    refresh: Refresh,
    consent: Consent | None,
    now: datetime | None = None,
    refreshed_at: datetime | None = None,
) -> list[WindowFinding]:
    """Every finding for a refresh: the consent's first, then each account's in order.

    `refreshed_at` defaults to the refresh's `created_at` (webhooks may not carry it).
    """
    found = consent_findings(consent, now)
    accounts = refresh.data_status.account_data if refresh.data_status else []
    for account in accounts:
        found.extend(account_findings(account, consent, refreshed_at or refresh.created_at))
    return found


@dataclass(frozen=True)
class AccountWindow:
    """One account's transaction window in a refresh, as the summary table shows it."""

    account_id: str | None
    transactions: str | None  # Lean's status word for the account's transactions
    start: date | None
    end: date | None
    complete_months: int | None
    data_ends: str  # "data ends 2026-06-30 — 5 months before the refresh"


def data_ends_words(
    end: date | None,
    refreshed: date | None,
    *,
    failed: bool = False,
    allowed_to: date | None = None,
) -> str:
    """Where the account's transactions stop, against the refresh, in words.

    "data ends 2026-06-30 — 5 months before the refresh"; "… — up to the refresh"; "… — where
    the consent's window ends". With failed transactions the date is the bank's last word.
    """
    if end is None:
        return "no end date reported" + (" — transactions failed" if failed else "")
    if refreshed is None:
        words = f"data ends {end:%Y-%m-%d}"
    elif (
        allowed_to is not None
        and allowed_to < refreshed
        and abs((allowed_to - end).days) <= TOLERANCE_DAYS
    ):
        words = f"data ends {end:%Y-%m-%d} — where the consent's window ends"
    elif abs((refreshed - end).days) <= TOLERANCE_DAYS:
        words = f"data ends {end:%Y-%m-%d} — up to the refresh"
    elif end < refreshed:
        words = f"data ends {end:%Y-%m-%d} — {span_words(end, refreshed)} before the refresh"
    else:
        words = f"data ends {end:%Y-%m-%d} — {span_words(refreshed, end)} after the refresh"
    if failed:
        words += " (as last reported; not data held)"
    return words


def account_windows(
    refresh: Refresh, consent: Consent | None, refreshed_at: datetime | None = None
) -> list[AccountWindow]:
    """Each account's window in the refresh's order, with where its transactions stop in words.

    `refreshed_at` defaults to the refresh's `created_at` (webhooks may not carry it).
    """
    refreshed_at = refreshed_at or refresh.created_at
    refreshed = _day(refreshed_at) if refreshed_at else None
    allowed_to = (
        _day(consent.transaction_to_date_time)
        if consent and consent.transaction_to_date_time
        else None
    )
    result = []
    for account in refresh.data_status.account_data if refresh.data_status else []:
        window = account.transaction_availability
        start = _day(window.start) if window and window.start else None
        end = _day(window.end) if window and window.end else None
        failed = (account.transactions or "").upper() == "FAILED"
        result.append(
            AccountWindow(
                account_id=account.account_id,
                transactions=account.transactions,
                start=start,
                end=end,
                complete_months=window.complete_months if window else None,
                data_ends=data_ends_words(end, refreshed, failed=failed, allowed_to=allowed_to),
            )
        )
    return result
