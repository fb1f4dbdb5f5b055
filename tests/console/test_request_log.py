"""The request log: recorded from a real client, kept on SQLite and PostgreSQL, filtered, paged."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select, text

from console import audit
from console.access import AccessDenied, Actor, Role
from console.request_log import (
    RequestFilter,
    RequestLog,
    RequestLogConfigError,
    ScreenQuery,
    call_links,
    call_stats,
    calls_for,
    export_calls,
    percentile,
    retention_days,
    search_calls,
)
from console.store import EventStore, lean_calls
from lean_api import LeanClient, LeanSettings, NotFoundError
from lean_api.calls import LeanCall, calling_as
from sandbox.seed import SeedCustomer

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.fixture
def log_store(store: EventStore) -> Iterator[EventStore]:
    """The `store` fixture with an empty request log (PostgreSQL's is shared between tests)."""
    with store.connect(write=True) as conn:
        conn.execute(delete(lean_calls))
    yield store


def a_call(**values: Any) -> LeanCall:
    defaults: dict[str, Any] = {
        "at": NOW, "method": "GET", "path": "/banks/v1/", "route": "/banks/v1/", "status": 200,
        "outcome": "ok", "lean_code": None, "results_id": None, "latency_ms": 12.4, "retries": 0,
        "caller": "Banks", "on_behalf_of": "ops@example.com", "customer_id": None,
        "entity_id": None, "refresh_id": None, "message": None,
    }  # fmt: skip
    defaults.update(values)
    return LeanCall(**defaults)


@pytest.fixture(autouse=True)
def _close_recorders(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every writer thread a test starts is stopped with it (its database goes with the test)."""
    started: list[RequestLog] = []
    original = RequestLog.__init__

    def remembered(self: RequestLog, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        started.append(self)

    monkeypatch.setattr(RequestLog, "__init__", remembered)
    yield
    for recorder in started:
        recorder.close()


def recorded(store: EventStore, calls: list[LeanCall]) -> RequestLog:
    recorder = RequestLog(store, days=30, clock=lambda: NOW)
    recorder._prune_if_due()  # the writer's first pass prunes; the tests prune when they mean to
    for call in calls:
        recorder.record(call)
    assert recorder.wait_idle()
    assert (recorder.written, recorder.lost, recorder.dropped) == (len(calls), 0, 0)
    return recorder


# -- recording ----------------------------------------------------------------------------------


def test_calls_of_a_real_client_are_recorded_with_screen_and_actor(
    log_store: EventStore, settings: LeanSettings, some_customer_with_entities: SeedCustomer
) -> None:
    recorder = RequestLog(log_store)
    client = LeanClient(settings, timeout=(2.0, 2.0), max_retries=0)
    client.add_observer(recorder.record)
    customer_id = some_customer_with_entities.customer_id
    with calling_as("Customers", "ops@example.com"):
        client.list_entities(customer_id)
        with pytest.raises(NotFoundError):
            client.get_customer("00000000-0000-4000-8000-000000000000")
    client.close()
    assert recorder.wait_idle()
    rows = search_calls(log_store, RequestFilter())
    assert [r["route"] for r in rows] == [
        "/customers/v1/{customer_id}",
        "/customers/v1/{customer_id}/entities",
        "/oauth2/token",
    ]
    missing, listed, token = rows
    assert (missing["status"], missing["outcome"], missing["lean_code"]) == (
        404, "not_found", "UNKNOWN_CUSTOMER",
    )  # fmt: skip
    assert missing["results_id"]
    assert listed["customer_id"] == customer_id and listed["status"] == 200
    assert {(r["screen"], r["actor"]) for r in rows} == {("Customers", "ops@example.com")}
    assert token["status"] == 200 and listed["at"].tzinfo is not None


def test_every_text_fits_its_column(log_store: EventStore) -> None:
    recorded(
        log_store,
        [
            a_call(
                path="/x/" + "é" * 1000,
                message="\x00" + "m" * 999,
                caller="s" * 500,
                latency_ms=1e12,
                lean_code="<b>" * 100,
            )
        ],
    )
    [row] = search_calls(log_store, RequestFilter())
    assert len(row["endpoint"]) == 300 and row["endpoint"].endswith("…")
    assert len(row["screen"]) == 100 and "\x00" not in row["message"]
    assert row["latency_ms"] == 2**31 - 1


def test_retention_removes_only_calls_older_than_the_setting(log_store: EventStore) -> None:
    recorder = recorded(
        log_store,
        [a_call(at=NOW - timedelta(days=31)), a_call(at=NOW - timedelta(days=29)), a_call()],
    )
    assert recorder.prune() == 1
    assert len(search_calls(log_store, RequestFilter())) == 2
    assert recorder.prune() == 0


def test_the_writer_prunes_at_most_once_per_interval(tmp_path: Path) -> None:
    store = EventStore(f"sqlite:///{tmp_path / 'calls.db'}")
    store.migrate()
    recorder = RequestLog(store, days=1, clock=lambda: NOW)
    recorder._prune_if_due()
    recorder.record(a_call(at=NOW - timedelta(days=3)))
    assert recorder.wait_idle()
    recorder._prune_if_due()  # within the hour: the old call stays
    assert len(search_calls(store, RequestFilter())) == 1
    recorder.prune_every = 0.0
    recorder._prune_if_due()
    assert search_calls(store, RequestFilter()) == []
    store.dispose()


def test_a_full_queue_drops_and_counts_instead_of_blocking(tmp_path: Path) -> None:
    store = EventStore(f"sqlite:///{tmp_path / 'calls.db'}", busy_timeout_ms=20_000)
    store.migrate()
    recorder = RequestLog(store, capacity=3, max_batch=1)
    blocker = store.engine.raw_connection()
    try:
        blocker.execute("BEGIN EXCLUSIVE")  # the database is busy: the writer waits on it
        for n in range(20):
            recorder.record(a_call(path=f"/banks/v1/?n={n}"))
        # At most one call in the writer's hands and three queued: the rest were dropped.
        assert recorder.dropped >= 16
    finally:
        blocker.rollback()
        blocker.close()
    assert recorder.wait_idle()
    assert recorder.written + recorder.dropped == 20 and recorder.lost == 0
    with store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(lean_calls)).scalar() == (
            recorder.written
        )
    store.dispose()


def test_a_database_that_refuses_loses_the_batch_but_not_the_writer(tmp_path: Path) -> None:
    store = EventStore(f"sqlite:///{tmp_path / 'calls.db'}")
    store.migrate()
    recorder = RequestLog(store, pause_after_failure=0.01)
    with store.connect(write=True) as conn:
        conn.execute(text("ALTER TABLE lean_calls RENAME TO lean_calls_gone"))
    recorder.record(a_call())
    assert recorder.wait_idle()
    assert (recorder.written, recorder.lost) == (0, 1)
    with store.connect(write=True) as conn:
        conn.execute(text("ALTER TABLE lean_calls_gone RENAME TO lean_calls"))
    recorder.record(a_call())
    assert recorder.wait_idle() and recorder.written == 1
    store.dispose()


# -- settings -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "days"), [("", 30), (" 7 ", 7), ("3650", 3650)])
def test_retention_setting(raw: str, days: int) -> None:
    assert retention_days({"CONSOLE_REQUEST_LOG_DAYS": raw}, dotenv_path=None) == days


@pytest.mark.parametrize("raw", ["0", "-1", "abc", "1.5", "3651", "٣٠", "9" * 40])
def test_an_unusable_retention_is_refused_naming_the_setting(raw: str) -> None:
    with pytest.raises(RequestLogConfigError, match="CONSOLE_REQUEST_LOG_DAYS"):
        retention_days({"CONSOLE_REQUEST_LOG_DAYS": raw}, dotenv_path=None)


# -- reading ------------------------------------------------------------------------------------


@pytest.fixture
def variety(log_store: EventStore) -> EventStore:
    recorded(
        log_store,
        [
            a_call(at=NOW - timedelta(hours=30)),
            a_call(
                path="/customers/v1/c-1",
                route="/customers/v1/{customer_id}",
                status=404,
                outcome="not_found",
                lean_code="UNKNOWN_CUSTOMER",
                results_id="res-404",
                customer_id="c-1",
                caller="Customers",
                latency_ms=100,
            ),
            a_call(
                path="/data/v2/accounts?entity_id=e-1",
                route="/data/v2/accounts",
                entity_id="e-1",
                status=500,
                outcome="server_error",
                retries=2,
                latency_ms=900,
                caller="Accounts & data",
            ),
            a_call(
                path="/data/v2/refreshes",
                method="POST",
                route="/data/v2/refreshes",
                entity_id="e-2",
                refresh_id="r-9",
                status=None,
                outcome="timeout",
                caller="Bank connection",
            ),
            a_call(path="/banks/v1/?account_types=100%_sure", caller=None, on_behalf_of=None),
        ],
    )
    return log_store


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (RequestFilter(status_class="2xx"), 2),
        (RequestFilter(status_class="4xx"), 1),
        (RequestFilter(status_class="5xx"), 1),
        (RequestFilter(status_class="no answer"), 1),
        (RequestFilter(outcome="server_error"), 1),
        (RequestFilter(route="/data/v2/accounts"), 1),
        (RequestFilter(screen="Customers"), 1),
        (RequestFilter(text="c-1"), 1),
        (RequestFilter(text="e-2"), 1),
        (RequestFilter(text="r-9"), 1),
        (RequestFilter(text="res-404"), 1),
        (RequestFilter(text="/data/v2"), 2),
        (RequestFilter(text="%"), 1),  # a wildcard is a character, not "anything"
        (RequestFilter(text="0%_s"), 1),
        (RequestFilter(text="1%_"), 0),
        (RequestFilter(text="' OR 1=1 --"), 0),
        (RequestFilter(since=NOW - timedelta(hours=1)), 4),
        (RequestFilter(until=NOW - timedelta(hours=1)), 1),
        (RequestFilter(), 5),
    ],
)
def test_filters(variety: EventStore, flt: RequestFilter, expected: int) -> None:
    assert len(search_calls(variety, flt)) == expected
    assert call_stats(variety, flt).count == expected


def test_an_unknown_status_class_is_refused() -> None:
    with pytest.raises(ValueError, match="status_class"):
        RequestFilter(status_class="6xx")


def test_stats_count_errors_and_latency_by_route(variety: EventStore) -> None:
    stats = call_stats(variety, RequestFilter())
    assert (stats.count, stats.errors) == (5, 3)
    assert stats.error_rate == pytest.approx(0.6)
    assert (stats.p50_ms, stats.p95_ms) == (12.0, 900.0)
    by_route = {r.route: r for r in stats.by_route}
    assert by_route["/banks/v1/"].count == 2 and by_route["/banks/v1/"].errors == 0
    assert by_route["/data/v2/accounts"].p95_ms == 900.0
    assert call_stats(variety, RequestFilter(text="nothing")).p95_ms is None


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.95) is None
    assert percentile([5.0], 0.5) == 5.0
    assert percentile([float(n) for n in range(1, 101)], 0.95) == 95.0


def test_pages_go_back_in_time_by_id_without_overlap(log_store: EventStore) -> None:
    recorded(log_store, [a_call(at=NOW + timedelta(seconds=n), retries=n) for n in range(120)])
    seen: list[int] = []
    before = None
    while True:
        page = search_calls(log_store, RequestFilter(), before_id=before, limit=50)
        if not page:
            break
        seen.extend(r["retries"] for r in page)
        before = page[-1]["id"]
    assert seen == list(range(119, -1, -1))


def test_calls_for_a_customer_and_its_entities(variety: EventStore) -> None:
    assert [r["customer_id"] for r in calls_for(variety, customer_id="c-1")] == ["c-1"]
    both = calls_for(variety, customer_id="c-1", entity_ids=["e-1", "e-2", "e-1"])
    assert [r["outcome"] for r in both] == ["timeout", "server_error", "not_found"]
    assert calls_for(variety) == []
    assert calls_for(variety, entity_ids=["e-1"], since=NOW + timedelta(minutes=1)) == []
    assert len(calls_for(variety, entity_ids=["e-1", "e-2"], limit=1)) == 1


# -- export and the screen's words --------------------------------------------------------------


def test_export_is_csv_safe_and_audited(log_store: EventStore) -> None:
    recorded(log_store, [a_call(message='=HYPERLINK("http://evil")', lean_code="+1")])
    admin = Actor(f"admin-{uuid.uuid4().hex}@example.com", "Admin", Role.ADMIN, "proxy")
    exported = export_calls(log_store, RequestFilter(outcome="ok"), admin)
    [header, row] = list(csv.reader(io.StringIO(exported)))
    values = dict(zip(header, row, strict=True))
    assert values["message"].startswith("'=") and values["lean_code"] == "'+1"
    [line] = audit.search(log_store, action="export", actor=admin.email)
    assert (line.actor, line.subject_kind, line.subject) == (
        admin.email, "request_log", "outcome=ok",
    )  # fmt: skip
    assert line.detail == "1 calls as CSV"


def test_a_viewer_cannot_export_the_log_and_the_attempt_is_audited(log_store: EventStore) -> None:
    viewer = Actor(f"viewer-{uuid.uuid4().hex}@example.com", "Viewer", Role.VIEWER, "proxy")
    with pytest.raises(AccessDenied):
        export_calls(log_store, RequestFilter(), viewer)
    [line] = audit.search(log_store, action="export", actor=viewer.email)
    assert line.outcome == "denied"


def test_the_url_is_read_checked_and_written_back() -> None:
    query = ScreenQuery.from_params(
        {
            "period": "7d",
            "status": "5xx",
            "outcome": "nope",
            "q": " e-1 ",
            "before": "12",
            "route": "<script>",
            "screen": "Customers",
        }
    )
    assert query.problems == ("outcome",)
    assert query.params() == {
        "period": "7d", "status": "5xx", "route": "<script>", "screen": "Customers", "q": "e-1",
        "before": "12",
    }  # fmt: skip
    flt = query.to_filter(NOW)
    assert flt.since == NOW - timedelta(days=7) and flt.status_class == "5xx"
    bad = ScreenQuery.from_params({"period": "1y", "before": "-3", "status": "6xx", "q": "x" * 999})
    assert set(bad.problems) == {"period", "before", "status", "q"}
    assert bad.to_filter(NOW).since == NOW - timedelta(days=1) and len(bad.q) == 200


def test_links_point_at_the_consoles_own_pages() -> None:
    links = call_links({"customer_id": "c-1", "entity_id": "e-1", "refresh_id": "r-1"})
    assert [(page, query) for page, _, query in links] == [
        ("pages/customers.py", {"customer_id": "c-1"}),
        ("pages/entities.py", {"entity_id": "e-1", "customer_id": "c-1"}),
        ("pages/refreshes.py", {"entity_id": "e-1", "customer_id": "c-1", "refresh_id": "r-1"}),
    ]
    assert call_links({"customer_id": None}) == []
