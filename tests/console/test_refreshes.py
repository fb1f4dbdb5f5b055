"""One entity's refresh history: Lean's list and stored webhooks merged, outcomes in words."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from console.refreshes import (
    BOTH,
    CELL_PADDING,
    CHAR_PIXELS,
    DATA_TYPE_LABELS,
    NOT_REPORTED,
    WEBHOOK,
    account_labels,
    account_row_labels,
    cell_word,
    choose_refresh,
    duration_words,
    history_rows,
    merge_refreshes,
    outcome_word,
    pixels_for,
    refresh_option,
    status_rows,
    status_table,
    webhook_refreshes,
    worst_accounts,
)
from console.store import StoredEvent
from lean_api.models import Account, Refresh

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
ENTITY = "a2c45b62-0182-4fd8-85e0-f70ca5297eb5"


def refresh(
    refresh_id: str = "r1",
    status: str = "FINISHED",
    accounts: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {"refresh_id": refresh_id, "entity_id": ENTITY, "status": status}
    if accounts is not None:
        body["data_status"] = {"accounts": "OK", "identity": "OK", "account_data": accounts}
    body.update(extra)
    return body


def event(body: dict[str, Any], at: datetime, event_id: str) -> StoredEvent:
    payload = json.dumps(
        {
            "type": "entity.data.refresh.updated",
            "message": "m",
            "payload": body,
            "event_id": event_id,
        }
    )
    return StoredEvent(
        event_id=event_id,
        type="entity.data.refresh.updated",
        message="m",
        lean_timestamp=at,
        received_at=at + timedelta(seconds=1),
        verified=True,
        source_ip="127.0.0.1",
        payload=payload,
        size=len(payload),
        entity_id=ENTITY,
        refresh_id=body["refresh_id"],
        status=body["status"],
        last_received_at=at + timedelta(seconds=1),
        delivery_count=1,
    )


FAILED_ACCOUNT = {
    "account_id": "acc-1",
    "balance": "OK",
    "transactions": "PARTIAL",
    "standing_orders": "FAILED",
}


def test_outcome_words_judge_the_data_not_the_lifecycle_word() -> None:
    assert outcome_word(Refresh.model_validate(refresh(accounts=[FAILED_ACCOUNT]))) == "failed"
    partial = {"account_id": "a", "balance": "OK", "transactions": "PARTIAL"}
    assert outcome_word(Refresh.model_validate(refresh(accounts=[partial]))) == "partial"
    fine = {"account_id": "a", "balance": "OK", "scheduled_payments": "UNSUPPORTED"}
    assert (
        outcome_word(Refresh.model_validate(refresh(status="OK", accounts=[fine]))) == "succeeded"
    )
    assert outcome_word(Refresh.model_validate(refresh(status="PENDING", accounts=[]))) == "pending"
    assert outcome_word(Refresh.model_validate(refresh())) == "no details"
    odd = {"account_id": "a", "balance": "STALE"}
    assert outcome_word(Refresh.model_validate(refresh(accounts=[odd]))) == "unclear"
    assert outcome_word(Refresh.model_validate(refresh(status="CANCELLED"))) == "CANCELLED"


def test_an_entity_level_failure_is_a_failure() -> None:
    body = refresh(accounts=[{"account_id": "a", "balance": "OK"}])
    body["data_status"]["identity"] = "FAILED"
    assert outcome_word(Refresh.model_validate(body)) == "failed"


def test_cell_words_keep_unknown_values_and_say_when_nothing_was_reported() -> None:
    assert [cell_word(w) for w in ("SUCCESS", "PARTIAL", "FAILED", "UNSUPPORTED", "PENDING")] == [
        "success",
        "partial",
        "failed",
        "unsupported",
        "pending",
    ]
    assert cell_word("THROTTLED") == "THROTTLED"
    assert cell_word(None) == NOT_REPORTED


def test_durations_in_words() -> None:
    assert duration_words(timedelta(seconds=7.4)) == "7 s"
    assert duration_words(timedelta(seconds=90)) == "1 min 30 s"
    assert duration_words(timedelta(hours=2, minutes=5)) == "2 h 5 min"
    assert duration_words(timedelta(days=3, hours=4)) == "3 d 4 h"
    assert duration_words(None) == ""


def test_webhooks_keep_the_latest_state_per_refresh_and_when_it_started() -> None:
    pending = refresh("r1", "PENDING", accounts=[{"account_id": "a", "balance": "PENDING"}])
    finished = refresh("r1", "FINISHED", accounts=[FAILED_ACCOUNT])
    # Delivered out of order: the finished event arrives first.
    events = [event(finished, T0 + timedelta(seconds=40), "e2"), event(pending, T0, "e1")]
    found = webhook_refreshes(events)
    assert set(found) == {"r1"}
    assert found["r1"].refresh.status == "FINISHED"
    assert found["r1"].first_seen == T0 and found["r1"].finished_seen == T0 + timedelta(seconds=40)
    assert found["r1"].seen_pending and found["r1"].events == 2


def test_a_webhook_body_that_is_not_a_refresh_is_left_out() -> None:
    broken = event(refresh("r9"), T0, "e9")
    broken = StoredEvent(**{**broken.__dict__, "payload": "not json"})
    assert webhook_refreshes([broken]) == {}


def test_merge_gives_one_row_per_refresh_with_its_source_and_duration() -> None:
    api = [
        Refresh.model_validate(
            refresh(
                "r1",
                accounts=[FAILED_ACCOUNT],
                created_at="2026-11-27T10:00:00.000Z",
                updated_at="2026-11-27T10:00:42.000Z",
            )
        ),
        Refresh.model_validate(refresh("r0", created_at="2026-11-20T09:00:00.000Z")),
    ]
    hooks = webhook_refreshes(
        [
            event(refresh("r1", accounts=[FAILED_ACCOUNT]), T0 + timedelta(seconds=43), "e1"),
            event(refresh("r2", "PENDING", accounts=[]), T0 + timedelta(hours=2), "e2"),
            event(refresh("r2", accounts=[]), T0 + timedelta(hours=2, seconds=8), "e3"),
        ]
    )
    items = merge_refreshes(api, hooks)
    assert [i.refresh_id for i in items] == ["r2", "r1", "r0"]
    r2, r1, r0 = items
    assert (r2.source, r1.source, r0.source) == (WEBHOOK, BOTH, "API")
    assert r1.duration == timedelta(seconds=42)
    assert r2.duration == timedelta(seconds=8), "a webhook seen pending marks the start"
    assert r0.duration is None and r0.outcome == "Finished — per-account details not loaded"
    rows = history_rows(items)
    assert rows[1]["Outcome"].startswith("Finished — 1 of 7 data types failed on 1 of 1 account")
    assert rows[1]["Duration"] == "42 s" and rows[1]["Lean status"] == "FINISHED"
    assert rows[1]["Entity level"] == "accounts success · identity success"


def test_merge_keeps_the_more_final_record_when_the_api_answer_is_older() -> None:
    api = [Refresh.model_validate(refresh("r1", "PENDING", created_at="2026-11-27T10:00:00Z"))]
    hooks = webhook_refreshes([event(refresh("r1", accounts=[FAILED_ACCOUNT]), T0, "e1")])
    (item,) = merge_refreshes(api, hooks)
    assert item.refresh.status == "FINISHED" and item.outcome_word == "failed"
    assert item.started == T0 and item.finished == T0


def test_a_refresh_known_only_finished_has_no_start() -> None:
    (item,) = merge_refreshes(None, webhook_refreshes([event(refresh("r1", accounts=[]), T0, "e")]))
    assert item.started is None and item.finished == T0 and item.duration is None


def test_merge_with_nothing_is_empty() -> None:
    assert merge_refreshes(None, {}) == []
    assert merge_refreshes([], {}) == []


def test_the_refresh_named_in_the_link_is_chosen_else_the_newest() -> None:
    items = merge_refreshes(
        [
            Refresh.model_validate(refresh("r1", created_at="2026-11-27T10:00:00Z")),
            Refresh.model_validate(refresh("R2", created_at="2026-11-20T10:00:00Z")),
        ],
        {},
    )
    assert choose_refresh(items, "r2") == 1
    assert choose_refresh(items, "nope") == 0
    assert choose_refresh(items, None) == 0
    assert refresh_option(items[0]) == "2026-11-27 10:00 UTC · no details · r1…"


def test_accounts_are_named_by_masked_iban_and_name() -> None:
    accounts = [
        Account.model_validate(
            {
                "account_id": "acc-1",
                "nickname": "Salary",
                "account": [{"scheme_name": "IBAN", "identification": "SA0420000001234567891234"}],
            }
        ),
        Account.model_validate({"account_id": "acc-2"}),
    ]
    labels = account_labels(accounts)
    assert labels == {"acc-1": "Salary · SA04 •••• •••• •• 34"}
    assert account_labels(accounts, reveal=True)["acc-1"] == "Salary · SA0420000001234567891234"


def test_row_labels_fall_back_to_account_id_and_never_collide() -> None:
    body = refresh(
        accounts=[{"account_id": "acc-1"}, {"account_id": "acc-2"}, {"account_id": "acc-3"}]
    )
    labels = {"acc-1": "Current · SA04 •••• •••• •• 34", "acc-2": "Current · SA04 •••• •••• •• 34"}
    rows = account_row_labels(Refresh.model_validate(body), labels)
    assert len(set(rows)) == 3
    assert rows[2] == "acc-3"
    assert rows[0].endswith("(acc-1)") and rows[1].endswith("(acc-2)")


def test_status_rows_have_a_word_in_every_cell() -> None:
    rows = status_rows(Refresh.model_validate(refresh(accounts=[FAILED_ACCOUNT])), {})
    assert rows == [
        {
            "Account": "acc-1",
            "balance": "success",
            "identity": NOT_REPORTED,
            "transactions": "partial",
            "beneficiaries": NOT_REPORTED,
            "direct debits": NOT_REPORTED,
            "scheduled payments": NOT_REPORTED,
            "standing orders": "failed",
            "account_id": "acc-1",
        }
    ]


def test_status_table_has_data_types_down_and_accounts_across() -> None:
    second = {"account_id": "acc-2", "balance": "THROTTLED"}
    model = Refresh.model_validate(refresh(accounts=[FAILED_ACCOUNT, second]))
    table = status_table(model, {"acc-1": "Salary · SA04 •••• •••• •• 34", "acc-2": "Data type"})
    assert [row["Data type"] for row in table] == [
        "balance", "identity", "transactions", "beneficiaries", "direct debits",
        "scheduled payments", "standing orders", "account_id",
    ]  # fmt: skip
    assert list(table[0]) == ["Data type", "Salary · SA04 •••• •••• •• 34", "Data type (account)"]
    assert table[0]["Data type (account)"] == "THROTTLED"
    assert table[6]["Salary · SA04 •••• •••• •• 34"] == "failed"
    assert table[2]["Data type (account)"] == NOT_REPORTED
    assert table[-1] == {
        "Data type": "account_id",
        "Salary · SA04 •••• •••• •• 34": "acc-1",
        "Data type (account)": "acc-2",
    }
    assert status_table(Refresh.model_validate(refresh(accounts=[])), {}) == [
        {"Data type": label} for label in DATA_TYPE_LABELS.values()
    ]


def test_a_column_is_sized_to_show_its_longest_text_whole() -> None:
    assert pixels_for(["Outcome", "x" * 50]) == round(50 * CHAR_PIXELS) + CELL_PADDING
    assert pixels_for([]) == 60 and pixels_for(["ok"]) == 60
    assert pixels_for(["x" * 500]) == 560


def test_the_worst_accounts_are_kept_in_their_order_and_the_rest_counted() -> None:
    rows = [{"account_id": f"a{i}", "balance": "OK"} for i in range(6)]
    rows[4]["balance"] = "FAILED"
    rows[1]["transactions"] = "PARTIAL"
    rows[5]["balance"] = "WEIRD"
    full = Refresh.model_validate(refresh(accounts=rows))
    kept, left_out = worst_accounts(full, limit=3)
    assert left_out == 3
    assert [a.account_id for a in kept.data_status.account_data] == ["a1", "a4", "a5"]
    assert worst_accounts(full, limit=10) == (full, 0)


def test_impossible_dates_are_not_a_start_or_a_finish() -> None:
    api = [
        Refresh.model_validate(refresh("r-old", created_at="0001-01-01T00:00:00Z")),
        Refresh.model_validate(
            refresh("r-far", created_at="9999-12-31T23:59:59Z", updated_at="0001-01-01T00:00:00Z")
        ),
        Refresh.model_validate(refresh("r-ok", created_at="2026-11-20T09:00:00Z")),
    ]
    items = {i.refresh_id: i for i in merge_refreshes(api, {})}
    assert items["r-old"].started is None and items["r-far"].started is None
    assert items["r-far"].finished is None and items["r-far"].duration is None
    assert next(iter(merge_refreshes(api, {}))).refresh_id == "r-ok"  # newest real one first
