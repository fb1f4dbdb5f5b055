"""The console's own health on screen: configuration problems on every page, the webhook
signature state in the sidebar, and the details behind `/healthz` on the Overview."""

from __future__ import annotations

import streamlit as st

from console.health import console_health
from console.runtime import Backend, get_receiver
from console.store import StoreUnavailable
from console.webhooks import WebhookReceiver
from lean_api.errors import LeanError


def receiver_or_none() -> tuple[WebhookReceiver | None, str | None]:
    """The webhook receiver, or the reason it cannot run (configuration, DATABASE_URL)."""
    try:
        receiver = get_receiver()
    except (LeanError, StoreUnavailable) as exc:
        return None, str(exc)
    return receiver, receiver.config.problem


def configuration_banner() -> None:
    """On every page: what is misconfigured, said plainly, instead of a crash."""
    _, problem = receiver_or_none()
    if problem:
        st.error(
            "**The webhook receiver is misconfigured**: Lean's webhooks are answered 503 (Lean "
            "retries) until the setting below is fixed and the console restarted.",
            icon=":material/error:",
        )
        st.code(problem, language=None, wrap_lines=True)


def webhook_badge() -> None:
    """In the sidebar: whether Lean's webhooks are verified, refused or taken unsigned."""
    receiver, problem = receiver_or_none()
    if receiver is None or problem:
        st.badge("Webhooks: misconfigured", icon=":material/error:", color="red")
    elif receiver.config.secret:
        st.badge("Webhooks: signatures verified", icon=":material/verified:", color="green")
    elif receiver.config.allow_unsigned:
        st.badge("Webhooks: unsigned accepted", icon=":material/warning:", color="orange")
        st.caption("LEAN_WEBHOOK_ALLOW_UNSIGNED is on: for development only.")
    else:
        st.badge("Webhook secret missing", icon=":material/error:", color="red")
        st.caption("Set LEAN_WEBHOOK_SECRET: until then every webhook is refused (401).")


def health_panel(backend: Backend) -> None:
    """The details behind `/healthz`, for staff: each check with what it found."""
    receiver, _ = receiver_or_none()
    checks = console_health(receiver, lambda: backend.client.tokens.token())
    healthy = all(check.ok for check in checks)
    with st.expander(
        "System health: all checks pass" if healthy else "System health: attention needed",
        icon=":material/check_circle:" if healthy else ":material/error:",
        expanded=not healthy,
    ):
        st.dataframe(
            [
                {"Check": c.name, "State": "OK" if c.ok else "Problem", "Detail": c.detail}
                for c in checks
            ],
            hide_index=True,
            width="stretch",
        )
