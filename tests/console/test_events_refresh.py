"""A refresh event read in full: its verdict beside Lean's word, per-account words, and links to
the Data refreshes screen and the bank connection."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from console.events import (
    DATA_TYPE_WORDS,
    NOT_REPORTED,
    event_links,
    refresh_account_rows,
    refresh_verdict,
    status_words,
)
from console.formatting import tone_of
from console.store import StoredEvent

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ACCOUNT = "f33f2e05-9c1d-4a7e-8d7a-2b6f1e0c9a11"


def refresh_event(status: str, account: dict, **fields: object) -> StoredEvent:
    payload = {
        "refresh_id": "5a1b2c3d-0000-4000-8000-000000000001",
        "entity_id": "0123456789ab",
        "customer_id": "c-1",
        "status": status,
        "data_status": {"accounts": "SUCCESS", "identity": "SUCCESS", "account_data": [account]},
    }
    body = json.dumps({"type": "entity.data.refresh.updated", "payload": payload})
    base: dict = {
        "event_id": "ev-r",
        "type": "entity.data.refresh.updated",
        "message": None,
        "lean_timestamp": NOW,
        "received_at": NOW,
        "last_received_at": NOW,
        "delivery_count": 1,
        "verified": True,
        "source_ip": None,
        "customer_id": "c-1",
        "entity_id": "0123456789ab",
        "app_user_id": None,
        "bank_identifier": None,
        "refresh_id": payload["refresh_id"],
        "status": status,
        "payload": body,
        "size": len(body),
    }
    base.update(fields)
    return StoredEvent(**base)


def test_per_account_rows_are_words_with_full_ids_and_blanks_said() -> None:
    event = refresh_event(
        "FINISHED",
        {
            "account_id": ACCOUNT,
            "balance": "SUCCESS",
            "transactions": "PARTIAL",
            "identity": "FAILED",
            "direct_debits": "UNSUPPORTED",
            "standing_orders": "TIMED_OUT",
            "transaction_availability": {"start": "2026-01-01T00:00:00Z"},
        },
    )
    (row,) = refresh_account_rows(event)
    assert row["Account"] == ACCOUNT  # whole, never "f33f2e05…"
    assert row["Balance"] == "success" and row["Transactions"] == "partial"
    assert row["Identity"] == "failed" and row["Direct debits"] == "unsupported"
    assert row["Standing orders"] == "TIMED_OUT"  # a word the console does not know is kept
    assert row["Beneficiaries"] == NOT_REPORTED and row["Scheduled payments"] == NOT_REPORTED
    assert row["Transactions from"] == "2026-01-01"
    assert row["Transactions to"] == NOT_REPORTED and row["Complete months"] == NOT_REPORTED
    assert set(DATA_TYPE_WORDS.values()) <= set(row)
    assert "SUCCESS" not in row.values()


def test_a_finished_refresh_with_a_failure_is_failed_beside_leans_word() -> None:
    failed = refresh_event("FINISHED", {"account_id": ACCOUNT, "balance": "FAILED"})
    assert refresh_verdict(failed) == "Failed"
    assert status_words(failed) == "Data failed · FINISHED"
    assert tone_of(status_words(failed)) == "bad"
    partial = refresh_event("FINISHED", {"account_id": ACCOUNT, "balance": "PARTIAL"})
    assert status_words(partial) == "Data partial · FINISHED"
    assert tone_of(status_words(partial)) == "warn"
    good = refresh_event("FINISHED", {"account_id": ACCOUNT, "balance": "SUCCESS"})
    assert refresh_verdict(good) == "Success"
    assert tone_of(status_words(good)) == "good"


def test_a_refresh_links_to_its_data_refreshes_screen_and_bank_connection() -> None:
    event = refresh_event(
        "FINISHED", {"account_id": ACCOUNT, "balance": "SUCCESS"}, entity_bank="RIBL_SAMAOB_SAU"
    )
    links = {link.page + " " + link.what: link.query for link in event_links(event)}
    refresh_id = "5a1b2c3d-0000-4000-8000-000000000001"
    assert links["pages/refreshes.py Data refreshes: refresh"] == {
        "entity_id": "0123456789ab",
        "customer_id": "c-1",
        "refresh_id": refresh_id,
    }
    assert links["pages/entities.py Bank connection"] == {
        "entity_id": "0123456789ab",
        "customer_id": "c-1",
    }
    # The bank comes from the book index (refresh events name none).
    assert links["pages/webhooks.py Events of bank"] == {"bank": "RIBL_SAMAOB_SAU"}
