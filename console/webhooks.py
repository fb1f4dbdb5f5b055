"""The webhook receiver: `POST /webhooks/lean`.

Served inside the console by `server.py`, or alone (the public endpoint in a real deployment)
with `uvicorn console.webhooks:app`, against the same database.

Order of checks, cheapest and safest first: source address → size → signature on the raw bytes
→ JSON → durable write. Nothing is answered 200 before its event is committed.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from console.store import EventRecord, EventStore, EventWriter, StoreUnavailable
from lean_api.webhooks import (
    SIGNATURE_HEADER,
    SignatureVerificationError,
    WebhookPayloadError,
    parse_event,
    verify_signature,
)

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
WEBHOOK_PATH = "/webhooks/lean"


class BodyTooLarge(Exception):
    """The body is over the limit."""


@dataclass
class ReceiverConfig:
    """Who may post, and with which secret."""

    secret: str | None = None
    allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    max_body_bytes: int = MAX_BODY_BYTES
    # Deliveries that may share one commit; 1 means a commit per request (for comparison only).
    max_batch: int = 256

    def __repr__(self) -> str:
        return f"ReceiverConfig(secret={'set' if self.secret else 'unset'}, allowed_networks={self.allowed_networks})"

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
                        f"LEAN_WEBHOOK_ALLOWED_IPS has an invalid entry: {part!r}"
                    ) from None
        return tuple(networks)

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


class WebhookReceiver:
    """Verifies, parses and stores Lean's webhooks."""

    def __init__(self, store: EventStore, config: ReceiverConfig) -> None:
        self.store = store
        self.config = config
        self.writer = EventWriter(store, max_batch=config.max_batch)
        if not config.secret:
            log.warning("LEAN_WEBHOOK_SECRET is not set: webhooks are stored unverified")

    async def handle(self, request: Request) -> JSONResponse:
        """The `POST /webhooks/lean` endpoint."""
        received_at = datetime.now(UTC)
        source_ip = client_address(request)
        signature = request.headers.get(SIGNATURE_HEADER)

        if not self.config.allows(source_ip):
            return await self._reject(
                403, "source address not in LEAN_WEBHOOK_ALLOWED_IPS", source_ip, 0, signature
            )
        try:
            body = await self._read_body(request)
        except BodyTooLarge as exc:
            return await self._reject(
                413,
                f"body larger than {self.config.max_body_bytes} bytes",
                source_ip,
                int(str(exc) or 0),
                signature,
            )
        except ClientDisconnect:
            return JSONResponse({"error": "client disconnected"}, status_code=400)

        verified = False
        if self.config.secret:
            try:
                verify_signature(body, signature, self.config.secret)
            except SignatureVerificationError as exc:
                return await self._reject(401, exc.reason, source_ip, len(body), signature)
            verified = True

        try:
            event = parse_event(body)
        except WebhookPayloadError as exc:
            try:
                self.store.record_dead_letter(
                    source_ip=source_ip,
                    reason=exc.reason,
                    verified=verified,
                    body=body,
                    received_at=received_at,
                )
            except StoreUnavailable:
                return unavailable_response()
            return JSONResponse({"error": f"malformed webhook: {exc.reason}"}, status_code=400)

        record = EventRecord(
            event_id=event.event_id,
            type=event.type,
            message=event.message,
            lean_timestamp=event.timestamp,
            received_at=received_at,
            verified=verified,
            source_ip=source_ip,
            payload=body.decode("utf-8", "replace"),
            size=len(body),
            **event.index_fields(),
        )
        try:
            result = await self.writer.write(record)
        except StoreUnavailable as exc:
            log.error("webhook %s not stored: %s", event.event_id, exc)
            return unavailable_response()
        return JSONResponse(
            {
                "status": "duplicate" if result.duplicate else "stored",
                "event_id": result.event_id,
                "deliveries": result.delivery_count,
            }
        )

    async def _read_body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.config.max_body_bytes:
            raise BodyTooLarge(declared)
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.config.max_body_bytes:
                raise BodyTooLarge(str(size))
            chunks.append(chunk)
        return b"".join(chunks)

    async def _reject(
        self, status: int, reason: str, source_ip: str | None, size: int, signature: str | None
    ) -> JSONResponse:
        log.warning("webhook rejected (%d) from %s: %s", status, source_ip, reason)
        try:
            self.store.record_rejection(
                source_ip=source_ip,
                status_code=status,
                reason=reason,
                size=size,
                signature=signature,
            )
        except StoreUnavailable:
            log.error("could not record a webhook rejection: store unavailable")
        return JSONResponse({"error": reason}, status_code=status)

    def route(self) -> Route:
        """The Starlette route to mount."""
        return Route(WEBHOOK_PATH, self.handle, methods=["POST"])


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
    """A receiver configured from `LEAN_WEBHOOK_SECRET`, `LEAN_WEBHOOK_ALLOWED_IPS`, `DATABASE_URL`."""
    config = ReceiverConfig(
        secret=secret or os.environ.get("LEAN_WEBHOOK_SECRET") or None,
        allowed_networks=ReceiverConfig.parse_networks(os.environ.get("LEAN_WEBHOOK_ALLOWED_IPS")),
        max_batch=int(os.environ.get("LEAN_WEBHOOK_MAX_BATCH", "256")),
    )
    return WebhookReceiver(store or EventStore(os.environ.get("DATABASE_URL") or None), config)


def create_app(receiver: WebhookReceiver | None = None) -> Starlette:
    """The receiver alone, for `uvicorn console.webhooks:app`."""
    holder: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        holder["receiver"] = receiver or receiver_from_env()
        try:
            holder["receiver"].store.migrate()
        except StoreUnavailable:
            # Start anyway: deliveries get 503 (Lean retries) until the database is back.
            log.exception("event store unavailable at start-up")
        yield

    async def webhook(request: Request) -> JSONResponse:
        return await holder["receiver"].handle(request)

    async def healthz(_: Request) -> JSONResponse:
        try:
            holder["receiver"].store.ping()
        except StoreUnavailable as exc:
            return JSONResponse(
                {"ok": False, "checks": {"store": {"ok": False, "detail": str(exc)[:200]}}},
                status_code=503,
            )
        return JSONResponse({"ok": True, "checks": {"store": {"ok": True}}})

    return Starlette(
        routes=[
            Route(WEBHOOK_PATH, webhook, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


app = create_app()
