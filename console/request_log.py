"""The request log: every call the console made to Lean, who asked, and how it went.

`record_calls(client, store)` subscribes a `RequestLog` to a `LeanClient`: each finished call is
queued (never waiting on the database) and one background thread writes them in batches into
`lean_calls`, removing those older than `CONSOLE_REQUEST_LOG_DAYS` (default 30) at most hourly.
The screens read them back with `search_calls` (filters like Stripe's request logs, newest first,
paged by id), `call_stats` (the header's count, error rate and latency) and `calls_for` (the calls
about one customer, for triage).
"""

from __future__ import annotations

import csv
import io
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, case, delete, func, insert, or_, select

from console.access import AccessDenied, Actor, require
from console.formatting import csv_cell
from console.store import (
    MAX_INT32,
    EventStore,
    StoreRejected,
    StoreUnavailable,
    _aware,
    _fit_row,
    lean_calls,
)
from lean_api.calls import OUTCOMES, LeanCall
from lean_api.client import LeanClient
from lean_api.config import read_environment
from lean_api.errors import ConfigurationError

log = logging.getLogger(__name__)

DEFAULT_DAYS = 30
MAX_DAYS = 3650
DAYS_SETTING = "CONSOLE_REQUEST_LOG_DAYS"
PRUNE_EVERY_SECONDS = 3600.0
STATUS_CLASSES = ("2xx", "4xx", "5xx", "no answer")
# Percentiles are read from at most this many of the newest matching calls.
LATENCY_SAMPLE = 20_000
TEXT_MAX = 200
C = lean_calls.c


class RequestLogConfigError(ConfigurationError):
    """`CONSOLE_REQUEST_LOG_DAYS` cannot be used as written."""


def retention_days(
    environ: Mapping[str, str] | None = None, dotenv_path: str | Path | None = ".env"
) -> int:
    """`CONSOLE_REQUEST_LOG_DAYS`: how many days of calls are kept (default 30); anything but a
    whole number from 1 to 3650 is a `RequestLogConfigError` naming the setting."""
    raw = (read_environment(environ, dotenv_path).get(DAYS_SETTING) or "").strip()
    if not raw:
        return DEFAULT_DAYS
    if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_DAYS:
        return int(raw)
    raise RequestLogConfigError(
        f"{DAYS_SETTING} must be a whole number of days from 1 to {MAX_DAYS} (how long the "
        f"request log keeps Lean calls), not {raw[:40]!r}."
    )


# ---------------------------------------------------------------------------------------------
# Recording
# ---------------------------------------------------------------------------------------------


def call_row(call: LeanCall) -> dict[str, Any]:
    """The `lean_calls` row of a call, every text cut to its column."""
    return _fit_row(
        lean_calls,
        {
            "at": call.at.astimezone(UTC),
            "method": call.method,
            "endpoint": call.path or "/",
            "route": call.route or "/",
            "status": call.status,
            "outcome": call.outcome,
            "lean_code": call.lean_code,
            "results_id": call.results_id,
            "latency_ms": max(0, min(MAX_INT32, round(call.latency_ms))),
            "retries": max(0, min(MAX_INT32, call.retries)),
            "screen": call.caller,
            "actor": call.on_behalf_of,
            "customer_id": call.customer_id,
            "entity_id": call.entity_id,
            "refresh_id": call.refresh_id,
            "message": call.message,
        },
    )


_WAKE: dict[str, Any] = {}


class RequestLog:
    """Writes calls to `lean_calls` from one background thread, so a screen never waits on the
    database for it. Bounded: when the database cannot keep up, further calls are dropped and
    counted (`dropped`); a batch the database refused is counted in `lost`."""

    def __init__(
        self,
        store: EventStore,
        *,
        days: int = DEFAULT_DAYS,
        capacity: int = 10_000,
        max_batch: int = 500,
        prune_every: float = PRUNE_EVERY_SECONDS,
        pause_after_failure: float = 1.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if not 1 <= days <= MAX_DAYS:
            raise ValueError(f"days must be from 1 to {MAX_DAYS}, not {days!r}")
        self.store = store
        self.days = days
        self.max_batch = max_batch
        self.prune_every = prune_every
        self.pause_after_failure = pause_after_failure
        self._clock = clock
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=capacity)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._last_prune: float | None = None
        self._closed = threading.Event()
        self.written = 0
        self.dropped = 0
        self.lost = 0
        self.pruned = 0

    def __repr__(self) -> str:
        return f"RequestLog({self.store!r}, days={self.days})"

    def record(self, call: LeanCall) -> None:
        """Queue one call; never blocks (a full queue drops it and counts it)."""
        if self._closed.is_set():
            return
        try:
            self._queue.put_nowait(call_row(call))
        except queue.Full:
            with self._lock:
                self.dropped += 1
                first = self.dropped == 1
            if first:
                log.error(
                    "request log queue is full: Lean calls are dropped (counted) until the "
                    "database catches up"
                )
            return
        self._ensure_started()

    __call__ = record

    def _ensure_started(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="request-log", daemon=True)
                self._thread.start()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every queued call was written or given up on (tests, tools)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the writer (tools and tests; the console's runs for
        the life of the process)."""
        self.wait_idle(timeout)
        self._closed.set()
        with suppress(queue.Full):
            self._queue.put_nowait(_WAKE)  # the writer need not wait out its idle timeout
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while not self._closed.is_set():
            try:
                first = self._queue.get(timeout=5)
            except queue.Empty:
                self._prune_if_due()
                continue
            if first is _WAKE:
                self._queue.task_done()
                continue
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _WAKE:
                    self._queue.task_done()
                else:
                    batch.append(item)
            try:
                self._write(batch)
            except Exception as exc:  # the log must outlive any database trouble
                with self._lock:
                    self.lost += len(batch)
                log.error("request log: %d Lean call(s) not recorded: %s", len(batch), exc)
                # A database that is down is not hammered: the queue fills and drops meanwhile.
                time.sleep(self.pause_after_failure)
            finally:
                for _ in batch:
                    self._queue.task_done()
            self._prune_if_due()

    def _write(self, rows: Sequence[dict[str, Any]]) -> None:
        with self.store.connect(write=True) as conn:
            conn.execute(insert(lean_calls), list(rows))
        with self._lock:
            self.written += len(rows)

    def _prune_if_due(self) -> None:
        now = time.monotonic()
        if self._last_prune is not None and now - self._last_prune < self.prune_every:
            return
        self._last_prune = now
        try:
            self.prune()
        except (StoreUnavailable, StoreRejected) as exc:
            log.error("request log: old calls not removed now: %s", exc)

    def prune(self) -> int:
        """Remove the calls older than the retention; returns how many went."""
        cutoff = self._clock().astimezone(UTC) - timedelta(days=self.days)
        with self.store.connect(write=True) as conn:
            removed = conn.execute(delete(lean_calls).where(C.at < cutoff)).rowcount or 0
        with self._lock:
            self.pruned += removed
        if removed:
            log.info("request log: removed %d call(s) older than %d days", removed, self.days)
        return removed


_logs: dict[str, RequestLog] = {}
_logs_lock = threading.Lock()


def request_log_for(store: EventStore) -> RequestLog:
    """The process's recorder for `store` (one writer thread per database)."""
    with _logs_lock:
        recorder = _logs.get(store.url)
        if recorder is None:
            recorder = _logs[store.url] = RequestLog(store, days=retention_days())
        return recorder


def record_calls(client: LeanClient, store: EventStore | Callable[[], EventStore]) -> None:
    """Record every call `client` makes in `store` (or in the store `store()` names at the time
    of each call). Raises `RequestLogConfigError` when the retention setting is unusable, so the
    console says so at start instead of keeping calls for an unintended time."""
    retention_days()
    if isinstance(store, EventStore):
        recorder = request_log_for(store)
        client.add_observer(recorder.record)
        return

    def observe(call: LeanCall) -> None:
        request_log_for(store()).record(call)  # type: ignore[operator]

    client.add_observer(observe)


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestFilter:
    """Which calls to show. `text` is an id (customer, entity, refresh, results id) or a piece of
    the endpoint; `status_class` is one of `STATUS_CLASSES`."""

    since: datetime | None = None
    until: datetime | None = None
    status_class: str | None = None
    outcome: str | None = None
    route: str | None = None
    screen: str | None = None
    text: str | None = None

    def __post_init__(self) -> None:
        if self.status_class and self.status_class not in STATUS_CLASSES:
            raise ValueError(
                f"status_class must be one of {', '.join(STATUS_CLASSES)}, "
                f"not {self.status_class[:20]!r}"
            )

    def describe(self) -> str:
        """The filter in a line (the audit log's subject of an export)."""
        parts = [
            f"{name}={value.isoformat() if isinstance(value, datetime) else value}"
            for name, value in (
                ("since", self.since),
                ("until", self.until),
                ("status", self.status_class),
                ("outcome", self.outcome),
                ("route", self.route),
                ("screen", self.screen),
                ("text", self.text),
            )
            if value
        ]
        return " ".join(parts) or "all calls"


def _where(flt: RequestFilter) -> list[Any]:
    conditions: list[Any] = []
    if flt.since is not None:
        conditions.append(C.at >= flt.since.astimezone(UTC))
    if flt.until is not None:
        conditions.append(C.at < flt.until.astimezone(UTC))
    if flt.status_class == "no answer":
        conditions.append(C.status.is_(None))
    elif flt.status_class:
        hundred = int(flt.status_class[0]) * 100
        conditions.append(and_(C.status >= hundred, C.status < hundred + 100))
    if flt.outcome:
        conditions.append(C.outcome == flt.outcome)
    if flt.route:
        conditions.append(C.route == flt.route)
    if flt.screen:
        conditions.append(C.screen == flt.screen)
    text = (flt.text or "").strip()[:TEXT_MAX]
    if text:
        conditions.append(
            or_(
                C.customer_id == text,
                C.entity_id == text,
                C.refresh_id == text,
                C.results_id == text,
                C.endpoint.contains(text, autoescape=True),
            )
        )
    return conditions


def _row(row: Mapping[str, Any]) -> dict[str, Any]:
    data = dict(row)
    data["at"] = _aware(data["at"])
    return data


def search_calls(
    store: EventStore, flt: RequestFilter, *, before_id: int | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """The calls matching `flt`, newest first; `before_id` (the last id of a page) gives the
    next, older page."""
    statement = select(lean_calls).where(*_where(flt))
    if before_id is not None:
        statement = statement.where(C.id < before_id)
    statement = statement.order_by(C.id.desc()).limit(max(1, min(limit, 1000)))
    with store.connect() as conn:
        return [_row(row) for row in conn.execute(statement).mappings()]


def page_position(
    store: EventStore, flt: RequestFilter, before_id: int | None, *, page_size: int = 50
) -> tuple[int, int | None]:
    """Where the page after `before_id` starts in the matching calls (from 0), and the
    `before_id` of the page above it (None when that is the first page)."""
    if before_id is None:
        return 0, None
    above = [*_where(flt), C.id >= before_id]
    with store.connect() as conn:
        start = int(
            conn.execute(select(func.count()).select_from(lean_calls).where(*above)).scalar()
        )
        nearest = list(
            conn.execute(
                select(C.id).where(*above).order_by(C.id.asc()).limit(page_size + 1)
            ).scalars()
        )
    return start, (int(nearest[page_size]) if len(nearest) > page_size else None)


def calls_for(
    store: EventStore,
    *,
    customer_id: str | None = None,
    entity_ids: Iterable[str] = (),
    since: datetime | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """The calls about a customer or any of its entities, newest first (nothing when neither is
    named)."""
    entity_ids = [e for e in dict.fromkeys(entity_ids) if e][:500]
    about = []
    if customer_id:
        about.append(C.customer_id == customer_id)
    if entity_ids:
        about.append(C.entity_id.in_(entity_ids))
    if not about:
        return []
    statement = select(lean_calls).where(or_(*about))
    if since is not None:
        statement = statement.where(C.at >= since.astimezone(UTC))
    statement = statement.order_by(C.id.desc()).limit(max(1, min(limit, 5000)))
    with store.connect() as conn:
        return [_row(row) for row in conn.execute(statement).mappings()]


@dataclass(frozen=True)
class RouteStats:
    """How one route fared."""

    route: str
    count: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None

    @property
    def error_rate(self) -> float:
        """Share of calls that did not end `ok` (0 to 1)."""
        return self.errors / self.count if self.count else 0.0


@dataclass(frozen=True)
class CallStats:
    """The request log's header: how many calls, how many failed, how slow."""

    count: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None
    by_route: list[RouteStats] = field(default_factory=list)
    # True when the percentiles come from the newest LATENCY_SAMPLE calls only.
    sampled: bool = False

    @property
    def error_rate(self) -> float:
        """Share of calls that did not end `ok` (0 to 1)."""
        return self.errors / self.count if self.count else 0.0


def percentile(values: Sequence[float], share: float) -> float | None:
    """The nearest-rank percentile (`share` from 0 to 1) of `values`; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))  # ceil, at least the first
    return float(ordered[int(rank) - 1])


def call_stats(store: EventStore, flt: RequestFilter) -> CallStats:
    """Count, error rate and p50/p95 latency of the matching calls, overall and by route."""
    where = _where(flt)
    failed = func.sum(case((C.outcome != "ok", 1), else_=0))
    counts = (
        select(C.route, func.count().label("n"), failed.label("errors"))
        .where(*where)
        .group_by(C.route)
    )
    sample = select(C.route, C.latency_ms).where(*where).order_by(C.id.desc()).limit(LATENCY_SAMPLE)
    with store.connect() as conn:
        per_route = {r.route: (int(r.n), int(r.errors or 0)) for r in conn.execute(counts)}
        latencies: dict[str, list[float]] = {}
        for route, latency in conn.execute(sample):
            latencies.setdefault(route, []).append(float(latency))
    everything = [v for values in latencies.values() for v in values]
    by_route = sorted(
        (
            RouteStats(
                route,
                n,
                errors,
                percentile(latencies.get(route, []), 0.5),
                percentile(latencies.get(route, []), 0.95),
            )
            for route, (n, errors) in per_route.items()
        ),
        key=lambda stats: (-stats.count, stats.route),
    )
    count = sum(n for n, _ in per_route.values())
    return CallStats(
        count=count,
        errors=sum(e for _, e in per_route.values()),
        p50_ms=percentile(everything, 0.5),
        p95_ms=percentile(everything, 0.95),
        by_route=by_route,
        sampled=count > len(everything),
    )


def distinct_values(store: EventStore, column: str, *, limit: int = 200) -> list[str]:
    """The routes or screens seen in the log (the filters' choices)."""
    if column not in ("route", "screen", "outcome"):
        raise ValueError(f"no choices for {column!r}")
    target = C[column]
    statement = (
        select(target).where(target.is_not(None)).group_by(target).order_by(target).limit(limit)
    )
    with store.connect() as conn:
        return [value for (value,) in conn.execute(statement)]


# ---------------------------------------------------------------------------------------------
# Showing and exporting
# ---------------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "id",
    "at",
    "method",
    "endpoint",
    "route",
    "status",
    "outcome",
    "lean_code",
    "results_id",
    "latency_ms",
    "retries",
    "screen",
    "actor",
    "customer_id",
    "entity_id",
    "refresh_id",
    "message",
)


def status_words(row: Mapping[str, Any]) -> str:
    """The status as the table says it: `404`, or `no answer`."""
    return "no answer" if row.get("status") is None else str(row["status"])


def outcome_words(outcome: str | None) -> str:
    """What an outcome word means, for the detail view."""
    return OUTCOMES.get(outcome or "", "an outcome this console does not know")


def calls_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    """The calls as CSV, every text cell safe from spreadsheet formulas."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        cells = []
        for name in CSV_COLUMNS:
            value = row.get(name)
            if isinstance(value, datetime):
                value = value.astimezone(UTC).isoformat()
            cells.append(csv_cell(value))
        writer.writerow(cells)
    return out.getvalue()


EXPORT_LIMIT = 50_000


def export_calls(
    store: EventStore, flt: RequestFilter, actor: Actor | None, *, limit: int = EXPORT_LIMIT
) -> str:
    """The matching calls (newest first, at most `limit`) as CSV, audited as an export by
    `actor`; the roles are checked again here (the log's own, and exporting)."""
    from console import audit
    from console.actions import audited

    try:
        require(actor, "see_request_log")
    except AccessDenied:
        audit.record(store, actor, "export", subject_kind="request_log", subject=flt.describe(),
                     outcome="denied")  # fmt: skip
        raise

    def build() -> tuple[int, str]:
        rows: list[dict[str, Any]] = []
        before: int | None = None
        while len(rows) < limit:
            page = search_calls(store, flt, before_id=before, limit=min(1000, limit - len(rows)))
            rows.extend(page)
            if len(page) < 1000:
                break
            before = page[-1]["id"]
        return len(rows), calls_csv(rows)

    _, text = audited(
        actor,
        "export",
        "request_log",
        flt.describe(),
        build,
        store=store,
        detail=lambda built: f"{built[0]:,} calls as CSV",
    )
    return text


# ---------------------------------------------------------------------------------------------
# The screen's words: URL filters, table rows, a call's detail and links
# ---------------------------------------------------------------------------------------------

PERIODS: dict[str, tuple[str, timedelta | None]] = {
    "1h": ("the last hour", timedelta(hours=1)),
    "24h": ("the last 24 hours", timedelta(days=1)),
    "7d": ("the last 7 days", timedelta(days=7)),
    "30d": ("the last 30 days", timedelta(days=30)),
    "all": ("everything kept", None),
}
DEFAULT_PERIOD = "24h"
URL_FILTERS = ("period", "status", "outcome", "route", "screen", "q")


@dataclass(frozen=True)
class ScreenQuery:
    """The request log's filters as the URL carries them, checked; `problems` says what the
    link named that cannot be used (it is ignored)."""

    period: str = DEFAULT_PERIOD
    status: str = ""
    outcome: str = ""
    route: str = ""
    screen: str = ""
    q: str = ""
    before: int | None = None
    problems: tuple[str, ...] = ()

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> ScreenQuery:
        """Read `period`, `status`, `outcome`, `route`, `screen`, `q` and `before`."""
        problems: list[str] = []

        def get(name: str) -> str:
            return str(params.get(name) or "").strip()

        period = get("period") or DEFAULT_PERIOD
        if period not in PERIODS:
            problems.append("period")
            period = DEFAULT_PERIOD
        status = get("status")
        if status and status not in STATUS_CLASSES:
            problems.append("status")
            status = ""
        outcome = get("outcome")
        if outcome and outcome not in OUTCOMES:
            problems.append("outcome")
            outcome = ""
        route, screen = get("route")[:200], get("screen")[:100]
        q = get("q")
        if len(q) > TEXT_MAX:
            problems.append("q")
            q = q[:TEXT_MAX]
        before_text = get("before")
        before = None
        if before_text:
            if before_text.isascii() and before_text.isdigit() and 0 < int(before_text) < 2**62:
                before = int(before_text)
            else:
                problems.append("before")
        return cls(period, status, outcome, route, screen, q, before, tuple(problems))

    def to_filter(self, now: datetime | None = None) -> RequestFilter:
        """The store filter for these settings at `now`."""
        span = PERIODS[self.period][1]
        since = (now or datetime.now(UTC)) - span if span else None
        return RequestFilter(
            since=since,
            status_class=self.status or None,
            outcome=self.outcome or None,
            route=self.route or None,
            screen=self.screen or None,
            text=self.q or None,
        )

    def params(self) -> dict[str, str]:
        """The URL's query for these settings (defaults and empties left out)."""
        values = {
            "period": "" if self.period == DEFAULT_PERIOD else self.period,
            "status": self.status,
            "outcome": self.outcome,
            "route": self.route,
            "screen": self.screen,
            "q": self.q,
            "before": str(self.before) if self.before else "",
        }
        return {name: value for name, value in values.items() if value}


TIME_COLUMN = "Time (UTC)"


def answer_words(row: Mapping[str, Any]) -> str:
    """Status and outcome in one cell: `404 · not_found`, `no answer · timeout`, `200 · ok`."""
    return f"{status_words(row)} · {row.get('outcome') or '?'}"


def table_rows(calls: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The table's rows: text and numbers only (shown literally). The year is left out of the
    time (the detail has it) so that the whole call fits a 1280 px screen."""
    return [
        {
            TIME_COLUMN: call["at"].astimezone(UTC).strftime("%m-%d %H:%M:%S")
            if call.get("at")
            else "",
            "Call": f"{call.get('method')} {call.get('endpoint')}",
            "Answer": answer_words(call),
            "Lean code": call.get("lean_code") or "",
            "results_id": call.get("results_id") or "",
            "ms": call.get("latency_ms"),
            "Retries": call.get("retries"),
            "Screen": call.get("screen") or "(not named)",
            "Actor": call.get("actor") or "",
        }
        for call in calls
    ]


def detail_rows(call: Mapping[str, Any]) -> list[dict[str, str]]:
    """One call in full, as field / value rows (text only)."""
    at = call.get("at")
    fields = [
        ("When (UTC)", at.astimezone(UTC).isoformat(timespec="milliseconds") if at else ""),
        ("Method", call.get("method")),
        ("Endpoint", call.get("endpoint")),
        ("Route", call.get("route")),
        ("Status", status_words(call)),
        ("Outcome", f"{call.get('outcome')}: {outcome_words(call.get('outcome'))}"),
        ("Lean code", call.get("lean_code")),
        ("results_id", call.get("results_id")),
        ("Latency", f"{call.get('latency_ms'):,} ms"),
        ("Retries", call.get("retries")),
        (
            "Screen",
            call.get("screen")
            or "(not named: a background job or a part of a screen that reran alone)",
        ),
        ("Actor", call.get("actor")),
        ("customer_id", call.get("customer_id")),
        ("entity_id", call.get("entity_id")),
        ("refresh_id", call.get("refresh_id")),
        ("Message", call.get("message")),
        ("Call id (this console)", call.get("id")),
    ]
    return [
        {"Field": name, "Value": str(value)} for name, value in fields if value not in (None, "")
    ]


def call_links(call: Mapping[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    """The console's own pages about the call's ids: (page, label, query)."""
    links: list[tuple[str, str, dict[str, str]]] = []
    customer, entity, refresh = (
        call.get("customer_id"),
        call.get("entity_id"),
        call.get("refresh_id"),
    )
    if customer:
        links.append(("pages/customers.py", "The customer", {"customer_id": customer}))
    if entity:
        query = {"entity_id": entity, **({"customer_id": customer} if customer else {})}
        links.append(("pages/entities.py", "The bank connection", query))
        if refresh:
            links.append(
                ("pages/refreshes.py", "The data refresh", {**query, "refresh_id": refresh})
            )
    return links
