"""Plotly figures built from models: pure functions, tested without a browser."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime

import plotly.graph_objects as go

from console.insights.bank_health import (
    AVAILABLE,
    NO_RECORD,
    Span,
    describe_duration,
    state_word,
)

# Colour repeats the word in the legend and the hover text; it never replaces it.
STATE_COLOURS = {
    AVAILABLE: "#1e8e3e",
    "disabled_by_lean": "#d93025",
    "disabled_by_us": "#f29900",
    "unknown": "#9aa0a6",
    NO_RECORD: "#e8eaed",
}
CAPABILITY_LABELS = {"data": "Data", "payments": "Payments"}


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def availability_timeline(spans: Sequence[Span], *, title: str = "") -> go.Figure:
    """A timeline with one lane per capability (Data, Payments) and one legend entry per state.

    `spans` come from `bank_health.spans`. Plotly reads a few HTML tags (links among them) in
    titles, so the title, which may hold a bank's name from Lean, is escaped.
    """
    figure = go.Figure()
    lanes = [c for c in CAPABILITY_LABELS if any(s.capability == c for s in spans)]
    states = list(dict.fromkeys(s.state for s in spans))
    order = list(STATE_COLOURS)
    states.sort(key=lambda state: order.index(state) if state in order else len(order))
    for state in states:
        mine = [s for s in spans if s.state == state]
        word = state_word(state)
        figure.add_trace(
            go.Bar(
                name=word,
                orientation="h",
                y=[CAPABILITY_LABELS.get(s.capability, s.capability) for s in mine],
                # plotly.js has no time zones in dates: naive UTC, as the axis says.
                base=[_naive_utc(s.start) for s in mine],
                # A date axis takes bar lengths in milliseconds.
                x=[s.duration.total_seconds() * 1000 for s in mine],
                marker_color=STATE_COLOURS.get(state, "#5f6368"),
                customdata=[
                    [
                        word,
                        f"{s.start:%Y-%m-%d %H:%M}",
                        f"{s.end:%Y-%m-%d %H:%M}",
                        describe_duration(s.duration),
                    ]
                    for s in mine
                ],
                hovertemplate=(
                    "%{customdata[0]}<br>%{customdata[1]} → %{customdata[2]} UTC"
                    "<br>%{customdata[3]}<extra></extra>"
                ),
            )
        )
    figure.update_layout(
        title={"text": html.escape(title)} if title else None,
        barmode="overlay",
        height=120 + 60 * max(len(lanes), 1),
        margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
        legend={"orientation": "h", "y": -0.35, "title": {"text": "State"}},
        xaxis={"type": "date", "title": {"text": "UTC"}},
        yaxis={
            "categoryorder": "array",
            "categoryarray": [CAPABILITY_LABELS[c] for c in reversed(lanes)],
        },
    )
    return figure
