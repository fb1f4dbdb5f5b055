"""Request log (admins): every call this console made to Lean, which screen asked and for whom,
and how it went. `/requests?period=…&status=…&outcome=…&route=…&screen=…&q=…&before=…`."""

from __future__ import annotations

import streamlit as st

from console.access import AccessDenied, require
from console.formatting import fit_ids, literal_md, rows_words
from console.refreshes import pixels_for
from console.request_log import (
    DAYS_SETTING,
    PERIODS,
    STATUS_CLASSES,
    TEXT_MAX,
    TIME_COLUMN,
    RequestLogConfigError,
    ScreenQuery,
    call_links,
    call_stats,
    detail_rows,
    distinct_values,
    export_calls,
    page_position,
    request_log_for,
    retention_days,
    search_calls,
    table_rows,
)
from console.runtime import get_store
from console.store import StoreRejected, StoreUnavailable
from console.ui import own_page_link
from console.ui_access import current_actor
from lean_api.calls import OUTCOMES

PAGE_SIZE = 50
# The table's width at 1280 px beside the selection boxes. The time, the answer and Lean's code
# whole (the code is what an escalation quotes); the call gets what they leave, its first id whole
# on most pages; the latency, who asked and the results_id follow, to the right.
TABLE_PIXELS = 755
TIME_PIXELS, MS_PIXELS, CALL_LEAST_PIXELS = 100, 50, 240
CELL_PIXELS = 18  # a cell's padding
# Paths and ids run wider than words; the column is sized with the same figure the call is cut
# to, or a call fitted to its width was drawn cut again (at 6.2 px a character).
CALL_CHAR_PIXELS = 6.6


def text_pixels(texts: list[str], *, per_char: float, least: int, most: int) -> int:
    """A column's width for the longest of `texts` in the table's font (`per_char`: 6.1 for
    words, 7.3 for Lean's upper-case codes)."""
    return pixels_for(texts, least=least, most=most, per_char=per_char, padding=CELL_PIXELS)


ANY = ""

st.title("Request log")
actor = current_actor()
try:
    require(actor, "see_request_log")
except AccessDenied as exc:
    # The page is only in an admin's navigation; a pasted link gets this sentence.
    st.error(str(exc), icon=":material/lock:")
    st.stop()
try:
    days = retention_days()
except RequestLogConfigError as exc:
    st.error(literal_md(str(exc)))
    st.stop()
st.caption(
    "Every call this console made to Lean: which screen asked and for whom, the answer, Lean's "
    f"code and results_id, how long it took. Kept {days} days ({DAYS_SETTING})."
)

query = ScreenQuery.from_params(st.query_params.to_dict())
if query.problems:
    st.warning(
        "The link had filters this screen cannot use; they are ignored: "
        + ", ".join(sorted(set(query.problems)))
        + "."
    )
store = get_store()
try:
    known_routes = distinct_values(store, "route")
    known_screens = distinct_values(store, "screen")
except (StoreUnavailable, StoreRejected) as exc:
    st.error(f"**The console's database is not answering.** {literal_md(str(exc))}")
    st.stop()


def choices(known: list[str], wanted: str) -> list[str]:
    """`known` with "any" first and the URL's value kept even if the log has not seen it."""
    return [ANY, *known, *([wanted] if wanted and wanted not in known else [])]


route_choices = choices(known_routes, query.route)
screen_choices = choices(known_screens, query.screen)
status_choices = [ANY, *STATUS_CLASSES]
outcome_choices = [ANY, *OUTCOMES]
period_choices = list(PERIODS)

with st.form("request_filters", border=False):
    q_col, period_col, status_col, outcome_col = st.columns([4, 2, 2, 2])
    typed = q_col.text_input(
        "Id or endpoint",
        value=query.q,
        placeholder="customer_id, entity_id, refresh_id, results_id or part of a path",
    )
    period = period_col.selectbox(
        "In", period_choices, index=period_choices.index(query.period),
        format_func=lambda name: PERIODS[name][0],
    )  # fmt: skip
    status = status_col.selectbox(
        "Status", status_choices, index=status_choices.index(query.status),
        format_func=lambda name: name or "any",
    )  # fmt: skip
    outcome = outcome_col.selectbox(
        "Outcome", outcome_choices, index=outcome_choices.index(query.outcome),
        format_func=lambda name: name or "any",
    )  # fmt: skip
    route_col, screen_col, button_col = st.columns([4, 4, 2], vertical_alignment="bottom")
    route = route_col.selectbox(
        "Route", route_choices, index=route_choices.index(query.route),
        format_func=lambda name: name or "any",
    )  # fmt: skip
    screen = screen_col.selectbox(
        "Screen", screen_choices, index=screen_choices.index(query.screen),
        format_func=lambda name: name or "any",
    )  # fmt: skip
    if button_col.form_submit_button("Search", type="primary", width="stretch"):
        # No `max_chars` on the box: a longer paste was dropped whole in the browser, without a
        # word. It stays in the box and is refused here, the filters left as they were.
        text = typed.strip()
        if len(text) > TEXT_MAX:
            st.error(
                f"That is {len(text):,} characters; an id or endpoint to look for is at "
                f"most {TEXT_MAX}. Paste one id, or part of a path."
            )
        else:
            chosen = ScreenQuery(period, status, outcome, route, screen, text)
            st.query_params.from_dict(chosen.params())
            st.rerun()

flt = query.to_filter()


def go_to(before: int | None) -> None:
    """Another page of the same calls (the URL names it, for a ticket)."""
    if before is None:
        st.query_params.pop("before", None)
    else:
        st.query_params["before"] = str(before)


try:
    stats = call_stats(store, flt)
    calls = search_calls(store, flt, before_id=query.before, limit=PAGE_SIZE)
    start, newer = page_position(store, flt, query.before, page_size=PAGE_SIZE)
except (StoreUnavailable, StoreRejected) as exc:
    st.error(f"**The console's database is not answering.** {literal_md(str(exc))}")
    st.stop()

recorder = request_log_for(store)
if recorder.dropped or recorder.lost:
    st.warning(
        f"{recorder.dropped + recorder.lost:,} calls since this console started were not recorded "
        "(the database could not keep up or refused them); see the server log.",
        icon=":material/warning:",
    )

count_col, error_col, p50_col, p95_col = st.columns(4)
count_col.metric("Calls", f"{stats.count:,}")
error_col.metric(
    "Did not end ok", f"{stats.error_rate:.1%}" if stats.count else "–",
    help="Share of the matching calls whose outcome is not ok (errors, timeouts, 404s…).",
)  # fmt: skip
p50_col.metric("Median latency", f"{stats.p50_ms:,.0f} ms" if stats.p50_ms is not None else "–")
p95_col.metric(
    "p95 latency", f"{stats.p95_ms:,.0f} ms" if stats.p95_ms is not None else "–",
    help="95% of the matching calls took at most this long (the whole call: token, retries "
    "and waits included).",
)  # fmt: skip
if stats.sampled:
    st.caption("Latencies are read from the newest 20,000 matching calls.")

if stats.by_route:
    with st.expander("By route", icon=":material/route:"):
        st.dataframe(
            [
                {
                    "Route": r.route,
                    "Calls": r.count,
                    "Did not end ok": f"{r.error_rate:.1%}",
                    "p50 ms": r.p50_ms,
                    "p95 ms": r.p95_ms,
                }
                for r in stats.by_route
            ],
            hide_index=True,
            width="stretch",
        )

if not calls:
    if query.before:
        st.info("No older calls match these filters.")
    elif stats.count == 0 and not any(query.params().get(n) for n in ("q", "status", "outcome")):
        st.info(
            "No call to Lean is recorded in this period. Every call a screen makes (looking up a "
            "customer, opening a bank connection, its data or refreshes) and every call of the "
            "background book sync is recorded here as it finishes, with the screen and the "
            "person that asked. Open a customer on the Customers screen and come back."
        )
    else:
        st.info("No call matches these filters. Widen the period or clear a filter.")
else:
    # A call whole when it fits 1280 px beside the answer and Lean's code; a longer one keeps its
    # first id whole and the start of the others, or is cut (select the row for all of it).
    table = table_rows(calls)
    answer_px = text_pixels([row["Answer"] for row in table], per_char=6.1, least=70, most=150)
    code_px = text_pixels([row["Lean code"] for row in table], per_char=7.3, least=85, most=200)
    beside = TABLE_PIXELS - TIME_PIXELS - answer_px - code_px
    # The latency too when the call keeps its first id whole beside it (about 60 characters).
    call_px = max(CALL_LEAST_PIXELS, beside - MS_PIXELS if beside - MS_PIXELS >= 380 else beside)
    call_chars = int((call_px - CELL_PIXELS) / CALL_CHAR_PIXELS)
    shown = [{**row, "Call": fit_ids(row["Call"], call_chars)} for row in table]
    picked = st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        key="request_table",
        column_order=(
            TIME_COLUMN,
            "Call",
            "Answer",
            "Lean code",
            "ms",
            "Screen",
            "Actor",
            "results_id",
            "Retries",
        ),
        column_config={
            TIME_COLUMN: st.column_config.TextColumn(width=TIME_PIXELS),
            "Call": st.column_config.TextColumn(
                width=min(
                    call_px,
                    text_pixels(
                        [r["Call"] for r in shown], per_char=CALL_CHAR_PIXELS, least=175, most=560
                    ),
                ),
                help="Method and endpoint as sent (select the row for all of it)",
            ),
            "Answer": st.column_config.TextColumn(
                width=answer_px, help="HTTP status (or no answer) and the outcome word"
            ),
            "Lean code": st.column_config.TextColumn(
                width=code_px, help="Lean's own error code, when it gave one"
            ),
            "results_id": st.column_config.TextColumn(width=70),
            "ms": st.column_config.NumberColumn(
                "ms", width=MS_PIXELS, format="%d", help="The whole call: token, retries, waits"
            ),
            "Retries": st.column_config.NumberColumn(width=50),
            "Screen": st.column_config.TextColumn(width=80),
            "Actor": st.column_config.TextColumn(width=80),
        },
    )
    last = calls[-1]["id"]
    newest_col, newer_col, note_col, older_col = st.columns(
        [1, 1, 5, 1], vertical_alignment="center"
    )
    note_col.caption(
        f"Newest first: {rows_words(start, len(calls), stats.count)} calls. "
        "Select a row for the whole call."
    )
    # Callbacks: the cursor is the one of the rows the reader saw, whatever was logged since.
    if query.before:
        newest_col.button(
            "Newest", icon=":material/first_page:", width="stretch",
            on_click=go_to, args=(None,),
        )  # fmt: skip
        newer_col.button(
            "Newer", icon=":material/navigate_before:", width="stretch",
            on_click=go_to, args=(newer,),
        )  # fmt: skip
    if len(calls) == PAGE_SIZE:
        older_col.button(
            "Older", icon=":material/navigate_next:", width="stretch",
            on_click=go_to, args=(last,),
        )  # fmt: skip

    rows = picked.selection.rows if picked else []
    if rows and 0 <= rows[0] < len(calls):
        call = calls[rows[0]]
        with st.container(border=True):
            st.subheader("The call", anchor=False)
            st.dataframe(detail_rows(call), hide_index=True, width="stretch")
            links = call_links(call)
            if links:
                link_cols = st.columns(len(links))
                for column, (page, label, link_query) in zip(link_cols, links, strict=True):
                    with column:
                        own_page_link(page, label, link_query)

    st.download_button(
        "Download CSV",
        data=lambda: export_calls(store, flt, actor),
        file_name="lean-requests.csv",
        mime="text/csv",
        icon=":material/download:",
        help="Every matching call (not only this page), at most 50,000; the export is audited.",
    )
