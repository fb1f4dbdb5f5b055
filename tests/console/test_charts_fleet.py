"""The fleet heatmap: a pure figure, each cell labelled with its rate and counts."""

from __future__ import annotations

from datetime import date, timedelta

from console.charts import BANK_NOT_KNOWN, fleet_heatmap
from console.fleet import DailyRate

DAY = date(2026, 11, 27)
DAYS = [DAY - timedelta(days=1), DAY]


def test_cells_say_the_rate_and_the_counts_in_numbers() -> None:
    rates = [
        DailyRate(DAY, "SNB", "all", refreshes=4, failed=1, partial=1, success=2),
        DailyRate(DAY - timedelta(days=1), "SNB", "all", refreshes=2, success=2),
        DailyRate(DAY, None, "all", refreshes=3, failed=3),
    ]
    trace = fleet_heatmap(rates, DAYS, measure="failed").data[0]
    assert list(trace.y) == ["SNB", BANK_NOT_KNOWN]  # known banks first, unknown last
    assert list(trace.x) == ["2026-11-26", "2026-11-27"]
    assert [list(row) for row in trace.text] == [
        ["0%<br>0 of 2", "25%<br>1 of 4"],
        ["", "100%<br>3 of 3"],
    ]
    assert [list(row) for row in trace.z] == [[0.0, 25.0], [None, 100.0]]
    assert "1 of 4 refreshes failed (25%)" in trace.customdata[0][1]
    assert "no finished refresh counted" in trace.customdata[1][0]


def test_failed_or_partial_adds_both_and_unsupported_is_not_counted() -> None:
    rates = [
        DailyRate(DAY, "SNB", "balance", refreshes=5, failed=1, partial=1, unsupported=1, success=2)
    ]
    figure = fleet_heatmap(rates, [DAY], measure="failed_or_partial", data_type_label="balance")
    trace = figure.data[0]
    assert list(trace.text[0]) == ["50%<br>2 of 4"]
    assert "1 unsupported, not counted" in trace.customdata[0][0]
    assert "failed or partial" in figure.layout.title.text


def test_only_unsupported_reads_as_nothing_counted() -> None:
    rates = [DailyRate(DAY, "SNB", "balance", refreshes=2, unsupported=2)]
    trace = fleet_heatmap(rates, [DAY]).data[0]
    assert list(trace.z[0]) == [None] and list(trace.text[0]) == [""]


def test_bank_identifiers_from_lean_are_escaped() -> None:
    rates = [DailyRate(DAY, "<a href='x'>B</a>", "all", refreshes=1, failed=1)]
    trace = fleet_heatmap(rates, [DAY]).data[0]
    assert list(trace.y) == ["&lt;a href=&#x27;x&#x27;&gt;B&lt;/a&gt;"]
    assert "<a " not in trace.customdata[0][0]


def test_no_rates_gives_an_empty_grid() -> None:
    figure = fleet_heatmap([], DAYS)
    assert list(figure.data[0].y) == [] and figure.layout.height > 0


def test_a_month_of_days_uses_compact_labels_with_the_same_numbers() -> None:
    month = [DAY - timedelta(days=n) for n in range(29, -1, -1)]
    rates = [DailyRate(DAY, "SNB", "all", refreshes=4, failed=1, success=3)]
    trace = fleet_heatmap(rates, month).data[0]
    assert trace.x[-1] == "11-27" and len(trace.x) == 30
    assert trace.text[0][-1] == "25%<br>1/4"
    assert (
        "2026-11-27" in trace.customdata[0][-1]
        and "1 of 4 refreshes failed" in trace.customdata[0][-1]
    )
