"""The customer view under latency: cold, warm and after a webhook (issue #11 §3).

    make bench        # or: python -m tests.bench.customer_view --latency-ms 50 --runs 7

A sandbox in a process of its own (as Lean is: `tests.bench.lean_process`) gets a customer with
5 bank connections × 4 accounts and 50 ms added to every answer. Then, side by side in one run:

- cold load of the view's data (customer, entities, bank names, accounts, balances: 29 calls),
  parallel (console.customer_view) against the same calls one after another (the naive way), and
  against the longest dependent chain of calls × the latency (3 calls by customer_id); and the
  same against a sandbox embedded in the console's process, as `make run` without credentials
  has it (its request handling then shares the console's interpreter lock);
- the Customers screen in AppTest: a cold run, then warm runs (new sessions and reruns), timing
  the whole script run and the screen's own data path on a warm view (watermark query + caches);
  the tables it draws are built once a minute from the cached view (timed apart), and reach
  Streamlit as Arrow tables with no pandas Styler (the Styler's drawing was 60% of a warm run);
- invalidation: a signed `entity.updated` webhook stored by a receiver of its own (as another
  process would be) into the console's database; the next view must show Lean's new data.

Prints a table and writes `bench/customer_view.json`. The machine is shared: figures move.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "customer_view.json"
APP = str(ROOT / "app.py")
CHAIN_BY_CUSTOMER_ID = 3  # customer ∥ entities → accounts → balances
CHAIN_BY_APP_USER_ID = 4  # customer → entities → accounts → balances
WARM_TARGET_MS = 20.0


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return (time.perf_counter() - started) * 1000, result


def median_ms(fn: Callable[[], Any], runs: int) -> tuple[float, float, Any]:
    """(median, min) milliseconds of `runs` calls, and the last result."""
    samples, result = [], None
    for _ in range(runs):
        ms, result = timed(fn)
        samples.append(ms)
    return statistics.median(samples), min(samples), result


def embedded_sandbox_view(latency_ms: int, runs: int) -> float:
    """Median ms of the cold view by customer_id against a sandbox in this very process."""
    from console.customer_view import fetch_customer_view
    from console.customers import CustomerQuery
    from lean_api import LeanClient, LeanSettings
    from sandbox.app import SandboxConfig
    from sandbox.faults import FaultConfig
    from sandbox.server import SandboxServer
    from tests.wide_customer import add_wide_customer

    with SandboxServer(SandboxConfig()) as sandbox:
        client = LeanClient(LeanSettings.from_env(sandbox.env(), dotenv_path=None))
        customer = add_wide_customer(sandbox, client, "bench_wide_customer")
        query = CustomerQuery("customer_id", customer.customer_id)
        fetch_customer_view(client, query)
        sandbox.faults.set(FaultConfig(latency_ms=latency_ms))
        median, _, view = median_ms(lambda: fetch_customer_view(client, query), runs)
        assert view.complete and len(view.balances) == 20
        client.close()
    return median


def main() -> None:
    """Set up, measure, print, write."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="customer-view-bench-"))

    from tests.bench.lean_process import LeanProcess

    lean = LeanProcess("bench_wide_customer")
    database_url = f"sqlite:///{workdir / 'console.db'}"
    os.environ.update(lean.env)
    os.environ.update(
        {
            "DATABASE_URL": database_url,
            "CONSOLE_BEHIND_SIGN_IN": "true",
            "CONSOLE_DEFAULT_ROLE": "admin",
        }
    )

    import streamlit as st
    from streamlit.navigation.page import StreamlitPage
    from streamlit.testing.v1 import AppTest

    # The screen's server time: the page script's own run, timed in the script's thread (AppTest's
    # work on the element tree afterwards is not the server's).
    page_runs: list[float] = []
    run_page = StreamlitPage.run

    def timed_page_run(page: StreamlitPage) -> None:
        started = time.perf_counter()
        try:
            run_page(page)
        finally:
            page_runs.append((time.perf_counter() - started) * 1000)

    StreamlitPage.run = timed_page_run  # type: ignore[method-assign]

    # A server compiles each page once (its ScriptCache lives as long as the runtime); AppTest
    # starts every run with a new cache. Keep the compiled pages, as the server does.
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache

    compiled: dict[str, Any] = {}
    compile_page = ScriptCache.get_bytecode

    def compiled_once(cache: ScriptCache, script_path: str) -> Any:
        if script_path not in compiled:
            compiled[script_path] = compile_page(cache, script_path)
        return compiled[script_path]

    ScriptCache.get_bytecode = compiled_once  # type: ignore[method-assign]

    # AppTest's runtime is a MagicMock: each run's `st.context.headers` made five new mocks
    # (3 ms, a fifth of a warm page script), work a server does not do. The page gets what a
    # server hands it, the browser's websocket handshake.
    import streamlit.runtime.context as streamlit_context

    @dataclass(frozen=True)
    class BrowserHandshake:
        headers: tuple[tuple[str, str], ...]
        cookies: dict[str, str]
        remote_ip: str | None

    handshake = BrowserHandshake((("Host", "localhost:8501"),), {}, "127.0.0.1")
    streamlit_context._get_client_context = lambda: handshake  # type: ignore[assignment]

    from console.customer_view import (
        fetch_customer_view,
        fetch_customer_view_sequential,
        known_customers,
    )
    from console.customers import CustomerQuery
    from console.runtime import get_backend, get_store
    from console.store import EventStore
    from console.webhooks import ReceiverConfig
    from tests.receivers import SECRET, Receiver, event

    client = get_backend().client  # the process's shared client, as the screens use it
    by_id = CustomerQuery("customer_id", lean.customer_id)
    by_app_user = CustomerQuery("app_user_id", lean.app_user_id)
    fetch_customer_view(client, by_id)  # token, connections, imports: not part of any figure
    lean.set_latency(args.latency_ms)
    latency = args.latency_ms
    rows: list[dict[str, Any]] = []

    def row(name: str, ms: float, target_ms: float | None, reference: str, **extra: Any) -> None:
        rows.append(
            {
                "measure": name,
                "ms": round(ms, 1),
                "target_ms": target_ms,
                "met": None if target_ms is None else ms <= target_ms,
                "reference": reference,
                **extra,
            }
        )

    print(f"Customer view: 5 entities × 4 accounts, {latency} ms added latency…", flush=True)
    calls_before = lean.requests()
    parallel_ms, parallel_min, view = median_ms(
        lambda: fetch_customer_view(client, by_id), args.runs
    )
    calls = (lean.requests() - calls_before) // args.runs
    sequential_ms, _, naive = median_ms(
        lambda: fetch_customer_view_sequential(client, by_id), max(3, args.runs // 2)
    )
    assert view.complete and naive.complete and len(view.balances) == 20
    chain = CHAIN_BY_CUSTOMER_ID * latency
    row(
        "cold data, by customer_id (parallel)",
        parallel_ms,
        2 * chain,
        f"chain {CHAIN_BY_CUSTOMER_ID} × {latency} ms = {chain} ms",
        min_ms=round(parallel_min, 1),
        calls=calls,
    )
    row("cold data, by customer_id (sequential, naive)", sequential_ms, None, f"{calls} calls")
    app_ms, _, _ = median_ms(lambda: fetch_customer_view(client, by_app_user), args.runs)
    chain_app = CHAIN_BY_APP_USER_ID * latency
    row(
        "cold data, by app_user_id (parallel)",
        app_ms,
        2 * chain_app,
        f"chain {CHAIN_BY_APP_USER_ID} × {latency} ms = {chain_app} ms",
    )
    embedded_ms = embedded_sandbox_view(latency, args.runs)
    row(
        "cold data, by customer_id, embedded sandbox",
        embedded_ms,
        None,
        "sandbox in the console's process, as `make run` has it",
    )

    # The screen, through AppTest: cold, then warm (new sessions and reruns).
    def session(customer_id: str | None = lean.customer_id) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=60).run()
        at.switch_page("pages/customers.py")
        if customer_id:
            at.query_params["customer_id"] = customer_id
        return at

    st.cache_data.clear()
    at = session()
    cold_screen_ms, _ = timed(at.run)
    assert not at.exception, at.exception
    row("cold screen run (AppTest, whole script)", cold_screen_ms, None, "includes the data above")
    warm_runs: list[float] = []
    rerun_pages: list[float] = []
    first_view_pages: list[float] = []
    calls_before = lean.requests()
    for _ in range(args.runs):
        warm_runs.append(timed(at.run)[0])
        rerun_pages.append(page_runs[-1])
        timed(session().run)
        first_view_pages.append(page_runs[-1])
    warm_calls = lean.requests() - calls_before
    row(
        "warm rerun (AppTest, whole script)",
        statistics.median(warm_runs),
        None,
        "sidebar and AppTest's own work included",
    )
    row(
        "warm rerun: screen server time (page script)",
        statistics.median(rerun_pages),
        WARM_TARGET_MS,
        "rendering included; lists collapsed",
        min_ms=round(min(rerun_pages), 1),
    )
    row(
        "warm first view in a new session (page script)",
        statistics.median(first_view_pages),
        WARM_TARGET_MS,
        "+ the audit row of the view (a database write)",
        min_ms=round(min(first_view_pages), 1),
    )
    browse = session(None)
    browse.run()
    browse_pages = []
    for _ in range(args.runs):
        browse.run()
        browse_pages.append(page_runs[-1])
    row(
        "the page with no customer open (page script)",
        statistics.median(browse_pages),
        None,
        "the browse list instead of the customer",
    )

    # The screen's own data path on a warm view, as pages/customers.py runs it before drawing:
    # the watermark query, the st.cache_data hit on when the view was fetched (a small entry) and
    # the st.cache_resource hit on what the screen draws of it (no copy of the view: unpickling
    # one was half of a warm run), as Arrow tables built by console.customer_view.customer_screen.
    from console.customer_view import customer_screen
    from console.last_good import Snapshot

    store = get_store()

    @st.cache_data(ttl=900, max_entries=500, show_spinner=False)
    def load_customer(kind: str, value: str, mark: Any, period: int) -> Snapshot[Any]:
        return Snapshot.now(fetch_customer_view(client, CustomerQuery(kind, value)))  # type: ignore[arg-type]

    @st.cache_data(ttl=900, max_entries=500, show_spinner=False)
    def view_fetched_at(kind: str, value: str, mark: Any, period: int) -> Any:
        return load_customer(kind, value, mark, period).fetched_at

    @st.cache_resource(ttl=900, max_entries=500, show_spinner=False)
    def screen_of(kind: str, value: str, mark: Any, period: int, at: Any, minute: int) -> Any:
        snapshot = load_customer(kind, value, mark, period)
        return Snapshot(customer_screen(snapshot.value), snapshot.fetched_at)

    def warm_path() -> None:
        key = (by_id.kind, by_id.value, known_customers().watermark(store, by_id), 0)
        screen_of(*key, view_fetched_at(*key), 0)

    warm_path()  # cold: fills the cache
    warm_path_ms, warm_path_min, _ = median_ms(warm_path, args.runs * 5)
    row(
        "warm data path (watermark + cache hits)",
        warm_path_ms,
        WARM_TARGET_MS,
        "the page's work before drawing",
        min_ms=round(warm_path_min, 1),
    )
    build_ms, build_min, _ = median_ms(lambda: customer_screen(view), args.runs * 5)
    row(
        "screen tables built from a view (once a minute)",
        build_ms,
        WARM_TARGET_MS,
        "summary, toned rows, Arrow tables, widths",
        min_ms=round(build_min, 1),
    )

    # Invalidation: a receiver of its own stores an entity.updated into the console's database.
    receiver = Receiver(EventStore(database_url), ReceiverConfig(secret=SECRET))
    entity_id = lean.entity_ids[0]
    lean.add_to_balance(entity_id, "777.00")
    stale = session()
    stale.run()
    still_old = not any(
        "1,777.00" in str(v) for df in stale.dataframe for v in df.value.values.flat
    )
    answer = receiver.post(
        event("bench-ev-1", "entity.updated", id=entity_id, customer_id=lean.customer_id)
    )
    assert answer.status_code == 200, answer.text
    fresh = session()
    fresh_ms, _ = timed(fresh.run)
    is_fresh = any("1,777.00" in str(v) for df in fresh.dataframe for v in df.value.values.flat)
    row(
        "first view after entity.updated (AppTest)",
        fresh_ms,
        None,
        f"before the webhook: {'old data (warm)' if still_old else 'NEW DATA?'}; "
        f"after: {'fresh' if is_fresh else 'STALE'}",
        fresh=is_fresh,
        warm_before_webhook=still_old,
    )
    receiver.server.stop()
    lean.stop()

    print(f"\n{'measure':<48} {'ms':>8} {'target':>8}  met   reference")
    for r in rows:
        target = f"{r['target_ms']:.0f}" if r["target_ms"] is not None else "-"
        met = {True: "yes", False: "NO", None: "-"}[r["met"]]
        print(f"{r['measure']:<48} {r['ms']:>8.1f} {target:>8}  {met:<5} {r['reference']}")
    speedup = sequential_ms / parallel_ms
    print(
        f"\nparallel is {speedup:.1f}× faster than sequential; {warm_calls} Lean calls during the "
        f"warm runs; invalidation {'works' if is_fresh and still_old else 'FAILED'}."
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {
                "bench": "customer_view",
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": {
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                    "platform": platform.platform(),
                    "note": "shared machine: other work ran at the same time",
                },
                "latency_ms": latency,
                "shape": {"entities": 5, "accounts_per_entity": 4, "calls": calls},
                "speedup_vs_sequential": round(speedup, 2),
                "warm_lean_calls": warm_calls,
                "invalidation_works": bool(is_fresh and still_old),
                "rows": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
