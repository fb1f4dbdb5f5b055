"""Colours and labels shared by tables, so a status reads the same on every screen."""

from __future__ import annotations

from collections.abc import Iterable
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
    "AVAILABLE": "good",
    "SUCCESS": "good",
    "FINISHED": "good",
    "EXPIRING": "warn",
    "PARTIAL": "warn",
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
