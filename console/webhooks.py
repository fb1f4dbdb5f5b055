"""The webhook receiver: `POST /webhooks/lean`.

Served inside the console by `server.py`, or alone (the public endpoint in a real deployment)
with `python -m console.webhooks --port 8080`, against the same database.

Order of checks, cheapest and safest first: configuration → source address → signature
required? → size → body read within a deadline → signature on the raw bytes → JSON → durable
write. Nothing is answered 200 before its event is committed, and every answer is deliberate:

    200  stored (or a duplicate, counted; a duplicate with a different body also keeps that
         body as a dead letter and says so in `different_body`)
    400  unreadable body, kept as a dead letter        401  missing or wrong signature
    403  source address not allowed                      408  body not received in time
    413  body too large                                  503  store unavailable, retry later

The event loop only waits: every database call runs in a worker thread with a deadline, and
rejections are logged by a background thread that never holds up an answer.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import ipaddress
import json
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import anyio
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from console import metrics
from console.store import (
    EventRecord,
    EventStore,
    EventWriter,
    RejectionBucket,
    StoreUnavailable,
    WriteResult,
    clean_text,
)
from lean_api.config import read_environment
from lean_api.webhooks import (
    SIGNATURE_HEADER,
    SignatureVerificationError,
    WebhookPayloadError,
    claimed_identity,
    parse_event,
    verify_signature,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_BODY_BYTES = 1024 * 1024
WEBHOOK_PATH = "/webhooks/lean"
# Lean waits 10 s for an answer: a body still arriving after that will not be answered in time.
READ_TIMEOUT_SECONDS = 10.0
# Room for the commit inside Lean's 10 s, once the body is in.
STORE_TIMEOUT_SECONDS = 6.0
# Bodies still arriving, all connections together: past this, new bytes get 503.
MAX_BUFFERED_BYTES = 64 * 1024 * 1024
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})


class BodyTooLarge(Exception):
    """The body is over the limit."""

    def __init__(self, size: int) -> None:
        super().__init__(str(size))
        self.size = size


class ReceiverBusy(Exception):
    """Too many bodies are arriving at once for the memory set aside for them."""


@dataclass
class ReceiverConfig:
    """Who may post, with which secret, and the receiver's limits.

    `problem` holds a configuration error: the receiver then answers 503 (Lean retries) and
    every screen and /healthz say why, instead of the process failing to start.
    """

    secret: str | None = field(default=None, repr=False)
    allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    # Development only: store unsigned deliveries when no secret is configured.
    allow_unsigned: bool = False
    max_body_bytes: int = MAX_BODY_BYTES
    # Deliveries that may share one commit; 1 means a commit per request (for comparison only).
    max_batch: int = 256
    read_timeout: float = READ_TIMEOUT_SECONDS
    store_timeout: float = STORE_TIMEOUT_SECONDS
    max_buffered_bytes: int = MAX_BUFFERED_BYTES
    # Refused deliveries' rows and counts are kept this long (`CONSOLE_REJECTION_RETENTION_DAYS`).
    rejection_retention_days: int = 14
    problem: str | None = None

    def __repr__(self) -> str:
        return (
            f"ReceiverConfig(secret={'set' if self.secret else 'unset'}, "
            f"allowed_networks={self.allowed_networks}, allow_unsigned={self.allow_unsigned}, "
            f"problem={self.problem!r})"
        )

    @property
    def refuses_unsigned_for_want_of_secret(self) -> bool:
        """No secret and no development override: every delivery is refused with 401."""
        return not self.secret and not self.allow_unsigned

    @staticmethod
    def parse_networks(
        text: str | None,
    ) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """`LEAN_WEBHOOK_ALLOWED_IPS`: comma-separated addresses or CIDRs."""
        if not text or not text.strip():
            return ()
        networks = []
        for part in text.split(","):
            part = part.strip()
            if part:
                try:
                    networks.append(ipaddress.ip_network(part, strict=False))
                except ValueError:
                    raise ValueError(
                        f"LEAN_WEBHOOK_ALLOWED_IPS has an invalid entry: {part[:60]!r}"
                    ) from None
        return tuple(networks)

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        secret: str | None = None,
        dotenv_path: str | Path | None = ".env",
    ) -> ReceiverConfig:
        """The one place the receiver's settings are read; never raises.

        `LEAN_WEBHOOK_SECRET` (or `secret`, the embedded sandbox's), `LEAN_WEBHOOK_ALLOWED_IPS`,
        `LEAN_WEBHOOK_ALLOW_UNSIGNED` (development only, refused with `LEAN_ENV=production`),
        `LEAN_WEBHOOK_MAX_BATCH`, `CONSOLE_REJECTION_RETENTION_DAYS`. A bad value becomes `problem`.
        """
        values = read_environment(environ, dotenv_path)

        def get(name: str) -> str:
            return (values.get(name) or "").strip()

        config = cls(secret=secret or get("LEAN_WEBHOOK_SECRET") or None)
        problems: list[str] = []
        try:
            config.allowed_networks = cls.parse_networks(get("LEAN_WEBHOOK_ALLOWED_IPS"))
        except ValueError as exc:
            problems.append(str(exc))
        allow_unsigned = get("LEAN_WEBHOOK_ALLOW_UNSIGNED").lower()
        if allow_unsigned in TRUE_WORDS:
            if get("LEAN_ENV").lower() == "production":
                problems.append(
                    "LEAN_WEBHOOK_ALLOW_UNSIGNED cannot be used with LEAN_ENV=production"
                )
            else:
                config.allow_unsigned = True
        batch = get("LEAN_WEBHOOK_MAX_BATCH")
        if batch:
            if batch.isascii() and batch.isdigit() and 1 <= int(batch) <= 10_000:
                config.max_batch = int(batch)
            else:
                problems.append("LEAN_WEBHOOK_MAX_BATCH must be a whole number from 1 to 10000")
        retention = get("CONSOLE_REJECTION_RETENTION_DAYS")
        if retention:
            if retention.isascii() and retention.isdigit() and 1 <= int(retention) <= 3650:
                config.rejection_retention_days = int(retention)
            else:
                problems.append(
                    "CONSOLE_REJECTION_RETENTION_DAYS must be a whole number of days from 1 to 3650"
                )
        config.problem = "; ".join(problems) or None
        return config

    def allows(self, address: str | None) -> bool:
        """True when no allow-list is set, or `address` is inside it."""
        if not self.allowed_networks:
            return True
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(ip in network for network in self.allowed_networks)


@functools.lru_cache(maxsize=4096)
def _plain_address(host: str | None) -> str | None:
    # Cached: parsing an address on every delivery showed in the ingest profile.
    try:
        ip = ipaddress.ip_address(host or "")
    except ValueError:
        return host
    mapped = getattr(ip, "ipv4_mapped", None)
    return str(mapped or ip)


class RejectionLog:
    """Records refused deliveries from a background thread, so refusing never waits on the
    database; counted and sampled, so a flood cannot grow the table without end.

    Every refused delivery is counted (`webhook_rejection_counts`, per minute, reason and
    source). Rows, with what the body claimed to be, are kept for a sample: per minute, the first
    `per_source` of each (reason, source address), and the first of each (reason, claimed
    customer) up to `claims_per_minute` customers, so a refused `entity.created` for a customer
    is still on record for triage while one sender floods. Rows and counts older than
    `retention_days` are pruned in the background.
    """

    def __init__(
        self,
        store: EventStore,
        *,
        capacity: int = 10_000,
        per_source: int = 20,
        claims_per_minute: int = 1_000,
        retention_days: int = 14,
        flush_seconds: float = 2.0,
        prune_every_seconds: float = 3600.0,
    ) -> None:
        self.store = store
        self.capacity = capacity
        self.per_source = per_source
        self.claims_per_minute = claims_per_minute
        self.retention_days = retention_days
        self.flush_seconds = flush_seconds
        self.prune_every_seconds = prune_every_seconds
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rows: list[dict[str, Any]] = []
        self._unrecorded: dict[RejectionBucket, int] = {}
        self._minute: datetime | None = None
        self._kept_by_source: dict[tuple[str, str | None], int] = {}
        self._claims_seen: set[tuple[str, str]] = set()
        self._flushing = False
        self._next_prune = time.monotonic() + 60  # not in the way of start-up
        # Rows that could not be kept (queue full, or the database refused them); still counted.
        self.dropped = 0
        # Rows left out by sampling; counted.
        self.sampled_out = 0

    def add(self, **rejection: Any) -> bool:
        """Count one rejection and keep its row if the sample wants it; never blocks on I/O.

        True when its row is kept."""
        received_at: datetime = rejection.setdefault("received_at", datetime.now(UTC))
        reason: str = rejection["reason"]
        source_ip: str | None = rejection.get("source_ip")
        claim = rejection.get("claimed_customer_id")
        minute = received_at.replace(second=0, microsecond=0)
        with self._lock:
            if minute != self._minute:
                self._minute = minute
                self._kept_by_source.clear()
                self._claims_seen.clear()
            source = (reason, source_ip)
            keep = self._kept_by_source.get(source, 0) < self.per_source
            first_claim = claim and (reason, claim) not in self._claims_seen
            if first_claim and len(self._claims_seen) < self.claims_per_minute:
                self._claims_seen.add((reason, claim))
                keep = True
            kept = keep and len(self._rows) < self.capacity
            if kept:
                self._kept_by_source[source] = self._kept_by_source.get(source, 0) + 1
                self._rows.append(rejection)
            else:
                if keep:
                    self.dropped += 1
                    metrics.REJECTIONS_DROPPED.inc()
                else:
                    self.sampled_out += 1
                    metrics.REJECTIONS_SAMPLED_OUT.inc()
                bucket = RejectionBucket.of(rejection)
                self._unrecorded[bucket] = self._unrecorded.get(bucket, 0) + 1
            self._start_locked()
        if kept:
            self._wake.set()
        return kept

    def start(self) -> None:
        """Run the background thread from now on (server start-up), so retention prunes even
        while nothing is refused."""
        with self._lock:
            self._start_locked()

    def stop(self) -> None:
        """Write what is waiting and end the background thread (server shutdown)."""
        self.wait_idle(timeout=2.0)
        self._stop.set()
        self._wake.set()

    def _start_locked(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="rejection-log", daemon=True)
            self._thread.start()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Write everything now and block until it is written (tests, tools)."""
        end = time.monotonic() + timeout
        self._wake.set()
        while time.monotonic() < end:
            with self._lock:
                if not self._rows and not self._unrecorded and not self._flushing:
                    return True
            self._wake.set()
            time.sleep(0.01)
        return False

    def prune(self) -> int:
        """Remove what is older than the retention; returns the rows removed."""
        cutoff = datetime.now(UTC) - timedelta(days=self.retention_days)
        return self.store.prune_rejections(cutoff)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            self._flush()
            if time.monotonic() >= self._next_prune and not self._stop.is_set():
                self._next_prune = time.monotonic() + self.prune_every_seconds
                try:
                    removed = self.prune()
                except Exception as exc:  # the log must outlive any database trouble
                    log.error("could not prune the rejection log: %s", exc)
                else:
                    if removed:
                        log.info("rejection log: %d row(s) past the retention removed", removed)

    def _flush(self) -> None:
        with self._lock:
            rows, self._rows = self._rows, []
            unrecorded, self._unrecorded = self._unrecorded, {}
            self._flushing = bool(rows or unrecorded)
        if not (rows or unrecorded):
            return
        try:
            self.store.record_rejections(rows, unrecorded=unrecorded)
        except StoreUnavailable as exc:
            # The database is away: keep everything for the next flush (rows up to capacity,
            # the rest counted), so the count stays exact.
            log.error("could not record %d webhook rejection(s): %s", len(rows), exc)
            self._put_back(rows, unrecorded)
        except Exception as exc:  # a row the database refuses: count it without its row
            log.error("could not record %d webhook rejection(s): %s", len(rows), exc)
            self._put_back([], unrecorded, lost=rows)
        finally:
            with self._lock:
                self._flushing = False

    def _put_back(
        self,
        rows: list[dict[str, Any]],
        unrecorded: dict[RejectionBucket, int],
        *,
        lost: Sequence[dict[str, Any]] = (),
    ) -> None:
        with self._lock:
            room = max(self.capacity - len(self._rows), 0)
            self._rows[:0] = rows[:room]
            for row in [*rows[room:], *lost]:
                self.dropped += 1
                metrics.REJECTIONS_DROPPED.inc()
                bucket = RejectionBucket.of(row)
                unrecorded[bucket] = unrecorded.get(bucket, 0) + 1
            for bucket, count in unrecorded.items():
                self._unrecorded[bucket] = self._unrecorded.get(bucket, 0) + count


class WebhookReceiver:
    """Verifies, parses and stores Lean's webhooks."""

    def __init__(self, store: EventStore, config: ReceiverConfig) -> None:
        self.store = store
        self.config = config
        self.writer = EventWriter(store, max_batch=config.max_batch)
        self.rejections = RejectionLog(store, retention_days=config.rejection_retention_days)
        # Store calls other than the event writer's: few, so a hung database cannot take every
        # worker thread of the server.
        self._store_threads = anyio.CapacityLimiter(4)
        self._buffered = 0
        self._ping: asyncio.Future[None] | None = None
        self._deadlines_by_loop: dict[asyncio.AbstractEventLoop, _Deadlines] = {}
        if config.problem:
            log.error("webhook receiver misconfigured: %s", config.problem)
        elif config.refuses_unsigned_for_want_of_secret:
            log.error(
                "LEAN_WEBHOOK_SECRET is not set: every webhook is refused with 401 "
                "(set LEAN_WEBHOOK_ALLOW_UNSIGNED=true to accept unsigned ones in development)"
            )
        elif not config.secret:
            log.warning("LEAN_WEBHOOK_ALLOW_UNSIGNED is on: webhooks are stored unverified")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The `POST /webhooks/lean` endpoint as a plain ASGI app, timed for `/metrics`.

        No Starlette `Request` or `Response`: the headers are read once from the scope, the body
        straight from `receive`, and the answer is sent as two messages. Under load those objects
        and their timers were a third of the event loop's time per delivery (ingest profile).
        """
        started = time.perf_counter()
        try:
            answer = await self._answer(scope, receive)
        finally:
            metrics.observe_ingest(time.perf_counter() - started)
        await answer.send(send)

    async def handle(self, request: Request) -> Response:
        """The endpoint for a Starlette `Request` (tools that hold one); the same checks."""
        answer = await self._answer(request.scope, request.receive)
        headers = {
            name.decode("latin-1"): value.decode("latin-1") for name, value in answer.headers
        }
        return Response(answer.body, answer.status, headers, media_type="application/json")

    @property
    def _deadlines(self) -> _Deadlines:
        """This event loop's deadlines (a receiver may serve several loops, in tests)."""
        loop = asyncio.get_running_loop()
        deadlines = self._deadlines_by_loop.get(loop)
        if deadlines is None:
            for old in [other for other in self._deadlines_by_loop if other.is_closed()]:
                del self._deadlines_by_loop[old]
            deadlines = self._deadlines_by_loop[loop] = _Deadlines()
        return deadlines

    async def _answer(self, scope: Scope, receive: Receive) -> Answer:
        received_at = datetime.now(UTC)
        client = scope.get("client")
        source_ip = _plain_address(client[0] if client else None)
        signature, declared = _delivery_headers(scope)

        if self.config.problem:
            metrics.delivery_refused(503, "misconfigured")
            return MISCONFIGURED
        if not self.config.allows(source_ip):
            return self._reject(
                403, "source address not in LEAN_WEBHOOK_ALLOWED_IPS", source_ip, 0, signature
            )
        if self.config.refuses_unsigned_for_want_of_secret:
            return self._reject(
                401,
                "LEAN_WEBHOOK_SECRET is not configured: deliveries cannot be verified",
                source_ip,
                declared or 0,
                signature,
            )
        try:
            body = await self._read_body(receive, declared)
        except BodyTooLarge as exc:
            return self._reject(
                413,
                f"body larger than {self.config.max_body_bytes} bytes",
                source_ip,
                exc.size,
                signature,
                close=True,
            )
        except TimeoutError:
            return self._reject(
                408,
                f"body not received within {self.config.read_timeout:.0f} s",
                source_ip,
                0,
                signature,
                close=True,
            )
        except ReceiverBusy:
            metrics.delivery_refused(503, "busy")
            return BUSY
        except ClientDisconnect:
            metrics.delivery_refused(400, "client_disconnected")
            return Answer.json(400, {"error": "client disconnected"})

        verified = False
        if self.config.secret:
            try:
                verify_signature(body, signature, self.config.secret)
            except SignatureVerificationError as exc:
                return self._reject(
                    401, exc.reason, source_ip, len(body), signature, claims=claimed_identity(body)
                )
            verified = True

        try:
            event = parse_event(body)
        except WebhookPayloadError as exc:
            try:
                await self._off_loop(
                    partial(
                        self.store.record_dead_letter,
                        source_ip=source_ip,
                        reason=exc.reason,
                        verified=verified,
                        body=body,
                        received_at=received_at,
                    )
                )
            except StoreUnavailable:
                metrics.store_error("unavailable")
                return UNAVAILABLE
            metrics.delivery_refused(400, "unreadable_body")
            return Answer.json(400, {"error": f"malformed webhook: {exc.reason}"})

        record = EventRecord.of(
            event, body, received_at=received_at, verified=verified, source_ip=source_ip
        )
        timeout = self.config.store_timeout
        try:
            future = self.writer.submit(record, timeout)
            try:
                with self._deadlines.after(timeout):
                    result = await future
            except TimeoutError:
                raise self.writer.timed_out(timeout) from None
        except StoreUnavailable as exc:
            log.error("webhook %r not stored: %s", event.event_id[:80], exc)
            metrics.store_error("unavailable")
            return UNAVAILABLE
        if result.dead_letter_reason:
            metrics.store_error("refused")
            metrics.delivery_refused(400, "refused_by_store")
            return Answer.json(
                400, {"error": f"kept as a dead letter: {result.dead_letter_reason}"}
            )
        metrics.delivery_stored(event.type, duplicate=result.duplicate)
        if result.different_body:
            metrics.store_error("different_body")
            log.warning(
                "webhook %r repeated with a different body: kept as a dead letter",
                event.event_id[:80],
            )
        return stored_answer(result)

    async def _read_body(self, receive: Receive, declared: int | None) -> bytes:
        if declared is not None and declared > self.config.max_body_bytes:
            raise BodyTooLarge(declared)
        chunks: list[bytes] = []
        size = 0
        try:
            # One coarse timer for every delivery (`_Deadlines`), not one each: a timer per
            # request cost ~6% of the event loop under load.
            with self._deadlines.after(self.config.read_timeout):
                while True:
                    message = await receive()
                    if message["type"] != "http.request":
                        raise ClientDisconnect()
                    chunk = message.get("body", b"")
                    if chunk:
                        size += len(chunk)
                        self._buffered += len(chunk)
                        if size > self.config.max_body_bytes:
                            raise BodyTooLarge(size)
                        if self._buffered > self.config.max_buffered_bytes:
                            raise ReceiverBusy()
                        chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        finally:
            self._buffered -= size
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _off_loop(self, call: Callable[[], T], timeout: float | None = None) -> T:
        """Run a blocking store call in a worker thread; `StoreUnavailable` past the deadline."""
        timeout = timeout or self.config.store_timeout
        try:
            with anyio.fail_after(timeout):
                return await anyio.to_thread.run_sync(
                    call, abandon_on_cancel=True, limiter=self._store_threads
                )
        except TimeoutError:
            raise StoreUnavailable(f"the store did not answer within {timeout:.0f} s") from None

    async def ping_store(self, timeout: float) -> None:
        """Raise `StoreUnavailable` unless the database answers within `timeout` seconds.

        Concurrent callers share one ping, so probes against a hung database cannot pile up
        worker threads.
        """
        if self._ping is None or self._ping.done():
            self._ping = asyncio.ensure_future(self._off_loop(self.store.ping, 30.0))
        try:
            await asyncio.wait_for(asyncio.shield(self._ping), timeout)
        except TimeoutError:
            raise StoreUnavailable(f"the store did not answer within {timeout} s") from None

    def _reject(
        self,
        status: int,
        reason: str,
        source_ip: str | None,
        size: int,
        signature: str | None,
        *,
        close: bool = False,
        claims: dict[str, str | None] | None = None,
    ) -> Answer:
        metrics.delivery_refused(status, _reason_word(status, reason))
        kept = self.rejections.add(
            received_at=datetime.now(UTC),
            source_ip=source_ip,
            status_code=status,
            reason=reason,
            size=size,
            signature=clean_text(signature),
            **{key: clean_text(value) for key, value in (claims or {}).items()},
        )
        if kept:  # logged as sampled: a flood is counted, not written line by line
            log.warning("webhook rejected (%d) from %s: %s", status, source_ip, reason)
        # A body still arriving (too large, too slow) is not read further: the connection closes.
        headers = ((b"connection", b"close"),) if close else ()
        return Answer.json(status, {"error": reason}, headers)

    def route(self) -> Route:
        """The Starlette route to mount (the receiver itself, as an ASGI app)."""
        return Route(WEBHOOK_PATH, self, methods=["POST"])


def _delivery_headers(scope: Scope) -> tuple[str | None, int | None]:
    """The signature header and the declared Content-Length (if a plain number), read in one
    pass over the raw headers; the first of a repeated header counts, as Starlette's would."""
    signature: str | None = None
    length: bytes | None = None
    for name, value in scope["headers"]:
        if name == _SIGNATURE_KEY:
            if signature is None:
                signature = value.decode("latin-1")
        elif name == b"content-length" and length is None:
            length = value
    declared = None
    if length is not None:
        text = length.decode("latin-1").strip()
        if text.isascii() and text.isdigit():
            # A length beyond any body we accept is only ever compared, never stored as is.
            declared = min(int(text[:20]), 2**62)
    return signature, declared


_SIGNATURE_KEY = SIGNATURE_HEADER.lower().encode("latin-1")


def _reason_word(status: int, reason: str) -> str:
    """A fixed word for `/metrics` (the reason text may quote what the sender sent)."""
    if status == 401:
        for word in ("missing", "malformed", "unsupported", "does not match", "not configured"):
            if word in reason:
                return {
                    "missing": "signature_missing",
                    "malformed": "signature_malformed",
                    "unsupported": "signature_algorithm",
                    "does not match": "signature_mismatch",
                    "not configured": "no_secret",
                }[word]
        return "signature"
    return {403: "source_not_allowed", 408: "body_timeout", 413: "body_too_large"}.get(
        status, "other"
    )


@dataclass(frozen=True, slots=True)
class Answer:
    """A response as the ASGI server wants it: status, raw headers, body."""

    status: int
    body: bytes
    headers: tuple[tuple[bytes, bytes], ...] = ()

    @classmethod
    def json(
        cls, status: int, content: Any, headers: tuple[tuple[bytes, bytes], ...] = ()
    ) -> Answer:
        """JSON rendered as Starlette's `JSONResponse` renders it."""
        body = json.dumps(
            content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
        ).encode("utf-8")
        return cls(status, body, headers)

    async def send(self, send: Send) -> None:
        """Send the answer: start (status, headers) and the whole body."""
        await send(
            {
                "type": "http.response.start",
                "status": self.status,
                "headers": [
                    (b"content-length", str(len(self.body)).encode()),
                    (b"content-type", b"application/json"),
                    *self.headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": self.body})


def stored_answer(result: WriteResult) -> Answer:
    """200 for a stored (or repeated) event, rendered without a JSON encoder round trip.

    A repeat with a body other than the stored one is still 200 (the event is stored; Lean must
    not retry it forever), and says where that body went.
    """
    status = "duplicate" if result.duplicate else "stored"
    event_id = result.event_id
    quoted = (
        f'"{event_id}"'
        if event_id.isascii()
        and event_id.isprintable()
        and '"' not in event_id
        and "\\" not in event_id
        else json.dumps(event_id)
    )
    body = f'{{"status":"{status}","event_id":{quoted},"deliveries":{int(result.delivery_count)}'
    if result.different_body:
        body += f',"different_body":"{DIFFERENT_BODY_KEPT}"'
    return Answer(200, (body + "}").encode("utf-8"))


DIFFERENT_BODY_KEPT = "kept apart as a dead letter; the event keeps its first body"


# 503 makes Lean retry on its schedule; nothing was stored, so nothing is duplicated.
UNAVAILABLE = Answer.json(
    503, {"error": "event store unavailable, retry later"}, ((b"retry-after", b"30"),)
)
BUSY = Answer.json(503, {"error": "receiver busy, retry later"}, ((b"retry-after", b"5"),))
MISCONFIGURED = Answer.json(
    503,
    {"error": "the webhook receiver is misconfigured; retry later"},
    ((b"retry-after", b"60"),),
)


class _Deadlines:
    """Deadlines for many concurrent awaits on one event loop with one coarse timer.

    `with deadlines.after(seconds): await ...` raises `TimeoutError` out of the block once
    `seconds` have passed (give or take `tick`), as `asyncio.timeout` would; but instead of a
    timer per block, one timer ticks while any deadline is pending and cancels the late.
    """

    def __init__(self, tick: float = 0.1) -> None:
        self.tick = tick
        self._pending: dict[_Deadline, None] = {}
        self._timer: asyncio.TimerHandle | None = None

    def after(self, seconds: float) -> _Deadline:
        """A deadline `seconds` from now for the current task; use it as a `with` block."""
        return _Deadline(self, seconds)

    def _arm(self, deadline: _Deadline) -> None:
        self._pending[deadline] = None
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.tick, self._sweep)

    def _sweep(self) -> None:
        self._timer = None
        now = time.monotonic()
        for deadline in [d for d in self._pending if d.at <= now]:
            del self._pending[deadline]
            deadline.expired = True
            deadline.task.cancel()
        if self._pending:
            self._timer = asyncio.get_running_loop().call_later(self.tick, self._sweep)


class _Deadline:
    __slots__ = ("at", "cancelling", "expired", "owner", "seconds", "task")

    def __init__(self, owner: _Deadlines, seconds: float) -> None:
        self.owner = owner
        self.seconds = seconds
        self.expired = False

    def __enter__(self) -> _Deadline:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a deadline needs a running task")
        self.task = task
        self.cancelling = task.cancelling()
        self.at = time.monotonic() + self.seconds
        self.owner._arm(self)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.owner._pending.pop(self, None)
        # Our own cancellation (and only ours) becomes the TimeoutError, as in asyncio.timeout.
        if (
            self.expired
            and self.task.uncancel() <= self.cancelling
            and exc_type is asyncio.CancelledError
        ):
            raise TimeoutError from exc


def receiver_from_env(
    store: EventStore | None = None, secret: str | None = None
) -> WebhookReceiver:
    """A receiver configured by `ReceiverConfig.from_env` in front of `DATABASE_URL`.

    Without `LEAN_WEBHOOK_SECRET` and without Lean credentials (the embedded sandbox's setting),
    the secret `make run` shares with its sandbox is used, so both verify the same signatures.
    """
    from console.runtime import embedded_webhook_secret, has_lean_credentials

    config = ReceiverConfig.from_env(secret=secret)
    if config.secret is None and not has_lean_credentials():
        config.secret = embedded_webhook_secret()
    return WebhookReceiver(store or EventStore(os.environ.get("DATABASE_URL") or None), config)


def create_app(receiver: WebhookReceiver | None = None) -> Starlette:
    """The receiver alone: `python -m console.webhooks` (or `uvicorn console.webhooks:app`)."""
    from console.health import health_response
    from console.serving import freeze_start_up_heap

    holder: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        holder["receiver"] = receiver or receiver_from_env()
        try:
            await anyio.to_thread.run_sync(holder["receiver"].store.migrate)
        except StoreUnavailable:
            # Start anyway: deliveries get 503 (Lean retries) until the database is back.
            log.exception("event store unavailable at start-up")
        holder["receiver"].rejections.start()
        holder["receiver"].writer.start()
        freeze_start_up_heap()
        yield
        holder["receiver"].rejections.stop()

    async def webhook(scope: Scope, receive: Receive, send: Send) -> None:
        await holder["receiver"](scope, receive, send)

    async def healthz(_: Request) -> JSONResponse:
        return await health_response(holder["receiver"])

    return Starlette(
        routes=[
            Route(WEBHOOK_PATH, _AsgiEndpoint(webhook), methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            metrics.metrics_route(),
        ],
        lifespan=lifespan,
    )


class _AsgiEndpoint:
    """A plain ASGI callable for a `Route` (Starlette wraps bare functions as request handlers)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


app = create_app()


def main(argv: list[str] | None = None) -> None:
    """Serve the receiver alone, with the request deadlines the console's server has."""
    import uvicorn

    from console.serving import install_request_deadlines

    parser = argparse.ArgumentParser(
        prog="python -m console.webhooks", description="Lean's webhook receiver on its own."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--access-log",
        action="store_true",
        help="log every request (off by default: a line per delivery costs the hot path; "
        "refusals are logged and counted either way, and /metrics counts every delivery)",
    )
    args = parser.parse_args(argv)
    install_request_deadlines()
    uvicorn.run(
        "console.webhooks:app",
        host=args.host,
        port=args.port,
        http="httptools",
        access_log=args.access_log,
    )


if __name__ == "__main__":
    main()
