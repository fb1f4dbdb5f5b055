"""Colours and labels shared by tables, so a status reads the same on every screen; and the one
way text from outside (Lean, webhooks, URLs, forms) is put on a screen or into a CSV export."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pandas as pd

# Background/foreground per tone; muted so a full column of them stays readable.
TONES = {
    "good": "background-color: #e6f4ea; color: #0d652d",
    "warn": "background-color: #fef3e0; color: #8a4b00",
    "bad": "background-color: #fde8e7; color: #a50e0e",
    "muted": "background-color: #f1f3f4; color: #3c4043",
}
_TONE_BY_WORD = {
    "ACTIVE": "good",
    "HEALTHY": "good",
    "DEGRADED": "warn",
    "DOWN": "bad",
    "NOT SUPPORTED": "muted",
    "GRANTED": "good",
    "WAITING FOR": "warn",
    "AVAILABLE": "good",
    "SUCCESS": "good",
    "FINISHED": "good",
    "EXPIRING": "warn",
    "PARTIAL": "warn",
    "DATA PARTIAL": "warn",
    "DATA FAILED": "bad",
    "UNSUPPORTED": "muted",
    "PENDING": "warn",
    "DISABLED BY US": "warn",
    "EXPIRED": "bad",
    "REVOKED": "bad",
    "SUSPENDED": "bad",
    "REJECTED": "bad",
    "FAILED": "bad",
    "DISABLED BY LEAN": "bad",
    "DISABLED": "bad",
}


def tone_of(label: Any) -> str | None:
    """The tone a status label carries, from its leading words."""
    if not isinstance(label, str):
        return None
    text = label.upper()
    if "EXPIRES IN" in text:
        return "warn"
    if text.startswith(("FINISHED —", "PENDING —")):
        # A refresh in words: what happened to the data decides, not the lifecycle word.
        if " FAILED" in text:
            return "bad"
        unclear = " PARTIAL" in text or "LEAN'S WORD" in text or text.startswith("PENDING")
        return "warn" if unclear else "good"
    for word, tone in _TONE_BY_WORD.items():
        if text.startswith(word):
            return tone
    return "muted" if text else None


def status_css(label: Any) -> str:
    """CSS for one status cell."""
    tone = tone_of(label)
    return TONES[tone] if tone else ""


def styled_table(rows: list[dict[str, Any]], status_columns: Iterable[str]) -> Any:
    """A pandas Styler with status columns coloured by tone (st.dataframe renders it)."""
    frame = pd.DataFrame(rows)
    present = [c for c in status_columns if c in frame.columns]
    return frame.style.map(status_css, subset=present) if present and len(frame) else frame


# Line endings a Markdown parser would honour: a new line could start a heading, a list or a fence.
_LINE_BREAK = re.compile(r"\r\n|[\r\n\v\f\x85\u2028\u2029]")
_BACKTICKS = re.compile(r"`+")
# Streamlit rewrites ":material/" to ":material_" in the whole Markdown source, code spans
# included, before parsing; an invisible word joiner keeps the text as it was written.
_MATERIAL_PREFIX = ":material/"
_WORD_JOINER = "\u2060"


def literal_md(text: object) -> str:
    """Markdown that shows untrusted `text` exactly as written, as an inline code span.

    Use it for every piece of text from Lean, a webhook, a URL or a form that goes into
    st.markdown, st.caption, an alert, a subheader, a metric or any label (widgets, expanders,
    page links): `st.caption(f"From {literal_md(ip)}")`. Inside a code span Streamlit makes no links
    (GFM autolinks included), images, HTML, emphasis, colours, emoji, icons or LaTeX. The fence
    is one backtick longer than the longest run in the text, so the text cannot close it, and
    line breaks are shown as "↵" so the text cannot start a block of its own. Empty text (or
    None) gives "", so callers choose their own placeholder. Keep a space or a word between it
    and any backtick (or another `literal_md`): adjacent backticks would join the fences.
    """
    value = "" if text is None else str(text)
    if not value:
        return ""
    value = _LINE_BREAK.sub("↵", value)
    value = value.replace(_MATERIAL_PREFIX, ":" + _WORD_JOINER + _MATERIAL_PREFIX[1:])
    fence = "`" * (max(map(len, _BACKTICKS.findall(value)), default=0) + 1)
    # The parser strips one space inside each fence (unless the text is only spaces), so a text
    # that starts or ends with a backtick or a space is shown unchanged.
    pad = " " if value.strip(" ") else ""
    return f"{fence}{pad}{value}{pad}{fence}"


# OWASP "CSV Injection": spreadsheets treat a cell that starts with one of these as a formula.
CSV_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")


def csv_safe_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet will not run as a formula, as OWASP advises for CSV Injection.

    A string starting with = + - @, a tab or a line break gets a leading single quote; the csv
    module's quoting does the rest. Anything else (numbers, booleans) is returned unchanged.
    """
    if isinstance(value, str) and value.startswith(CSV_FORMULA_TRIGGERS):
        return "'" + value
    return value


def csv_cell(value: Any) -> Any:
    """One cell of an export: nothing as "", a time as ISO 8601, text safe from formulas
    (`csv_safe_cell`)."""
    if isinstance(value, datetime):
        return value.isoformat()
    # Exported text is untrusted: a cell such as "=HYPERLINK(...)" must not run in a spreadsheet.
    return "" if value is None else csv_safe_cell(value)


def rows_words(
    start: int, shown: int, total: int, *, exact: bool = False, noun: str = "row"
) -> str:
    """Where a page sits in its list, in words: "rows 51–100 of about 12,345", "line 4 of 4"
    (`start` from 0; `noun` in the singular, its plural takes an "s").

    "about" unless `exact`: the total is counted when the page is read, and rows may arrive or
    the count may be an estimate.
    """
    about = "" if exact else "about "
    if shown <= 0:
        return f"no {noun}s of {about}{total:,}"
    last = start + shown
    if shown == 1:
        return f"{noun} {last:,} of {about}{max(total, last):,}"
    return f"{noun}s {start + 1:,}–{last:,} of {about}{max(total, last):,}"


_LONG_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{23,}")


def shorten(text: str, limit: int = 60) -> str:
    """`text` cut to `limit` characters with "…" (a value from a link, echoed in a message)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fit_ids(text: str, most: int) -> str:
    """`text` within `most` characters, for a table cell the screen's detail shows whole: ids
    after the first are cut to their start (`6c770e96…`), as the console's tables show them,
    then the first one too when the text is still too long (the endpoint after an id, as in
    `/accounts/6c770e96…/transactions`, says more than the rest of the id), then what is still
    too long ends in "…". Text that fits is left whole."""
    if len(text) <= most:
        return text
    ids = list(_LONG_ID.finditer(text))
    cut_ids: list[int] = []  # where each id cut to its start begins, in the text as it is now
    for match in reversed(ids):
        if len(text) <= most:
            break
        text = text[: match.start()] + match.group()[:8] + "…" + text[match.end() :]
        shrunk = len(match.group()) - 9
        cut_ids = [match.start(), *(start - shrunk for start in cut_ids)]
    if len(text) <= most:
        return text
    end = max(1, most - 1)
    # Not inside an id already cut to its start ("entity_id=438512…"), nor after its "…" ("……").
    for start in cut_ids:
        if start < end < start + 9:
            end = start
    head = text[:end]
    return head if head.endswith("…") else head + "…"


def page_index(raw: str, *, pages: int) -> int | None:
    """The page a link's `page=N` names (N from 1), as an index from 0 among `pages` pages;
    None when the text is not such a number ("00", "-1", "1e9", 5,000 digits, "x"), so the
    screen can say so and show the first page. A number past the end is the last page."""
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 9 or int(text) < 1:
        return None
    return min(int(text), max(pages, 1)) - 1
