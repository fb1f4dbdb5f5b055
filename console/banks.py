"""Bank availability as operators and product managers read it."""

from __future__ import annotations

from collections import Counter
from typing import Any

from lean_api.models import Bank

STATE_LABELS = {
    "available": "Available",
    "disabled_by_lean": "Disabled by Lean",
    "disabled_by_us": "Disabled by us (portal)",
    "unknown": "Unknown",
}


def availability_rows(banks: list[Bank]) -> list[dict[str, Any]]:
    """One row per bank: data and payments availability, with who switched it off."""
    rows = [
        {
            "Bank": bank.display_name,
            "Arabic name": bank.commercial_name_arabic or bank.arabic_name or "",
            "Data": STATE_LABELS[bank.availability.state("data")],
            "Payments": STATE_LABELS[bank.availability.state("payments")],
            "Identifier": bank.identifier,
        }
        for bank in banks
    ]
    return sorted(rows, key=lambda r: (r["Data"] != STATE_LABELS["available"], r["Bank"]))


def availability_counts(banks: list[Bank], capability: str = "data") -> Counter[str]:
    """How many banks are in each availability state for a capability."""
    return Counter(bank.availability.state(capability) for bank in banks)
