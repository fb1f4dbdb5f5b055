"""Webhooks: the live inbox of Lean's events, one event in full, rejected deliveries, dead letters."""

from __future__ import annotations

import json

import streamlit as st

from console.book_queries import bank_of
from console.events import (
    NOT_REPORTED,
    NOT_REPORTED_NOTE,
    TIME_RANGES,
    TYPE_LABELS,
    arrival_delay,
    build_filter,
    event_links,
    inbox_rows,
    refresh_account_rows,
    refresh_status_cells,
    refresh_verdict,
    refresh_words,
    time_window,
)
from console.formatting import literal_md, styled_table, tone_of
from console.runtime import get_receiver, get_store
from console.store import EventFilter, StoreUnavailable
from console.ui import backend_or_stop
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
        try:
            st.json(json.loads(event.payload), expanded=2)
        except ValueError:
            st.code(event.payload, language="json")


def show_inbox(counts: dict[str, int]) -> None:
    """Filters, the live table, paging and CSV export."""
    type_options = [t for t, _ in store.event_types()]
    preset_types = [t for t in st.query_params.get_all("type") if t in type_options]
    banks = store.bank_identifiers()
    bank_param = st.query_params.get("bank")
    row1 = st.columns([3, 2, 2], vertical_alignment="bottom")
    types = row1[0].multiselect(
        "Type",
        type_options,
        default=preset_types,
        format_func=lambda t: TYPE_LABELS.get(t, t),
        key="wh_types",
    )
    bank = row1[1].selectbox(
        "Bank",
        ["All banks", *banks],
        index=(banks.index(bank_param) + 1) if bank_param in banks else 0,
        key="wh_bank",
        help="Refresh events name no bank: they are shown and found by their entity's bank, "
        "as the book index knows it.",
    )
    time_label = row1[2].selectbox(
        "Time range", [*TIME_RANGES, "Custom dates"], index=3, key="wh_range"
    )
    custom = None
    if time_label == "Custom dates":
        picked = st.date_input("Dates (UTC)", value=(), key="wh_dates")
        custom = tuple(picked) + (None,) * (2 - len(picked)) if picked else None
    row2 = st.columns([2, 2, 3], vertical_alignment="bottom")
    customer_id = row2[0].text_input(
        "customer_id", value=st.query_params.get("customer_id", ""), key="wh_customer"
    )
    entity_id = row2[1].text_input(
        "entity_id", value=st.query_params.get("entity_id", ""), key="wh_entity"
    )
    text = row2[2].text_input(
        "Search", placeholder="Any text in the payload, e.g. an IBAN or refresh_id", key="wh_text"
    )

    flt = build_filter(
        types=types,
        customer_id=customer_id,
        entity_id=entity_id,
        bank=None if bank == "All banks" else bank,
        window=time_window(time_label, custom=custom),
        text=text,
    )
    if refresh_id := st.query_params.get("refresh_id"):
        flt = EventFilter(**{**flt.__dict__, "refresh_id": refresh_id})
        st.caption(f"Showing the events of refresh {literal_md(refresh_id)}.")

    if st.session_state.get("wh_filter") != flt:
        st.session_state.wh_filter = flt
        st.session_state.wh_page = 0

    live = st.toggle("Live (refresh every 5 s)", value=True, key="wh_live")

    @st.fragment(run_every=5 if live else None)
    def inbox(flt: EventFilter) -> None:
        """The table, re-read from the store every few seconds while live."""
        try:
            inbox_table(flt)
        except StoreUnavailable as exc:
            store_unavailable(exc)

    def inbox_table(flt: EventFilter) -> None:
        total = store.count_events(flt)
        pages = max(1, -(-total // PAGE_SIZE))
        page = min(st.session_state.get("wh_page", 0), pages - 1)
        items = store.query_events(flt, limit=PAGE_SIZE, offset=page * PAGE_SIZE)
        if not items:
            st.info(
                "No events match these filters."
                if total == 0 and counts["events"]
                else "No webhook has been received yet."
            )
            return
        rows = inbox_rows(items)
        selection = st.dataframe(
            styled_table(rows, ["Status"]),
            hide_index=True,
            width="stretch",
            on_select="rerun",
            selection_mode="single-row",
            key="wh_table",
            column_config={
                "Occurred": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss"),
                "Received": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss"),
            },
        )
        if selection and selection.selection.rows:
            st.query_params["event_id"] = rows[selection.selection.rows[0]]["event_id"]
            st.rerun(scope="app")
        prev_col, label_col, next_col = st.columns([1, 3, 1], vertical_alignment="center")
        if prev_col.button("◀ Newer", disabled=page == 0, width="stretch", key="wh_prev"):
            st.session_state.wh_page = page - 1
            st.rerun(scope="fragment")
        label_col.markdown(
            f"<div style='text-align:center'>{page * PAGE_SIZE + 1:,}–{page * PAGE_SIZE + len(items):,} of {total:,} · "
            f"select a row to open the event</div>",
            unsafe_allow_html=True,
        )
        if next_col.button("Older ▶", disabled=page + 1 >= pages, width="stretch", key="wh_next"):
            st.session_state.wh_page = page + 1
            st.rerun(scope="fragment")

    inbox(flt)
    st.download_button(
        "Export the filtered list as CSV",
        data=lambda: store.export_csv(flt),
        file_name="lean-webhooks.csv",
        mime="text/csv",
        icon=":material/download:",
        on_click="ignore",
    )


def show_rejected() -> None:
    """Refused deliveries."""
    st.caption(
        "Deliveries refused before storing: bad or missing signature, source address not allowed, body too large."
    )
    rejected = store.list_rejections(limit=200)
    if rejected:
        st.dataframe(
            [
                {
                    "Received": r["received_at"],
                    "HTTP": r["status_code"],
                    "Reason": r["reason"],
                    "From": r["source_ip"],
                    "Size": r["size"],
                    "Signature header": r["signature"] or "",
                }
                for r in rejected
            ],
            hide_index=True,
            width="stretch",
            column_config={
                "Received": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss")
            },
        )
    else:
        st.info("No delivery has been rejected.")


def show_dead_letters() -> None:
    """Unreadable deliveries, bodies included."""
    st.caption(
        "Deliveries that passed the signature check but could not be read. Bodies are kept for inspection."
    )
    letters = store.list_dead_letters(limit=200)
    if letters:
        for letter in letters:
            with st.expander(
                f"{letter['received_at']:%Y-%m-%d %H:%M:%S} · {literal_md(letter['reason'])} · "
                f"{letter['size']:,} bytes"
            ):
                st.caption(
                    f"From {literal_md(letter['source_ip'] or '?')} · "
                    f"signature verified: {'yes' if letter['verified'] else 'no'}"
                )
                st.code(letter["body"][:20_000] or "(empty body)", language=None)
    else:
        st.info("No dead letters.")


try:
    if "event_id" in st.query_params:
        show_event(st.query_params["event_id"])
        st.stop()
    counts = {
        "events": store.count_events(),
        "rejections": store.count_table("rejections"),
        "dead_letters": store.count_table("dead_letters"),
    }
    inbox_tab, rejected_tab, dead_tab = st.tabs(
        [
            f"Inbox ({counts['events']:,})",
            f"Rejected ({counts['rejections']:,})",
            f"Dead letters ({counts['dead_letters']:,})",
        ]
    )
    with inbox_tab:
        show_inbox(counts)
    with rejected_tab:
        show_rejected()
    with dead_tab:
        show_dead_letters()
except StoreUnavailable as exc:
    store_unavailable(exc)
