"""Customers: find one by customer_id or app_user_id, browse them all, create one."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC
from typing import Any

import streamlit as st

from console.access import AccessDenied
from console.actions import audited, create_customer, start_book_sync
from console.book_queries import (
    IndexStatus,
    QueueFilter,
    customer_page,
    customer_table,
    freshness_note,
    index_status,
)
from console.customer_view import (
    CustomerScreen,
    CustomerView,
    ToneColumn,
    tone_pills,
)
from console.customers import (
    CustomerQuery,
    InvalidLookup,
    guessed_kind,
    looks_like_uuid,
    parse_customer_query,
    parse_new_app_user_id,
    ticket_url,
)
from console.formatting import literal_md
from console.identifiers import canonical_uuid
from console.last_good import Snapshot, describe_age, is_passing_failure
from console.messages import describe_error
from console.runtime import get_store
from console.store import StoreRejected, StoreUnavailable
from console.ui import backend_or_stop, show_error, show_message, show_stale, wait_for_lean
from console.ui_access import audit_view, current_actor
from console.ui_banks import load_bank_directory
from console.ui_customers import (
    RELOAD_AFTER_SECONDS,
    load_fresh_customer,
    load_page,
    may_reload,
    reload_customer,
    run_search,
)
from lean_api.calls import keep_caller
from lean_api.errors import ConflictError, LeanError, NotFoundError, RateLimitError
from lean_api.models import Customer

backend = backend_or_stop()
client = backend.client
KINDS = ["customer_id", "app_user_id"]
# "Find by": the kind of the text, or (the default) guessed from it as the Overview's box does.
EITHER = "either"
FIND_BY = [EITHER, *KINDS]
FIND_BY_WORDS = {EITHER: "customer_id or app_user_id"}


def tone_column(tones: ToneColumn, width: int | None, help: str | None = None) -> Any:
    """A status column drawn as pills: each cell's words on the colour of their tone."""
    return st.column_config.MultiselectColumn(
        width=width, help=help, options=tones.options, color=list(tones.colours) or None
    )


def customer_accounts(view: CustomerView, screen: CustomerScreen) -> None:
    """Every account of every bank connection with its balance; what Lean did not give, said."""
    if screen.accounts is not None:
        st.markdown(
            f"**Accounts** · {screen.account_rows:,} at {len(view.accounts):,} bank "
            f"connection{'' if len(view.accounts) == 1 else 's'}"
        )
        widths = screen.account_widths
        st.dataframe(
            screen.accounts,
            hide_index=True,
            width="stretch",
            key="customer_accounts",
            column_config={
                "Bank": st.column_config.TextColumn(width=widths["Bank"]),
                "Account": st.column_config.TextColumn(width=widths["Account"]),
                "Balance": st.column_config.TextColumn(width=widths["Balance"]),
                "IBAN": st.column_config.TextColumn(
                    width=widths["IBAN"],
                    help="Masked; the bank connection's screen shows it whole to a role that may.",
                ),
                "Status": st.column_config.TextColumn(width=widths["Status"]),
            },
        )
    elif view.entities and view.complete:
        st.caption("Lean lists no account at this customer's bank connections.")
    elif view.entities:
        st.markdown("**Accounts** · not loaded: Lean did not give them (below).")
    if view.problems:
        shown = "  \n".join(literal_md(problem) for problem in view.problems[:5])
        more = f"  \n…and {len(view.problems) - 5} more." if len(view.problems) > 5 else ""
        st.warning(
            f"**Lean did not give every part of this view**; the rest is shown.  \n{shown}{more}",
            icon=":material/warning:",
        )


def open_customer(customer_id: str) -> None:
    """Point the page (and its URL) at one customer."""
    open_lookup("customer_id", customer_id)


def open_lookup(kind: str, value: str) -> None:
    """Point the page (and its URL) at the customer of one lookup: a button's callback, so it
    holds whichever run follows the click (the button itself may not be drawn again)."""
    st.query_params.clear()
    st.query_params[kind] = value


def reload_row(
    query: CustomerQuery, customer: Customer, snapshot: Snapshot[CustomerScreen]
) -> None:
    """When Lean gave the view, and Reload: ask Lean again now, for every session."""
    row = st.container(horizontal=True, vertical_alignment="center", gap="small")
    if not snapshot.stale:
        fetched = snapshot.fetched_at.astimezone(UTC)
        row.caption(f"From Lean at {fetched:%H:%M:%S} UTC ({describe_age(snapshot.age())}).")
    rate_limited = isinstance(snapshot.error, RateLimitError)
    clicked = row.button(
        "Reload",
        icon=":material/refresh:",
        key="customer_reload",
        type="tertiary",
        disabled=rate_limited,
        help="Lean is rate-limiting: wait for the time it asked."
        if rate_limited
        else "Ask Lean for this customer again now, for everyone looking at it. Webhooks about "
        "the customer or a bank's availability reload it on their own.",
    )
    # A stale view's run has just asked Lean again: the click's own run is the retry.
    if not clicked or snapshot.stale:
        return
    if not may_reload(snapshot):
        st.toast(
            f"Lean answered {describe_age(snapshot.age())}: this is its latest answer. "
            f"Reload asks again once the view is {RELOAD_AFTER_SECONDS} s old.",
            icon=":material/schedule:",
        )
        return
    try:
        with st.spinner("Asking Lean for the customer again…", show_time=True):
            audited(
                current_actor(), "reload_customer", "customer", customer.customer_id,
                lambda: reload_customer(query, customer),
            )  # fmt: skip
    except AccessDenied as exc:
        st.error(str(exc), icon=":material/block:")
    except LeanError as exc:
        if is_passing_failure(exc):
            show_stale(replace(snapshot, error=exc), "customer")
        else:
            show_error(exc, "customer")
    else:
        st.rerun()


def selected_query() -> CustomerQuery | None:
    """The customer named in the URL, validated; an invalid one is reported inline."""
    for kind in KINDS:
        if kind in st.query_params:
            try:
                return parse_customer_query(kind, st.query_params[kind])
            except InvalidLookup as exc:
                st.error(f"The link names an invalid {kind}. {exc}")
                return None
    return None


st.title("Customers")
st.caption(
    "Look up a customer by Lean's `customer_id` or your `app_user_id`, browse all customers, or create one."
)

current = selected_query()
# The boxes show the customer the URL names: a deep link, a browse row or "Open the new
# customer" changes the URL and the boxes follow it, once per change (typing is kept). Find by
# stays on the guess when the guess gives the URL's kind.
if current != st.session_state.get("lookup_shown"):
    st.session_state.lookup_shown = current
    if current:
        guessed = guessed_kind(current.value) == current.kind
        st.session_state.lookup_kind = EITHER if guessed else current.kind
        st.session_state.lookup_value = current.value
st.session_state.setdefault("lookup_kind", EITHER)
st.session_state.setdefault("lookup_value", "")

with st.form("lookup", border=False):
    kind_col, value_col, button_col = st.columns([2, 4, 1], vertical_alignment="bottom")
    chosen = kind_col.selectbox(
        "Find by",
        FIND_BY,
        key="lookup_kind",
        format_func=lambda name: FIND_BY_WORDS.get(name, name),
        help="“customer_id or app_user_id” looks a UUID up as a customer_id and anything else "
        "as an app_user_id. Choose “app_user_id” for an app_user_id that is a UUID.",
    )
    raw = value_col.text_input(
        "Identifier",
        placeholder="f08fb010-878f-407a-9ac2-a7840fb56185  or  prod_usr_1246",
        key="lookup_value",
    )
    submitted = button_col.form_submit_button("Find", type="primary", width="stretch")

if submitted:
    kind = guessed_kind(raw) if chosen == EITHER else chosen
    try:
        query = parse_customer_query(kind, raw)
    except InvalidLookup as exc:
        st.error(str(exc))
        text = (raw or "").strip()
        # A customer_id written oddly (braces, no dashes) is not an app_user_id.
        if kind == "customer_id" and text and canonical_uuid(text) is None:
            st.info("If it is your own id for the customer, choose “app_user_id” in *Find by*.")
        # Nothing is shown now: the link no longer names the customer shown before.
        for name in KINDS:
            st.query_params.pop(name, None)
        current = None
    else:
        st.query_params.clear()
        st.query_params[query.kind] = query.value
        current = query
    # The URL now names what the boxes hold: the next run must not fill them from it again
    # (it replaced the next search typed with this one, and the kind chosen with the URL's).
    st.session_state.lookup_shown = current

if current:
    try:
        snapshot = wait_for_lean(
            f"Loading the customer by `{current.kind}`, their banks and accounts from Lean…",
            backend,
            ("customer", current.kind, current.value),
            lambda: load_fresh_customer(current),
            "customer",
        )
        screen = snapshot.value
        found, overview = screen.view, screen.overview
    except LeanError as exc:
        show_error(exc, "customer")
        if current.kind == "customer_id" and isinstance(exc, NotFoundError):
            st.info(
                "A UUID is looked up as a customer_id. If it is your own id for the customer, "
                "choose “app_user_id” in *Find by*."
            )
        elif current.kind == "app_user_id" and looks_like_uuid(current.value):
            st.info(
                "That looks like a customer_id: choose “customer_id” in *Find by* and search again."
            )
        elif current.kind == "app_user_id":
            st.caption("app_user_id lookups are exact and case-sensitive.")
    else:
        customer = overview.customer
        audit_view("view_customer", "customer", customer.customer_id)
        with st.container(border=True):
            st.subheader(literal_md(customer.app_user_id) or "(no app_user_id)", anchor=False)
            reload_row(current, customer, snapshot)
            st.code(customer.customer_id, language=None)
            counts = overview.counts
            c1, c2, c3, c4 = st.columns(4)
            c1.metric("Connected banks", counts["entities"])
            c2.metric("Active consents", counts["active"])
            c3.metric("Expiring within 7 days", counts["expiring_soon"])
            c4.metric(
                "Need attention",
                counts["needs_attention"],
                help="A consent that is not active, or a bank that Lean or we disabled "
                f"({counts['needs_reconnect']} need a reconnect, "
                f"{counts['bank_disabled']} at a disabled bank).",
            )
            if screen.entities is not None:
                widths = screen.entity_widths
                picked_entity = st.dataframe(
                    screen.entities,
                    hide_index=True,
                    width="stretch",
                    on_select="rerun",
                    selection_mode="single-row",
                    key="customer_entities",
                    column_config={
                        "Bank": st.column_config.TextColumn(width=widths["Bank"]),
                        "Consent": tone_column(
                            screen.entity_tones["Consent"],
                            widths["Consent"],
                            "In words, then Lean's status; the colour repeats it.",
                        ),
                        "Bank available": tone_column(
                            screen.entity_tones["Bank available"], widths["Bank available"]
                        ),
                        "Permissions": st.column_config.TextColumn(
                            width=widths["Permissions"],
                            help="Granted of Lean's nine; the bank connection's screen lists "
                            "each permission of each consent.",
                        ),
                        "Days left": st.column_config.TextColumn(width=widths["Days left"]),
                        "Needs attention": st.column_config.TextColumn(
                            width=widths["Needs attention"]
                        ),
                        "Connected": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
                        "Consent expires": st.column_config.DatetimeColumn(format="YYYY-MM-DD"),
                    },
                )
                st.caption("Select a bank row to open that bank connection.")
                if picked_entity and picked_entity.selection.rows:
                    st.switch_page(
                        "pages/entities.py",
                        query_params={
                            "entity_id": screen.entity_ids[picked_entity.selection.rows[0]],
                            "customer_id": customer.customer_id,
                        },
                    )
            else:
                st.info("This customer has not connected a bank yet.")
            customer_accounts(found, screen)
            st.page_link(
                "pages/webhooks.py",
                label="This customer's webhooks",
                icon=":material/webhook:",
                query_params={"customer_id": customer.customer_id},
            )
            full_link = ticket_url(
                st.context.url, st.context.headers.get("host"), customer.customer_id
            )
            st.caption(f"Link for a ticket: {literal_md(full_link)}")

st.divider()
actor = current_actor()
# A role that cannot create customers does not see the tab (the action checks the role again).
can_create = actor is not None and actor.may("create_customer")
# With a customer open, the lists wait in a closed expander: their queries and tables run only
# once it is opened, so a rerun of the customer's view (selecting a bank row) stays quick.
if current:
    lists_box = st.expander(
        "Browse or create customers", expanded=False, key="lists_box", on_change="rerun"
    )
    show_lists = bool(lists_box.open)
else:
    lists_box, show_lists = st.container(), True
tab_labels = ["Browse customers", "Create customer"] if can_create else ["Browse customers"]
tabs = lists_box.tabs(tab_labels) if show_lists else []

BROWSE_SIZES = [25, 50, 100]


def read_index() -> IndexStatus | None:
    """The book index's state, or None when the database cannot be read now."""
    try:
        return index_status(get_store())
    except (StoreUnavailable, StoreRejected):
        return None


def sync_controls(state: IndexStatus) -> None:
    """How fresh the index is, what the sync is doing, and "Sync now"."""
    note_col, button_col = st.columns([5, 1], vertical_alignment="center")
    running = state.last_sync is not None and state.last_sync.status == "running"
    actor = current_actor()
    if (
        actor is not None
        and actor.may("sync_book")
        and button_col.button("Sync now", key="browse_sync_now", disabled=running, width="stretch")
    ):
        started = start_book_sync(get_store(), backend.settings, actor)
        st.toast("Sync with Lean started." if started else "A sync is already running.")
        running = True
    with note_col:
        # While a sync runs, its progress refreshes on its own; when it ends, the whole tab does.
        st.fragment(run_every=2 if running else None)(keep_caller(sync_note))()


def sync_note() -> None:
    """The freshness note and the sync's progress (a fragment while a sync runs)."""
    state = read_index()
    if state is None:
        return
    st.caption(freshness_note(state))
    last = state.last_sync
    if last is not None and last.status == "running":
        st.session_state.browse_syncing = True
        st.caption(f"Syncing with Lean now — {last.describe(with_message=False)}")
        return
    if st.session_state.pop("browse_syncing", False):
        st.rerun()  # the sync finished: show the fresh rows
    if last is not None and last.status == "failed":
        st.caption(
            f"The last sync stopped ({literal_md(last.message)}); the next one resumes where it stopped."
        )


def page_buttons(page_number: int, pages: int, total: int) -> None:
    """◀ Previous · Page N of M · Next ▶"""
    prev_col, label_col, next_col = st.columns([1, 3, 1], vertical_alignment="center")
    if prev_col.button("◀ Previous", disabled=page_number == 0, width="stretch"):
        st.session_state.browse_page -= 1
        st.rerun()
    label_col.markdown(
        f"<div style='text-align:center'>Page {page_number + 1} of {pages} · {total:,} customers</div>",
        unsafe_allow_html=True,
    )
    if next_col.button("Next ▶", disabled=page_number + 1 >= pages, width="stretch"):
        st.session_state.browse_page += 1
        st.rerun()


def customer_table_to_open(
    data: Any, rows: list[dict[str, Any]], column_config: dict[str, Any] | None = None
) -> None:
    """A table of customers (`data` as shown, `rows` behind it); selecting a row opens one."""
    selection = st.dataframe(
        data,
        hide_index=True,
        width="stretch",
        column_config=column_config,
        on_select="rerun",
        selection_mode="single-row",
        key="browse_table",
    )
    picked = selection.selection.rows if selection else []
    if picked:
        open_customer(rows[picked[0]]["customer_id"])
        st.rerun()
    st.caption("Select a row to open the customer.")


def browse_from_index() -> None:
    """Customers from the book index: columns and queue filters, paged in the database."""
    search_col, size_col = st.columns([4, 1], vertical_alignment="bottom")
    search = search_col.text_input(
        "Search", placeholder="Part of an app_user_id or customer_id", key="browse_search"
    )
    page_size = size_col.selectbox("Rows per page", BROWSE_SIZES, key="browse_size")
    reconnect_col, down_col, expiring_col, days_col = st.columns(
        [1.3, 1.3, 1, 1], vertical_alignment="bottom"
    )
    reconnect = reconnect_col.checkbox(
        "Needs reconnect",
        key="browse_reconnect",
        help="A consent that is not active (or is past its expiry), or a bank that is down.",
    )
    bank_down = down_col.checkbox(
        "Bank currently down",
        key="browse_bank_down",
        help="By the latest bank.availability.updated webhook of each bank.",
    )
    expiring = expiring_col.checkbox("Consent expiring within", key="browse_expiring")
    days = days_col.number_input(
        "Days", min_value=1, max_value=365, value=30, step=1, key="browse_expiring_days"
    )
    flt = QueueFilter(search.strip(), reconnect, int(days) if expiring else None, bank_down)
    if st.session_state.get("browse_filter") != (flt, page_size):
        st.session_state.browse_filter = (flt, page_size)
        st.session_state.browse_page = 0
    page_number = st.session_state.setdefault("browse_page", 0)
    rows, total = customer_page(get_store(), flt, limit=page_size, offset=page_number * page_size)
    pages = max(1, -(-total // page_size))
    if page_number >= pages:
        st.session_state.browse_page = pages - 1
        st.rerun()
    try:
        with st.spinner("Loading bank names from Lean…"):
            directory = load_bank_directory(backend.key).value
    except LeanError:
        directory = {}  # identifiers instead of names; the list itself needs no Lean call
    table = customer_table(rows, bank_names={k: b.display_name for k, b in directory.items()})
    if table:
        shown = [dict(row) for row in table]
        worst = tone_pills(shown, "Worst consent")
        customer_table_to_open(
            shown,
            table,
            {"Worst consent": tone_column(worst, None, "The consent that needs most care.")},
        )
        page_buttons(page_number, pages, total)
    else:
        st.info("No customer in the index matches these filters.")


def browse_from_lean() -> None:
    """Lean's own customer list, page by page (no columns): while the index is empty."""
    search_col, size_col = st.columns([4, 1], vertical_alignment="bottom")
    search = search_col.text_input(
        "Search", placeholder="Part of an app_user_id or customer_id", key="browse_search"
    )
    page_size = size_col.selectbox("Rows per page", BROWSE_SIZES, key="browse_size")
    try:
        if search.strip():
            result = wait_for_lean(
                "Searching the customers in Lean…",
                backend,
                ("search", search.strip()),
                lambda: run_search(backend.key, search.strip()),
                "customer list",
            ).value
            rows = [
                {"app_user_id": c.app_user_id, "customer_id": c.customer_id} for c in result.matches
            ]
            scope = "all" if result.complete else f"the first {result.scanned:,}"
            st.caption(f"{len(rows)} match(es) in {scope} customers.")
        else:
            page_number = st.session_state.setdefault("browse_page", 0)
            rows, total, pages = wait_for_lean(
                "Loading the customer list from Lean…",
                backend,
                ("customer page", page_number, page_size),
                lambda: load_page(backend.key, page_number, page_size),
                "customer list",
            ).value
            if page_number >= pages and pages:
                st.session_state.browse_page = pages - 1
                st.rerun()
    except LeanError as exc:
        show_error(exc, "customer list")
        rows = []
    else:
        if rows:
            customer_table_to_open(rows, rows)
        elif search.strip():
            st.info("No customer matches that text.")
        if not search.strip() and rows:
            page_buttons(page_number, pages, total)


if show_lists:
    with tabs[0]:
        index_state = read_index()
        if index_state is None:
            st.warning(
                "The book index cannot be read now (the database is unavailable): showing Lean's own "
                "list, without the banks, consent and refresh columns."
            )
            browse_from_lean()
        elif index_state.customers:
            sync_controls(index_state)
            try:
                browse_from_index()
            except (StoreUnavailable, StoreRejected):
                st.warning("The book index cannot be read now: showing Lean's own list instead.")
                browse_from_lean()
        else:
            st.info(
                "The book index is empty until the first sync with Lean finishes: below is Lean's own "
                "list, without the banks, consent and refresh columns."
            )
            sync_controls(index_state)
            browse_from_lean()

    if can_create:
        with tabs[1]:
            with st.form("create_customer", border=False):
                new_app_user_id = st.text_input(
                    "app_user_id",
                    placeholder="prod_usr_1246",
                    help="Your own identifier for the user. Lean keeps it unique: one customer per app_user_id.",
                    key="create_app_user_id",
                )
                create = st.form_submit_button("Create customer", type="primary")
            if create:
                try:
                    app_user_id = parse_new_app_user_id(new_app_user_id)
                except InvalidLookup as exc:
                    st.error(str(exc))
                else:
                    try:
                        created = create_customer(client, app_user_id, current_actor())
                    except ConflictError as exc:
                        show_message(describe_error(exc, "customer"))
                        st.button(
                            f"Open the customer with app_user_id {literal_md(app_user_id)}",
                            icon=":material/open_in_new:",
                            key="create_open_existing",
                            on_click=open_lookup,
                            args=("app_user_id", app_user_id),
                        )
                    except LeanError as exc:
                        show_error(exc, "customer", changes_state=True)
                    except AccessDenied as exc:
                        st.error(str(exc), icon=":material/lock:")
                    else:
                        load_page.clear()
                        run_search.clear()
                        st.success(
                            f"Created customer {literal_md(created.customer_id)} "
                            f"for app_user_id {literal_md(created.app_user_id)}."
                        )
                        st.button(
                            "Open the new customer",
                            icon=":material/open_in_new:",
                            key="create_open_new",
                            on_click=open_lookup,
                            args=("customer_id", created.customer_id),
                        )
