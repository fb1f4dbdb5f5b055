"""Actions on a bank connection, shared by screens: "Refresh data now" (confirmed, then followed
live until Lean finishes) and "Verify ownership" with a national ID.

Streamlit pieces; the rules live in `console.account_data` and `console.national_id`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import streamlit as st
from streamlit.errors import StreamlitAPIException

from console.access import AccessDenied
from console.account_data import (
    OwnershipCheck,
    data_status_words,
    find_pending_refresh,
    identity_levels_note,
    ownership_verdict,
    refresh_account_rows,
    refresh_next_step,
    verification_rows,
    verify_ownership,
)
from console.actions import trigger_refresh
from console.events import refresh_summary
from console.formatting import literal_md, styled_table, tone_of
from console.messages import OperatorMessage, describe_error
from console.national_id import InvalidNationalId
from console.refreshes import account_labels
from console.ui import show_message
from console.ui_access import current_actor
from lean_api.calls import keep_caller
from lean_api.client import LeanClient
from lean_api.errors import LeanError, NotFoundError, RateLimitError
from lean_api.models import ACCOUNT_DATA_TYPES, KNOWN_REFRESH_STATUSES, Refresh

FOLLOW_MINUTES = 10
POLL_SECONDS = 2.0
# Checks that may fail in a row before the console stops following.
MAX_POLL_FAILURES = 3
STATUS_COLUMNS = [t.replace("_", " ").capitalize() for t in ACCOUNT_DATA_TYPES]
_ALERT = {"good": st.success, "warn": st.warning, "bad": st.error}


@dataclass(frozen=True)
class FollowedRefresh:
    """A refresh the console follows for the operator, kept in the session across reruns.

    `stopped` is None while following, else why it stopped: finished, vanished, failing, timeout.
    """

    refresh_id: str
    entity_id: str
    started: float
    already_running: bool = False
    last: Refresh | None = None
    stopped: str | None = None
    failures: int = 0
    problem: OperatorMessage | None = None
    finished_at: float | None = None  # when the console saw it finish (time.time())


def _key(entity_id: str) -> str:
    return f"lean_refresh::{entity_id}"


def followed_refresh(entity_id: str) -> FollowedRefresh | None:
    """The refresh this session follows for the entity, if any."""
    return st.session_state.get(_key(entity_id))


def render_refresh_trigger(
    client: LeanClient,
    entity_id: str,
    *,
    follow_minutes: float = FOLLOW_MINUTES,
    poll_seconds: float = POLL_SECONDS,
    on_finished: Callable[[], None] | None = None,
    customer_id: str | None = None,
    account_labels: Mapping[str, str] | None = None,
    consent_status: str | None = None,
    reveal: bool = False,
) -> None:
    """A "Refresh data now" button that asks for confirmation, starts a refresh at Lean and follows
    it live (every `poll_seconds`, for at most `follow_minutes`) with its progress in words.

    `on_finished` runs once when the followed refresh finishes (e.g. to drop cached data).
    `customer_id` goes into the link to the Data refreshes screen. Accounts are named by
    `account_labels` (account_id → name and masked IBAN), else by the entity's accounts read
    from Lean once per followed refresh (masked unless `reveal`). A `consent_status` other than
    ACTIVE is said above the button, which stays: Lean's answer is the truth.
    """
    actor = current_actor()
    if actor is None or not actor.may("trigger_refresh"):
        role = actor.role.word if actor else "none"
        st.caption(f"Refreshing data needs the admin role (yours: {role}).")
        return
    key = _key(entity_id)
    if consent_status and consent_status.upper() != "ACTIVE":
        st.caption(
            f":material/warning: The consent is {literal_md(consent_status)}: Lean will refuse a "
            "refresh until the customer reconnects."
        )
    where = _Where(
        customer_id, dict(account_labels) if account_labels is not None else None, reveal
    )
    followed = followed_refresh(entity_id)
    following = followed is not None and followed.stopped is None
    ask_col, note_col = st.columns([1, 3], vertical_alignment="center")
    if ask_col.button(
        "Refresh data now",
        key=f"{key}:ask",
        icon=":material/sync:",
        disabled=following,
        width="stretch",
    ):
        st.session_state[f"{key}:confirm"] = True
        st.session_state.pop(f"{key}:problem", None)
    note_col.caption(
        "Following the refresh below."
        if following
        else "Asks the bank for fresh data through Lean."
    )

    if st.session_state.get(f"{key}:confirm"):
        with st.container(border=True):
            st.markdown(
                "**Ask the bank for fresh data now?**  \n"
                "Lean fetches this connection's accounts, balances, transactions and other data "
                "again from the bank. It may take minutes; the console follows it here. It works "
                "only while the customer's consent is active, and one refresh runs at a time."
            )
            yes_col, no_col, _ = st.columns([1, 1, 4])
            if yes_col.button("Yes, refresh now", key=f"{key}:yes", type="primary"):
                st.session_state.pop(f"{key}:confirm", None)
                _start(client, entity_id)
            elif no_col.button("Cancel", key=f"{key}:no"):
                st.session_state.pop(f"{key}:confirm", None)
                st.rerun()

    problem = st.session_state.get(f"{key}:problem")
    if problem is not None:
        show_message(problem)

    followed = followed_refresh(entity_id)
    if followed is None:
        return
    if followed.stopped is None:
        # While it runs the progress refreshes on its own; when it stops, the whole screen does.
        st.fragment(run_every=poll_seconds)(keep_caller(_follow))(
            client, entity_id, follow_minutes, poll_seconds, on_finished, where
        )
    else:
        _show(client, followed, follow_minutes, poll_seconds, where)
        if st.button("Dismiss", key=f"{key}:dismiss"):
            st.session_state.pop(key, None)
            st.rerun()


def _start(client: LeanClient, entity_id: str) -> None:
    key = _key(entity_id)
    try:
        trigger = trigger_refresh(client, entity_id, current_actor())
    except RateLimitError as exc:
        message = describe_error(exc, "bank connection", changes_state=True)
        if exc.code != "DUPLICATED_REQUEST":
            st.session_state[f"{key}:problem"] = message
            return
        try:
            pending = find_pending_refresh(client, entity_id)
        except LeanError:
            pending = None
        if pending is None:
            st.session_state[f"{key}:problem"] = replace(
                message,
                action="Lean did not list the running refresh, so the console cannot follow it; "
                "look at the Data refreshes screen or try again in a few minutes.",
            )
            return
        st.session_state[f"{key}:problem"] = replace(
            message, action="The console follows the refresh that is already running below."
        )
        _follow_new(entity_id, pending.refresh_id, already_running=True)
    except LeanError as exc:
        st.session_state[f"{key}:problem"] = describe_error(
            exc, "bank connection", changes_state=True
        )
    except AccessDenied as exc:
        st.error(str(exc), icon=":material/lock:")
        return
    else:
        _follow_new(entity_id, trigger.refresh_id)
    st.rerun()


def _follow_new(entity_id: str, refresh_id: str, *, already_running: bool = False) -> None:
    st.session_state[_key(entity_id)] = FollowedRefresh(
        refresh_id, entity_id, time.time(), already_running=already_running
    )


def _follow(
    client: LeanClient,
    entity_id: str,
    follow_minutes: float,
    poll_seconds: float,
    on_finished: Callable[[], None] | None,
    where: _Where,
) -> None:
    """One check of the followed refresh (the body of a fragment that reruns on its own)."""
    key = _key(entity_id)
    followed = st.session_state.get(key)
    if followed is None or followed.stopped is not None:
        return
    if time.time() - followed.started > follow_minutes * 60:
        followed = replace(followed, stopped="timeout")
    else:
        try:
            refresh = client.get_refresh(followed.refresh_id, entity_id)
        except NotFoundError as exc:
            followed = replace(followed, stopped="vanished", problem=describe_error(exc, "refresh"))
        except LeanError as exc:
            failures = followed.failures + 1
            followed = replace(
                followed,
                failures=failures,
                problem=describe_error(exc, "refresh"),
                stopped="failing" if failures >= MAX_POLL_FAILURES else None,
            )
        else:
            status = (refresh.status or "").upper()
            done = status != "PENDING" and bool(status)
            followed = replace(
                followed,
                last=refresh,
                failures=0,
                problem=None,
                stopped="finished" if done else None,
                finished_at=time.time() if done else None,
            )
    st.session_state[key] = followed
    if followed.stopped is not None:
        if followed.stopped == "finished" and on_finished is not None:
            on_finished()
        st.rerun()  # the whole screen: the fragment stops and fresh data can be shown
    _show(client, followed, follow_minutes, poll_seconds, where)


def _elapsed_words(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds} s" if seconds < 90 else f"{seconds // 60} min {seconds % 60} s"


def _took(followed: FollowedRefresh) -> float:
    """Seconds the refresh has run: by Lean's own clock once it finished (the panel may be
    looked at long after), else since the console began to follow it."""
    refresh = followed.last
    if followed.stopped == "finished" and refresh is not None:
        if refresh.created_at is not None and refresh.updated_at is not None:
            seconds = (refresh.updated_at - refresh.created_at).total_seconds()
            if 0 <= seconds < 7 * 86400:
                return seconds
        if followed.finished_at is not None:
            return followed.finished_at - followed.started
    return time.time() - followed.started


def summary_markdown(refresh: Refresh) -> str:
    """`refresh_summary` as Markdown: the console's words as they are, an unknown Lean word literal."""
    summary = refresh_summary(refresh)
    known = (refresh.status or "").upper() in KNOWN_REFRESH_STATUSES
    # "Lean's word …" carries a word the console does not know: Lean's text, never Markdown.
    return summary if known and "Lean's word" not in summary else literal_md(summary)


def _status_md(status: str | None) -> str:
    # Lean's known words become the console's; any other word is Lean's text, shown literally.
    words = data_status_words(status)
    return words if words != status or not status else literal_md(words)


@dataclass(frozen=True)
class _Where:
    """What the screen knows around the followed refresh: whose it is and its accounts' names."""

    customer_id: str | None
    account_labels: dict[str, str] | None
    reveal: bool


def _labels(client: LeanClient, followed: FollowedRefresh, where: _Where) -> dict[str, str]:
    """Account names for the followed refresh: the screen's, else read from Lean once (per
    refresh, kept in the session); on failure the rows keep their account_ids."""
    if where.account_labels is not None:
        return where.account_labels
    key = f"{_key(followed.entity_id)}:accounts:{followed.refresh_id}"
    if key not in st.session_state:
        try:
            st.session_state[key] = list(client.iter_accounts(followed.entity_id))
        except LeanError:
            st.session_state[key] = []
    return account_labels(st.session_state[key], reveal=where.reveal)


def _finished_notes(refresh: Refresh, followed: FollowedRefresh, where: _Where) -> None:
    """After a finished refresh: what to do next, what the two identities mean, and a link to it."""
    st.markdown(f"**Next:** {refresh_next_step(refresh)}")
    if note := identity_levels_note(refresh):
        st.caption(note)
    query = {"entity_id": followed.entity_id, "refresh_id": followed.refresh_id}
    if where.customer_id:
        query["customer_id"] = where.customer_id
    try:
        st.page_link(
            "pages/refreshes.py",
            label="This refresh on the Data refreshes screen",
            icon=":material/arrow_forward:",
            query_params=query,
        )
    except StreamlitAPIException:
        st.caption("The Data refreshes screen is not available in this console.")


def _show(
    client: LeanClient,
    followed: FollowedRefresh,
    follow_minutes: float,
    poll_seconds: float,
    where: _Where,
) -> None:
    """The followed refresh: its id, progress in words, and each account's statuses."""
    with st.container(border=True):
        origin = "already running" if followed.already_running else "started from this console"
        st.markdown(f"**Refresh {literal_md(followed.refresh_id)}** ({origin})")
        refresh = followed.last
        elapsed = _elapsed_words(_took(followed))
        if followed.stopped is None:
            words = (
                summary_markdown(refresh) if refresh else "Asked Lean; waiting for its first answer"
            )
            st.info(
                f"**{words}** · {elapsed} so far. The console checks every {poll_seconds:g} s "
                f"and follows it for up to {follow_minutes:g} min.",
                icon=":material/hourglass_top:",
            )
        elif followed.stopped == "finished" and refresh is not None:
            alert = _ALERT.get(tone_of(refresh_summary(refresh)) or "", st.warning)
            alert(f"**{summary_markdown(refresh)}** after {elapsed}.")
            _finished_notes(refresh, followed, where)
        elif followed.stopped == "timeout":
            st.warning(
                f"**Stopped following after {follow_minutes:g} minutes**; the refresh was still "
                "pending at Lean. It may still finish: look at the Data refreshes screen later."
            )
        elif followed.stopped == "vanished":
            st.warning(
                "**Lean no longer knows this refresh**, so the console stopped following it. "
                "Look at the Data refreshes screen for the entity's refreshes."
            )
        elif followed.stopped == "failing":
            st.error(
                f"**Stopped following after {MAX_POLL_FAILURES} failed checks in a row.** The "
                "refresh may still finish at Lean: look at the Data refreshes screen later."
            )
        if followed.problem is not None and followed.stopped != "finished":
            show_message(followed.problem)
        if refresh is not None and refresh.data_status is not None:
            status = refresh.data_status
            st.caption(
                f"Accounts list: {_status_md(status.accounts)} · "
                f"Identity: {_status_md(status.identity)}"
            )
            rows = (
                refresh_account_rows(refresh, _labels(client, followed, where))
                if refresh.data_status.account_data
                else []
            )
            if rows:
                st.dataframe(styled_table(rows, STATUS_COLUMNS), hide_index=True, width="stretch")


# ---------------------------------------------------------------------------------------------
# Ownership verification
# ---------------------------------------------------------------------------------------------


def render_ownership_verification(
    client: LeanClient, entity_id: str, *, reveal: bool = False
) -> None:
    """A form that checks a national ID or iqama number (before any call to Lean), asks Lean
    whether that person owns the entity's accounts, and shows the verdict and each IBAN's result.

    The typed ID is cleared from the form on submit, shown only masked and never logged.
    """
    actor = current_actor()
    if actor is None or not actor.may("verify_ownership"):
        role = actor.role.word if actor else "none"
        st.caption(f"Verifying ownership needs the support or admin role (yours: {role}).")
        return
    key = f"lean_ownership::{entity_id}"
    with st.form(f"{key}:form", clear_on_submit=True, border=False):
        id_col, button_col = st.columns([3, 1], vertical_alignment="bottom")
        typed = id_col.text_input(
            "Customer's national ID or iqama number",
            type="password",
            max_chars=40,
            key=f"{key}:typed",
            help="10 digits starting with 1 (citizen) or 2 (resident). Checked here before it is "
            "sent to Lean; shown only masked and never logged.",
        )
        submitted = button_col.form_submit_button("Verify ownership", width="stretch")
    if submitted:
        st.session_state.pop(key, None)
        try:
            st.session_state[key] = verify_ownership(client, entity_id, typed, current_actor())
        except InvalidNationalId as exc:
            st.session_state[key] = f"Not sent to Lean: {exc}"
        except LeanError as exc:
            st.session_state[key] = describe_error(exc, "bank connection")
        except AccessDenied as exc:
            st.session_state[key] = str(exc)
        del typed
    outcome = st.session_state.get(key)
    if isinstance(outcome, str):
        st.error(outcome, icon=":material/badge:")
    elif isinstance(outcome, OperatorMessage):
        show_message(outcome)
    elif isinstance(outcome, OwnershipCheck):
        verdict, tone = ownership_verdict(outcome)
        _ALERT[tone](f"**{verdict}**")
        rows = verification_rows(outcome, reveal=reveal)
        if rows:
            st.dataframe(rows, hide_index=True, width="stretch")
        else:
            st.caption("Lean listed no IBAN in its answer.")
        method = outcome.result.verification_method
        reference = outcome.result.results_id
        st.caption(
            f"Method {literal_md(method) or 'not given'} · results_id "
            f"{literal_md(reference) or 'not given'}"
        )
