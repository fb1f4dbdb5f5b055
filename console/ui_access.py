"""The gate in front of every screen: who is signed in, with which role, or why nobody may enter."""

from __future__ import annotations

import logging

import streamlit as st

from console import audit
from console.access import (
    LOCAL,
    LOCAL_ADMIN,
    OIDC,
    PROXY,
    REFUSE,
    AccessConfigError,
    Actor,
    RolePolicy,
    behind_sign_in,
    gate_mode,
    proxy_user_header,
)
from console.formatting import literal_md
from console.runtime import get_store, has_lean_credentials

log = logging.getLogger(__name__)
ACTOR_KEY = "console_actor"
AUDITED_KEY = "console_audited"


def auth_configured() -> bool:
    """True when `.streamlit/secrets.toml` holds an `[auth]` section (OIDC through st.login)."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all: Streamlit raises its own not-found error
        return False


def current_mode() -> str:
    """The gate that applies now (see `console.access.gate_mode`)."""
    return gate_mode(
        auth_configured=auth_configured(),
        lean_credentials=has_lean_credentials(),
        behind_sign_in=behind_sign_in(),
    )


def current_actor() -> Actor | None:
    """The person the gate let in during this run (None before the gate ran)."""
    actor = st.session_state.get(ACTOR_KEY)
    return actor if isinstance(actor, Actor) else None


def gate() -> Actor:
    """Let the right person in, or explain why not and stop the run.

    Runs on every page view, before any screen: a role removed from the configuration takes
    effect on the next click, not at the next sign-in.
    """
    mode = current_mode()
    if mode == LOCAL:
        return _enter(LOCAL_ADMIN)
    if mode == REFUSE:
        _stop(
            "Sign-in is not configured",
            "Real Lean credentials are set, so this console would show real customers' bank "
            "data to anyone who can reach it. Configure sign-in in `.streamlit/secrets.toml` "
            "(`[auth]`, see the README), or set `CONSOLE_BEHIND_SIGN_IN=true` if a sign-in "
            "proxy already guards it.",
        )
    try:
        policy = RolePolicy.from_env()
    except AccessConfigError as exc:
        _stop("The role settings cannot be used", literal_md(str(exc)))
    if mode == OIDC:
        return _enter(_oidc_actor(policy))
    assert mode == PROXY
    return _enter(_proxy_actor(policy))


def _oidc_actor(policy: RolePolicy) -> Actor:
    if not st.user.get("is_logged_in", False):
        st.title("Lean Ops Console")
        st.write(
            "This console shows customers' bank connections and data. Sign in with your "
            "company account to continue."
        )
        st.button("Sign in", type="primary", icon=":material/login:", on_click=st.login)
        st.stop()
    email = str(st.user.get("email") or "")
    name = str(st.user.get("name") or email)
    role = policy.role_for(email)
    if role is None:
        log.warning("refused a signed-in user with no role (%s)", _domain_of(email))
        st.title("No access")
        st.error(
            f"You are signed in as {literal_md(email or 'an account without an e-mail address')}"
            ", but no role is configured for it. Ask an admin of the console to add you."
        )
        st.button("Sign out", icon=":material/logout:", on_click=st.logout)
        st.stop()
    return Actor(email, name, role, OIDC)


def _proxy_actor(policy: RolePolicy) -> Actor:
    header = proxy_user_header()
    email = (st.context.headers.get(header) or "").strip()
    role = policy.role_for(email) if email else policy.default
    if role is None:
        who = f"as {literal_md(email)}" if email else f"without a `{header}` header"
        _stop(
            "No access",
            f"The sign-in in front of the console let you in {who}, but no role is configured "
            "for it here (CONSOLE_ADMINS, CONSOLE_SUPPORT, CONSOLE_VIEWERS or "
            "CONSOLE_DEFAULT_ROLE). Ask an admin of the console to add you.",
        )
    return Actor(email or "signed in by the proxy", email or "Signed in by the proxy", role, PROXY)


def _enter(actor: Actor) -> Actor:
    st.session_state[ACTOR_KEY] = actor
    return actor


def _stop(title: str, sentence: str) -> None:
    st.title(title)
    st.error(sentence)
    st.stop()


def _domain_of(email: str) -> str:
    """What may be logged of an address: its domain only."""
    return "@" + email.rpartition("@")[2] if "@" in email else "no e-mail"


def sidebar_user(actor: Actor) -> None:
    """Who is signed in, with which role, and the way out."""
    if actor.how == LOCAL:
        st.caption(
            "Nobody signs in here: on the embedded sandbox you are a local **admin**. With real "
            "Lean credentials the console asks for sign-in."
        )
        return
    st.caption(f"Signed in as {literal_md(actor.name)} · **{actor.role.word}**")
    if actor.how == OIDC:
        st.button("Sign out", icon=":material/logout:", on_click=st.logout, width="stretch")


def reveal_toggle(
    label: str,
    *,
    key: str,
    help: str,
    subject_kind: str | None = None,
    subject: str | None = None,
) -> bool:
    """A switch that shows personal data unmasked, for roles that may reveal, once a reason is
    given; the reveal and its reason go to the audit log. False otherwise."""
    actor = current_actor()
    if actor is None or not actor.may("reveal"):
        st.caption("Personal data stays masked for your role.")
        return False
    if not st.toggle(label, value=False, key=key, help=help):
        return False
    reason = st.text_input(
        "Why do you need it unmasked?",
        key=f"{key}:reason",
        placeholder="e.g. ticket 4521: the customer disputes the IBAN",
        max_chars=300,
    ).strip()
    if len(reason) < 4:
        st.caption("Give a reason (a ticket number will do) to show it: it goes to the audit log.")
        return False
    done = st.session_state.setdefault(AUDITED_KEY, set())
    if ("reveal", subject, reason) not in done:
        audit.record(get_store(), actor, "reveal", subject_kind=subject_kind, subject=subject,
                     reason=reason)  # fmt: skip
        done.add(("reveal", subject, reason))
    return True


def audit_view(action: str, subject_kind: str, subject: str) -> None:
    """Note in the audit log that the signed-in person looked at `subject` (once per session:
    every click reruns the screen, and one line per look is what an auditor wants)."""
    done = st.session_state.setdefault(AUDITED_KEY, set())
    if (action, subject, None) in done:
        return
    if audit.record(get_store(), current_actor(), action, subject_kind=subject_kind,
                    subject=subject):  # fmt: skip
        done.add((action, subject, None))
