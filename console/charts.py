"""Plotly figures built from models: pure functions, tested without a browser."""

from __future__ import annotations

import html
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import plotly.graph_objects as go

from console.account_data import BalanceSeries, CashFlow
from console.fleet import BankTypeRate, DailyRate
from console.insights.bank_health import (
    AVAILABLE,
    NO_RECORD,
    Span,
    describe_duration,
    percent,
    state_word,
)
from console.insights.transaction_windows import (
    FAILED_WINDOW_WORDS,
    complete_months_words,
)
from console.refreshes import (
    CELL_WORDS,
    DATA_TYPE_LABELS,
    FAILED,
    NO_DETAILS,
    NOT_REPORTED,
    PARTIAL,
    PENDING,
    SUCCEEDED,
    UNCLEAR,
    RefreshHistoryItem,
    account_row_labels,
    cell_word,
    duration_words,
)
from console.store import ALL_DATA_TYPES
from lean_api.models import ACCOUNT_DATA_TYPES, Consent, Refresh

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


# --- Refreshes (per entity) ---
# Words first: every cell, point and bar carries its word as text; colour only repeats it.
# Account names and unknown status words come from Lean or webhooks, so they are escaped
# (plotly reads a few HTML tags, links among them, in any text it draws).

# Refresh outcome → (colour, marker symbol): the symbol tells them apart without colour too.
OUTCOME_STYLES = {
    FAILED: ("#d93025", "x"),
    PARTIAL: ("#f29900", "triangle-up"),
    PENDING: ("#1a73e8", "hourglass"),
    SUCCEEDED: ("#1e8e3e", "circle"),
    UNCLEAR: ("#a142f4", "diamond"),
    NO_DETAILS: ("#9aa0a6", "square-open"),
}
OTHER_OUTCOME_STYLE = ("#5f6368", "star")
# Data status word → cell colour; each cell's word is written in white or near-black, whichever
# contrasts more with it (dark fills for success and failed, light ones for the rest).
CELL_COLOURS = {
    "success": "#137333",
    "partial": "#f29900",
    "failed": "#b3261e",
    "unsupported": "#9aa0a6",
    "pending": "#8ab4f8",
    NOT_REPORTED: "#f1f3f4",
}
OTHER_CELL_COLOUR = "#a142f4"
CONSENT_LANE = "Consent allows"
CONSENT_COLOUR = "#bdc1c6"


def _escaped(text: object) -> str:
    return html.escape(str(text))


# Cell words are drawn by `_write_cells`, each in the text colour that reads best on its own fill:
# plotly's automatic heatmap text colour is not always computed from the cell's own colour.
# White or black: on any fill one of the two contrasts at least 4.58:1 (WCAG AA asks 4.5).
DARK_TEXT, LIGHT_TEXT = "#000000", "#ffffff"


def relative_luminance(colour: str) -> float:
    """WCAG relative luminance of a `#rrggbb` colour (0 black … 1 white)."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def text_colour_on(fill: str) -> str:
    """White or near-black, whichever contrasts more with `fill`."""
    fill_l = relative_luminance(fill)
    light = (relative_luminance(LIGHT_TEXT) + 0.05) / (fill_l + 0.05)
    dark = (fill_l + 0.05) / (relative_luminance(DARK_TEXT) + 0.05)
    return LIGHT_TEXT if light >= dark else DARK_TEXT


def _scale_colour(scale: Sequence[Sequence[Any]], fraction: float) -> str:
    """The `#rrggbb` colour a continuous plotly colour scale gives at `fraction` (0–1)."""
    fraction = min(max(fraction, 0.0), 1.0)
    for (low, low_colour), (high, high_colour) in itertools.pairwise(scale):
        if fraction <= high:
            share = 0.0 if high == low else (fraction - low) / (high - low)
            a = [int(low_colour[i : i + 2], 16) for i in (1, 3, 5)]
            b = [int(high_colour[i : i + 2], 16) for i in (1, 3, 5)]
            return "#" + "".join(
                f"{round(x + (y - x) * share):02x}" for x, y in zip(a, b, strict=True)
            )
    return str(scale[-1][1])


def _rate_grid(
    z: list[list[float | None]],
    columns: list[str],
    labels: list[str],
    text: list[list[str]],
    hover: list[list[str]],
    words: str,
) -> go.Heatmap:
    """The fleet's rate grid: percent cells on the fleet colour scale, the hover per cell, and
    the colour scale below the grid so the columns get the whole width."""
    return go.Heatmap(
        z=z,
        x=columns,
        y=labels,
        text=text,  # drawn by `_write_cells`, each in its own readable colour
        customdata=hover,
        hovertemplate="%{customdata}<extra></extra>",
        colorscale=FLEET_COLOURS,
        zmin=0,
        zmax=100,
        xgap=2,
        ygap=2,
        colorbar={
            "title": {"text": f"% {words}", "side": "top"},
            "ticksuffix": "%",
            "orientation": "h",
            "y": -0.02,
            "yanchor": "top",
            "thickness": 12,
            "len": 0.5,
        },
    )


def _write_cells(
    figure: go.Figure,
    cells: Iterable[tuple[str, str, str, str]],
    size: int,
) -> None:
    """Each cell's words, (column, row, escaped text, fill colour), in the text colour that reads
    best on its own fill: one text-only trace over the grid (a colour per cell), not plotly's
    heatmap text (one colour for all) nor an annotation per cell. Annotations were added one
    call each, which copies every one before it (a month × 10 banks, 260 cells: 8.7 s on the
    server), and the browser lays each out on its own (a month's 1,230 cells: seconds)."""
    shown = [(column, row, text, fill) for column, row, text, fill in cells if text]
    if not shown:
        return
    figure.add_trace(
        go.Scatter(
            x=[column for column, _, _, _ in shown],
            y=[row for _, row, _, _ in shown],
            text=[text for _, _, text, _ in shown],
            mode="text",
            textfont={"color": [text_colour_on(fill) for _, _, _, fill in shown], "size": size},
            hoverinfo="skip",
            showlegend=False,
            name="cell words",
        )
    )


def _empty_figure(message: str, height: int = 160) -> go.Figure:
    figure = go.Figure()
    figure.add_annotation(text=message, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    figure.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"visible": False},
        yaxis={"visible": False},
    )
    return figure


def refresh_history_chart(items: Sequence[RefreshHistoryItem]) -> go.Figure:
    """The entity's refreshes over time: x = start, y = duration, one labelled marker each.

    Colour, symbol and the text beside each point all say the outcome word; refreshes without a
    start or an end (pending, or known only from a finished webhook) are counted in a note.
    """
    plotted = [i for i in items if i.started is not None and i.duration is not None]
    if not plotted:
        return _empty_figure(
            "No refresh with a known start and end yet"
            + (f" ({len(items)} listed in the table)" if items else "")
        )
    figure = go.Figure()
    order = list(OUTCOME_STYLES)
    words = sorted(
        dict.fromkeys(i.outcome_word for i in plotted),
        key=lambda w: order.index(w) if w in order else len(order),
    )
    for word in words:
        mine = [i for i in plotted if i.outcome_word == word]
        colour, symbol = OUTCOME_STYLES.get(word, OTHER_OUTCOME_STYLE)
        figure.add_trace(
            go.Scatter(
                name=_escaped(word),
                x=[_naive_utc(i.started) for i in mine if i.started],
                y=[i.duration.total_seconds() for i in mine if i.duration is not None],
                mode="markers+text",
                text=[_escaped(word)] * len(mine),
                textposition="top center",
                textfont={"color": colour},
                marker={"color": colour, "symbol": symbol, "size": 12, "line": {"width": 2}},
                marker_line_color=colour,
                customdata=[
                    [
                        _escaped(i.outcome),
                        duration_words(i.duration),
                        _escaped(i.refresh_id[:8]),
                        i.source,
                    ]
                    for i in mine
                ],
                hovertemplate=(
                    "%{customdata[0]}<br>%{x|%Y-%m-%d %H:%M:%S} UTC · took %{customdata[1]}"
                    "<br>refresh %{customdata[2]}… · from %{customdata[3]}<extra></extra>"
                ),
            )
        )
    seconds = [i.duration.total_seconds() for i in plotted if i.duration is not None]
    shortest, longest = min(seconds), max(seconds)
    # One stuck refresh of hours would flatten the rest: a log scale keeps both readable.
    log_scale = shortest > 0 and longest / shortest > 50
    # Headroom above the longest refresh, so the word over its marker is not cut off.
    if log_scale:
        low, high = math.log10(shortest), math.log10(longest)
        span = max(high - low, 0.5)  # a log axis's range is in powers of ten
        y_range = [low - 0.1 * span, high + 0.3 * span]
    else:
        y_range = [0, (longest or 1) * 1.3]
    left_out = len(items) - len(plotted)
    if left_out:
        figure.add_annotation(
            text=f"{left_out} refresh{'es' if left_out != 1 else ''} without a start or an end "
            "listed in the table only",
            showarrow=False,
            xref="paper",
            yref="paper",
            x=0,
            y=1.0,
            xanchor="left",
            yanchor="bottom",
        )
    figure.update_layout(
        height=340,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "y": -0.25, "title": {"text": "Outcome"}},
        xaxis={"type": "date", "title": {"text": "Started (UTC)"}},
        yaxis={
            "title": {"text": "Duration (seconds)"},
            "type": "log" if log_scale else "linear",
            "range": y_range,
        },
    )
    return figure


def refresh_heatmap(refresh: Refresh, account_labels: dict[str, str]) -> go.Figure:
    """Accounts × data types of one refresh, each cell its status word and that word's colour.

    Rows are the refresh's accounts in order (labelled from `account_labels`, else account_id);
    columns are Lean's seven per-account data types. A word the console does not know is shown
    as itself, in its own colour; a data type Lean did not report reads "not reported". Each
    word is written in white or near-black, whichever reads better on its cell's colour.
    """
    accounts = refresh.data_status.account_data if refresh.data_status else []
    if not accounts:
        return _empty_figure("No per-account statuses in this refresh")
    rows = [_escaped(label) for label in account_row_labels(refresh, account_labels)]
    columns = [DATA_TYPE_LABELS[name] for name in ACCOUNT_DATA_TYPES]
    words = [[cell_word(v) for v in a.statuses().values()] for a in accounts]
    known = [*CELL_WORDS.values(), NOT_REPORTED]
    present = {w for row in words for w in row}
    categories = [w for w in known if w in present] + sorted(present - set(known))
    colours = [CELL_COLOURS.get(w, OTHER_CELL_COLOUR) for w in categories]
    n = len(categories)
    # One flat band of colour per category index: a categorical scale on a numeric heatmap.
    scale = []
    for index, colour in enumerate(colours):
        scale += [[index / n, colour], [(index + 1) / n, colour]]
    figure = go.Figure(
        go.Heatmap(
            x=columns,
            y=rows,
            z=[[categories.index(w) for w in row] for row in words],
            zmin=-0.5,
            zmax=n - 0.5,
            colorscale=scale,
            showscale=False,
            xgap=3,
            ygap=3,
            # The words are drawn by `_write_cells` (below), each in its own readable colour.
            text=[[_escaped(w) for w in row] for row in words],
            hovertemplate="%{y}<br>%{x}: %{text}<extra></extra>",
        )
    )
    _write_cells(
        figure,
        (
            (column, row, _escaped(word), CELL_COLOURS.get(word, OTHER_CELL_COLOUR))
            for row, row_words in zip(rows, words, strict=True)
            for column, word in zip(columns, row_words, strict=True)
        ),
        size=12,
    )
    # A legend of the words present, for readers who scan colour first.
    for word, colour in zip(categories, colours, strict=True):
        figure.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                name=_escaped(word),
                marker={"color": colour, "symbol": "square", "size": 14},
                hoverinfo="skip",
            )
        )
    figure.update_layout(
        height=150 + 46 * len(rows),
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        legend={"orientation": "h", "y": -0.05, "yanchor": "top", "title": {"text": "Status"}},
        plot_bgcolor="white",
        xaxis={
            "type": "category",
            "side": "top",
            "showgrid": False,
            # Two-word types on two lines, so no label needs tilting.
            "tickmode": "array",
            "tickvals": columns,
            "ticktext": [c.replace(" ", "<br>") for c in columns],
            "tickangle": 0,
        },
        yaxis={
            "type": "category",
            "categoryorder": "array",
            "categoryarray": list(reversed(rows)),
            "showgrid": False,
        },
    )
    return figure


# The plot area's width at the narrowest screen the console is used on (1280 px wide, sidebar
# open): a bar label is written inside its bar only when it fits there at this width.
WINDOWS_PLOT_PX = 700
LABEL_CHAR_PX = 7.5
FAILED_BAR_LABEL = "transactions failed — not data held"
FAILED_CELL = CELL_WORDS["FAILED"]


def _fits(text: str, pixels: float) -> bool:
    return len(text) * LABEL_CHAR_PX + 16 <= pixels


@dataclass(frozen=True)
class _WindowBar:
    row: str
    start: datetime
    end: datetime  # the day after the last day
    label: str  # the full words, inside the bar when they fit, always in the hover
    short: str  # the words beside a bar too narrow for `label`


def transaction_windows_chart(
    refresh: Refresh,
    consent: Consent | None,
    account_labels: dict[str, str],
    refreshed_at: datetime | None = None,
) -> go.Figure:
    """Per account, the transactions the bank returned (start–end, complete months) under the
    consent's transaction window, with a line where the refresh ran.

    Bars are coloured and named by the account's transactions status word. An account whose
    transactions failed gets an outlined, hatched bar saying the window is what the bank last
    reported, not data held. A bar too narrow for its words has them beside it (and in the
    hover); an account with no window is kept as an empty lane saying so.
    """
    refreshed_at = refreshed_at or refresh.created_at
    accounts = refresh.data_status.account_data if refresh.data_status else []
    rows = [_escaped(label) for label in account_row_labels(refresh, account_labels)]
    allowed_from = consent.transaction_from_date_time if consent else None
    allowed_to = consent.transaction_to_date_time if consent else None
    if not accounts and allowed_from is None:
        return _empty_figure("No transaction window reported and no consent window to compare")
    figure = go.Figure()
    day = timedelta(days=1)
    edges: list[datetime] = [refreshed_at] if refreshed_at is not None else []
    if allowed_from is not None:
        until = allowed_to or refreshed_at or allowed_from + day
        until = max(until, allowed_from + day)
        edges += [allowed_from, until]
        figure.add_trace(
            go.Bar(
                name="Consent window",
                orientation="h",
                y=[CONSENT_LANE],
                base=[_naive_utc(allowed_from)],
                x=[(until - allowed_from).total_seconds() * 1000],
                marker={"color": CONSENT_COLOUR},
                text=[
                    f"consent allows {allowed_from:%Y-%m-%d} – "
                    + (f"{allowed_to:%Y-%m-%d}" if allowed_to else "no end given")
                ],
                textposition="inside",
                insidetextanchor="middle",
                insidetextfont={"color": text_colour_on(CONSENT_COLOUR)},
                hovertemplate="%{text}<extra></extra>",
            )
        )
    lanes = [CONSENT_LANE] if allowed_from is not None else []
    bars: dict[str, list[_WindowBar]] = {}
    missing: list[tuple[str, str]] = []
    for row, account in zip(rows, accounts, strict=True):
        lanes.append(row)
        window = account.transaction_availability
        if window is None or window.start is None or window.end is None:
            what = "no window reported" if window is None else "start or end not reported"
            missing.append((row, what))
            continue
        word = cell_word(account.transactions)
        months = complete_months_words(window.complete_months)
        # Availability dates are whole days, both included.
        start, end = window.start, window.end + day
        edges += [start, end]
        if word == FAILED_CELL:
            label, short = FAILED_WINDOW_WORDS, FAILED_BAR_LABEL
        else:
            label = f"{months} · transactions {_escaped(word)}"
            short = f"{months} · {_escaped(word)}"
        bars.setdefault(word, []).append(_WindowBar(row, start, end, label, short))
    first, last = (min(edges), max(edges)) if edges else (None, None)
    span = (last - first).total_seconds() if first and last and last > first else None
    beside: list[tuple[str, datetime, str, str]] = []  # row, x, text, position
    order = [*CELL_WORDS.values(), NOT_REPORTED]
    for word in sorted(bars, key=lambda w: order.index(w) if w in order else len(order)):
        mine = bars[word]
        colour = CELL_COLOURS.get(word, OTHER_CELL_COLOUR)
        failed = word == FAILED_CELL
        inside: list[str] = []
        for bar in mine:
            width = (
                (bar.end - bar.start).total_seconds() / span * WINDOWS_PLOT_PX
                if span
                else WINDOWS_PLOT_PX
            )
            if _fits(bar.label, width):
                inside.append(bar.label)
                continue
            if _fits(bar.short, width):
                inside.append(bar.short)
                continue
            inside.append("")
            room_left = (bar.start - first).total_seconds() if first else 0
            room_right = (last - bar.end).total_seconds() if last else 0
            # An en space keeps the words off the bar's edge.
            if room_left > room_right:
                beside.append((bar.row, bar.start, f"{bar.short}\u2002", "middle left"))
            else:
                beside.append((bar.row, bar.end, f"\u2002{bar.short}", "middle right"))
        marker: dict[str, Any] = {"color": colour}
        if failed:
            # Outlined and hatched, not solid: the window is not data the console holds.
            marker = {
                "color": "#ffffff",
                "line": {"color": colour, "width": 2},
                "pattern": {"shape": "/", "fgcolor": colour, "fgopacity": 0.3, "size": 10},
            }
        figure.add_trace(
            go.Bar(
                name=(
                    "transactions failed (window as last reported)"
                    if failed
                    else f"transactions {_escaped(word)}"
                ),
                orientation="h",
                y=[bar.row for bar in mine],
                base=[_naive_utc(bar.start) for bar in mine],
                x=[(bar.end - bar.start).total_seconds() * 1000 for bar in mine],
                marker=marker,
                text=inside,
                textposition="inside",
                insidetextanchor="middle",
                insidetextfont={"color": DARK_TEXT if failed else text_colour_on(colour)},
                customdata=[
                    [f"{bar.start:%Y-%m-%d}", f"{bar.end - day:%Y-%m-%d}", bar.label]
                    for bar in mine
                ],
                hovertemplate="%{y}<br>%{customdata[0]} – %{customdata[1]}<br>%{customdata[2]}"
                "<extra></extra>",
            )
        )
    if beside:
        figure.add_trace(
            go.Scatter(
                name="bar labels",
                y=[row for row, *_ in beside],
                x=[_naive_utc(x) for _, x, _, _ in beside],
                mode="text",
                text=[text for _, _, text, _ in beside],
                textposition=[position for *_, position in beside],
                showlegend=False,
                hoverinfo="skip",
                cliponaxis=False,
            )
        )
    anchor = first
    if missing and anchor is not None:
        figure.add_trace(
            go.Scatter(
                name="no window",
                y=[row for row, _ in missing],
                x=[_naive_utc(anchor)] * len(missing),
                mode="text",
                text=[what for _, what in missing],
                textposition="middle right",
                showlegend=False,
                hoverinfo="skip",
            )
        )
    if refreshed_at is not None:
        when = _naive_utc(refreshed_at)
        figure.add_shape(
            type="line",
            x0=when,
            x1=when,
            xref="x",
            y0=0,
            y1=1,
            yref="paper",
            line={"color": "#202124", "dash": "dot", "width": 1},
        )
        figure.add_annotation(
            x=when,
            y=1,
            xref="x",
            yref="paper",
            text=f"refresh {refreshed_at:%Y-%m-%d}",
            showarrow=False,
            yanchor="bottom",
        )
    figure.update_layout(
        barmode="overlay",
        height=130 + 48 * max(len(lanes), 1),
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"orientation": "h", "y": -0.12, "yanchor": "top"},
        # Dates in UTC (the page says so); an axis title here would sit under the legend.
        xaxis={"type": "date"},
        yaxis={
            "type": "category",
            "categoryorder": "array",
            "categoryarray": list(reversed(lanes)),
        },
    )
    return figure


# --- Account data ---
# Figures for the Accounts & data screen (pages/account_data.py), from console.account_data.

CREDIT_COLOUR = "#1e8e3e"
DEBIT_COLOUR = "#d93025"
BALANCE_COLOUR = "#1a73e8"


def balance_over_time(series: BalanceSeries) -> go.Figure:
    """The account's balance as a step line in its own currency (`series.method` says how it
    was worked out, for the screen's caption). An empty series gives a figure saying so."""
    figure = go.Figure()
    currency = series.currency or ""
    if series.points:
        figure.add_trace(
            go.Scatter(
                name=f"Balance ({html.escape(currency)})" if currency else "Balance",
                x=[_naive_utc(p.at) for p in series.points],
                y=[float(p.balance) for p in series.points],
                mode="lines",
                line={"shape": "hv", "color": BALANCE_COLOUR},
                hovertemplate="%{x|%Y-%m-%d %H:%M} UTC<br>%{y:,.2f} "
                + html.escape(currency)
                + "<extra></extra>",
            )
        )
        figure.add_hline(y=0, line={"color": "#9aa0a6", "dash": "dot", "width": 1})
    else:
        figure.add_annotation(
            text="No balance history to draw", showarrow=False, x=0.5, y=0.5,
            xref="paper", yref="paper",
        )  # fmt: skip
    figure.update_layout(
        title={"text": "Balance over time"},
        height=320,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        xaxis={"type": "date", "title": {"text": "UTC"}},
        yaxis={"title": {"text": html.escape(currency) or "Amount"}, "tickformat": ",.0f"},
        showlegend=False,
    )
    return figure


def monthly_cash_flow_chart(flow: CashFlow, currency: str) -> go.Figure:
    """Money in (credits) and out (debits) per month in one currency, side by side, with the net
    in the hover. Other currencies get their own chart: amounts are never added across them."""
    months = flow.of(currency)
    figure = go.Figure()
    labels = [f"{m.month:%Y-%m}" for m in months]
    nets = [[f"{m.net:,.2f}", m.count] for m in months]
    for name, values, colour in (
        ("Money in (credits)", [float(m.credits) for m in months], CREDIT_COLOUR),
        ("Money out (debits)", [float(m.debits) for m in months], DEBIT_COLOUR),
    ):
        figure.add_trace(
            go.Bar(
                name=name,
                x=labels,
                y=values,
                marker_color=colour,
                customdata=nets,
                hovertemplate=f"{name}<br>%{{x}}: %{{y:,.2f}} {html.escape(currency)}"
                "<br>Net %{customdata[0]} · %{customdata[1]} transactions<extra></extra>",
            )
        )
    if not months:
        figure.add_annotation(
            text="No transactions to count", showarrow=False, x=0.5, y=0.5,
            xref="paper", yref="paper",
        )  # fmt: skip
    figure.update_layout(
        # The title on the first line, the legend on its own line under it: in half the screen
        # the two no longer fit side by side.
        title={
            "text": html.escape(f"Monthly cash flow ({currency})"),
            "y": 1,
            "yref": "container",
            "yanchor": "top",
            "pad": {"t": 12},
        },
        barmode="group",
        height=340,
        margin={"l": 10, "r": 10, "t": 76, "b": 10},
        legend={"orientation": "h", "x": 0, "xanchor": "left", "y": 1.02, "yanchor": "bottom"},
        xaxis={"type": "category", "tickangle": -45},
        yaxis={"title": {"text": html.escape(currency)}, "tickformat": ",.0f"},
    )
    return figure


# --- Fleet ---
# Failure and partial rates by bank × data type and by bank × day (refreshes screen with no
# entity): each cell says its rate (and its counts, where they fit) in numbers, the colour
# repeats them. Banks are named from the book index, else by Lean's identifier.

FLEET_MEASURES = {
    "failed": "failed",
    "partial": "partial",
    "failed_or_partial": "failed or partial",
}
BANK_NOT_KNOWN = "Bank not known"
# Light for none, amber, then red: the share of refreshes that went wrong.
FLEET_COLOURS = [[0.0, "#f1f8f3"], [0.1, "#fde7b0"], [0.4, "#f29900"], [1.0, "#a50e0e"]]
# The bank × data type grid's columns: the refresh as a whole first, then Lean's seven types.
ANY_DATA_TYPE = "any"
FLEET_TYPE_COLUMNS = {ALL_DATA_TYPES: ANY_DATA_TYPE, **DATA_TYPE_LABELS}


def _bank_labels(banks: Sequence[str | None], names: Mapping[str, str]) -> list[str]:
    """Escaped row labels: the bank's name, else its identifier; a name two banks share gets
    the identifier beside it, so no row swallows another."""
    shown = [names.get(b) or b if b is not None else None for b in banks]
    labels = []
    for bank, label in zip(banks, shown, strict=True):
        if bank is None or label is None:
            labels.append(BANK_NOT_KNOWN)
            continue
        if shown.count(label) > 1 and label != bank:
            label = f"{label} ({bank})"
        labels.append(html.escape(label))
    return labels


def _bank_hover(bank: str | None, label: str) -> str:
    """The row's label with Lean's bank identifier beside it (escaped)."""
    if bank is None:
        return f"{BANK_NOT_KNOWN} (the book index has not seen the entity yet)"
    return label if label == html.escape(bank) else f"{label} · {html.escape(bank)}"


def _rate_fill(share: float) -> str:
    return _scale_colour(FLEET_COLOURS, share)


def fleet_type_heatmap(
    rates: Sequence[BankTypeRate], *, measure: str = "failed", window_words: str = "the window"
) -> go.Figure:
    """Banks (rows, the worst first) × data types (columns, "any" first: the refresh as a whole,
    by its worst data type): the share of the window's refreshes that `measure`d, with "n of m".

    `rates` come from `console.fleet.bank_type_rates`. Banks are sorted by their "any" rate,
    then by how many refreshes went wrong; refreshes of an unknown bank come last.
    """
    words = FLEET_MEASURES.get(measure, measure)
    by_bank: dict[str | None, dict[str, BankTypeRate]] = {}
    for rate in rates:
        by_bank.setdefault(rate.bank_identifier, {})[rate.data_type] = rate
    names = {r.bank_identifier: r.bank_name for r in rates if r.bank_identifier and r.bank_name}

    def worst_first(bank: str | None) -> tuple[Any, ...]:
        whole = by_bank[bank].get(ALL_DATA_TYPES)
        share = whole.rate(measure) if whole else None
        count = whole.count(measure) if whole else 0
        return (bank is None, share is None, -(share or 0.0), -count, names.get(bank or "") or bank)

    banks = sorted(by_bank, key=worst_first)
    labels = _bank_labels(banks, names)
    columns = list(FLEET_TYPE_COLUMNS.values())
    z: list[list[float | None]] = []
    text: list[list[str]] = []
    hover: list[list[str]] = []
    cells: list[tuple[str, str, str, str]] = []
    for bank, label in zip(banks, labels, strict=True):
        z_row, text_row, hover_row = [], [], []
        who = _bank_hover(bank, label)
        for data_type, column in FLEET_TYPE_COLUMNS.items():
            rate = by_bank[bank].get(data_type)
            share = rate.rate(measure) if rate else None
            what = "any data type (the refresh's worst)" if data_type == ALL_DATA_TYPES else column
            if rate is None or share is None:
                z_row.append(None)
                text_row.append("")
                unsupported = " (only unsupported)" if rate is not None else ""
                hover_row.append(f"{who}<br>{what}<br>no refresh counted{unsupported}")
                continue
            count, shown = rate.count(measure), html.escape(percent(share))
            z_row.append(round(share * 100, 1))
            cell = f"{shown}<br>{count} of {rate.judged}"
            text_row.append(cell)
            cells.append((column, label, cell, _rate_fill(share)))
            unsupported = (
                f"<br>{rate.unsupported} unsupported, not counted" if rate.unsupported else ""
            )
            hover_row.append(
                f"{who}<br>{what} · {html.escape(window_words)}<br>"
                f"{count} of {rate.judged} refreshes {words} ({shown}){unsupported}"
            )
        z.append(z_row)
        text.append(text_row)
        hover.append(hover_row)
    figure = go.Figure(_rate_grid(z, columns, labels, text, hover, words))
    _write_cells(figure, cells, size=11)
    figure.update_layout(
        height=200 + 40 * max(len(labels), 1),
        margin={"l": 10, "r": 10, "t": 100, "b": 10},
        title={
            "text": f"Share of refreshes {words} · by bank and data type · "
            f"{html.escape(window_words)} (UTC)",
            "yref": "container",
            "y": 1,
            "yanchor": "top",
            "pad": {"t": 12},
        },
        xaxis={
            "type": "category",
            "side": "top",
            # Two-word types on two lines, so no label needs tilting.
            "tickmode": "array",
            "tickvals": columns,
            "ticktext": [c.replace(" ", "<br>") for c in columns],
            "tickangle": 0,
        },
        yaxis={"autorange": "reversed", "type": "category"},
        plot_bgcolor="#ffffff",
    )
    return figure


def fleet_heatmap(
    rates: Sequence[DailyRate],
    days: Sequence[date],
    *,
    measure: str = "failed",
    data_type_label: str = "all data types",
    bank_names: Mapping[str, str] | None = None,
) -> go.Figure:
    """Banks (rows) × days (columns): the share of refreshes that `measure`d, labelled in each
    cell with the rate and "n of m" refreshes; empty cells say no refresh finished.

    `rates` come from `console.fleet.daily_rates`; banks are named from `bank_names`
    (identifier → name), else by identifier, which the hover always shows. Past two weeks a
    cell is too narrow for the counts: it shows the percentage (no sign), the hover the
    counts. Names and
    identifiers come from Lean, so they are escaped (plotly reads a few HTML tags in labels).
    """
    words = FLEET_MEASURES.get(measure, measure)
    names = bank_names or {}
    banks = sorted(
        {r.bank_identifier for r in rates},
        key=lambda b: (b is None, (names.get(b) or b) if b is not None else ""),
    )
    labels = _bank_labels(banks, names)
    # A month of days leaves each cell about 20 px wide: shorter labels, the number alone.
    compact = len(days) > 14
    columns = [d.strftime("%m-%d") if compact else d.isoformat() for d in days]
    by_cell = {(r.bank_identifier, r.day): r for r in rates}
    z: list[list[float | None]] = []
    text: list[list[str]] = []
    hover: list[list[str]] = []
    cells: list[tuple[str, str, str, str]] = []
    for bank, label in zip(banks, labels, strict=True):
        z_row, text_row, hover_row = [], [], []
        who = _bank_hover(bank, label)
        for day, column in zip(days, columns, strict=True):
            rate = by_cell.get((bank, day))
            share = rate.rate(measure) if rate else None
            if rate is None or share is None:
                z_row.append(None)
                text_row.append("")
                hover_row.append(f"{who}<br>{day.isoformat()}<br>no finished refresh counted")
                continue
            count, shown = rate.count(measure), html.escape(percent(share))
            z_row.append(round(share * 100, 1))
            # A month of days leaves ~20 px a cell: the percentage alone, without its sign.
            cell = shown.removesuffix("%") if compact else f"{shown}<br>{count} of {rate.judged}"
            text_row.append(cell)
            cells.append((column, label, cell, _rate_fill(share)))
            unsupported = (
                f"<br>{rate.unsupported} unsupported, not counted" if rate.unsupported else ""
            )
            hover_row.append(
                f"{who}<br>{day.isoformat()} · {html.escape(data_type_label)}<br>"
                f"{count} of {rate.judged} refreshes {words} ({shown}){unsupported}"
            )
        z.append(z_row)
        text.append(text_row)
        hover.append(hover_row)
    figure = go.Figure(_rate_grid(z, columns, labels, text, hover, words))
    _write_cells(figure, cells, size=8 if compact else 11)
    figure.update_layout(
        height=(240 if compact else 220) + 34 * max(len(labels), 1),
        # The days read along the top, under the title; the colour scale below the grid.
        margin={"l": 10, "r": 10, "t": 110 if compact else 90, "b": 80},
        title={
            "text": f"Share of refreshes {words} · {html.escape(data_type_label)} · "
            "by bank and day finished (UTC)",
            "yref": "container",
            "y": 1,
            "yanchor": "top",
            "pad": {"t": 12},
        },
        xaxis={"type": "category", "side": "top", "tickangle": -90 if compact else 0},
        yaxis={"autorange": "reversed", "type": "category"},
        plot_bgcolor="#ffffff",
    )
    return figure
