"""Health: the public `/healthz` (up or down, and which check failed, nothing more) and the
details the console's own pages show to signed-in staff.

`/healthz` answers within a second whatever the database is doing: the store is pinged in a
worker thread with a deadline, and concurrent probes share one ping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.responses import JSONResponse

from console.store import StoreUnavailable
from lean_api.errors import LeanError

if TYPE_CHECKING:
    from console.webhooks import WebhookReceiver

PING_TIMEOUT_SECONDS = 0.8


async def health_response(
    receiver: WebhookReceiver | None, *, configuration_problem: str | None = None
) -> JSONResponse:
    """`{"status": "up"}` (200) or `{"status": "down", "failing": [...]}` (503).

    Failing checks are named (`configuration`, `webhook_secret`, `store`) without detail: hosts,
    ports and error texts are for the console's pages, not for anyone who can reach the port.
    """
    failing: list[str] = []
    if configuration_problem or receiver is None or receiver.config.problem:
        failing.append("configuration")
    if receiver is not None:
        if receiver.config.refuses_unsigned_for_want_of_secret:
            failing.append("webhook_secret")
        try:
            await receiver.ping_store(PING_TIMEOUT_SECONDS)
        except StoreUnavailable:
            failing.append("store")
        else:
            if receiver.writer.failing:
                failing.append("store")  # it answers reads but refuses writes (locked, full)
    if failing:
        return JSONResponse({"status": "down", "failing": failing}, status_code=503)
    return JSONResponse({"status": "up"})


@dataclass(frozen=True)
class HealthCheck:
    """One line of the console's own health panel."""

    name: str
    ok: bool
    detail: str


def console_health(
    receiver: WebhookReceiver | None, lean_check: Callable[[], None] | None
) -> list[HealthCheck]:
    """The details behind `/healthz`, for the console's pages (run from a page's thread)."""
    checks: list[HealthCheck] = []
    if receiver is None:
        checks.append(HealthCheck("Webhook receiver", False, "not configured (see above)"))
    else:
        config = receiver.config
        if config.problem:
            checks.append(HealthCheck("Webhook receiver", False, config.problem))
        if config.secret:
            checks.append(
                HealthCheck("Webhook signatures", True, "verified with LEAN_WEBHOOK_SECRET")
            )
        elif config.allow_unsigned:
            checks.append(
                HealthCheck(
                    "Webhook signatures",
                    False,
                    "LEAN_WEBHOOK_ALLOW_UNSIGNED is on: unsigned webhooks are stored unverified",
                )
            )
        else:
            checks.append(
                HealthCheck(
                    "Webhook signatures",
                    False,
                    "LEAN_WEBHOOK_SECRET is missing: every webhook is refused with 401",
                )
            )
        started = time.monotonic()
        try:
            receiver.store.ping()
        except StoreUnavailable as exc:
            checks.append(HealthCheck("Event store", False, f"{receiver.store.dialect}: {exc}"))
        else:
            elapsed_ms = (time.monotonic() - started) * 1000
            checks.append(
                HealthCheck(
                    "Event store",
                    True,
                    f"{receiver.store.dialect}, answered in {elapsed_ms:.0f} ms",
                )
            )
        if receiver.rejections.dropped:
            checks.append(
                HealthCheck(
                    "Rejection log",
                    False,
                    f"{receiver.rejections.dropped:,} rejections could not be recorded",
                )
            )
    if lean_check is not None:
        try:
            lean_check()
        except LeanError as exc:
            checks.append(HealthCheck("Lean", False, f"{type(exc).__name__}: {exc}"))
        else:
            checks.append(HealthCheck("Lean", True, "issues API tokens"))
    return checks
