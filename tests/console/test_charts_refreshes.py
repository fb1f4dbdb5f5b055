"""Refresh figures are built from models without a browser: words in every cell and point."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import plotly.graph_objects as go

from console.charts import (
    CELL_COLOURS,
    OTHER_CELL_COLOUR,
    OUTCOME_STYLES,
    refresh_heatmap,
    refresh_history_chart,
    transaction_windows_chart,
)
from console.refreshes import RefreshHistoryItem
from lean_api.models import Consent, Refresh
from tests.console.chart_cells import cell_words

T0 = datetime(2026, 11, 27, 10, tzinfo=UTC)
HOSTILE = "EVIL<a href='http://evil.example/'>x</a>"


def refresh(accounts: list[dict[str, Any]], status: str = "FINISHED") -> Refresh:
    return Refresh.model_validate(
        {
            "refresh_id": "r1",
            "status": status,
            "created_at": "2026-11-27T10:00:00Z",
            "data_status": {"accounts": "OK", "identity": "OK", "account_data": accounts},
        }
    )


ACCOUNTS = [
    {
        "account_id": "acc-1",
        "balance": "OK",
        "identity": "SUCCESS",
        "transactions": "PARTIAL",
        "beneficiaries": "FAILED",
        "direct_debits": "UNSUPPORTED",
        "scheduled_payments": "PENDING",
        "transaction_availability": {
            "start": "2025-06-01",
            "end": "2026-11-27",
            "complete_months": 17,
        },
    },
    {
        "account_id": "acc-2",
        "balance": "THROTTLED",
        "transactionAvailability": {"start": "2025-01-01", "end": "2026-11-27"},
        "transactions": "OK",
    },
    {"account_id": "acc-3", "transactions": "FAILED"},
]


def heatmap_trace(figure: go.Figure) -> go.Heatmap:
    return next(t for t in figure.data if isinstance(t, go.Heatmap))


def colour_of(trace: go.Heatmap, z: int) -> str:
    n = len(trace.colorscale)
    return trace.colorscale[min(z * 2, n - 1)][1]


def test_heatmap_labels_every_cell_with_its_word() -> None:
    trace = heatmap_trace(
        refresh_heatmap(refresh(ACCOUNTS), {"acc-1": "Salary · SA04 •••• •••• •• 34"})
    )
    assert list(trace.x) == [
        "balance",
        "identity",
        "transactions",
        "beneficiaries",
        "direct debits",
        "scheduled payments",
        "standing orders",
    ]
    assert list(trace.y) == ["Salary · SA04 •••• •••• •• 34", "acc-2", "acc-3"]
    text = [list(row) for row in trace.text]
    assert text[0] == [
        "success",
        "success",
        "partial",
        "failed",
        "unsupported",
        "pending",
        "not reported",
    ]
    assert text[1][0] == "THROTTLED", "an unknown word is shown as itself"
    assert text[2][2] == "failed"
    # The words are written by a text trace, one per cell, not by plotly's heatmap text.
    assert not trace.texttemplate
    figure = refresh_heatmap(refresh(ACCOUNTS), {})
    assert len(cell_words(figure)) == 3 * 7 and not figure.layout.annotations


def test_heatmap_colours_follow_the_word_consistently() -> None:
    trace = heatmap_trace(refresh_heatmap(refresh(ACCOUNTS), {}))
    for row_words, row_z in zip(trace.text, trace.z, strict=True):
        for word, z in zip(row_words, row_z, strict=True):
            assert colour_of(trace, z) == CELL_COLOURS.get(word, OTHER_CELL_COLOUR)
    legend = {
        t.name
        for t in refresh_heatmap(refresh(ACCOUNTS), {}).data
        if t.showlegend is not False and not isinstance(t, go.Heatmap)
    }
    assert {"success", "partial", "failed", "THROTTLED", "not reported"} <= legend


def test_heatmap_escapes_text_from_lean() -> None:
    figure = refresh_heatmap(refresh([{"account_id": "a", "balance": HOSTILE}]), {"a": HOSTILE})
    trace = heatmap_trace(figure)
    assert "<a" not in trace.y[0] and "&lt;a" in trace.y[0]
    assert "<a" not in trace.text[0][0]
    assert all("<a" not in note.text for note in cell_words(figure))
    assert all("<a" not in (t.name or "") for t in figure.data)


def test_heatmap_of_a_refresh_without_accounts_says_so() -> None:
    figure = refresh_heatmap(refresh([]), {})
    assert not figure.data
    assert "No per-account statuses" in figure.layout.annotations[0].text
    assert not refresh_heatmap(Refresh.model_validate({"refresh_id": "r"}), {}).data


def luminance(colour: str) -> float:
    """WCAG 2 relative luminance, computed here independently of the chart code."""
    values = []
    for i in (1, 3, 5):
        c = int(colour[i : i + 2], 16) / 255
        values.append(c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4)
    r, g, b = values
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


# The walkthrough's case: one column holding failed and partial cells, and every word there is.
MIXED = [
    {"account_id": "m1", "balance": "FAILED", "identity": "PARTIAL", "transactions": "OK"},
    {"account_id": "m2", "balance": "PARTIAL", "identity": "FAILED", "transactions": "UNSUPPORTED"},
    {"account_id": "m3", "balance": "PENDING", "identity": "THROTTLED", "transactions": "FAILED"},
]


def test_every_cell_word_contrasts_with_its_own_fill() -> None:
    figure = refresh_heatmap(refresh(MIXED + ACCOUNTS), {})
    trace = heatmap_trace(figure)
    written = {(a.x, a.y): a for a in cell_words(figure)}
    checked = 0
    for row, row_words, row_z in zip(trace.y, trace.text, trace.z, strict=True):
        for column, word, z in zip(trace.x, row_words, row_z, strict=True):
            note = written[(column, row)]
            fill = colour_of(trace, z)
            assert note.text == word
            assert contrast(note.colour, fill) >= 4.5, (word, fill, note.colour)
            checked += 1
    assert checked == 6 * 7
    colour = {note.text: note.colour for note in written.values()}
    assert colour["failed"] == colour["success"] == "#ffffff"
    for word in ("partial", "unsupported", "not reported", "pending"):
        assert luminance(colour[word]) < 0.05, word


def item(
    refresh_id: str,
    minutes_ago: int,
    seconds: float | None,
    accounts: list[dict[str, Any]],
    status: str = "FINISHED",
) -> RefreshHistoryItem:
    started = T0 - timedelta(minutes=minutes_ago)
    model = Refresh.model_validate(
        {"refresh_id": refresh_id, "status": status, "data_status": {"account_data": accounts}}
    )
    finished = started + timedelta(seconds=seconds) if seconds is not None else None
    return RefreshHistoryItem(model, "API", started, finished)


def test_history_chart_puts_each_outcome_word_in_colour_symbol_and_text() -> None:
    items = [
        item("r1", 10, 42, [{"account_id": "a", "balance": "FAILED"}]),
        item("r2", 20, 8, [{"account_id": "a", "balance": "OK"}]),
        item("r3", 30, 12, [{"account_id": "a", "transactions": "PARTIAL"}]),
        item("r4", 5, None, [], status="PENDING"),
    ]
    figure = refresh_history_chart(items)
    by_name = {t.name: t for t in figure.data}
    assert list(by_name) == ["failed", "partial", "succeeded"]
    for word, trace in by_name.items():
        colour, symbol = OUTCOME_STYLES[word]
        assert trace.marker.color == colour and trace.marker.symbol == symbol
        assert set(trace.text) == {word}
    assert list(by_name["failed"].y) == [42]
    assert "1 refresh without a start or an end" in figure.layout.annotations[0].text
    assert figure.layout.yaxis.type == "linear"
    # Headroom above the longest, so the word over its marker is not cut off.
    low, high = figure.layout.yaxis.range
    assert low == 0 and high >= 42 * 1.25


def test_history_chart_on_a_log_scale_keeps_headroom_too() -> None:
    figure = refresh_history_chart([item("r1", 10, 5, []), item("r2", 300, 3 * 3600, [])])
    low, high = figure.layout.yaxis.range  # powers of ten
    assert low < math.log10(5) and high >= math.log10(3 * 3600) + 0.3


def test_history_chart_uses_a_log_scale_when_one_refresh_took_hours() -> None:
    items = [item("r1", 10, 5, []), item("r2", 300, 3 * 3600, [])]
    assert refresh_history_chart(items).layout.yaxis.type == "log"


def test_history_chart_shows_an_unknown_status_as_itself_escaped() -> None:
    figure = refresh_history_chart([item("r1", 10, 5, [], status=HOSTILE)])
    (trace,) = figure.data
    assert trace.name == HOSTILE.upper().replace("<", "&lt;").replace(">", "&gt;").replace(
        "'", "&#x27;"
    )


def test_history_chart_without_durations_says_so() -> None:
    figure = refresh_history_chart([item("r1", 10, None, [], status="PENDING")])
    assert not figure.data and "(1 listed in the table)" in figure.layout.annotations[0].text
    assert not refresh_history_chart([]).data


def consent() -> Consent:
    return Consent.model_validate(
        {
            "transaction_from_date_time": "2025-01-01T00:00:00Z",
            "transaction_to_date_time": "2027-06-01T00:00:00Z",
        }
    )


def test_windows_chart_draws_the_consent_and_each_accounts_window() -> None:
    figure = transaction_windows_chart(refresh(ACCOUNTS), consent(), {"acc-1": "Salary"})
    bars = [t for t in figure.data if isinstance(t, go.Bar)]
    assert [b.name for b in bars] == [
        "Consent window",
        "transactions success",
        "transactions partial",
    ]
    partial = bars[2]
    assert list(partial.y) == ["Salary"]
    # 2025-06-01 to 2026-11-27, both days included
    assert partial.x[0] == (datetime(2026, 11, 28) - datetime(2025, 6, 1)).total_seconds() * 1000
    assert "17 complete months" in partial.customdata[0][2]
    assert "complete months not reported" in bars[1].customdata[0][2]
    (missing,) = [t for t in figure.data if isinstance(t, go.Scatter) and t.name == "no window"]
    assert list(missing.y) == ["acc-3"] and list(missing.text) == ["no window reported"]
    assert list(figure.layout.yaxis.categoryarray) == ["acc-3", "acc-2", "Salary", "Consent allows"]
    assert figure.layout.shapes[0].x0 == datetime(2026, 11, 27, 10)


def test_windows_chart_without_consent_or_accounts() -> None:
    figure = transaction_windows_chart(refresh(ACCOUNTS), None, {})
    assert "Consent allows" not in list(figure.layout.yaxis.categoryarray)
    empty = transaction_windows_chart(Refresh.model_validate({"refresh_id": "r"}), None, {})
    assert not empty.data and "No transaction window" in empty.layout.annotations[0].text
    only_consent = transaction_windows_chart(refresh([]), consent(), {})
    assert [t.name for t in only_consent.data] == ["Consent window"]


def window_bars(figure: go.Figure) -> dict[str, go.Bar]:
    return {b.name: b for b in figure.data if isinstance(b, go.Bar)}


def test_failed_transactions_are_an_outlined_hatched_bar_that_says_so() -> None:
    accounts = [
        {
            "account_id": "f",
            "transactions": "FAILED",
            "transaction_availability": {"start": "2025-01-01", "end": "2026-11-27"},
        }
    ]
    figure = transaction_windows_chart(refresh(accounts), consent(), {})
    bars = window_bars(figure)
    assert "transactions failed" not in bars, "never drawn like data that exists"
    failed = bars["transactions failed (window as last reported)"]
    assert failed.marker.pattern.shape == "/" and failed.marker.color == "#ffffff"
    assert failed.marker.line.width >= 1
    assert failed.customdata[0][2] == (
        "transactions failed — this window is what the bank last reported, not data held"
    )
    # 23 of 29 months on screen: room inside for the short words, the whole sentence in the hover.
    assert failed.text[0] == "transactions failed — not data held"
    assert failed.insidetextfont.color == "#000000"
    assert not [t for t in figure.data if isinstance(t, go.Scatter) and t.name == "bar labels"]


def test_a_narrow_bar_has_its_words_beside_it_and_in_the_hover() -> None:
    accounts = [
        {
            "account_id": "n",
            "transactions": "OK",
            "transaction_availability": {
                "start": "2026-11-01",
                "end": "2026-11-27",
                "complete_months": 1,
            },
        },
        {
            "account_id": "f",
            "transactions": "FAILED",
            "transaction_availability": {"start": "2026-10-01", "end": "2026-11-27"},
        },
    ]
    figure = transaction_windows_chart(refresh(accounts), consent(), {})
    bars = window_bars(figure)
    success = bars["transactions success"]
    assert list(success.text) == [""]  # too narrow: nothing squeezed inside
    assert success.customdata[0][2] == "1 complete month · transactions success"
    (beside,) = [t for t in figure.data if isinstance(t, go.Scatter) and t.name == "bar labels"]
    words = [t.strip() for t in beside.text]
    assert words == ["1 complete month · success", "transactions failed — not data held"]
    # The consent starts two years earlier: the words go on the roomier left of each bar.
    assert list(beside.textposition) == ["middle left", "middle left"]
    assert list(beside.x) == [datetime(2026, 11, 1), datetime(2026, 10, 1)]
    alone = transaction_windows_chart(
        refresh(accounts[:1]), None, {}, datetime(2027, 9, 1, tzinfo=UTC)
    )
    (right,) = [t for t in alone.data if isinstance(t, go.Scatter) and t.name == "bar labels"]
    assert list(right.textposition) == ["middle right"] and right.x[0] == datetime(2026, 11, 28)
