"""One process: the Streamlit UI plus HTTP routes (`/healthz`; the webhook receiver joins here).

`streamlit run server.py` (what `make run` does) or `uvicorn server:app`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import streamlit as st
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from streamlit.runtime.pages_manager import PagesManager

from console.runtime import get_backend
from lean_api.errors import LeanError

log = logging.getLogger("server")

# `pages/` holds our screens, but Streamlit treats a `pages/` folder beside the main script as a
# legacy (v1) multipage app until some session calls st.navigation: the first visitor after a
# restart would get pages run without app.py (no navigation, no sidebar). app.py always uses
# st.navigation, so the legacy mode is switched off before any session starts.
PagesManager.uses_pages_directory = False


async def healthz(_: Request) -> JSONResponse:
    """Liveness plus whether Lean (or the embedded sandbox) answers with a token."""
    checks: dict[str, Any] = {}
    healthy = True
    try:
        backend = await anyio.to_thread.run_sync(get_backend)
        await anyio.to_thread.run_sync(backend.client.tokens.token)
        checks["lean"] = {"ok": True, "environment": backend.environment.kind}
    except LeanError as exc:
        healthy = False
        checks["lean"] = {"ok": False, "error": type(exc).__name__, "detail": str(exc)[:200]}
    return JSONResponse({"ok": healthy, "checks": checks}, status_code=200 if healthy else 503)


@asynccontextmanager
async def lifespan(_app: Any) -> AsyncIterator[None]:
    """Start the embedded sandbox (when there are no credentials) before the first page loads."""
    try:
        backend = await anyio.to_thread.run_sync(get_backend)
        log.info(
            "console talking to %s at %s", backend.environment.label, backend.environment.api_url
        )
    except LeanError:
        log.exception("Lean configuration is invalid; pages will say why")
    yield


app = st.App("app.py", routes=[Route("/healthz", healthz, methods=["GET"])], lifespan=lifespan)

if __name__ == "__main__":
    app.run()
