"""The gate in front of every screen: who is signed in, with which role, or why nobody may enter."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import streamlit as st

from console import audit
from console.access import (
    LOCAL,
    LOCAL_ADMIN,
    OIDC,
    PROXY,
    REFUSE,
    AccessConfigError,
    AccessDenied,
    Actor,
    RolePolicy,
    behind_sign_in,
    gate_mode,
    proxy_user_header,
)
from console.actions import audited
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
    # Without a name from the proxy the sidebar reads "Signed in as someone the proxy did not name".
    name = email or "someone the proxy did not name"
    return Actor(email or "signed in by the proxy", name, role, PROXY)


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


# Per subject (kind, id): the items revealed in this session, and the last reason given.
REVEALED_KEY = "console_revealed"
REASONS_KEY = "console_reveal_reasons"
REVEAL_FORMS_KEY = "console_reveal_forms"
MIN_REASON = 4


def may_reveal() -> bool:
    """True when the signed-in person's role may reveal personal data (support, admin)."""
    actor = current_actor()
    return actor is not None and actor.may("reveal")


def revealed(subject_kind: str, subject: str) -> frozenset[str]:
    """The items of `subject` revealed in this session (see `reveal_row`)."""
    shown = st.session_state.get(REVEALED_KEY, {}).get((subject_kind, subject), ())
    return frozenset(shown)


def reveal_note(subject_kind: str, subject: str, *, key: str) -> None:
    """One line per screen on masking: what the role may do, and "Mask again" once something of
    `subject` is shown unmasked."""
    if not may_reveal():
        st.caption("Personal data stays masked for your role.")
        return
    shown = revealed(subject_kind, subject)
    if not shown:
        st.caption(
            ":material/visibility_off: Personal data is masked. Use **Reveal a row** where you "
            "need one: it asks why, and each reveal goes to the audit log."
        )
        return
    words = "1 row is" if len(shown) == 1 else f"{len(shown)} rows are"
    note_col, button_col = st.columns([3, 1], vertical_alignment="center")
    note_col.caption(f":material/visibility: {words} shown unmasked for you (audited).")
    button_col.button(
        "Mask again",
        key=f"{key}:mask",
        icon=":material/visibility_off:",
        on_click=_mask_again,
        args=(subject_kind, subject),
    )


def reveal_row(
    what: str,
    choices: Mapping[str, str],
    *,
    key: str,
    subject_kind: str,
    subject: str,
) -> frozenset[str]:
    """A small "Reveal a row" popover over a table: pick one row (`choices`: item → its masked
    label), say why, and that row is shown unmasked for the rest of the session. Each reveal is
    one audit line (action "reveal", the subject, which row, the reason). The reason is
    remembered per subject, so revealing a second field of the same customer needs no retyping.

    Returns the revealed items of `subject`. Nothing is drawn for a role that may not reveal.
    """
    shown = revealed(subject_kind, subject)
    hidden = [item for item in choices if item not in shown]
    if not may_reveal() or not hidden:
        return shown
    remembered = st.session_state.get(REASONS_KEY, {}).get((subject_kind, subject), "")
    st.session_state.setdefault(REVEAL_FORMS_KEY, {}).setdefault(
        (subject_kind, subject), set()
    ).add(key)
    with st.popover("Reveal a row", icon=":material/visibility:"):
        st.selectbox(what, hidden, format_func=lambda item: choices[item], key=f"{key}:item")
        st.text_input(
            "Why do you need it unmasked?",
            # Once the session holds the field, it already carries the remembered reason (set
            # by `_reveal`); giving a default as well would make Streamlit warn.
            value="" if f"{key}:reason" in st.session_state else remembered,
            key=f"{key}:reason",
            placeholder="e.g. ticket 4521: the customer disputes the IBAN",
            max_chars=300,
        )
        st.button(
            "Reveal",
            key=f"{key}:go",
            type="primary",
            on_click=_reveal,
            args=(key, what, dict(choices), subject_kind, subject),
        )
        problem = st.session_state.pop(f"{key}:problem", None)
        if problem:
            st.error(problem)
    return revealed(subject_kind, subject)


def _reveal(key: str, what: str, choices: dict[str, str], subject_kind: str, subject: str) -> None:
    """The "Reveal" button: check the reason, audit, then remember the item as revealed."""
    item = st.session_state.get(f"{key}:item")
    reason = str(st.session_state.get(f"{key}:reason") or "").strip()
    if item not in choices:
        return
    if len(reason) < MIN_REASON:
        st.session_state[f"{key}:problem"] = (
            "Give a reason (a ticket number will do): it goes to the audit log with the reveal."
        )
        return
    try:
        audited(
            current_actor(), "reveal", subject_kind, subject, lambda: True,
            detail=lambda _: f"{what}: {choices[item]}", reason=reason,
        )  # fmt: skip
    except AccessDenied as exc:
        st.session_state[f"{key}:problem"] = str(exc)
        return
    st.session_state.setdefault(REVEALED_KEY, {}).setdefault((subject_kind, subject), set()).add(
        item
    )
    st.session_state.setdefault(REASONS_KEY, {})[(subject_kind, subject)] = reason
    # Every other "Reveal a row" of the same subject offers the same reason from now on.
    for form in st.session_state.get(REVEAL_FORMS_KEY, {}).get((subject_kind, subject), ()):
        st.session_state[f"{form}:reason"] = reason


def _mask_again(subject_kind: str, subject: str) -> None:
    st.session_state.get(REVEALED_KEY, {}).pop((subject_kind, subject), None)


def audit_view(action: str, subject_kind: str, subject: str) -> None:
    """Note in the audit log that the signed-in person looked at `subject` (once per session:
    every click reruns the screen, and one line per look is what an auditor wants)."""
    done = st.session_state.setdefault(AUDITED_KEY, set())
    if (action, subject, None) in done:
        return
    if audit.record(get_store(), current_actor(), action, subject_kind=subject_kind,
                    subject=subject):  # fmt: skip
        done.add((action, subject, None))
