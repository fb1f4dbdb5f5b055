"""One process: the Streamlit UI, `POST /webhooks/lean`, `GET /healthz`, and (without Lean
credentials) the embedded sandbox with its webhook feed.

`streamlit run server.py` (what `make run` does) or `uvicorn server:app`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import streamlit as st
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send
from streamlit import config as streamlit_config
from streamlit.runtime.pages_manager import PagesManager

from console.access import REFUSE
from console.book import start_book_service
from console.events import ensure_search_indexer
from console.health import health_response
from console.log_masking import install as install_log_masking
from console.metrics import metrics_route
from console.runtime import Backend, embedded_sandbox, get_backend, get_receiver, get_store
from console.serving import freeze_start_up_heap, install_request_deadlines
from console.store import StoreUnavailable
from console.ui_access import current_mode
from console.webhooks import MISCONFIGURED, WEBHOOK_PATH, Answer, WebhookReceiver
from lean_api.errors import LeanError

log = logging.getLogger("server")
# Every log line of the process, whoever writes it, with IBANs, card numbers, national IDs,
# e-mail addresses and phone numbers masked (console/log_masking.py).
install_log_masking()

# `pages/` holds our screens, but Streamlit treats a `pages/` folder beside the main script as a
# legacy (v1) multipage app until some session calls st.navigation: the first visitor after a
# restart would get pages run without app.py (no navigation, no sidebar). app.py always uses
# st.navigation, so the legacy mode is switched off before any session starts.
PagesManager.uses_pages_directory = False

# A deadline on reading request headers (see console/serving.py), so a slow sender cannot hold
# a connection of the server the operators' screens share.
install_request_deadlines()

BACKFILL_KEY = "sandbox_backfill_seed"


# Resolved once (settings, .env, store URL) rather than on every delivery. Resolving touches no
# database; a configuration error is kept and answered (503, /healthz down, every page says it)
# until the process is restarted with a fixed configuration.
_receiver: WebhookReceiver | None = None
_configuration_problem: str | None = None
_resolving: asyncio.Task[None] | None = None


async def resolve_receiver(wait: float | None = None) -> WebhookReceiver | None:
    """The process's receiver, or None (with `_configuration_problem` set) when misconfigured.

    Resolving starts the embedded sandbox on first use; `wait` bounds how long a caller that
    must answer quickly (/healthz) waits for that.
    """
    global _resolving
    if _receiver is None and _configuration_problem is None:
        if _resolving is None:
            _resolving = asyncio.ensure_future(_resolve())
        try:
            await asyncio.wait_for(asyncio.shield(_resolving), wait)
        except TimeoutError:
            return None
    return _receiver


async def _resolve() -> None:
    global _receiver, _configuration_problem
    try:
        _receiver = await anyio.to_thread.run_sync(get_receiver)
    except (LeanError, StoreUnavailable) as exc:
        _configuration_problem = str(exc)
        log.error("webhook receiver cannot start: %s", exc)


async def webhook(request: Request) -> Response:
    """Lean's webhooks (or the embedded sandbox's)."""
    receiver = await resolve_receiver()
    if receiver is None:
        return JSONResponse(
            {"error": "the webhook receiver is misconfigured; retry later"},
            status_code=503,
            headers={"Retry-After": "60"},
        )
    return await receiver.handle(request)


class WebhookFastPath:
    """`POST /webhooks/lean` straight to the receiver, ahead of Streamlit's session, path
    security and gzip middleware: the receiver needs none of them, and under load they cost
    the event loop a share the screens want (see the README's performance section). Every
    other request, the webhook path's other methods included, goes the usual way."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == WEBHOOK_PATH:
            if scope["method"] != "POST":
                # Not the screens' page: Lean only ever posts here.
                await ONLY_POST.send(send)
                return
            # The receiver is an ASGI app itself: no Request or Response objects on this path.
            receiver = _receiver or await resolve_receiver()
            if receiver is None:
                await MISCONFIGURED.send(send)
                return
            await receiver(scope, receive, send)
            return
        await self.app(scope, receive, send)


ONLY_POST = Answer.json(
    405, {"error": f"only POST: Lean posts its webhooks to {WEBHOOK_PATH}"}, ((b"allow", b"POST"),)
)


async def healthz(_: Request) -> JSONResponse:
    """Up or down for load balancers and monitors; the details are on the Overview page."""
    receiver = await resolve_receiver(wait=0.5)
    if receiver is None and _configuration_problem is None:
        return JSONResponse({"status": "down", "failing": ["starting"]}, status_code=503)
    return await health_response(receiver, configuration_problem=_configuration_problem)


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
    raw_interval = os.environ.get("LEAN_SANDBOX_WEBHOOK_INTERVAL", "4")
    try:
        interval = float(raw_interval)
    except ValueError:
        log.error("LEAN_SANDBOX_WEBHOOK_INTERVAL=%r is not a number; using 4 s", raw_interval[:20])
        interval = 4.0
    if interval > 0:
        emitter.live(interval=interval)


def announce(backend: Backend) -> None:
    """Say where everything listens, on the terminal `make run` was started from."""
    port = streamlit_config.get_option("server.port")
    lines = [f"Lean Ops Console: http://localhost:{port}  (webhooks: POST {WEBHOOK_PATH})"]
    if backend.environment.kind == "embedded":
        url = backend.environment.api_url
        lines.append(
            f"Embedded Lean sandbox: {url}  (faults: curl -X PUT {url}/_sandbox/faults -d '{{...}}')"
        )
        lines.append(
            "Webhooks are signed with the secret in data/embedded-webhook-secret (python -m console.replay uses it)."
        )
    else:
        lines.append(f"Lean: {backend.environment.label} at {backend.environment.api_url}")
    for line in lines:
        print(line, file=sys.stderr, flush=True)


@asynccontextmanager
async def lifespan(_app: Any) -> AsyncIterator[None]:
    """Resolve the Lean backend and the receiver before the first request; start the sandbox feed."""
    try:
        backend = await anyio.to_thread.run_sync(get_backend)
    except LeanError as exc:
        print(
            f"Lean configuration is invalid: {exc} (every page says so)",
            file=sys.stderr,
            flush=True,
        )
    else:
        receiver = await resolve_receiver()
        if receiver is not None:
            receiver.rejections.start()  # retention prunes even while nothing is refused
            receiver.writer.start()  # its statements compiled before the first delivery
        announce(backend)
        # The book index: webhooks applied in the background, a sync with Lean every 6 h (at once
        # in embedded mode, whose seed dates move with the day it starts).
        try:
            start_book_service(
                get_store(), backend.settings, embedded=backend.environment.kind == "embedded"
            )
        except StoreUnavailable as exc:
            log.error("book index not started: %s", exc)
        # The inbox's text index follows the stored events a few seconds behind, whether or not
        # anyone opens the inbox (it waits out an unavailable store on its own).
        try:
            ensure_search_indexer(get_store())
        except StoreUnavailable as exc:
            log.error("text index not started: %s", exc)
        if backend.environment.kind == "embedded":
            try:
                await anyio.to_thread.run_sync(start_sandbox_webhooks)
            except StoreUnavailable as exc:
                log.error("sandbox back-fill not started: the event store is unavailable (%s)", exc)
    # The screens' libraries are imported by the first page view; imported now, they are
    # frozen with the rest of start-up.
    await anyio.to_thread.run_sync(_import_screen_libraries)
    freeze_start_up_heap()
    yield


def _import_screen_libraries() -> None:
    import pandas  # noqa: F401
    import plotly.graph_objects  # noqa: F401


def refuse_without_sign_in() -> None:
    """Real customer data behind no sign-in: do not serve at all, and say how to fix it."""
    if current_mode() == REFUSE:
        print(
            "Refusing to start: Lean credentials are set but no sign-in is configured. Add an "
            "[auth] section to .streamlit/secrets.toml (see the README), or set "
            "CONSOLE_BEHIND_SIGN_IN=true if a sign-in proxy already guards the console.",
            file=sys.stderr,
            flush=True,
        )
        raise SystemExit(2)


refuse_without_sign_in()
app = st.App(
    "app.py",
    routes=[
        Route(WEBHOOK_PATH, webhook, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        # Loopback or bearer token only (console/metrics.py); a route, so no Streamlit sign-in.
        metrics_route(),
    ],
    middleware=[Middleware(WebhookFastPath)],
    lifespan=lifespan,
)

if __name__ == "__main__":
    app.run()
