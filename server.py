"""One process: the Streamlit UI, `POST /webhooks/lean`, `GET /healthz`, and (without Lean
credentials) the embedded sandbox with its webhook feed.

`streamlit run server.py` (what `make run` does) or `uvicorn server:app`.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import streamlit as st
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from streamlit import config as streamlit_config
from streamlit.runtime.pages_manager import PagesManager

from console.runtime import embedded_sandbox, get_backend, get_receiver, get_store
from console.store import StoreUnavailable
from console.webhooks import WEBHOOK_PATH, WebhookReceiver, unavailable_response
from lean_api.errors import LeanError

log = logging.getLogger("server")

# `pages/` holds our screens, but Streamlit treats a `pages/` folder beside the main script as a
# legacy (v1) multipage app until some session calls st.navigation: the first visitor after a
# restart would get pages run without app.py (no navigation, no sidebar). app.py always uses
# st.navigation, so the legacy mode is switched off before any session starts.
PagesManager.uses_pages_directory = False

BACKFILL_KEY = "sandbox_backfill_seed"


# Resolved once (settings, .env, store) rather than on every delivery; until it resolves, e.g.
# while the database is down at start-up, each delivery tries again and gets 503 meanwhile.
_receiver: WebhookReceiver | None = None


async def webhook(request: Request) -> Response:
    """Lean's webhooks (or the embedded sandbox's)."""
    global _receiver
    if _receiver is None:
        try:
            _receiver = await anyio.to_thread.run_sync(get_receiver)
        except StoreUnavailable:
            return unavailable_response()
    return await _receiver.handle(request)


async def healthz(_: Request) -> JSONResponse:
    """Whether the event store answers and Lean (or the embedded sandbox) issues a token."""
    checks: dict[str, Any] = {}
    try:
        store = await anyio.to_thread.run_sync(get_store)
        await anyio.to_thread.run_sync(store.ping)
        checks["store"] = {"ok": True, "dialect": store.dialect}
    except Exception as exc:  # any failure of the store is a failed check, whatever its type
        checks["store"] = {"ok": False, "error": type(exc).__name__, "detail": str(exc)[:200]}
    try:
        backend = await anyio.to_thread.run_sync(get_backend)
        await anyio.to_thread.run_sync(backend.client.tokens.token)
        checks["lean"] = {"ok": True, "environment": backend.environment.kind}
    except LeanError as exc:
        checks["lean"] = {"ok": False, "error": type(exc).__name__, "detail": str(exc)[:200]}
    healthy = all(check["ok"] for check in checks.values())
    return JSONResponse({"ok": healthy, "checks": checks}, status_code=200 if healthy else 503)


def start_sandbox_webhooks() -> None:
    """Embedded mode: the sandbox posts signed webhooks to this very server, like Lean would."""
    from sandbox.webhooks import WebhookEmitter

    backend = get_backend()
    store = get_store()
    sandbox = embedded_sandbox()
    port = streamlit_config.get_option("server.port")
    secret = backend.settings.webhook_secret
    emitter = WebhookEmitter(
        sandbox.state,
        f"http://127.0.0.1:{port}{WEBHOOK_PATH}",
        secret.get_secret_value() if secret else None,
    ).start()
    seed = str(sandbox.config.seed)
    if store.get_meta(BACKFILL_KEY) != seed:
        sent = emitter.backfill(days=30)
        log.info("sandbox back-filling %d webhook events (30 days)", sent)

        def mark_done() -> None:
            if emitter.wait_idle(timeout=600):
                store.set_meta(BACKFILL_KEY, seed)

        threading.Thread(target=mark_done, name="backfill-watch", daemon=True).start()
    interval = float(os.environ.get("LEAN_SANDBOX_WEBHOOK_INTERVAL", "4"))
    if interval > 0:
        emitter.live(interval=interval)


@asynccontextmanager
async def lifespan(_app: Any) -> AsyncIterator[None]:
    """Open the store and the Lean backend before the first request; start the sandbox feed."""
    try:
        backend = await anyio.to_thread.run_sync(get_backend)
        await anyio.to_thread.run_sync(get_receiver)
        log.info(
            "console talking to %s at %s", backend.environment.label, backend.environment.api_url
        )
        if backend.environment.kind == "embedded":
            await anyio.to_thread.run_sync(start_sandbox_webhooks)
    except LeanError:
        log.exception("Lean configuration is invalid; pages will say why")
    except StoreUnavailable:
        log.exception("the event store is unavailable; /healthz and the webhook endpoint say so")
    yield


app = st.App(
    "app.py",
    routes=[
        Route(WEBHOOK_PATH, webhook, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ],
    lifespan=lifespan,
)

if __name__ == "__main__":
    app.run()
