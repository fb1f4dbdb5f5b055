"""`GET /metrics`: the console's counters in Prometheus' text format (`prometheus-client`).

Served by `server.py` and by the receiver alone (`python -m console.webhooks`), never behind the
Streamlit sign-in (it is a route, not a page), and answered only to a loopback client, or to
anyone presenting `Authorization: Bearer $CONSOLE_METRICS_TOKEN`; everyone else gets 403.

What is counted:

- webhooks answered 200, by event type: `console_webhooks_received_total` (stored or not),
  `console_webhooks_duplicated_total` (a repeat, counted on the stored event);
- deliveries refused, by status and a fixed reason word: `console_webhooks_refused_total`;
- how long an answer took: `console_webhook_ingest_seconds`;
- the event store failing a delivery: `console_store_errors_total`;
- refused deliveries counted without a row (sampled out) or lost: `console_rejection_log_*`;
- Lean calls by route and outcome, with their latency, and token renewals (`console_lean_*`).

Labels take a fixed set of values (Lean's four event types or "other", our own reason words,
Lean's route templates), so nobody can grow the series by what they post. The receiver's counts
are plain numbers turned into metrics at scrape time (`_DeliveryCounts`): a third of what
prometheus-client's locked children cost a delivery (measured side by side).
"""

from __future__ import annotations

import hmac
import ipaddress
import math
import os
from bisect import bisect_left
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from lean_api.webhooks import KNOWN_EVENT_TYPES

if TYPE_CHECKING:
    from lean_api.calls import LeanCall

METRICS_PATH = "/metrics"
TOKEN_ENV = "CONSOLE_METRICS_TOKEN"
# A request that came through a proxy says so; a proxy on this host would otherwise make every
# outside scraper look like a loopback client. Any of these headers, even empty, means a proxy.
PROXY_HEADERS = frozenset(
    {
        "forwarded",
        "via",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "x-forwarded-port",
        "x-forwarded-server",
        "x-original-forwarded-for",
        "x-real-ip",
        "x-client-ip",
        "x-cluster-client-ip",
        "true-client-ip",
        "cf-connecting-ip",
        "fastly-client-ip",
    }
)

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

# Lean answers within its 10 s; the receiver's own answer is usually a few milliseconds.
INGEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
LEAN_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class _DeliveryCounts:
    """The receiver's counts, kept as plain numbers and turned into metric families only when
    scraped: every delivery is counted on the event loop's thread, so no lock is needed, and
    counting costs about a third of prometheus_client's locked counter and histogram."""

    def __init__(self) -> None:
        self.received: dict[str, int] = {}
        self.duplicated: dict[str, int] = {}
        self.refused: dict[tuple[int, str], int] = {}
        self.ingest_buckets = [0] * (len(INGEST_BUCKETS) + 1)  # the last one is +Inf
        self.ingest_sum = 0.0

    def collect(self) -> Iterator[Metric]:
        received = CounterMetricFamily(
            "console_webhooks_received",
            "Webhook deliveries answered 200 (stored, or a repeat of a stored event), by type.",
            labels=["type"],
        )
        for event_type, count in sorted(self.received.items()):
            received.add_metric([event_type], count)
        duplicated = CounterMetricFamily(
            "console_webhooks_duplicated",
            "Deliveries of an event already stored (counted on it, not stored again), by type.",
            labels=["type"],
        )
        for event_type, count in sorted(self.duplicated.items()):
            duplicated.add_metric([event_type], count)
        refused = CounterMetricFamily(
            "console_webhooks_refused",
            "Webhook deliveries refused or not stored, by HTTP status and reason.",
            labels=["status", "reason"],
        )
        for (status, reason), count in sorted(self.refused.items()):
            refused.add_metric([str(status), reason], count)
        cumulative, buckets = 0, []
        for bound, count in zip((*INGEST_BUCKETS, math.inf), self.ingest_buckets, strict=True):
            cumulative += count
            buckets.append((floatToGoString(bound), cumulative))
        ingest = HistogramMetricFamily(
            "console_webhook_ingest_seconds",
            "Time from a delivery's arrival at the receiver to its answer (any status).",
        )
        ingest.add_metric([], buckets, self.ingest_sum)
        yield from (received, duplicated, refused, ingest)


DELIVERIES = _DeliveryCounts()
REGISTRY.register(DELIVERIES)  # type: ignore[arg-type]
STORE_ERRORS = Counter(
    "console_store_errors",
    "Deliveries the event store could not take: unavailable (503, Lean retries), refused "
    "for their content (kept as a dead letter), or different_body (a repeated event_id with "
    "another body: counted on the event, that body kept as a dead letter).",
    ["kind"],
    registry=REGISTRY,
)
REJECTIONS_SAMPLED_OUT = Counter(
    "console_rejection_log_sampled_out",
    "Refused deliveries counted without a row of their own (the rejection log's sampling).",
    registry=REGISTRY,
)
REJECTIONS_DROPPED = Counter(
    "console_rejection_log_dropped",
    "Refused deliveries whose row could not be kept (queue full, database refused); counted.",
    registry=REGISTRY,
)
LEAN_CALLS = Counter(
    "console_lean_calls",
    "Calls to Lean (all attempts of one call together), by route and outcome.",
    ["route", "outcome"],
    registry=REGISTRY,
)
LEAN_CALL_SECONDS = Histogram(
    "console_lean_call_seconds",
    "Latency of calls to Lean (token fetch, attempts and waits included), by route.",
    ["route"],
    buckets=LEAN_BUCKETS,
    registry=REGISTRY,
)
LEAN_RETRIES = Counter(
    "console_lean_call_retries",
    "Attempts beyond the first, by route.",
    ["route"],
    registry=REGISTRY,
)
TOKEN_RENEWALS = Counter(
    "console_lean_token_renewals",
    "Access tokens fetched from Lean, by outcome.",
    ["outcome"],
    registry=REGISTRY,
)


def delivery_stored(event_type: str, *, duplicate: bool) -> None:
    """A delivery answered 200 (on the event loop's thread)."""
    label = event_type if event_type in KNOWN_EVENT_TYPES else "other"
    counts = DELIVERIES
    counts.received[label] = counts.received.get(label, 0) + 1
    if duplicate:
        counts.duplicated[label] = counts.duplicated.get(label, 0) + 1


def delivery_refused(status: int, reason: str) -> None:
    """A delivery answered with an error; `reason` is one of the receiver's own words."""
    key = (status, reason)
    DELIVERIES.refused[key] = DELIVERIES.refused.get(key, 0) + 1


def store_error(kind: str) -> None:
    """`unavailable` (503), `refused` or `different_body` (kept as a dead letter)."""
    STORE_ERRORS.labels(kind).inc()


def observe_ingest(seconds: float) -> None:
    """How long one delivery took to answer (on the event loop's thread)."""
    DELIVERIES.ingest_buckets[bisect_left(INGEST_BUCKETS, seconds)] += 1
    DELIVERIES.ingest_sum += seconds


def observe_lean_call(call: LeanCall) -> None:
    """A `LeanClient` observer: count the call, its latency, retries and token renewals."""
    LEAN_CALLS.labels(call.route, call.outcome).inc()
    LEAN_CALL_SECONDS.labels(call.route).observe(max(call.latency_ms, 0) / 1000)
    if call.retries:
        LEAN_RETRIES.labels(call.route).inc(call.retries)
    from lean_api.calls import TOKEN_ROUTE

    if call.route == TOKEN_ROUTE:
        TOKEN_RENEWALS.labels(call.outcome).inc()


# ---------------------------------------------------------------------------------------------
# Who may scrape
# ---------------------------------------------------------------------------------------------


def may_scrape(
    client_host: str | None, headers: Mapping[str, str], token: str | None = None
) -> bool:
    """True for the right bearer token (when one is set), or a loopback client that did not
    come through a proxy (no proxy header at all, not even an empty one). The decision `/metrics` takes, apart so it can be tested alone."""
    token = os.environ.get(TOKEN_ENV) if token is None else token
    authorization = headers.get("authorization") or ""
    scheme, _, presented = authorization.partition(" ")
    if token and scheme.lower() == "bearer" and presented:
        return hmac.compare_digest(presented.strip().encode(), token.encode())
    if not PROXY_HEADERS.isdisjoint(name.lower() for name in headers):
        return False
    try:
        ip = ipaddress.ip_address(client_host or "")
    except ValueError:
        return False
    return bool((getattr(ip, "ipv4_mapped", None) or ip).is_loopback)


async def metrics_endpoint(request: Request) -> Response:
    """`GET /metrics`."""
    host = request.client.host if request.client else None
    if not may_scrape(host, request.headers):
        return PlainTextResponse(
            "metrics are served to loopback clients or with the metrics bearer token\n",
            status_code=403,
        )
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def metrics_route() -> Route:
    """The Starlette route to mount beside the receiver's."""
    return Route(METRICS_PATH, metrics_endpoint, methods=["GET"])
