"""HTTP serving limits uvicorn does not have: deadlines on reading a request.

uvicorn closes idle keep-alive connections, but once a request's first byte has arrived it
waits for the rest of the headers, and of the body, for as long as the sender likes (slowloris).
Lean waits 10 s for an answer, so a request that takes longer to arrive is not Lean's:

- the request line and headers must arrive within 10 s and stay under 64 KiB;
- the body must arrive within 12 s of the headers (the webhook receiver answers 408 at 10 s
  itself; the protocol's limit closes whatever is still trickling in after that, on any route).

Either limit closes the connection. WebSocket upgrades (Streamlit's own channel) and file
uploads are exempt from the body limit.

`streamlit run server.py` hands uvicorn an import string, so uvicorn has picked its protocol
class before our code is imported; the limits are therefore installed on uvicorn's httptools
protocol class itself (`install_request_deadlines`), once per process.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADER_TIMEOUT_SECONDS = 10.0
BODY_TIMEOUT_SECONDS = 12.0
# Request line and headers together; far above any browser's or Lean's.
MAX_HEADER_BYTES = 64 * 1024
# Streamlit's file uploads may legitimately take longer than a webhook.
EXEMPT_PATH_PREFIXES = ("/_stcore/upload_file",)
_END_OF_HEADERS = b"\r\n\r\n"


def install_request_deadlines(protocol: type[HttpToolsProtocol] = HttpToolsProtocol) -> None:
    """Give every request served by `protocol` a deadline on its headers and on its body."""
    if getattr(protocol, "_request_deadlines_installed", False):
        return
    connection_made = protocol.connection_made
    connection_lost = protocol.connection_lost
    data_received = protocol.data_received
    on_message_begin = protocol.on_message_begin
    on_headers_complete = protocol.on_headers_complete
    on_message_complete = protocol.on_message_complete

    def arm(self: Any, seconds: float, *, reading_headers: bool) -> None:
        disarm(self)
        self._reading_headers = reading_headers
        self._header_bytes = 0
        self._header_tail = b""
        self._read_deadline = self.loop.call_later(seconds, too_slow, self)

    def disarm(self: Any) -> None:
        handle: asyncio.TimerHandle | None = getattr(self, "_read_deadline", None)
        if handle is not None:
            handle.cancel()
        self._read_deadline = None
        self._reading_headers = False

    def too_slow(self: Any) -> None:
        self._read_deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def patched_connection_made(self: Any, transport: asyncio.Transport) -> None:
        connection_made(self, transport)
        arm(self, protocol.header_timeout, reading_headers=True)  # type: ignore[attr-defined]

    def patched_connection_lost(self: Any, exc: Exception | None) -> None:
        disarm(self)
        connection_lost(self, exc)

    def patched_data_received(self: Any, data: bytes) -> None:
        if getattr(self, "_reading_headers", False):
            # Count header bytes only: a body sent in the same packet is not a header.
            window = self._header_tail + data
            end = window.find(_END_OF_HEADERS)
            if end == -1:
                self._header_bytes += len(data)
                self._header_tail = window[-3:]
            else:
                self._header_bytes += max(0, end + len(_END_OF_HEADERS) - len(self._header_tail))
                self._reading_headers = False
            if self._header_bytes > protocol.max_header_bytes:  # type: ignore[attr-defined]
                disarm(self)
                self.send_400_response("Request headers too large.")
                return
        data_received(self, data)

    def patched_on_message_begin(self: Any) -> None:
        # A further request on a kept-alive connection gets its own header deadline.
        if getattr(self, "_read_deadline", None) is None:
            arm(self, protocol.header_timeout, reading_headers=True)  # type: ignore[attr-defined]
        on_message_begin(self)

    def patched_on_headers_complete(self: Any) -> None:
        upgrade = self.parser.should_upgrade()
        path = self.url.split(b"?", 1)[0].decode("latin-1")
        if upgrade or path.startswith(EXEMPT_PATH_PREFIXES):
            disarm(self)
        else:
            arm(self, protocol.body_timeout, reading_headers=False)  # type: ignore[attr-defined]
        on_headers_complete(self)

    def patched_on_message_complete(self: Any) -> None:
        disarm(self)
        on_message_complete(self)

    protocol.header_timeout = HEADER_TIMEOUT_SECONDS  # type: ignore[attr-defined]
    protocol.body_timeout = BODY_TIMEOUT_SECONDS  # type: ignore[attr-defined]
    protocol.max_header_bytes = MAX_HEADER_BYTES  # type: ignore[attr-defined]
    protocol.connection_made = patched_connection_made  # type: ignore[method-assign]
    protocol.connection_lost = patched_connection_lost  # type: ignore[method-assign]
    protocol.data_received = patched_data_received  # type: ignore[method-assign]
    protocol.on_message_begin = patched_on_message_begin  # type: ignore[method-assign]
    protocol.on_headers_complete = patched_on_headers_complete  # type: ignore[method-assign]
    protocol.on_message_complete = patched_on_message_complete  # type: ignore[method-assign]
    protocol._request_deadlines_installed = True  # type: ignore[attr-defined]


def freeze_start_up_heap() -> None:
    """Put what start-up allocated (modules, settings, compiled statements: hundreds of
    thousands of objects) out of the cyclic garbage collector's sight, once start-up is over.

    Python's full collections walk every tracked object; under webhook load one came every few
    seconds and stopped the event loop 120–160 ms each time, the whole p99 of the receiver
    alone. After `gc.freeze()` a full collection walks only what was allocated since. Garbage
    among the frozen objects is never collected: start-up's objects live as long as the process.
    Once per process (a later call, from another app's start-up in the same process, does
    nothing).
    """
    global _frozen
    if _frozen:
        return
    _frozen = True
    gc.collect()
    gc.freeze()


_frozen = False
