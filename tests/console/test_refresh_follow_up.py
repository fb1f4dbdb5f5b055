"""After a refresh the console follows: the next step in one line from its outcome, and what the
connection's identity and an account's identity each mean when they disagree."""

from __future__ import annotations

from typing import Any

from console.account_data import identity_levels_note, refresh_next_step
from lean_api.models import Refresh


def finished(connection_identity: str = "SUCCESS", **account: Any) -> Refresh:
    return Refresh.model_validate(
        {
            "refresh_id": "r-1",
            "status": "FINISHED",
            "data_status": {
                "accounts": "SUCCESS",
                "identity": connection_identity,
                "account_data": [{"account_id": "a-1", **account}],
            },
        }
    )


def test_all_good_says_so() -> None:
    step = refresh_next_step(finished(balance="SUCCESS", direct_debits="UNSUPPORTED"))
    assert step.startswith("All good")


def test_partial_says_refresh_again_later_with_the_data_types() -> None:
    step = refresh_next_step(finished(balance="SUCCESS", transactions="PARTIAL"))
    assert step == "Refresh again later: transactions partial."


def test_failed_names_the_data_types_and_points_at_the_data_refreshes_screen() -> None:
    step = refresh_next_step(finished(balance="FAILED", standing_orders="FAILED"))
    assert step.startswith("Failed (balance, standing orders)")
    assert "Data refreshes screen" in step


def test_identity_failing_for_the_connection_but_not_the_accounts_is_explained() -> None:
    note = identity_levels_note(finished("FAILED", identity="SUCCESS", balance="SUCCESS"))
    assert note is not None
    assert "failed for the connection but succeeded on the accounts" in note
    assert identity_levels_note(finished("SUCCESS", identity="SUCCESS")) is None
    assert identity_levels_note(finished("FAILED", identity="FAILED")) is None


def test_an_unknown_lean_word_in_the_live_panel_is_text_not_markdown() -> None:
    from console.formatting import literal_md
    from console.ui_refresh_actions import summary_markdown
    from lean_api.models import Refresh

    link = "[PHISH](HTTPS://EVIL.EXAMPLE/RECONNECT)"
    hostile = Refresh.model_validate(
        {"refresh_id": "r", "status": "FINISHED",
         "data_status": {"account_data": [{"account_id": "a", "balance": link}]}}
    )  # fmt: skip
    from console.events import refresh_summary

    assert summary_markdown(hostile) == literal_md(refresh_summary(hostile))
