"""Small Streamlit pieces every screen shares: messages, the environment badge, the backend."""

from __future__ import annotations

import streamlit as st

from console.messages import OperatorMessage, describe_error
from console.runtime import Backend, get_backend
from lean_api.errors import LeanError

_SEVERITY = {"error": st.error, "warning": st.warning, "info": st.info}
_BADGE = {
    "embedded": (":material/science:", "violet"),
    "sandbox": (":material/science:", "orange"),
    "production": (":material/lock:", "red"),
}


def show_message(message: OperatorMessage) -> None:
    """Render an operator message: what happened, what to do, and the escalation reference."""
    body = f"**{message.headline}**  \n{message.action}"
    if message.reference:
        body += f"  \n`{message.reference}`"
    _SEVERITY[message.severity](body)


def show_error(exc: Exception, subject: str = "record", *, changes_state: bool = False) -> None:
    """Render any exception as an operator message."""
    show_message(describe_error(exc, subject, changes_state=changes_state))


def backend_or_stop() -> Backend:
    """The configured backend; on a configuration error, say so and stop the page."""
    try:
        return get_backend()
    except LeanError as exc:
        show_error(exc)
        st.stop()
        raise  # unreachable: st.stop() ends the script run


def environment_badge(backend: Backend) -> None:
    """The sidebar's statement of which Lean this console is talking to."""
    icon, color = _BADGE[backend.environment.kind]
    st.badge(backend.environment.label, icon=icon, color=color)
    st.caption(f"API: `{backend.environment.api_url}`")
    if backend.environment.kind == "embedded":
        st.caption("No LEAN_CLIENT_ID configured: seeded, local data. Nothing reaches Lean.")
