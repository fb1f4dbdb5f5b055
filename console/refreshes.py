"""One entity's data refreshes as the Refresh screen shows them: Lean's refresh list and the stored
`entity.data.refresh.updated` webhooks merged into one history, each refresh with its start, end,
duration and outcome in words, and the per-account, per-data-type words of one refresh.

Pure shaping over `lean_api` models and stored events, except `fetch_refreshes`, which asks Lean.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from console.events import parse_stored, refresh_summary
from console.masking import mask_identifier
from console.store import StoredEvent
from lean_api.client import LeanClient
from lean_api.errors import NotFoundError
from lean_api.models import ACCOUNT_DATA_TYPES, Account, Refresh

REFRESH_EVENT_TYPE = "entity.data.refresh.updated"
# Lean's refresh list carries no per-account statuses; each refresh's own call does. The newest
# few are asked for, so one screen stays within its time budget however long the history is.
DETAILED_REFRESHES = 10

API, WEBHOOK, BOTH = "API", "webhook", "both"
EPOCH = datetime.min.replace(tzinfo=UTC)

# A data type's status word as the screen writes it; colour repeats it (console.charts).
CELL_WORDS = {
    "SUCCESS": "success",
    "PARTIAL": "partial",
    "FAILED": "failed",
    "UNSUPPORTED": "unsupported",
    "PENDING": "pending",
}
NOT_REPORTED = "not reported"

# A whole refresh in one word, for the chart's colours and symbols (the summary says the rest).
SUCCEEDED, PARTIAL, FAILED, PENDING = "succeeded", "partial", "failed", "pending"
NO_DETAILS, UNCLEAR = "no details", "unclear"
OUTCOME_WORDS = (FAILED, PARTIAL, PENDING, SUCCEEDED, UNCLEAR, NO_DETAILS)

DATA_TYPE_LABELS = {name: name.replace("_", " ") for name in ACCOUNT_DATA_TYPES}


def cell_word(status: str | None) -> str:
    """A normalised data status in the operator's words; an unknown word is kept as it is."""
    if status is None or not str(status).strip():
        return NOT_REPORTED
    return CELL_WORDS.get(str(status).upper(), str(status))


# A refresh can name thousands of accounts; a screen shows the worst of them and says so.
MAX_SHOWN_ACCOUNTS = 40
_BADNESS = {"failed": 4, "partial": 2, "pending": 1, "success": 0, "unsupported": 0}


def worst_accounts(refresh: Refresh, limit: int = MAX_SHOWN_ACCOUNTS) -> tuple[Refresh, int]:
    """The refresh with at most `limit` accounts, the worst first (failed, an unknown word,
    partial, pending), in their original order among themselves; and how many were left out."""
    data = refresh.data_status
    if data is None or len(data.account_data) <= limit:
        return refresh, 0

    def badness(position: int) -> tuple[int, int]:
        words = [cell_word(v) for v in data.account_data[position].statuses().values()]
        worst = max(_BADNESS.get(w, 3 if w != NOT_REPORTED else 0) for w in words)
        return (-worst, position)

    keep = sorted(sorted(range(len(data.account_data)), key=badness)[:limit])
    trimmed = data.model_copy(update={"account_data": [data.account_data[i] for i in keep]})
    return refresh.model_copy(update={"data_status": trimmed}), len(data.account_data) - limit


def is_finished(refresh: Refresh) -> bool:
    """True once Lean says the refresh is over (`FINISHED`, or `OK`, normalised)."""
    return (refresh.status or "").upper() == "FINISHED"


def all_statuses(refresh: Refresh) -> list[str | None]:
    """Every status word in the refresh: the entity-level two, then each account's seven."""
    data = refresh.data_status
    if data is None:
        return []
    words: list[str | None] = [data.accounts, data.identity]
    for account in data.account_data:
        words.extend(account.statuses().values())
    return words


def outcome_word(refresh: Refresh) -> str:
    """One word for the whole refresh: failed, partial, pending, succeeded, unclear, no details.

    A top-level status the console does not know is returned as Lean wrote it.
    """
    status = (refresh.status or "").upper()
    if status == "PENDING":
        return PENDING
    if status != "FINISHED":
        return refresh.status or "no status"
    if refresh.data_status is None:
        return NO_DETAILS
    words = [w for w in all_statuses(refresh) if w is not None]
    if "FAILED" in words:
        return FAILED
    if "PARTIAL" in words:
        return PARTIAL
    if any(w not in ("SUCCESS", "UNSUPPORTED") for w in words):
        return UNCLEAR
    return SUCCEEDED


def duration_words(length: timedelta | None) -> str:
    """`42 s`, `1 min 30 s`, `2 h 5 min`, `3 d 4 h`; "" when unknown."""
    if length is None:
        return ""
    seconds = max(0, round(length.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


# ---------------------------------------------------------------------------------------------
# Lean's side
# ---------------------------------------------------------------------------------------------


def fetch_refreshes(
    client: LeanClient, entity_id: str, detailed: int = DETAILED_REFRESHES
) -> list[Refresh]:
    """The entity's refreshes, newest first; the newest `detailed` with their per-account statuses.

    A refresh Lean lists but then cannot find keeps its list entry; any other failure is raised.
    """
    listed = sorted(
        client.iter_refreshes(entity_id),
        key=lambda r: (r.created_at or EPOCH, r.refresh_id),
        reverse=True,
    )
    result = []
    for index, refresh in enumerate(listed):
        if index < detailed and refresh.data_status is None:
            with suppress(NotFoundError):
                refresh = client.get_refresh(refresh.refresh_id, entity_id)
        result.append(refresh)
    return result


# ---------------------------------------------------------------------------------------------
# The stored webhooks' side
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookRefresh:
    """What the stored webhooks say about one refresh: its latest state and when they came."""

    refresh: Refresh
    first_seen: datetime
    last_seen: datetime
    # When a webhook first said it had finished (None: no such webhook stored).
    finished_seen: datetime | None
    # True when a webhook saw it before it finished, so `first_seen` is close to its start.
    seen_pending: bool
    events: int


def webhook_refreshes(events: Iterable[StoredEvent]) -> dict[str, WebhookRefresh]:
    """The latest stored state of each refresh (by Lean's clock), keyed by refresh_id.

    Events whose body no longer reads as a refresh are left out.
    """
    grouped: dict[str, list[tuple[StoredEvent, Refresh]]] = {}
    for event in events:
        parsed = parse_stored(event)
        refresh = parsed.refresh() if parsed else None
        if refresh is None:
            continue
        grouped.setdefault(refresh.refresh_id, []).append((event, refresh))
    result = {}
    for refresh_id, seen in grouped.items():
        # Same timestamp twice: the finished state is the later one.
        seen.sort(key=lambda p: (p[0].occurred_at, p[0].lean_timestamp_ns, is_finished(p[1])))
        finished = [e.occurred_at for e, r in seen if is_finished(r)]
        result[refresh_id] = WebhookRefresh(
            refresh=seen[-1][1],
            first_seen=seen[0][0].occurred_at,
            last_seen=seen[-1][0].occurred_at,
            finished_seen=min(finished) if finished else None,
            seen_pending=not is_finished(seen[0][1]),
            events=len(seen),
        )
    return result


# ---------------------------------------------------------------------------------------------
# One history
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefreshHistoryItem:
    """One refresh as the screen lists it, from Lean's API, the stored webhooks, or both."""

    refresh: Refresh
    source: str
    started: datetime | None
    finished: datetime | None

    @property
    def refresh_id(self) -> str:
        """Lean's refresh_id."""
        return self.refresh.refresh_id

    @property
    def duration(self) -> timedelta | None:
        """From start to finish; None while pending or when either end is unknown."""
        if self.started is None or self.finished is None:
            return None
        return max(self.finished - self.started, timedelta(0))

    @property
    def outcome(self) -> str:
        """What happened to the data, in the words every screen uses."""
        if is_finished(self.refresh) and self.refresh.data_status is None:
            return "Finished — per-account details not loaded"
        return refresh_summary(self.refresh)

    @property
    def outcome_word(self) -> str:
        """The refresh in one word (chart colour and symbol)."""
        return outcome_word(self.refresh)

    @property
    def lean_status(self) -> str:
        """Lean's own status word, normalised (`OK` reads `FINISHED`)."""
        return self.refresh.status or "not given"


def _rank(refresh: Refresh, from_api: bool) -> tuple[bool, bool, bool]:
    # The most final record wins; then the one with per-account statuses; then Lean's API.
    return (is_finished(refresh), refresh.data_status is not None, from_api)


def merge_refreshes(
    api: Sequence[Refresh] | None, webhooks: dict[str, WebhookRefresh]
) -> list[RefreshHistoryItem]:
    """One item per refresh_id, newest first, from Lean's list (None: Lean did not answer) and the
    stored webhooks. Each keeps the most final record of the two and the best start and end."""
    api_by_id = {r.refresh_id: r for r in api or ()}
    items = []
    for refresh_id in dict.fromkeys([*api_by_id, *webhooks]):
        from_api = api_by_id.get(refresh_id)
        hooked = webhooks.get(refresh_id)
        candidates = []
        if from_api is not None:
            candidates.append((_rank(from_api, True), from_api))
        if hooked is not None:
            candidates.append((_rank(hooked.refresh, False), hooked.refresh))
        best = max(candidates, key=lambda c: c[0])[1]
        source = BOTH if from_api and hooked else API if from_api else WEBHOOK
        items.append(
            RefreshHistoryItem(
                refresh=best,
                source=source,
                started=_started(from_api, hooked),
                finished=_finished(best, from_api, hooked),
            )
        )
    items.sort(key=lambda i: (i.started or EPOCH, i.refresh_id), reverse=True)
    return items


# Lean's refreshes began long after this; an earlier date, or one a day or more in the future,
# is a broken clock or a forged payload and is not shown as a refresh's start or finish.
EARLIEST_PLAUSIBLE = datetime(2015, 1, 1, tzinfo=UTC)


def plausible(moment: datetime | None) -> datetime | None:
    """`moment` when a refresh could have started or finished then; else None."""
    if moment is None:
        return None
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if aware < EARLIEST_PLAUSIBLE or aware > datetime.now(UTC) + timedelta(days=1):
        return None
    return moment


def _started(api: Refresh | None, hooked: WebhookRefresh | None) -> datetime | None:
    if api is not None and plausible(api.created_at) is not None:
        return api.created_at
    if hooked is not None:
        if plausible(hooked.refresh.created_at) is not None:
            return hooked.refresh.created_at
        # A webhook seen while pending marks the start; one seen only finished does not.
        if hooked.seen_pending:
            return hooked.first_seen
    return None


def _finished(best: Refresh, api: Refresh | None, hooked: WebhookRefresh | None) -> datetime | None:
    if not is_finished(best):
        return None
    for record in (api, hooked.refresh if hooked else None):
        if record is not None and is_finished(record) and plausible(record.updated_at):
            return record.updated_at
    return hooked.finished_seen if hooked else None


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}" if value else ""


def entity_level_words(refresh: Refresh) -> str:
    """`accounts success · identity failed` (the two statuses Lean gives for the whole entity)."""
    data = refresh.data_status
    if data is None:
        return ""
    return f"accounts {cell_word(data.accounts)} · identity {cell_word(data.identity)}"


def history_rows(items: Sequence[RefreshHistoryItem]) -> list[dict[str, Any]]:
    """Rows for the refresh history table, newest first."""
    return [
        {
            "Started (UTC)": _when(item.started),
            "Finished (UTC)": _when(item.finished),
            "Duration": duration_words(item.duration)
            or ("still running" if item.outcome_word == PENDING else ""),
            "Outcome": item.outcome,
            "Lean status": item.lean_status,
            "Source": item.source,
            "Entity level": entity_level_words(item.refresh),
            "refresh_id": item.refresh_id,
        }
        for item in items
    ]


# A table's text is under 6.2 px a character at 1280 px and up; a cell pads about 28 px.
CHAR_PIXELS, CELL_PADDING = 6.2, 28


def pixels_for(
    texts: Iterable[object],
    *,
    least: int = 60,
    most: int = 560,
    per_char: float = CHAR_PIXELS,
    padding: int = CELL_PADDING,
) -> int:
    """A table column's width in pixels that shows the longest of `texts` whole (`per_char`:
    wider for upper-case codes; `padding`: the cell's, and the header's menu)."""
    longest = max((len(str(t)) for t in texts), default=0)
    return min(max(round(longest * per_char) + padding, least), most)


def choose_refresh(items: Sequence[RefreshHistoryItem], wanted: str | None) -> int:
    """Index of the refresh named by `wanted` (e.g. from the URL), else 0: the newest."""
    wanted = (wanted or "").strip().lower()
    for index, item in enumerate(items):
        if wanted and item.refresh_id.lower() == wanted:
            return index
    return 0


def refresh_option(item: RefreshHistoryItem) -> str:
    """The words of one refresh in the picker (plain text): `2026-11-27 10:02 · failed · 1a2b3c4d…`."""
    when = f"{item.started:%Y-%m-%d %H:%M} UTC" if item.started else "start unknown"
    return f"{when} · {item.outcome_word} · {item.refresh_id[:8]}…"


# ---------------------------------------------------------------------------------------------
# One refresh, account by account
# ---------------------------------------------------------------------------------------------


def account_labels(accounts: Iterable[Account], *, reveal: bool = False) -> dict[str, str]:
    """account_id → `Current account · SA04 •••• •••• •• 0I` (masked unless `reveal`)."""
    labels = {}
    for account in accounts:
        name = account.nickname or account.description or account.account_sub_type or ""
        iban = account.iban
        if iban is None:
            ident = next((i for i in account.account if i.identification), None)
            shown = (
                (
                    ident.identification
                    if reveal
                    else mask_identifier(ident.scheme_name, ident.identification)
                )
                if ident
                else ""
            )
        else:
            shown = iban if reveal else mask_identifier("IBAN", iban)
        label = " · ".join(part for part in (name, shown) if part)
        if label:
            labels[account.account_id] = label
    return labels


def account_row_labels(refresh: Refresh, labels: dict[str, str]) -> list[str]:
    """One label per account in the refresh, in its order, each distinct.

    The known label (masked IBAN, name) else the account_id; two accounts that would read the
    same get the start of their account_id, so no row swallows another.
    """
    accounts = refresh.data_status.account_data if refresh.data_status else []
    raw = [labels.get(a.account_id or "", a.account_id or "no account_id") for a in accounts]
    result, seen = [], set()
    for account, label in zip(accounts, raw, strict=True):
        if raw.count(label) > 1:
            label = f"{label} ({(account.account_id or '?')[:8]})"
        base, n = label, 2
        while label in seen:
            label, n = f"{base} #{n}", n + 1
        seen.add(label)
        result.append(label)
    return result


def status_rows(refresh: Refresh, labels: dict[str, str]) -> list[dict[str, str]]:
    """The heatmap as a table: one row per account, one column per data type, words in cells."""
    accounts = refresh.data_status.account_data if refresh.data_status else []
    rows = []
    for label, account in zip(account_row_labels(refresh, labels), accounts, strict=True):
        row = {"Account": label}
        row.update(
            {DATA_TYPE_LABELS[name]: cell_word(value) for name, value in account.statuses().items()}
        )
        row["account_id"] = account.account_id or ""
        rows.append(row)
    return rows


DATA_TYPE_COLUMN = "Data type"


def status_table(refresh: Refresh, labels: dict[str, str]) -> list[dict[str, str]]:
    """The heatmap as a table turned on its side, so it fits a laptop screen: one row per data
    type, one column per account (named as in the heatmap), a last row with the account_ids."""
    accounts = refresh.data_status.account_data if refresh.data_status else []
    columns = [
        f"{label} (account)" if label == DATA_TYPE_COLUMN else label
        for label in account_row_labels(refresh, labels)
    ]
    rows: list[dict[str, str]] = []
    for name in ACCOUNT_DATA_TYPES:
        row = {DATA_TYPE_COLUMN: DATA_TYPE_LABELS[name]}
        for column, account in zip(columns, accounts, strict=True):
            row[column] = cell_word(account.statuses().get(name))
        rows.append(row)
    if accounts:
        ids = {DATA_TYPE_COLUMN: "account_id"}
        ids.update({c: a.account_id or "" for c, a in zip(columns, accounts, strict=True)})
        rows.append(ids)
    return rows
