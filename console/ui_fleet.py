"""The fleet view of refreshes (`/refreshes` with no entity): rates by bank × data type and by
bank × day, the slowest refreshes, accounts whose transactions are repeatedly partial. Every
number is counted in SQL over the refresh index (`console.fleet`). The window, data type and
outcome live in the link, so a view can be pasted into a ticket."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import streamlit as st

from console.charts import FLEET_MEASURES, fleet_heatmap, fleet_type_heatmap
from console.fleet import (
    WINDOWS,
    bank_type_rates,
    daily_rates,
    describe_seconds,
    fleet_counts,
    refresh_link,
    repeatedly_partial,
    slowest_refreshes,
    window_start,
)
from console.formatting import literal_md, shorten, styled_table
from console.store import ALL_DATA_TYPES, EventStore, StoreUnavailable
from lean_api.models import ACCOUNT_DATA_TYPES

DATA_TYPE_LABELS = {
    ALL_DATA_TYPES: "All data types (the refresh's worst)",
    **{name: name.replace("_", " ").capitalize() for name in ACCOUNT_DATA_TYPES},
}
MEASURE_LABELS = {
    "failed": "Failure rate",
    "partial": "Partial rate",
    "failed_or_partial": "Failed or partial",
}
NOT_KNOWN = "not known"

# The view's choices live in the link (`/refreshes?days=30&data_type=transactions&outcome=partial`)
# so a view can be pasted into a ticket: (link parameter, control key, link value → control
# value, the control's words for a value, what the values are called).
WINDOW_CHOICES = {str(days): label for label, days in WINDOWS.items()}
LINK_CHOICES: tuple[tuple[str, str, dict[str, str], Callable[[str], str], str], ...] = (
    ("days", "fleet_window", WINDOW_CHOICES, str.lower, "days"),
    (
        "data_type",
        "fleet_data_type",
        {name: name for name in DATA_TYPE_LABELS},
        lambda name: DATA_TYPE_LABELS[name].lower(),
        "data types",
    ),
    (
        "outcome",
        "fleet_measure",
        {name: name for name in MEASURE_LABELS},
        lambda name: MEASURE_LABELS[name].lower(),
        "outcomes",
    ),
)


def _read_link() -> list[str]:
    """Set each control from the link before it is drawn (absent: the default). Returns a
    sentence for each value in the link this view does not offer, naming the default shown."""
    notes = []
    for param, key, values, words, what in LINK_CHOICES:
        default = next(iter(values.values()))
        raw = st.query_params.get(param)
        st.session_state[key] = values.get(raw, default) if raw is not None else default
        if raw is not None and raw not in values:
            notes.append(
                f"The link's {param} {literal_md(shorten(raw))} is not one this view offers "
                f"({what}: {', '.join(values)}); showing {words(default)}."
            )
    return notes


def _to_link(param: str) -> Callable[[], None]:
    """A control's on_change: write its new value into the link."""

    def write() -> None:
        for name, key, values, _words, _what in LINK_CHOICES:
            if name == param:
                chosen = st.session_state[key]
                st.query_params[param] = next(v for v, c in values.items() if c == chosen)

    return write


def render_fleet(store: EventStore) -> None:
    """The whole fleet view; says so in words when the store cannot be read."""
    try:
        _render(store)
    except StoreUnavailable as exc:
        st.error(
            f"**The event store is unavailable**, so the fleet view cannot be counted. "
            f"{literal_md(exc)}"
        )


def _render(store: EventStore) -> None:
    st.subheader("Refreshes across the book", anchor=False)
    st.caption(
        "Counted from the refresh webhooks by the book indexer: each refresh as its latest event "
        "(by Lean's timestamp) left it. Pick an entity to see one refresh account by account."
    )
    notes = _read_link()
    controls = st.columns([2, 3, 2], vertical_alignment="bottom")
    window_label = controls[0].radio(
        "Window", list(WINDOWS), horizontal=True, key="fleet_window", on_change=_to_link("days")
    )
    data_type = controls[1].selectbox(
        "Data type",
        list(DATA_TYPE_LABELS),
        format_func=DATA_TYPE_LABELS.__getitem__,
        key="fleet_data_type",
        on_change=_to_link("data_type"),
    )
    measure = controls[2].selectbox(
        "Outcome",
        list(MEASURE_LABELS),
        format_func=MEASURE_LABELS.__getitem__,
        key="fleet_measure",
        on_change=_to_link("outcome"),
    )
    for note in notes:
        st.warning(note)
    days = WINDOWS[window_label]
    now = datetime.now(UTC)
    since = window_start(days, now)

    counts = fleet_counts(store, since)
    st.markdown(counts.describe(days))
    if not counts.finished:
        st.info(
            "Nothing to chart yet: refresh webhooks appear here once the book indexer has "
            "applied them (it runs every few seconds)."
        )
        return

    by_type = bank_type_rates(store, since)
    st.plotly_chart(
        fleet_type_heatmap(by_type, measure=measure, window_words=f"last {days} days"),
        width="stretch",
        key="fleet_type_heatmap",
    )
    st.caption(
        f"Which bank × data type goes wrong most: each cell, of the refreshes finished in the "
        f"last {days} days at that bank, the share whose data type ended "
        f"{FLEET_MEASURES[measure]}, then how many of how many. “any”: the refresh as a whole, "
        "by its worst data type; banks are sorted by it, the worst first. Unsupported data "
        "types are not counted; the hover names each bank's identifier."
    )

    rates = daily_rates(store, since, data_type=data_type)
    day_list = [since + timedelta(days=n) for n in range(days)]
    names = {r.bank_identifier: r.bank_name for r in by_type if r.bank_identifier and r.bank_name}
    figure = fleet_heatmap(
        rates,
        day_list,
        measure=measure,
        data_type_label=DATA_TYPE_LABELS[data_type].lower(),
        bank_names=names,
    )
    st.plotly_chart(figure, width="stretch", key="fleet_heatmap")
    scope = (
        "judged by their worst data type"
        if data_type == ALL_DATA_TYPES
        else f"judged by {DATA_TYPE_LABELS[data_type].lower()}"
    )
    st.caption(
        f"Each cell: of the refreshes finished that day at that bank, the share that ended "
        f"{FLEET_MEASURES[measure]} ({scope}), then how many of how many. Unsupported data "
        "types are not counted. An empty cell: no refresh finished."
        + (
            " Over 30 days a cell shows the percentage alone (no % sign, to fit); its counts are "
            "in the hover."
            if days > 14
            else ""
        )
    )

    _slowest(store, since)
    _repeatedly_partial(store, since)


def _slowest(store: EventStore, since: date) -> None:
    st.subheader("Slowest refreshes", anchor=False)
    slow = slowest_refreshes(store, since, limit=20)
    if not slow:
        st.info("No finished refresh with a known start in this window.")
        return
    rows = [
        {
            "Refresh": refresh_link(item.entity_id, item.refresh_id),
            "Took": describe_seconds(item.duration_seconds),
            "Outcome": item.outcome_words,
            "Bank": item.bank_identifier or NOT_KNOWN,
            "Entity": item.entity_id or "",
            "Accounts": item.accounts,
            "Finished (UTC)": item.finished_at,
        }
        for item in slow
    ]
    st.dataframe(
        styled_table(rows, ["Outcome"]),
        hide_index=True,
        width="stretch",
        column_config={
            "Refresh": st.column_config.LinkColumn(
                "Refresh", display_text=r"refresh_id=([0-9A-Za-z_-]{1,8})", width="small"
            ),
            "Finished (UTC)": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
        },
    )
    st.caption("From the refresh's first event to the one that said it finished, Lean's clock.")


def _repeatedly_partial(store: EventStore, since: date) -> None:
    st.subheader("Accounts whose transactions are repeatedly partial", anchor=False)
    left, right, _ = st.columns([1, 1, 3])
    of_last = int(
        right.number_input("of their last", min_value=1, max_value=20, value=5, key="fleet_m")
    )
    at_least = int(
        left.number_input(
            "Partial at least", min_value=1, max_value=of_last, value=min(3, of_last), key="fleet_n"
        )
    )
    accounts = repeatedly_partial(store, since, at_least=at_least, of_last=of_last)
    if not accounts:
        st.success(
            f"No account's transactions were partial in {at_least} of its last {of_last} "
            "refreshes in this window."
        )
        return
    rows = [
        {
            "Account": item.account_id,
            "Transactions": item.describe(),
            "Bank": item.bank_identifier or NOT_KNOWN,
            "Last refresh": refresh_link(item.entity_id, item.last_refresh_id),
            "Last finished (UTC)": item.last_finished_at,
            "Entity": item.entity_id or "",
        }
        for item in accounts
    ]
    st.caption(f"{len(rows):,} account{'s' if len(rows) != 1 else ''}, the most partial first.")
    st.dataframe(
        styled_table(rows, ["Transactions"]),
        hide_index=True,
        width="stretch",
        column_config={
            "Last refresh": st.column_config.LinkColumn(
                "Last refresh", display_text=r"refresh_id=([0-9A-Za-z_-]{1,8})"
            ),
            "Last finished (UTC)": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
        },
    )
