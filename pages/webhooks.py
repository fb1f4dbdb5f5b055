"""Webhooks: the live inbox of Lean's events, one event in full, rejected deliveries, dead letters."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from urllib.parse import urlencode

import streamlit as st

from console.access import AccessDenied
from console.actions import audited
from console.book_queries import bank_of
from console.dead_letters import (
    BODIES_NEED,
    KEPT_APART,
    MAX_EXPORT,
    ReprocessOutcome,
    ReprocessSummary,
    UnknownDeadLetter,
    export_all,
    export_body,
    list_dead_letters,
    read_body,
    reprocess,
    reprocess_all,
)
from console.events import (
    COUNT_CAP,
    DEFAULT_RANGE,
    FIRST_DAY,
    INBOX_PARAMS,
    LAST_DAY,
    NOT_REPORTED,
    NOT_REPORTED_NOTE,
    RANGE_KEYS,
    TIME_RANGES,
    TYPE_LABELS,
    Count,
    InboxView,
    Refused,
    arrival_delay,
    bank_names,
    check_event_id,
    check_id,
    check_text,
    distinct_values,
    ensure_search_indexer,
    event_links,
    event_row_exists,
    event_statuses,
    export_inbox_csv,
    inbox_page,
    inbox_table_rows,
    parse_inbox_query,
    refresh_account_rows,
    refresh_status_cells,
    refresh_verdict,
    refresh_words,
    stored_events,
)
from console.formatting import literal_md, styled_table, tone_of
from console.masking import mask_payload, mask_text
from console.refreshes import pixels_for
from console.runtime import get_receiver, get_store
from console.store import StoreUnavailable
from console.ui import backend_or_stop
from console.ui_access import audit_view, current_actor, reveal_note, reveal_row
from console.webhooks import WEBHOOK_PATH

PAGE_SIZE = 50
LINKS_PER_ROW = 3
REFRESH_TYPE = "entity.data.refresh.updated"
WINDOW_COLUMNS = ("Transactions from", "Transactions to", "Complete months")
LEAN_REFRESH_WORDS = ("PENDING", "FINISHED", "OK")
DELTA_COLOURS = {"bad": "red", "warn": "orange", "good": "green"}


def store_unavailable(exc: StoreUnavailable) -> None:
    """Say the database is down; nothing on this page can be read until it is back."""
    st.error(
        f"**The event store is unavailable.** {literal_md(exc)}  \n"
        "Check DATABASE_URL and that the database is running."
    )


backend = backend_or_stop()
try:
    store = get_store()
    receiver = get_receiver()
except StoreUnavailable as exc:
    store_unavailable(exc)
    st.stop()

st.title("Webhooks")
verification = (
    "signatures are verified"
    if receiver.config.secret
    else "⚠ **unverified**: set LEAN_WEBHOOK_SECRET to verify signatures"
)
st.caption(
    f"Lean posts to `{WEBHOOK_PATH}` on this server; {verification}. Newest first by Lean's timestamp."
)


def show_event(event_id: str) -> None:
    """One event in full."""
    event = store.get_event(event_id)
    if st.button("← Back to the inbox"):
        # The inbox's filters and page stay in the URL: back is the same rows.
        del st.query_params["event_id"]
        st.rerun()
    if event is None:
        st.warning(f"No event with event_id {literal_md(event_id)} has been received.")
        return
    with st.container(border=True):
        st.subheader(TYPE_LABELS.get(event.type) or literal_md(event.type), anchor=False)
        st.code(event.event_id, language=None)
        verdict = refresh_verdict(event)
        outcome = refresh_words(event)
        tone = tone_of(outcome) if outcome else None
        c1, c2, c3, c4 = st.columns(4)
        c1.metric("Signature verified", "Yes" if event.verified else "No")
        c2.metric("Deliveries", event.delivery_count)
        other_letters, other_deliveries = store.other_bodies(event.event_id)
        if verdict:
            # A refresh's status is the console's verdict on its data; Lean's word is beside it,
            # in the same colour (FINISHED alone reads as success when data types failed).
            c3.metric(
                "Status",
                verdict,
                # Plain text: the delta is only Lean's word when it is one the console knows.
                delta=f"Lean: {(event.status or '').upper()}"
                if (event.status or "").upper() in LEAN_REFRESH_WORDS
                else None,
                delta_color=DELTA_COLOURS.get(tone or "", "gray"),
                delta_arrow="off",
                help="The console's verdict on the refreshed data, then Lean's status word",
            )
        else:
            c3.metric("Status", literal_md(event.status) or "—")
        c4.metric(
            "Arrived after", arrival_delay(event), help="First receipt minus Lean's timestamp"
        )
        occurred = (
            f"{event.lean_timestamp:%Y-%m-%d %H:%M:%S} UTC" if event.lean_timestamp else "not given"
        )
        st.markdown(
            f"**Type** {literal_md(event.type)} · **Occurred (Lean)** {occurred} · "
            f"**First received** {event.received_at:%Y-%m-%d %H:%M:%S} UTC · "
            f"**Last received** {event.last_received_at:%Y-%m-%d %H:%M:%S} UTC · "
            f"**From** {literal_md(event.source_ip or '?')} · "
            f"**Size** {event.size:,} bytes"
        )
        if event.type == REFRESH_TYPE:
            # Refresh events name no bank: the book index knows the entity's.
            bank = bank_of(store, entity_id=event.entity_id, refresh_id=event.refresh_id)
            st.markdown(
                f"**Bank** {literal_md(bank.identifier)}"
                + (f" · {literal_md(bank.name)}" if bank.name else "")
                if bank
                else "**Bank** not known yet: the book index has not seen this entity"
            )
        if other_letters:
            st.warning(
                f"{other_deliveries:,} of these {event.delivery_count:,} deliveries came with "
                f"another body ({other_letters:,} other bod{'y' if other_letters == 1 else 'ies'} "
                "in all). This event keeps the body it first came with; the others are kept "
                "apart under Dead letters."
            )
            st.page_link(
                "pages/webhooks.py",
                label="Dead letters",
                icon=":material/arrow_forward:",
                query_params={SECTION: "Dead letters"},
            )
        links = event_links(event)
        for start in range(0, len(links), LINKS_PER_ROW):
            row = links[start : start + LINKS_PER_ROW]
            for col, link in zip(st.columns(LINKS_PER_ROW), row, strict=False):
                with col:
                    st.page_link(
                        link.page,
                        label=link.markdown_label,
                        icon=":material/arrow_forward:",
                        query_params=link.query,
                    )
        if outcome:
            # Words first; the colour repeats them (a finished refresh with failures is not green).
            show_outcome = {"bad": st.error, "warn": st.warning, "good": st.success}.get(
                tone or "", st.info
            )
            status = f"{verdict} · Lean's status {literal_md(event.status)}" if verdict else ""
            show_outcome(f"**{status or 'Outcome'}** — {literal_md(outcome)}")
        account_rows = refresh_account_rows(event)
        if account_rows:
            st.markdown("**Each account, data type by data type**")
            cells = refresh_status_cells(account_rows)
            st.dataframe(
                styled_table(cells, ["Status"]),
                hide_index=True,
                width="stretch",
                height=min(36 + 35 * len(cells), 600),
                column_config={
                    "Account": st.column_config.TextColumn(width=310),
                    "Data type": st.column_config.TextColumn(width=170),
                    "Status": st.column_config.TextColumn(width=150),
                },
            )
            st.markdown("**Transaction window Lean reported per account**")
            st.dataframe(
                [
                    {"Account": row["Account"], **{k: row[k] for k in WINDOW_COLUMNS}}
                    for row in account_rows
                ],
                hide_index=True,
                width="stretch",
                column_config={"Account": st.column_config.TextColumn(width=310)},
            )
            if any(NOT_REPORTED in row.values() for row in account_rows):
                st.caption(NOT_REPORTED_NOTE)
        # The raw body may hold personal data (account holders, IBANs): masked unless this
        # event was revealed, with a reason, by a role that may.
        shown = reveal_row(
            "Payload",
            {"payload": "The whole payload of this event"},
            key=f"wh_reveal:{event.event_id}",
            subject_kind="event",
            subject=event.event_id,
        )
        reveal_note("event", event.event_id, key=f"wh_reveal_note:{event.event_id}")
        try:
            body = json.loads(event.payload)
        except ValueError:
            st.code(
                event.payload if "payload" in shown else mask_text(event.payload), language="json"
            )
        else:
            st.json(body if "payload" in shown else mask_payload(body), expanded=2)


SEEDED = "wh_seeded"
SEARCH_NEEDS = "reveal"  # free text reaches what is masked: the role that may reveal it
INPUT_PROBLEMS = "wh_input_problems"
SECTION = "section"
URL_WRITTEN = "wh_url_written"
ANY_STATUS = "Any status"
ALL_BANKS = "All banks"
VERIFIED_CHOICES = {"Either": None, "Verified only": True, "Unverified only": False}
CUSTOM_DATES = "Custom dates"


def url_params() -> dict[str, list[str]]:
    """The inbox's parameters as the browser sent them."""
    return {name: st.query_params.get_all(name) for name in INBOX_PARAMS}


def seed_inputs(view: InboxView) -> None:
    """Put the URL's view into the filter inputs (a pasted link, a link from another screen)."""
    state = st.session_state
    state.wh_types = list(view.types)
    state.wh_status = view.status or ANY_STATUS
    state.wh_bank = view.bank or ALL_BANKS
    state.wh_verified = next(k for k, v in VERIFIED_CHOICES.items() if v == view.verified)
    state.wh_range = view.time_label
    state.wh_dates = (view.date_from, view.date_to or view.date_from) if view.date_from else ()
    state.wh_customer = view.customer_id or ""
    state.wh_entity = view.entity_id or ""
    state.wh_refresh = view.refresh_id or ""
    state.wh_text = view.text or ""
    state[SEEDED] = view.filters
    state[INPUT_PROBLEMS] = []


def apply_inputs() -> None:
    """A filter changed: the URL says the new view, from its live first page."""
    state = st.session_state
    problems: list[str] = []

    def checked(check: Callable[[str], str | None], value: str) -> str | None:
        try:
            return check(value)
        except Refused as exc:
            problems.append(str(exc))
            return None

    dates = tuple(state.get("wh_dates") or ())
    custom = state.wh_range == CUSTOM_DATES and bool(dates)
    view = InboxView(
        types=tuple(state.wh_types),
        status=None if state.wh_status == ANY_STATUS else state.wh_status,
        bank=None if state.wh_bank == ALL_BANKS else state.wh_bank,
        verified=VERIFIED_CHOICES[state.wh_verified],
        range=next((k for k, v in RANGE_KEYS.items() if v == state.wh_range), DEFAULT_RANGE),
        date_from=dates[0] if custom else None,
        date_to=(dates[1] if len(dates) > 1 else dates[0]) if custom else None,
        customer_id=checked(lambda v: check_id("customer_id", v), state.wh_customer),
        entity_id=checked(lambda v: check_id("entity_id", v), state.wh_entity),
        refresh_id=checked(lambda v: check_id("refresh_id", v), state.wh_refresh),
        text=checked(check_text, state.wh_text),
    )
    set_url(view)
    # The inputs keep what was typed (a refused id stays visible beside its reason).
    state[SEEDED] = view
    state[INPUT_PROBLEMS] = problems


def set_url(view: InboxView, **extra: str) -> None:
    """The URL says `view` (and `extra`), nothing else but the open section."""
    section = st.query_params.get(SECTION)
    st.query_params.from_dict(
        {**view.to_query(), **({SECTION: section} if section else {}), **extra}
    )


def go_to(view: InboxView) -> None:
    """Show `view` (another page, the new events): the URL changes, the whole screen follows."""
    set_url(view)
    st.rerun(scope="app")


def ticket_link(view: InboxView) -> str:
    """The full link to exactly these rows, for a ticket."""
    query = urlencode(view.to_query(), doseq=True)
    page_url = st.context.url or ""
    if page_url.startswith(("http://", "https://")):
        base = page_url.split("?")[0].rstrip("/")
    else:
        base = f"http://{st.context.headers.get('Host') or 'localhost:8501'}/webhooks"
    return f"{base}?{query}" if query else base


def show_inbox(stored: Count) -> None:
    """Filters (all in the URL), the list anchored on what the reader sees, paging and export."""
    st.caption(
        f"Inbox ({stored.words} events stored): filter, page, open one; the URL keeps it all."
    )
    # One index seek per value: a DISTINCT or GROUP BY would read every stored event.
    stored_types = distinct_values(store, "type")
    stored_banks = distinct_values(store, "bank_identifier")
    stored_statuses = event_statuses(store)
    names = bank_names(store)
    view, url_problems = parse_inbox_query(
        url_params(), {"type": stored_types, "bank": stored_banks, "status": stored_statuses}
    )
    reader = current_actor()
    may_search = reader is not None and reader.may(SEARCH_NEEDS)
    if view.text and not may_search:
        # A match would confirm text masked for this role (an IBAN or a national ID, found
        # one digit at a time); the id filters stay open to every role.
        st.warning(
            "Searching the bodies needs the support role: a match would confirm data that is "
            "masked for you. The search is left out; filter by customer, entity or refresh id."
        )
        view = replace(view, text=None)
    if st.session_state.get(SEEDED) != view.filters or "wh_types" not in st.session_state:
        seed_inputs(view)
    if url_problems:
        st.error(
            "**This link has values the inbox refuses; they are left out of the filters.**  \n"
            + "  \n".join(f"• {problem}" for problem in url_problems)
        )
    if view.before and not event_row_exists(store, view.before):
        st.warning("This link's page position names an event this store does not have; "
                   "showing the first page.")  # fmt: skip
        view = replace(view, before=None)
    if not url_problems and st.session_state.get(URL_WRITTEN) != view:
        # A link within the console (st.page_link to this same page) does not always show its
        # query in the address bar: say the view there, so a copied link is what is on screen.
        set_url(view)
        st.session_state[URL_WRITTEN] = view

    type_options = list(dict.fromkeys([*stored_types, *view.types]))
    banks = list(dict.fromkeys([*stored_banks, *([view.bank] if view.bank else [])]))
    statuses = list(dict.fromkeys([*stored_statuses, *([view.status] if view.status else [])]))
    row1 = st.columns([4, 2, 2, 2, 2], vertical_alignment="bottom")
    row1[0].multiselect(
        "Type",
        type_options,
        format_func=lambda t: TYPE_LABELS.get(t, t),
        key="wh_types",
        on_change=apply_inputs,
    )
    row1[1].selectbox(
        "Lean status", [ANY_STATUS, *statuses], key="wh_status", on_change=apply_inputs,
        help="The status word Lean sent (a refresh's FINISHED, PENDING…).",
    )  # fmt: skip
    row1[2].selectbox(
        "Bank",
        [ALL_BANKS, *banks],
        key="wh_bank",
        on_change=apply_inputs,
        # Options are plain text: a name Lean sent is shown as itself.
        format_func=lambda b: names.get(b, b),
        help="Refresh events name no bank: they are shown and found by their entity's bank, "
        "as the book index knows it.",
    )
    row1[3].selectbox(
        "Signature", list(VERIFIED_CHOICES), key="wh_verified", on_change=apply_inputs
    )
    row1[4].selectbox(
        "Time range (UTC)", [*TIME_RANGES, CUSTOM_DATES], key="wh_range", on_change=apply_inputs
    )
    if st.session_state.wh_range == CUSTOM_DATES:
        st.date_input(
            "Dates (UTC, both included)",
            key="wh_dates",
            min_value=FIRST_DAY,
            max_value=LAST_DAY,
            on_change=apply_inputs,
        )
    row2 = st.columns(4, vertical_alignment="bottom")
    row2[0].text_input("customer_id", key="wh_customer", on_change=apply_inputs)
    row2[1].text_input("entity_id", key="wh_entity", on_change=apply_inputs)
    row2[2].text_input("refresh_id", key="wh_refresh", on_change=apply_inputs)
    row2[3].text_input(
        "Search",
        placeholder="Any text in the payload, e.g. an IBAN or event_id",
        help="Support and admin: a match could confirm masked data. "
        "Any part of the body, event_id or type, as typed (case aside; % and _ are plain "
        "characters). Three characters or more are looked up in the text index.",
        key="wh_text",
        on_change=apply_inputs,
        disabled=not may_search,
    )
    for problem in st.session_state.get(INPUT_PROBLEMS, []):
        st.error(f"Not applied: {problem}")

    live = st.toggle(
        "Live (refresh every 5 s)",
        value=True,
        key="wh_live",
        help="On the first page new events appear at the top. On a later page, or back from "
        "an event, the rows stay put and new events are announced instead.",
    )

    @st.fragment(run_every=5 if live else None)
    def inbox(view: InboxView) -> None:
        """The table, re-read from the store every few seconds while live."""
        try:
            inbox_table(view)
        except StoreUnavailable as exc:
            store_unavailable(exc)

    def inbox_table(view: InboxView) -> None:
        page = inbox_page(store, view, page_size=PAGE_SIZE)
        if page.new_events:
            # The reader's rows never move: newer events wait until asked for.
            note, show = st.columns([4, 1], vertical_alignment="center")
            note.info(
                f"**{page.new_events_words}** arrived since this list was opened.",
                icon=":material/notifications:",
            )
            if show.button("Show them", key="wh_show_new", type="primary", width="stretch"):
                go_to(view.filters)
        if not page.items:
            st.info(
                "No events match these filters."
                if stored.value
                else "No webhook has been received yet. Lean posts them to this server as they "
                "happen."
            )
            if stored.value and view.text and any("\u0600" <= ch <= "\u06ff" for ch in view.text):
                # The screens show banks' Arabic names from Lean's bank list; its webhooks name
                # a bank by identifier and English name (the reference's examples, the sandbox).
                st.caption(
                    "Lean's webhooks name banks by identifier and English name: to find a bank's "
                    "events, choose it under *Bank*."
                )
            return
        rows = inbox_table_rows(page.items, names)
        selection = st.dataframe(
            styled_table(rows, ["Status"]),
            hide_index=True,
            width="stretch",
            on_select="rerun",
            selection_mode="single-row",
            # A new key per opened event: back in the inbox, no row is still selected.
            key=f"wh_table_{st.session_state.get('wh_opened', 0)}",
            column_config=INBOX_COLUMNS,
            column_order=inbox_order(rows),
        )
        if selection and selection.selection.rows:
            # An open row pins the list: back from the event, the same rows are there.
            st.session_state.wh_opened = st.session_state.get("wh_opened", 0) + 1
            set_url(replace(view, asof=page.asof),
                    event_id=rows[selection.selection.rows[0]]["event_id"])  # fmt: skip
            st.rerun(scope="app")
        prev_col, label_col, next_col = st.columns([1, 3, 1], vertical_alignment="center")
        if prev_col.button("◀ Newer", disabled=not page.has_newer, width="stretch", key="wh_prev"):
            go_to(replace(view, asof=page.asof, before=page.newer))
        label_col.markdown(
            f"<div style='text-align:center'>{page.position_words} · select a row to open the "
            "event</div>",
            unsafe_allow_html=True,
        )
        if page.total_estimated:
            label_col.caption(
                f"Counts over {COUNT_CAP:,} are estimated from a random sample of the stored "
                "events (“about”); the rows themselves are exact."
            )
        if next_col.button("Older ▶", disabled=page.older is None, width="stretch", key="wh_next"):
            go_to(replace(view, asof=page.asof, before=page.older))
        with st.popover("Link for a ticket", icon=":material/link:"):
            st.caption(
                "Opens exactly these rows for whoever has access (filters, page and the events "
                "known now). A relative time range follows the clock; pick Custom dates to fix it."
            )
            st.code(ticket_link(replace(view, asof=page.asof)), language=None, wrap_lines=True)

    inbox(view)

    def export() -> str:
        return audited(
            current_actor(), "export", "webhook_events", urlencode(view.filters.to_query(), doseq=True) or "all",
            lambda: export_inbox_csv(store, replace(view, before=None)),
            store=store,
            detail=lambda csv: f"{len(csv):,} characters of CSV (masked)",
        )  # fmt: skip

    st.download_button(
        "Export the filtered list as CSV",
        data=export,
        file_name="lean-webhooks.csv",
        mime="text/csv",
        icon=":material/download:",
        on_click="ignore",
    )


INBOX_COLUMNS = {
    "Occurred (UTC)": st.column_config.DatetimeColumn(
        format="YYYY-MM-DD HH:mm:ss", width=140, help="Lean's timestamp, else first receipt"
    ),
    "Type": st.column_config.TextColumn(width=115),
    # "Data failed · FINISHED" whole.
    "Status": st.column_config.TextColumn(width=150),
    "Summary": st.column_config.TextColumn(width=245, help="Open the event for all of it"),
    "Bank": st.column_config.TextColumn(width=130),
    "Verified": st.column_config.TextColumn(width=65, help="Signature verified"),
}


def inbox_order(rows: list[dict[str, object]]) -> list[str]:
    """What fits 1280 px beside the sidebar; deliveries, arrival, app_user_id and event_id are in
    the opened event and the CSV. "Verified" only when a row on the page is not: with a secret
    set, every stored event is (unsigned deliveries are refused), and the column said "Yes" on
    every row while the summary beside it was cut."""
    order = list(INBOX_COLUMNS)
    if all(row.get("Verified") == "Yes" for row in rows):
        order.remove("Verified")
    return order


def counted(total: int, words: str, shown: int = 200) -> str:
    """ "**1,234** refused in all, newest 200 below." — or only the count when all are listed."""
    if total <= shown:
        return f"**{total:,}** {words}."
    return f"**{total:,}** {words}, newest {shown} below."


def show_rejected() -> None:
    """Refused deliveries (admin): what each body claimed to be is shown, never trusted."""
    st.caption(
        f"{counted(store.count_table('rejections'), 'refused in all')} "
        "Deliveries refused before storing: bad or missing signature, source address not "
        "allowed, body too large. The **claimed (unverified)** columns are what the refused body "
        "said about itself; it failed the checks, so treat them as leads, never as facts."
    )
    rejected = store.list_rejections(limit=200)
    if not rejected:
        st.info("No delivery has been rejected.")
        return
    stamp = st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss", width=140)
    st.dataframe(
        [
            {
                "Received (UTC)": r["received_at"],
                "HTTP": r["status_code"],
                "Reason": r["reason"],
                "From": r["source_ip"],
                "Size (bytes)": r["size"],
                "Signature header": r["signature"] or "",
            }
            for r in rejected
        ],
        hide_index=True,
        width="stretch",
        column_config={
            "Received (UTC)": stamp,
            "HTTP": st.column_config.NumberColumn(width=50),
            # The reason whole at 1280 px beside when, the status and the sender (the longest,
            # "LEAN_WEBHOOK_SECRET is not configured…", is 68 characters); the size and the
            # signature header follow, to the right.
            "Reason": st.column_config.TextColumn(
                width=pixels_for((r["reason"] for r in rejected), least=150, most=450)
            ),
            "From": st.column_config.TextColumn(width=115),
            "Size (bytes)": st.column_config.NumberColumn(width=85),
            "Signature header": st.column_config.TextColumn(width=160),
        },
    )
    st.markdown("**What each refused body claimed to be — claimed (unverified)**")
    claimed = st.column_config.TextColumn(width=250)
    st.dataframe(
        [
            {
                "Received (UTC)": r["received_at"],
                "Type claimed (unverified)": r.get("claimed_type") or "",
                "customer_id claimed (unverified)": r.get("claimed_customer_id") or "",
                "entity_id claimed (unverified)": r.get("claimed_entity_id") or "",
            }
            for r in rejected
        ],
        hide_index=True,
        width="stretch",
        column_config={
            "Received (UTC)": stamp,
            "Type claimed (unverified)": st.column_config.TextColumn(width=150),
            "customer_id claimed (unverified)": claimed,
            "entity_id claimed (unverified)": claimed,
        },
    )


def show_dead_letters() -> None:
    """Unreadable deliveries: listed for all; bodies, downloads and reprocessing for admins."""
    actor = current_actor()
    may_handle = actor is not None and actor.may(BODIES_NEED)
    st.caption(
        f"{counted(store.count_table('dead_letters'), 'in all')} "
        "Deliveries that passed the signature check but could not be stored as events. Bodies "
        "are kept; they may hold personal data, so only admins see, download and reprocess them."
        " Reprocess once the cause is fixed: each body goes through the receiver's own parsing, "
        "becomes an event once (an event already stored is counted), and the letter stays, "
        "marked with the outcome. A body that came with the event_id of an event stored with "
        "another body is *kept apart*: the event keeps its first body, and this one stays here."
    )
    if notice := st.session_state.pop("wh_reprocess_notice", None):
        tone, words = notice
        {"good": st.success, "warn": st.warning, "bad": st.error}[tone](words)
    letters = list_dead_letters(store, limit=200)
    if not letters:
        st.info("No dead letters: every delivery that passed the checks was stored as an event.")
        return
    rows = [
        {
            "State": letter.state_words,
            "Reason": letter.reason,
            "Size (bytes)": letter.size,
            "Deliveries": letter.deliveries,
            "First received (UTC)": letter.received_at,
            "Last received (UTC)": letter.last_received_at,
            "Verified": "Yes" if letter.verified else "No",
        }
        for letter in letters
    ]
    stamp = st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm", width=130)
    selection = st.dataframe(
        rows,
        hide_index=True,
        width="stretch",
        on_select="rerun" if may_handle else "ignore",
        selection_mode="single-row",
        key="wh_dead_table",
        column_config={
            "State": st.column_config.TextColumn(width=140),
            # The start of a reason says what it is (a kept-apart body names its event first).
            "Reason": st.column_config.TextColumn(
                width=pixels_for((letter.reason for letter in letters), least=165, most=330)
            ),
            "Size (bytes)": st.column_config.NumberColumn(width=70),
            "Deliveries": st.column_config.NumberColumn(width=70),
            "First received (UTC)": stamp,
            "Last received (UTC)": stamp,
            "Verified": st.column_config.TextColumn(width=60),
        },
    )
    if not may_handle:
        st.caption("Bodies, downloads and reprocessing need the admin role.")
        return
    waiting = sum(not letter.done for letter in letters)
    all_col, download_col = st.columns(2)
    if all_col.button(
        f"Reprocess all {waiting:,} not yet stored" if waiting else "Nothing left to reprocess",
        disabled=not waiting,
        icon=":material/replay:",
        key="wh_reprocess_all",
    ):
        run_reprocess(lambda: reprocess_all(store, actor))
    download_col.download_button(
        "Download all as JSON",
        data=lambda: export_all(store, actor),
        file_name="lean-dead-letters.json",
        mime="application/json",
        icon=":material/download:",
        on_click="ignore",
        help=f"The newest {MAX_EXPORT:,} dead letters with their bodies as kept; audited.",
    )
    picked = selection.selection.rows if selection else []
    if not picked:
        st.caption("Select a dead letter to see its body, download it or reprocess it alone.")
        return
    letter = letters[picked[0]]
    with st.container(border=True):
        st.markdown(
            f"**Dead letter {letter.id}** · {letter.state_words} · {letter.size:,} bytes · "
            f"from {literal_md(letter.source_ip or '?')}  \n**Reason** {literal_md(letter.reason)}"
        )
        if letter.reprocessed_at:
            st.markdown(
                f"**Reprocessed** {letter.reprocessed_at:%Y-%m-%d %H:%M:%S} UTC · "
                f"{literal_md(letter.reprocess_outcome or '')}"
            )
        one, body_col = st.columns(2)
        if one.button(
            "Reprocess this one",
            disabled=letter.done,
            icon=":material/replay:",
            key=f"wh_reprocess_{letter.id}",
        ):
            run_reprocess(lambda: reprocess(store, actor, letter.id))
        body_col.download_button(
            "Download its body",
            data=lambda: export_body(store, actor, letter.id),
            file_name=f"dead-letter-{letter.id}.json",
            mime="application/json",
            icon=":material/download:",
            on_click="ignore",
            help="The raw body as kept (audited); `python -m console.replay` can post it again.",
            key=f"wh_body_{letter.id}",
        )
        audit_view("view_dead_letter", "dead_letter", str(letter.id))
        st.code(
            read_body(store, actor, letter.id)[:20_000] or "(empty body)",
            language=None,
            wrap_lines=True,
        )


def run_reprocess(action: Callable[[], ReprocessOutcome | ReprocessSummary]) -> None:
    """Run a reprocess and keep its outcome for the next run (the list changes under it)."""
    try:
        result = action()
    except AccessDenied as exc:
        st.error(literal_md(str(exc)))
        return
    except UnknownDeadLetter:
        st.warning("That dead letter is no longer there.")
        return
    if isinstance(result, ReprocessSummary):
        failed = result.count("failed") + result.count(KEPT_APART)
        notice = ("warn" if failed else "good", f"Reprocessed: {literal_md(result.words)}.")
    elif result.kind == "failed":
        notice = ("bad", f"Still a dead letter: {literal_md(result.text)}")
    elif result.kind == KEPT_APART:
        notice = ("warn", f"Not an event: {literal_md(result.text)}")
    else:
        notice = ("good", f"Reprocessed: {literal_md(result.text)}")
    st.session_state["wh_reprocess_notice"] = notice
    st.rerun()


try:
    if "event_id" in st.query_params:
        # The filter inputs are not drawn here, and Streamlit forgets the state of inputs a run
        # does not draw: back in the inbox they are filled from the URL again, which still
        # holds the view (without this they came back empty while the rows stayed filtered,
        # and the next change of a filter dropped the others).
        st.session_state.pop(SEEDED, None)
        try:
            wanted = check_event_id(st.query_params["event_id"])
        except Refused as exc:
            st.error(f"**This link names no event the console can look up.** {exc}")
            if st.button("← Back to the inbox"):
                del st.query_params["event_id"]
                st.rerun()
            st.stop()
        show_event(wanted)
        st.stop()
    actor = current_actor()
    stored = stored_events(store)
    # New events reach the text index in batches behind the receiver (one thread per process).
    ensure_search_indexer(store)
    # Stable labels (no counts): the open one is a widget value bound to the URL, and a label
    # that changed with every arriving event would rerun the screen with every event.
    sections = {"inbox": "Inbox", "dead": "Dead letters"}
    if actor is not None and actor.may("see_rejections"):
        sections = {"inbox": "Inbox", "rejected": "Rejected", "dead": "Dead letters"}
    # The open section is in the URL too (`section=Rejected`); only its content runs.
    tabs = dict(
        zip(sections, st.tabs(list(sections.values()), key=SECTION, bind="query-params"),
            strict=True)
    )  # fmt: skip
    if tabs["inbox"].open is not False:
        with tabs["inbox"]:
            show_inbox(stored)
    if "rejected" in tabs and tabs["rejected"].open:
        with tabs["rejected"]:
            show_rejected()
    if tabs["dead"].open:
        with tabs["dead"]:
            show_dead_letters()
except StoreUnavailable as exc:
    store_unavailable(exc)
