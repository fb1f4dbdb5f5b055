"""Small Streamlit pieces every screen shares: messages, the environment badge, the backend."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

import streamlit as st
from streamlit.errors import StreamlitAPIException

from console.customers import InvalidLookup, parse_customer_query
from console.entities import InvalidEntityId, parse_entity_id
from console.formatting import literal_md, page_index
from console.last_good import Snapshot, last_good, stale_notice
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
    """Render an operator message: what happened, what to do, and the escalation reference.

    Headline and action are the console's own words; Lean's words (`detail`, the code and the
    results_id in the reference) are shown literally.
    """
    body = f"**{message.headline}**"
    if message.detail:
        body += f" {literal_md(message.detail)}"
    body += f"  \n{message.action}"
    if message.reference:
        body += f"  \n{literal_md(message.reference)}"
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


T = TypeVar("T")


def wait_for_lean(
    loading: str,
    backend: Backend,
    asked: Hashable,
    load: Callable[[], Snapshot[T]],
    subject: str = "record",
) -> Snapshot[T]:
    """Run `load` while the operator sees what is loading; keep the last good data if Lean fails.

    `loading` names what is being fetched ("Loading bank availability from Lean…"); it is shown
    as Markdown, so it must be the console's own words, never an identifier the operator typed.
    `asked` identifies the question within the backend (e.g. `("customer", kind, value)`).
    When Lean times out or fails for a passing reason and an earlier answer exists, that answer is
    returned, marked with its age and the error. Otherwise the `LeanError` is raised.
    """
    with st.spinner(loading, show_time=True):
        snapshot = last_good().get(backend.key, asked, load)
    if snapshot.error is not None:
        show_stale(snapshot, subject)
    return snapshot


def show_stale(snapshot: Snapshot[object], subject: str = "record") -> None:
    """Say that the data below is the last good answer, how old it is, and why it is not fresh."""
    # Several parts of a screen may fall back at once: each says which it is.
    st.warning(stale_notice(snapshot, subject=subject), icon=":material/history:")
    if snapshot.error is not None:
        show_error(snapshot.error, subject)


def own_page_link(page: str, label: str, query: dict[str, str], *, missing: str = "") -> None:
    """A link to one of the console's own screens; `missing` is said when that screen is not
    in this console (nothing when it is empty)."""
    try:
        st.page_link(page, label=label, icon=":material/arrow_forward:", query_params=query)
    except StreamlitAPIException:
        if missing:
            st.caption(missing)


def entity_lookup_form(
    form_key: str, *, customer_help: str, entity_help: str | None = None
) -> None:
    """The entity_id / customer_id form of a connection's screens; what it opens is put in the
    URL, so the view can be pasted into a ticket."""
    with st.form(form_key, border=False):
        entity_col, customer_col, button_col = st.columns([3, 3, 1], vertical_alignment="bottom")
        typed_entity = entity_col.text_input(
            "entity_id",
            value=st.query_params.get("entity_id", ""),
            key=f"{form_key}_entity",
            help=entity_help,
        )
        typed_customer = customer_col.text_input(
            "customer_id (optional)",
            value=st.query_params.get("customer_id", ""),
            help=customer_help,
            key=f"{form_key}_customer",
        )
        if button_col.form_submit_button("Open", type="primary", width="stretch"):
            st.query_params.clear()
            if typed_entity.strip():
                st.query_params["entity_id"] = typed_entity.strip()
            if typed_customer.strip():
                st.query_params["customer_id"] = typed_customer.strip()


def entity_id_from_url() -> str | None:
    """The URL's entity_id, checked (None when it names none); an invalid one stops the screen
    with the reason."""
    raw_entity = st.query_params.get("entity_id")
    if not raw_entity:
        return None
    try:
        return parse_entity_id(raw_entity)
    except InvalidEntityId as exc:
        st.error(f"The link names an invalid entity_id. {exc}")
        st.stop()
    raise AssertionError("unreachable: st.stop() ends the run")


def customer_id_from_url() -> str | None:
    """The URL's customer_id, checked (None when it names none); an invalid one stops the
    screen with the reason."""
    raw_customer = st.query_params.get("customer_id")
    if not raw_customer:
        return None
    try:
        return parse_customer_query("customer_id", raw_customer).value
    except InvalidLookup as exc:
        st.error(f"The link names an invalid customer_id. {exc}")
        st.stop()
    raise AssertionError("unreachable: st.stop() ends the run")


def page_from_url(key: str, *, pages: int) -> int:
    """The page the URL's `key=N` names (N from 1), as an index from 0 among `pages`; the first
    page when the URL names none or something that is not a page (see `page_index`)."""
    index = page_index(st.query_params.get(key, "1"), pages=pages)
    return 0 if index is None else index


def go_to_page(key: str, number: int) -> None:
    """Show page `number` (from 0): the URL names it as `key=number+1`, for a ticket; the first
    page leaves the URL without it."""
    if number:
        st.query_params[key] = str(number + 1)
    else:
        st.query_params.pop(key, None)
