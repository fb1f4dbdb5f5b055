"""The webhook receiver: `POST /webhooks/lean`.

Served inside the console by `server.py`, or alone (the public endpoint in a real deployment)
with `python -m console.webhooks --port 8080`, against the same database.

Order of checks, cheapest and safest first: configuration → source address → signature
required? → size → body read within a deadline → signature on the raw bytes → JSON → durable
write. Nothing is answered 200 before its event is committed, and every answer is deliberate:

    200  stored (or a duplicate, counted)
    400  unreadable body, kept as a dead letter        401  missing or wrong signature
    403  source address not allowed                      408  body not received in time
    413  body too large                                  503  store unavailable, retry later

The event loop only waits: every database call runs in a worker thread with a deadline, and
rejections are logged by a background thread that never holds up an answer.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import anyio
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from console.store import EventRecord, EventStore, EventWriter, StoreUnavailable, clean_text
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
        `LEAN_WEBHOOK_MAX_BATCH`. A bad value becomes `problem`.
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


def client_address(request: Request) -> str | None:
    """The peer's address; IPv4 clients of a dual-stack socket are shown as plain IPv4."""
    host = request.client.host if request.client else None
    try:
        ip = ipaddress.ip_address(host or "")
    except ValueError:
        return host
    mapped = getattr(ip, "ipv4_mapped", None)
    return str(mapped or ip)


class RejectionLog:
    """Records refused deliveries from a background thread, so refusing never waits on the
    database. Bounded: when the database cannot keep up, further rejections are counted and
    dropped rather than queued without end."""

    def __init__(self, store: EventStore, *, capacity: int = 10_000) -> None:
        self.store = store
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=capacity)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.dropped = 0

    def add(self, **rejection: Any) -> None:
        """Queue one rejection; never blocks."""
        try:
            self._queue.put_nowait(rejection)
        except queue.Full:
            self.dropped += 1
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="rejection-log", daemon=True)
                self._thread.start()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until every queued rejection was written (tests, tools)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < 500:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self.store.record_rejections(batch)
            except Exception as exc:  # the log must outlive any database trouble
                self.dropped += len(batch)
                log.error("could not record %d webhook rejection(s): %s", len(batch), exc)
            finally:
                for _ in batch:
                    self._queue.task_done()


class WebhookReceiver:
    """Verifies, parses and stores Lean's webhooks."""

    def __init__(self, store: EventStore, config: ReceiverConfig) -> None:
        self.store = store
        self.config = config
        self.writer = EventWriter(store, max_batch=config.max_batch)
        self.rejections = RejectionLog(store)
        # Store calls other than the event writer's: few, so a hung database cannot take every
        # worker thread of the server.
        self._store_threads = anyio.CapacityLimiter(4)
        self._buffered = 0
        self._ping: asyncio.Future[None] | None = None
        if config.problem:
            log.error("webhook receiver misconfigured: %s", config.problem)
        elif config.refuses_unsigned_for_want_of_secret:
            log.error(
                "LEAN_WEBHOOK_SECRET is not set: every webhook is refused with 401 "
                "(set LEAN_WEBHOOK_ALLOW_UNSIGNED=true to accept unsigned ones in development)"
            )
        elif not config.secret:
            log.warning("LEAN_WEBHOOK_ALLOW_UNSIGNED is on: webhooks are stored unverified")

    async def handle(self, request: Request) -> JSONResponse:
        """The `POST /webhooks/lean` endpoint."""
        received_at = datetime.now(UTC)
        source_ip = client_address(request)
        signature = request.headers.get(SIGNATURE_HEADER)

        if self.config.problem:
            return JSONResponse(
                {"error": "the webhook receiver is misconfigured; retry later"},
                status_code=503,
                headers={"Retry-After": "60"},
            )
        if not self.config.allows(source_ip):
            return self._reject(
                403, "source address not in LEAN_WEBHOOK_ALLOWED_IPS", source_ip, 0, signature
            )
        if self.config.refuses_unsigned_for_want_of_secret:
            return self._reject(
                401,
                "LEAN_WEBHOOK_SECRET is not configured: deliveries cannot be verified",
                source_ip,
                _declared_length(request) or 0,
                signature,
            )
        try:
            body = await self._read_body(request)
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
            return JSONResponse(
                {"error": "receiver busy, retry later"},
                status_code=503,
                headers={"Retry-After": "5"},
            )
        except ClientDisconnect:
            return JSONResponse({"error": "client disconnected"}, status_code=400)

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
                return unavailable_response()
            return JSONResponse({"error": f"malformed webhook: {exc.reason}"}, status_code=400)

        record = EventRecord(
            event_id=event.event_id,
            type=event.type,
            message=event.message,
            lean_timestamp=event.timestamp,
            lean_timestamp_ns=event.timestamp_nanos,
            received_at=received_at,
            verified=verified,
            source_ip=source_ip,
            payload=body.decode("utf-8"),
            size=len(body),
            **event.index_fields(),
        )
        try:
            result = await self.writer.write(record, timeout=self.config.store_timeout)
        except StoreUnavailable as exc:
            log.error("webhook %r not stored: %s", event.event_id[:80], exc)
            return unavailable_response()
        if result.dead_letter_reason:
            return JSONResponse(
                {"error": f"kept as a dead letter: {result.dead_letter_reason}"}, status_code=400
            )
        return JSONResponse(
            {
                "status": "duplicate" if result.duplicate else "stored",
                "event_id": result.event_id,
                "deliveries": result.delivery_count,
            }
        )

    async def _read_body(self, request: Request) -> bytes:
        declared = _declared_length(request)
        if declared is not None and declared > self.config.max_body_bytes:
            raise BodyTooLarge(declared)
        chunks: list[bytes] = []
        size = 0
        try:
            with anyio.fail_after(self.config.read_timeout):
                async for chunk in request.stream():
                    size += len(chunk)
                    self._buffered += len(chunk)
                    if size > self.config.max_body_bytes:
                        raise BodyTooLarge(size)
                    if self._buffered > self.config.max_buffered_bytes:
                        raise ReceiverBusy()
                    chunks.append(chunk)
        finally:
            self._buffered -= size
        return b"".join(chunks)

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
    ) -> JSONResponse:
        log.warning("webhook rejected (%d) from %s: %s", status, source_ip, reason)
        self.rejections.add(
            received_at=datetime.now(UTC),
            source_ip=source_ip,
            status_code=status,
            reason=reason,
            size=size,
            signature=clean_text(signature),
            **{key: clean_text(value) for key, value in (claims or {}).items()},
        )
        # A body still arriving (too large, too slow) is not read further: the connection closes.
        headers = {"Connection": "close"} if close else None
        return JSONResponse({"error": reason}, status_code=status, headers=headers)

    def route(self) -> Route:
        """The Starlette route to mount."""
        return Route(WEBHOOK_PATH, self.handle, methods=["POST"])


def _declared_length(request: Request) -> int | None:
    """The Content-Length the sender declared, if it is a plain number."""
    declared = request.headers.get("content-length", "").strip()
    if declared.isascii() and declared.isdigit():
        # A length beyond any body we accept is only ever compared, never stored as is.
        return min(int(declared[:20]), 2**62)
    return None


def unavailable_response() -> JSONResponse:
    """503 with Retry-After: the event was not stored, Lean should deliver it again."""
    # 503 makes Lean retry on its schedule; nothing was stored, so nothing is duplicated.
    return JSONResponse(
        {"error": "event store unavailable, retry later"},
        status_code=503,
        headers={"Retry-After": "30"},
    )


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

    holder: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        holder["receiver"] = receiver or receiver_from_env()
        try:
            await anyio.to_thread.run_sync(holder["receiver"].store.migrate)
        except StoreUnavailable:
            # Start anyway: deliveries get 503 (Lean retries) until the database is back.
            log.exception("event store unavailable at start-up")
        yield

    async def webhook(request: Request) -> JSONResponse:
        return await holder["receiver"].handle(request)

    async def healthz(_: Request) -> JSONResponse:
        return await health_response(holder["receiver"])

    return Starlette(
        routes=[
            Route(WEBHOOK_PATH, webhook, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


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
    args = parser.parse_args(argv)
    install_request_deadlines()
    uvicorn.run("console.webhooks:app", host=args.host, port=args.port, http="httptools")


if __name__ == "__main__":
    main()
