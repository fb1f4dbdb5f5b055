"""Connect a bank: the connection journey end to end, each step saying done / waiting / failed.
Create (or pick) a customer → mint a customer token → Link → `entity.created` and refresh
webhooks arrive → verify ownership → see the data. `/connect?customer_id=…&entity_id=…` resumes.

On the embedded sandbox the sandbox plays Link; on Lean's sandbox (real credentials,
LEAN_ENV=sandbox) Lean's web Link SDK `connect` opens here, with its configuration checked first.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Any

import streamlit as st
import streamlit.components.v1 as components
from pydantic import ValidationError

from console.access import AccessDenied
from console.account_data import OwnershipCheck
from console.actions import audited, create_customer
from console.customers import InvalidLookup, parse_customer_query, parse_new_app_user_id
from console.formatting import literal_md
from console.link import (
    CONNECT_ACTION,
    DEFAULT_PERMISSIONS,
    OUTCOME_WORDS,
    PERMISSION_WORDS,
    LinkResult,
    check_choice,
    check_config,
    connect_html,
    created_entity_id,
    journey_webhooks,
    link_error_message,
    link_mode,
    link_outcome_words,
    newest_connection,
    problems,
    redirect_urls,
    refresh_progress,
    run_sandbox_link,
    split_banks,
    time_left_words,
    token_expiry,
    usable_for_link,
    webhook_rows,
    window_end,
    window_start,
)
from console.messages import describe_error
from console.runtime import get_store
from console.store import StoreRejected, StoreUnavailable
from console.ui import (
    backend_or_stop,
    customer_id_from_url,
    entity_id_from_url,
    own_page_link,
    show_error,
    show_message,
)
from console.ui_access import audit_view, current_actor
from console.ui_banks import load_bank_list
from console.ui_loaders import load_customer_record, load_entity
from console.ui_refresh_actions import render_ownership_verification
from lean_api.calls import keep_caller
from lean_api.errors import ConflictError, LeanError, NotFoundError
from lean_api.models import PERMISSIONS, Bank, Customer, Entity

STATES = {
    "done": ("Done", "green", ":material/check_circle:"),
    "waiting": ("Waiting", "orange", ":material/hourglass_top:"),
    "failed": ("Failed", "red", ":material/error:"),
    "todo": ("Not started", "gray", ":material/radio_button_unchecked:"),
}
WEBHOOK_ROWS = 20
# After this long without entity.created, say where to look instead of only waiting.
WEBHOOK_PATIENCE = timedelta(minutes=2)

backend = backend_or_stop()
client = backend.client
actor = current_actor()

st.title("Connect a bank")
if actor is None or not actor.may("create_customer"):
    role = actor.role.word if actor else "none"
    st.error(
        f"Connecting a bank creates customers and bank connections: it needs the admin role "
        f"(yours: {role}). Ask an admin of the console if you need it.",
        icon=":material/lock:",
    )
    st.stop()

mode = link_mode(backend.settings, backend.environment.kind)
if mode == "production":
    st.warning(
        "**This console talks to Lean's production.** Customers connect their banks in the "
        "company's own app, through Lean's Link SDK; this screen runs the journey on a sandbox only."
    )
    st.stop()

where = (
    "the embedded sandbox, which plays Lean's Link for the customer"
    if mode == "simulated"
    else "Lean's sandbox, with Lean's own Link SDK (`sandbox: true`)"
)
st.caption(
    f"The connection journey end to end on {where}. Each step says whether it is done, waiting "
    "or failed; the address of this page resumes the journey (`?customer_id=…&entity_id=…`)."
)
overview = st.container()
journey: dict[str, tuple[str, str]] = {}


def step(number: int, title: str, state: str, words: str) -> None:
    """A step's heading with its state in words (the colour repeats them)."""
    journey[title] = (state, words)
    label, colour, icon = STATES[state]
    head, badge = st.columns([5, 1], vertical_alignment="center")
    head.subheader(f"{number}. {title}", anchor=False)
    badge.badge(label, icon=icon, color=colour)  # type: ignore[arg-type]
    st.caption(words)


def start_over() -> None:
    """Forget the journey's customer and connection."""
    st.query_params.clear()


def load_entities(customer_id: str) -> list[Entity]:
    """The customer's connections as Lean lists them now (not cached: we wait for a new one)."""
    return client.list_entities(customer_id)


customer_id = customer_id_from_url()
entity_id = entity_id_from_url()
link_key = f"connect::link::{customer_id}"
token_key = f"connect::token::{customer_id}"

# ---------------------------------------------------------------------------------------------
# 1. The customer
# ---------------------------------------------------------------------------------------------

customer: Customer | None = None
if customer_id:
    try:
        customer = load_customer_record(backend.key, customer_id)
    except LeanError as exc:
        step(1, "Customer", "failed", "Lean could not give this customer.")
        show_error(exc, "customer")
        st.button("Start over with another customer", on_click=start_over)
    else:
        audit_view("view_customer", "customer", customer.customer_id)
        step(1, "Customer", "done", "The customer the bank will be connected for.")
        st.markdown(
            f"customer_id {literal_md(customer.customer_id)} · app_user_id "
            f"{literal_md(customer.app_user_id)}"
        )
        st.button("Start over with another customer", on_click=start_over)
else:
    step(1, "Customer", "todo", "Create a customer, or pick an existing one.")
    create_tab, pick_tab = st.tabs(["Create a customer", "Pick an existing customer"])
    with create_tab:
        suggested = st.session_state.setdefault(
            "connect::suggested_app_user_id", f"sandbox_journey_{secrets.token_hex(4)}"
        )
        with st.form("connect_create", border=False):
            typed_app_user_id = st.text_input(
                "app_user_id",
                value=suggested,
                max_chars=256,
                help="Your own identifier for the user; Lean keeps it unique.",
            )
            create = st.form_submit_button("Create customer", type="primary")
        if create:
            try:
                new_app_user_id = parse_new_app_user_id(typed_app_user_id)
                created = create_customer(client, new_app_user_id, actor)
            except InvalidLookup as exc:
                st.error(str(exc))
            except ConflictError as exc:
                show_message(describe_error(exc, "customer"))
                st.caption("Pick that customer in the other tab to connect a bank for them.")
            except LeanError as exc:
                show_error(exc, "customer", changes_state=True)
            except AccessDenied as exc:
                st.error(str(exc), icon=":material/lock:")
            else:
                st.session_state.pop("connect::suggested_app_user_id", None)
                st.query_params["customer_id"] = created.customer_id
                st.rerun()
    with pick_tab:
        with st.form("connect_pick", border=False):
            kind_col, value_col = st.columns([1, 3])
            kind = kind_col.radio("By", ["customer_id", "app_user_id"], horizontal=False)
            typed = value_col.text_input("Identifier", max_chars=256)
            pick = st.form_submit_button("Use this customer")
        if pick:
            try:
                query = parse_customer_query(kind, typed)
                found = (
                    client.get_customer(query.value)
                    if query.kind == "customer_id"
                    else client.get_customer_by_app_user_id(query.value)
                )
            except InvalidLookup as exc:
                st.error(str(exc))
            except LeanError as exc:
                show_error(exc, "customer")
            else:
                st.query_params["customer_id"] = found.customer_id
                st.rerun()

# ---------------------------------------------------------------------------------------------
# 2. The customer token
# ---------------------------------------------------------------------------------------------

now = datetime.now(UTC)
token_expires: datetime | None = st.session_state.get(token_key) if customer else None
token_ok = token_expires is not None and usable_for_link(token_expires, now)
if customer is not None:
    if token_expires is not None and token_ok:
        step(
            2,
            "Customer token",
            "done",
            f"A customer-scoped token, {time_left_words(token_expires, now)}. The token itself "
            "is never shown.",
        )
    elif token_expires is not None:
        step(
            2,
            "Customer token",
            "failed",
            f"The customer token has {time_left_words(token_expires, now)}: Link needs at least "
            "10 minutes. Mint a new one.",
        )
    elif entity_id:
        step(
            2,
            "Customer token",
            "done",
            "Used for the connection below. Mint a new one only to connect another bank.",
        )
    else:
        step(
            2,
            "Customer token",
            "todo",
            "Link is authorised with a token scoped to this one customer "
            "(scope customer.<customer_id>), minted by the console's backend.",
        )
    if st.button(
        "Mint a customer token" if token_expires is None else "Mint a new customer token",
        type="primary" if token_expires is None and not entity_id else "secondary",
    ):
        try:
            token = audited(
                actor, CONNECT_ACTION, "customer", customer.customer_id,
                lambda: client.customer_token(customer.customer_id),
                detail=lambda t: f"customer token until {token_expiry(t):%Y-%m-%d %H:%M:%S} UTC",
            )  # fmt: skip
        except LeanError as exc:
            show_error(exc, "customer token", changes_state=True)
        except AccessDenied as exc:
            st.error(str(exc), icon=":material/lock:")
        else:
            st.session_state[token_key] = token_expiry(token)
            st.rerun()

# ---------------------------------------------------------------------------------------------
# 3. Link
# ---------------------------------------------------------------------------------------------


def run_link(
    customer: Customer, available: list[Bank], asked: dict[str, Any], outcome: str
) -> None:
    """Check the choice, then run Link: the sandbox's, or Lean's SDK with a checked config."""
    available_ids = [bank.identifier for bank in available]
    started = datetime.now(UTC)
    try:
        # The connections the customer already has: the one this Link makes is none of them.
        known = frozenset(e.id for e in load_entities(customer.customer_id))
    except LeanError:
        known = frozenset()
    try:
        if mode == "simulated":
            choice = check_choice(asked, now=started, available_banks=available_ids)
            token = client.customer_token(customer.customer_id)
            result = audited(
                actor, CONNECT_ACTION, "customer", customer.customer_id,
                lambda: run_sandbox_link(backend.settings.api_url, token, choice, outcome),
                detail=lambda r: f"sandbox Link at {choice.bank_identifier}: {r.lean_words}",
            )  # fmt: skip
            st.session_state[link_key] = {"result": result, "started": started, "known": known}
        else:
            token = client.customer_token(customer.customer_id)
            success_url, fail_url = redirect_urls(st.context.url, customer.customer_id)
            config = check_config(
                {
                    **asked,
                    "app_token": backend.settings.app_token or "",
                    "access_token": token.value,
                    "access_token_expires_at": token_expiry(token),
                    "success_redirect_url": success_url,
                    "fail_redirect_url": fail_url,
                },
                now=started,
                available_banks=available_ids,
            )
            st.session_state[link_key] = {"config": config, "started": started, "known": known}
    except ValidationError as exc:
        st.session_state[link_key] = {"problems": problems(exc), "started": started}
    except (LeanError, AccessDenied) as exc:
        st.session_state[link_key] = {"error": exc, "started": started}


def link_form(customer: Customer, *, with_outcome: bool = True) -> None:
    """The banks the customer may choose, what Link asks for, and how it ended."""
    try:
        banks = load_bank_list(backend.key, "PERSONAL").value
    except LeanError as exc:
        show_error(exc, "bank list")
        return
    available, unavailable = split_banks(banks)
    if unavailable:
        with st.expander(f"{len(unavailable)} banks cannot be connected now, and why"):
            st.dataframe(unavailable, hide_index=True, width="stretch")
    if not available:
        st.error(
            "No bank is available for data right now: Link would show the customer nothing to "
            "connect. Check the Banks screen and try again later."
        )
        return
    names = {bank.identifier: f"{bank.display_name} · {bank.identifier}" for bank in available}
    with st.form("connect_link", border=True):
        bank_col, permission_col = st.columns(2)
        chosen_bank = bank_col.selectbox(
            f"Bank ({len(available)} available now)",
            options=list(names),
            format_func=lambda identifier: names.get(identifier, identifier),
        )
        chosen_permissions = permission_col.multiselect(
            "Permissions (Lean's words, at least one)",
            options=list(PERMISSIONS),
            default=list(DEFAULT_PERMISSIONS),
            help="  \n".join(PERMISSION_WORDS[word] for word in PERMISSIONS),
        )
        use_window = st.checkbox(
            "Set an access window",
            help="Lean's access_from / access_to: the first day of data and the day access ends "
            "(Riyadh time). Without it the sandbox grants a year of history and a year of access.",
        )
        from_col, to_col = st.columns(2)
        today = datetime.now(UTC).date()
        access_from_day: date = from_col.date_input(
            "access_from (first day of data)", value=today - timedelta(days=365)
        )
        access_to_day: date = to_col.date_input(
            "access_to (access ends)", value=today + timedelta(days=90)
        )
        outcome = "SUCCESS"
        if mode == "simulated":
            outcome = st.radio(
                "How Link ends (simulated)",
                options=list(OUTCOME_WORDS),
                format_func=lambda word: OUTCOME_WORDS[word],
                horizontal=True,
            )
        submitted = st.form_submit_button(
            "Run Link" if mode == "simulated" else "Open Lean's Link", type="primary"
        )
    if submitted:
        asked: dict[str, Any] = {
            "customer_id": customer.customer_id,
            "bank_identifier": chosen_bank,
            "permissions": chosen_permissions,
        }
        if use_window:
            asked["access_from"] = window_start(access_from_day)
            asked["access_to"] = window_end(access_to_day)
        run_link(customer, available, asked, outcome)
        ran = st.session_state.get(link_key) or {}
        if ran.get("config") or (ran.get("result") and ran["result"].succeeded):
            # A new connection is on its way: follow it, not the one in the address.
            st.query_params.pop("entity_id", None)
        st.rerun()
    if with_outcome:
        show_link_outcome(st.session_state.get(link_key))


def show_link_outcome(link_state: dict[str, Any] | None) -> None:
    """How the last Link of this session ended, and what next."""
    if not link_state:
        return
    if link_state.get("problems"):
        st.error(
            "**Not started: the choice cannot be handed to Link.**  \n"
            + "  \n".join(f"- {literal_md(p)}" for p in link_state["problems"])
        )
    elif isinstance(link_state.get("error"), AccessDenied):
        st.error(str(link_state["error"]), icon=":material/lock:")
    elif link_state.get("error") is not None:
        show_message(link_error_message(link_state["error"]))
    elif link_state.get("result") is not None:
        result = link_state["result"]
        headline, next_step, tone = link_outcome_words(result)
        alert = {"good": st.success, "warn": st.warning, "bad": st.error}[tone]
        alert(
            f"**{headline}**  \n{next_step}  \nLean's words: {literal_md(result.lean_words)}"
            + (f" — {literal_md(result.message)}" if result.message else "")
        )
    elif link_state.get("config") is not None:
        config = link_state["config"]
        st.markdown("**What is handed to Lean's `connect`** (checked; tokens hidden):")
        st.json(config.sdk_config(reveal=False))
        components.html(connect_html(config), height=680, scrolling=True)


link_state: dict[str, Any] | None = st.session_state.get(link_key) if customer else None
if customer is not None:
    result: LinkResult | None = (link_state or {}).get("result")
    if entity_id:
        step(3, "Link", "done", "The customer connected a bank: the connection is below.")
        show_link_outcome(link_state)
        if token_ok:
            with st.expander("Connect another bank for this customer"):
                link_form(customer, with_outcome=False)
    elif not token_ok:
        step(3, "Link", "todo", "Mint a customer token first: Link is authorised with it.")
    else:
        if result is not None and result.succeeded:
            step(3, "Link", "done", "Link succeeded: the customer connected a bank.")
        elif result is not None or (link_state or {}).get("error") is not None:
            step(3, "Link", "failed", "Link did not connect a bank; see why below, then try again.")
        elif (link_state or {}).get("problems"):
            step(3, "Link", "failed", "The choice cannot be handed to Link; see why below.")
        elif (link_state or {}).get("config") is not None:
            step(3, "Link", "waiting", "Lean's Link is open below, for the customer to finish.")
        else:
            step(
                3,
                "Link",
                "todo",
                "The customer chooses an available bank, grants permissions and, optionally, an "
                "access window.",
            )
        link_form(customer)

# ---------------------------------------------------------------------------------------------
# 4. The connection, and its webhooks arriving
# ---------------------------------------------------------------------------------------------

link_state = st.session_state.get(link_key) if customer else None
link_ran = bool(link_state and (link_state.get("config") or link_state.get("result")))
link_ok = bool(
    link_state
    and (link_state.get("config") or (link_state.get("result") and link_state["result"].succeeded))
)
if customer is not None and (entity_id or link_ran):
    since: datetime | None = (link_state or {}).get("started") if not entity_id else None
    settled_key = f"connect::settled::{customer.customer_id}::{entity_id}"
    # Follow live until entity.created and the first refresh's FINISHED have arrived.
    following = link_ok and not st.session_state.get(settled_key, False)

    def connection_without_webhook(customer_id: str, found: str) -> tuple[str, str]:
        """The step's state when no entity.created for the connection is stored: Lean decides
        whether the connection exists, the journey's own Link whether to keep waiting."""
        try:
            load_entity(backend.key, customer_id, found)  # raises when Lean has none
        except NotFoundError:
            return (
                "failed",
                "Lean has no such bank connection for this customer: check the address.",
            )
        except LeanError:
            return "waiting", "Lean cannot say now whether the connection exists; trying again."
        if link_ok:
            return "waiting", "Lean lists the connection; its entity.created has not arrived yet."
        return (
            "done",
            "Lean lists the connection. Its entity.created is not among the stored webhooks: "
            "older than the store's history, or refused (Triage says which).",
        )

    def connection_step() -> None:
        """The connection and its webhooks, rerun every two seconds while something is awaited."""
        assert customer is not None
        try:
            events = journey_webhooks(get_store(), customer.customer_id, limit=WEBHOOK_ROWS)
        except (StoreUnavailable, StoreRejected) as exc:
            events = []
            st.warning(
                f"The event store cannot be read, so webhooks cannot be shown: {literal_md(exc)}"
            )
        found = entity_id
        if found is None and link_ok:
            known = (link_state or {}).get("known", frozenset())
            found = created_entity_id(events, since, known)
            if found is None:
                try:
                    newest = newest_connection(load_entities(customer.customer_id), since, known)
                except LeanError:
                    newest = None
                found = newest.id if newest else None
            if found is not None:
                st.query_params["entity_id"] = found
                st.rerun()
        created = [e for e in events if e.type == "entity.created" and e.entity_id == found]
        if found is None:
            elapsed = datetime.now(UTC) - (since or datetime.now(UTC))
            if not link_ok:
                step(4, "Connection and webhooks", "todo", "Link has not connected a bank.")
            elif elapsed > WEBHOOK_PATIENCE:
                step(
                    4,
                    "Connection and webhooks",
                    "failed",
                    f"No entity.created and no new connection after {int(elapsed.total_seconds() // 60)} "
                    "min: the customer may have abandoned Link, or our endpoint refused the webhook "
                    "(see Webhooks, rejected deliveries).",
                )
            else:
                step(
                    4,
                    "Connection and webhooks",
                    "waiting",
                    "Waiting for entity.created: Lean sends it seconds after the customer "
                    "finishes Link.",
                )
        else:
            progress = refresh_progress(events, found)
            if created and progress.state == "finished":
                state, words = "done", "entity.created arrived and the first data refresh finished."
            elif created:
                state, words = (
                    "waiting",
                    "entity.created arrived; waiting for the first data refresh to finish.",
                )
            else:
                state, words = connection_without_webhook(customer.customer_id, found)
            step(4, "Connection and webhooks", state, words)
            if state == "done" and entity_id and not st.session_state.get(settled_key):
                st.session_state[settled_key] = True
                if following:
                    st.rerun()  # the whole screen: stop following, refresh the overview
            st.markdown(f"entity_id {literal_md(found)}")
            if progress.state != "waiting" or created:
                st.caption(f"First refresh: {literal_md(progress.words)}")
        if events:
            st.dataframe(
                webhook_rows(events),
                hide_index=True,
                width="stretch",
                column_config={
                    "Occurred (UTC)": st.column_config.TextColumn(width="small"),
                    "Type": st.column_config.TextColumn(width="small"),
                    "What": st.column_config.TextColumn(width="large"),
                    "Status": st.column_config.TextColumn(width="small"),
                },
            )
            for event in events[:6]:
                own_page_link(
                    "pages/webhooks.py",
                    f"{event.type} {literal_md(event.event_id)}",
                    {"event_id": event.event_id},
                )
        else:
            st.caption("No connection or refresh webhook for this customer has arrived yet.")

    st.fragment(run_every=2 if following else None)(keep_caller(connection_step))()

# ---------------------------------------------------------------------------------------------
# 5. Verify ownership, 6. See the data
# ---------------------------------------------------------------------------------------------

connection_failed = journey.get("Connection and webhooks", ("todo", ""))[0] == "failed"
if customer is not None and entity_id and connection_failed:
    st.info("Verifying ownership and reading data need a connection Lean knows: start over above.")
elif customer is not None and entity_id:
    # The form answers within this run: its heading is written after it, above it.
    verify_head = st.container()
    if mode == "simulated":
        st.caption(
            "On the sandbox the bank's identity data holds the customer's national ID: "
            "Accounts & data shows it (masked unless revealed with a reason). Any other valid ID "
            "is refused as not the owner."
        )
    render_ownership_verification(client, entity_id)
    check = st.session_state.get(f"lean_ownership::{entity_id}")
    if isinstance(check, OwnershipCheck):
        verified = check.result.entity_ownership_verified
        state = "done" if verified else "failed"
        words = (
            "Lean verified that the person with this national ID owns the connected accounts."
            if verified
            else "Lean did not verify this person as the owner: check the ID with the customer."
        )
    elif check is not None:
        state, words = "failed", "The check did not go through: see why below."
    else:
        state, words = (
            "todo",
            "Check the customer's national ID or iqama number against the bank's records "
            "(recommended once the first refresh has finished).",
        )
    with verify_head:
        step(5, "Verify ownership", state, words)

    if journey.get("Connection and webhooks", ("todo", ""))[0] == "done":
        step(6, "See the data", "done", "The first refresh finished: the data is ready to read.")
    else:
        step(
            6,
            "See the data",
            "waiting",
            "Lean fetches the data after connecting; read it once the first refresh finishes.",
        )
    data_col, entity_col, refresh_col = st.columns(3)
    with data_col:
        own_page_link("pages/account_data.py", "Accounts & data", {"entity_id": entity_id})
    with entity_col:
        own_page_link(
            "pages/entities.py",
            "The bank connection",
            {"entity_id": entity_id, "customer_id": customer.customer_id},
        )
    with refresh_col:
        own_page_link(
            "pages/refreshes.py", "Its data refreshes", {"entity_id": entity_id}, missing=""
        )

# ---------------------------------------------------------------------------------------------
# The journey at a glance (filled last, shown first)
# ---------------------------------------------------------------------------------------------

with overview:
    names = [
        "Customer",
        "Customer token",
        "Link",
        "Connection and webhooks",
        "Verify ownership",
        "See the data",
    ]
    lines = ["| Step | State | What |", "| --- | --- | --- |"]
    for n, name in enumerate(names, start=1):
        state, words = journey.get(name, ("todo", "Waiting for the steps before it."))
        label, colour, _ = STATES[state]
        # The console's own words only: identifiers typed or sent by Lean never reach this table.
        lines.append(f"| {n}. {name} | :{colour}-badge[{label}] | {words.replace('|', '/')} |")
    st.markdown("\n".join(lines))
