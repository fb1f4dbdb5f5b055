"""HTTP serving limits uvicorn does not have: a deadline on reading a request's headers.

uvicorn closes idle keep-alive connections, but once a request's first byte has arrived it
waits for the rest of the headers for as long as the sender likes (slowloris). Lean waits 10 s
for an answer, so a request whose headers take longer is not Lean's: the connection is closed.
The body's deadline is the webhook receiver's own (it knows which routes take bodies).

`streamlit run server.py` hands uvicorn an import string, so uvicorn has picked its protocol
class before our code is imported; the deadline is therefore installed on uvicorn's httptools
protocol class itself (`install_header_deadline`), once per process.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADER_TIMEOUT_SECONDS = 10.0
# Request line and headers together; far above any browser's or Lean's.
MAX_HEADER_BYTES = 64 * 1024


def install_header_deadline(protocol: type[HttpToolsProtocol] = HttpToolsProtocol) -> None:
    """Give every request served by `protocol` a deadline and a size cap on its headers."""
    if getattr(protocol, "_header_deadline_installed", False):
        return
    connection_made = protocol.connection_made
    connection_lost = protocol.connection_lost
    data_received = protocol.data_received
    on_message_begin = protocol.on_message_begin
    on_headers_complete = protocol.on_headers_complete

    def arm(self: Any) -> None:
        disarm(self)
        self._header_bytes = 0
        self._header_deadline = self.loop.call_later(
            protocol.header_timeout,  # type: ignore[attr-defined]
            headers_too_slow,
            self,
        )

    def disarm(self: Any) -> None:
        handle: asyncio.TimerHandle | None = getattr(self, "_header_deadline", None)
        if handle is not None:
            handle.cancel()
        self._header_deadline = None

    def headers_too_slow(self: Any) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def patched_connection_made(self: Any, transport: asyncio.Transport) -> None:
        connection_made(self, transport)
        arm(self)

    def patched_connection_lost(self: Any, exc: Exception | None) -> None:
        disarm(self)
        connection_lost(self, exc)

    def patched_data_received(self: Any, data: bytes) -> None:
        if getattr(self, "_header_deadline", None) is not None:
            self._header_bytes += len(data)
            if self._header_bytes > protocol.max_header_bytes:  # type: ignore[attr-defined]
                disarm(self)
                self.send_400_response("Request headers too large.")
                return
        data_received(self, data)

    def patched_on_message_begin(self: Any) -> None:
        # A further request on a kept-alive connection gets its own deadline.
        if getattr(self, "_header_deadline", None) is None:
            arm(self)
        on_message_begin(self)

    def patched_on_headers_complete(self: Any) -> None:
        # Headers are in (a WebSocket upgrade passes here too): the clock stops.
        disarm(self)
        on_headers_complete(self)

    protocol.header_timeout = HEADER_TIMEOUT_SECONDS  # type: ignore[attr-defined]
    protocol.max_header_bytes = MAX_HEADER_BYTES  # type: ignore[attr-defined]
    protocol.connection_made = patched_connection_made  # type: ignore[method-assign]
    protocol.connection_lost = patched_connection_lost  # type: ignore[method-assign]
    protocol.data_received = patched_data_received  # type: ignore[method-assign]
    protocol.on_message_begin = patched_on_message_begin  # type: ignore[method-assign]
    protocol.on_headers_complete = patched_on_headers_complete  # type: ignore[method-assign]
    protocol._header_deadline_installed = True  # type: ignore[attr-defined]
