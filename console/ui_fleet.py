"""The fleet view of refreshes (`/refreshes` with no entity): rates by bank × day, the slowest
refreshes, accounts whose transactions are repeatedly partial. Every number is counted in SQL
over the refresh index (`console.fleet`)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import streamlit as st

from console.charts import FLEET_MEASURES, fleet_heatmap
from console.fleet import (
    WINDOWS,
    daily_rates,
    describe_seconds,
    fleet_counts,
    refresh_link,
    repeatedly_partial,
    slowest_refreshes,
    window_start,
)
from console.formatting import literal_md, styled_table
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
    controls = st.columns([2, 3, 2], vertical_alignment="bottom")
    window_label = controls[0].radio(
        "Window", list(WINDOWS), index=0, horizontal=True, key="fleet_window"
    )
    data_type = controls[1].selectbox(
        "Data type",
        list(DATA_TYPE_LABELS),
        format_func=DATA_TYPE_LABELS.__getitem__,
        key="fleet_data_type",
    )
    measure = controls[2].selectbox(
        "Outcome",
        list(MEASURE_LABELS),
        format_func=MEASURE_LABELS.__getitem__,
        key="fleet_measure",
    )
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

    rates = daily_rates(store, since, data_type=data_type)
    day_list = [since + timedelta(days=n) for n in range(days)]
    figure = fleet_heatmap(
        rates,
        day_list,
        measure=measure,
        data_type_label=DATA_TYPE_LABELS[data_type].lower(),
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
