"""The account data figures, built from models without a browser."""

from __future__ import annotations

from typing import Any

from console.account_data import balance_series, monthly_cash_flow
from console.charts import balance_over_time, monthly_cash_flow_chart
from lean_api.models import Balance, Transaction


def tx(when: str, amount: Any, indicator: str = "DEBIT", currency: str = "SAR") -> Transaction:
    return Transaction.model_validate(
        {
            "credit_debit_indicator": indicator,
            "amount": {"amount": amount, "currency": currency},
            "booking_date_time": when,
            "status": "BOOKED",
        }
    )


BOOKED = Balance.model_validate(
    {
        "type": "CLOSING_BOOKED",
        "credit_debit_indicator": "CREDIT",
        "amount": {"amount": "1000", "currency": "SAR"},
        "date_time": "2026-11-27T10:00:00Z",
    }
)


def test_balance_line_draws_the_series_in_its_currency() -> None:
    series = balance_series(
        [tx("2026-11-02T09:00:00Z", 100), tx("2026-10-01T09:00:00Z", 500, "CREDIT")], [BOOKED]
    )
    figure = balance_over_time(series)
    (line,) = [t for t in figure.data if t.type == "scatter"]
    assert list(line.y) == [600.0, 1100.0, 1100.0, 1000.0, 1000.0]
    assert line.line.shape == "hv"
    assert "SAR" in line.hovertemplate
    assert figure.layout.title.text == "Balance over time"
    assert figure.layout.yaxis.title.text == "SAR"


def test_empty_balance_line_says_there_is_nothing_to_draw() -> None:
    figure = balance_over_time(balance_series([], []))
    assert not figure.data
    assert figure.layout.annotations[0].text == "No balance history to draw"


def test_cash_flow_chart_shows_money_in_and_out_per_month() -> None:
    flow = monthly_cash_flow(
        [
            tx("2026-10-27T09:00:00Z", 12000, "CREDIT"),
            tx("2026-10-03T09:00:00Z", 250, "DEBIT"),
            tx("2026-11-05T09:00:00Z", 40, "DEBIT"),
            tx("2026-11-05T09:00:00Z", 9, "DEBIT", "USD"),
        ]
    )
    figure = monthly_cash_flow_chart(flow, "SAR")
    money_in, money_out = figure.data
    assert money_in.name == "Money in (credits)" and money_out.name == "Money out (debits)"
    assert list(money_in.x) == ["2026-10", "2026-11"]
    assert list(money_in.y) == [12000.0, 0.0]
    assert list(money_out.y) == [250.0, 40.0]  # the USD 9 is not in the SAR chart
    assert money_in.customdata[0][0] == "11,750.00"
    assert figure.layout.barmode == "group"
    usd = monthly_cash_flow_chart(flow, "USD")
    assert list(usd.data[1].y) == [9.0]


def test_cash_flow_chart_of_no_transactions_says_so() -> None:
    figure = monthly_cash_flow_chart(monthly_cash_flow([]), "SAR")
    assert all(len(trace.x) == 0 for trace in figure.data)
    assert figure.layout.annotations[0].text == "No transactions to count"


def test_lean_text_in_titles_is_escaped() -> None:
    hostile = '<a href="https://evil.example">X</a>'
    flow = monthly_cash_flow([tx("2026-10-03T09:00:00Z", 1, currency=hostile)])
    figure = monthly_cash_flow_chart(flow, hostile)
    assert "<a" not in figure.layout.title.text
    assert "<a" not in figure.data[0].hovertemplate
