"""Figures are built from models without a browser."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from console.charts import availability_timeline
from console.insights.bank_health import AvailabilityChange, spans

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
SINCE = NOW - timedelta(days=30)


def history() -> list[AvailabilityChange]:
    return [
        AvailabilityChange(NOW - timedelta(days=20), "available", "available"),
        AvailabilityChange(NOW - timedelta(days=10), "disabled_by_lean", "disabled_by_lean"),
        AvailabilityChange(NOW - timedelta(days=9), "available", "disabled_by_us"),
    ]


def timeline() -> list:
    changes = history()
    return spans(changes, "data", SINCE, NOW) + spans(changes, "payments", SINCE, NOW)


def test_timeline_names_every_state_in_words() -> None:
    figure = availability_timeline(timeline())
    names = [trace.name for trace in figure.data]
    assert names == ["Available", "Disabled by Lean", "Disabled by us (portal)", "No record"]


def test_timeline_has_a_lane_per_capability_covering_the_window() -> None:
    figure = availability_timeline(timeline())
    for lane in ("Data", "Payments"):
        total_ms = sum(
            length
            for trace in figure.data
            for y, length in zip(trace.y, trace.x, strict=True)
            if y == lane
        )
        assert total_ms == (NOW - SINCE).total_seconds() * 1000
    lean = next(t for t in figure.data if t.name == "Disabled by Lean")
    # plotly.js reads no offsets in dates: naive UTC
    assert list(lean.base) == [(NOW - timedelta(days=10)).replace(tzinfo=None)] * 2
    assert lean.customdata[0][3] == "1 d 0 h"


def test_a_bank_name_in_the_title_is_not_html() -> None:
    figure = availability_timeline(timeline(), title='<a href="https://evil">Bank</a>')
    assert figure.layout.title.text == "&lt;a href=&quot;https://evil&quot;&gt;Bank&lt;/a&gt;"


def test_empty_history_is_an_empty_figure() -> None:
    assert availability_timeline([]).data == ()
