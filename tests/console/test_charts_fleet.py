"""The fleet heatmap: a pure figure, each cell labelled with its rate and counts."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from console.charts import (
    BANK_NOT_KNOWN,
    FLEET_COLOURS,
    _scale_colour,
    fleet_heatmap,
    fleet_type_heatmap,
)
from console.fleet import BankTypeRate, DailyRate
from tests.console.chart_cells import cell_words
from tests.console.test_charts_refreshes import contrast

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


def test_a_month_of_days_shows_the_rate_alone_with_the_counts_in_the_hover() -> None:
    month = [DAY - timedelta(days=n) for n in range(29, -1, -1)]
    rates = [DailyRate(DAY, "SNB", "all", refreshes=4, failed=1, success=3)]
    figure = fleet_heatmap(rates, month)
    trace = figure.data[0]
    assert trace.x[-1] == "11-27" and len(trace.x) == 30
    assert trace.text[0][-1] == "25"
    (note,) = cell_words(figure)
    assert (note.text, note.x, note.size) == ("25", "11-27", 8)
    assert (
        "2026-11-27" in trace.customdata[0][-1]
        and "1 of 4 refreshes failed" in trace.customdata[0][-1]
    )


def test_a_few_in_a_cell_are_never_none_and_nearly_all_never_all() -> None:
    month = [DAY - timedelta(days=n) for n in range(29, -1, -1)]
    rates = [
        DailyRate(DAY, "SNB", "all", refreshes=260, failed=1, success=259),
        DailyRate(DAY, "RJHI", "all", refreshes=260, failed=259, success=1),
    ]
    for days, few, most in ((month, "&lt;1", "&gt;99"), (DAYS, "&lt;1%", "&gt;99%")):
        words = {note.text.split("<br>")[0] for note in cell_words(fleet_heatmap(rates, days))}
        assert words == {few, most}, days


def test_banks_are_named_with_their_identifier_in_the_hover() -> None:
    rates = [DailyRate(DAY, "SNB_SAU", "all", refreshes=1, failed=1)]
    trace = fleet_heatmap(rates, [DAY], bank_names={"SNB_SAU": "Saudi National Bank"}).data[0]
    assert list(trace.y) == ["Saudi National Bank"]
    assert trace.customdata[0][0].startswith("Saudi National Bank · SNB_SAU")


def rate(bank: str | None, data_type: str, name: str | None = None, **counts: int) -> BankTypeRate:
    return BankTypeRate(bank, name, data_type, **counts)


TYPES = [
    rate("SNB", "all", "Saudi National Bank", refreshes=10, failed=1, success=9),
    rate("SNB", "transactions", "Saudi National Bank", refreshes=10, failed=1, success=9),
    rate("RJHI", "all", "Al Rajhi Bank", refreshes=4, failed=3, partial=1),
    rate("RJHI", "balance", "Al Rajhi Bank", refreshes=4, failed=1, unsupported=1, success=2),
    rate("RJHI", "transactions", "Al Rajhi Bank", refreshes=4, failed=3, success=1),
    rate(None, "all", refreshes=2, failed=2),
    rate("QUIET", "all", refreshes=2, unsupported=2),
]


def test_bank_by_data_type_sorts_the_worst_bank_first_with_rates_and_counts() -> None:
    figure = fleet_type_heatmap(TYPES, measure="failed", window_words="last 7 days")
    trace = figure.data[0]
    # The worst "any" rate first; a bank nothing was judged at, then the unknown bank, last.
    assert list(trace.y) == ["Al Rajhi Bank", "Saudi National Bank", "QUIET", BANK_NOT_KNOWN]
    assert list(trace.x) == [
        "any", "balance", "identity", "transactions", "beneficiaries", "direct debits",
        "scheduled payments", "standing orders",
    ]  # fmt: skip
    assert [list(row)[:4] for row in trace.text] == [
        ["75%<br>3 of 4", "33%<br>1 of 3", "", "75%<br>3 of 4"],
        ["10%<br>1 of 10", "", "", "10%<br>1 of 10"],
        ["", "", "", ""],
        ["100%<br>2 of 2", "", "", ""],
    ]
    assert trace.customdata[0][1] == (
        "Al Rajhi Bank · RJHI<br>balance · last 7 days<br>1 of 3 refreshes failed (33%)"
        "<br>1 unsupported, not counted"
    )
    assert "(only unsupported)" in trace.customdata[2][0]
    assert "last 7 days" in figure.layout.title.text
    partial = fleet_type_heatmap(TYPES, measure="failed_or_partial").data[0]
    assert partial.text[0][0] == "100%<br>4 of 4"


def test_every_fleet_cell_reads_on_its_own_colour() -> None:
    rates = [rate(f"B{n}", "all", refreshes=20, failed=n, success=20 - n) for n in range(0, 21)]
    figure = fleet_type_heatmap(rates)
    notes = cell_words(figure)
    assert len(notes) == 21
    for note in notes:
        share = int(note.text.split("%")[0]) / 100
        assert contrast(note.colour, _scale_colour(FLEET_COLOURS, share)) >= 4.5, note.text
    assert _scale_colour(FLEET_COLOURS, 0.0) == "#f1f8f3"
    assert _scale_colour(FLEET_COLOURS, 1.0) == "#a50e0e"


@pytest.mark.parametrize("name", ["Same Bank", "<b>Same</b>"])
def test_two_banks_with_one_name_keep_their_own_rows(name: str) -> None:
    rates = [rate("A1", "all", name, refreshes=1, failed=1), rate("A2", "all", name, refreshes=1)]
    labels = list(fleet_type_heatmap(rates).data[0].y)
    assert len(set(labels)) == 2 and all("<b>" not in label for label in labels)
