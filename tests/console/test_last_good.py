"""The keeper of last good answers: what it keeps, when it falls back, and how it words the age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from console.last_good import LastGood, Snapshot, describe_age, stale_notice
from lean_api.errors import (
    APITimeoutError,
    NotFoundError,
    RateLimitError,
    ServerError,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def failing(exc: Exception):  # type: ignore[no-untyped-def]
    def load() -> Snapshot[str]:
        raise exc

    return load


def test_a_fresh_answer_is_returned_and_kept() -> None:
    keeper = LastGood()
    snapshot = keeper.get("sandbox:a", "banks", lambda: Snapshot.now(["bank"]))
    assert snapshot.value == ["bank"] and not snapshot.stale
    assert keeper.last("sandbox:a", "banks") == snapshot


def test_a_timeout_after_a_success_returns_the_last_good_answer_marked_stale() -> None:
    keeper = LastGood()
    keeper.get("sandbox:a", "banks", lambda: Snapshot(["bank"], NOW))
    timeout = APITimeoutError("Lean did not answer within the 10 s budget.", budget=10.0)
    snapshot = keeper.get("sandbox:a", "banks", failing(timeout))
    assert snapshot.value == ["bank"] and snapshot.fetched_at == NOW
    assert snapshot.error is timeout and snapshot.stale
    # What is kept stays clean for the next fallback.
    assert keeper.last("sandbox:a", "banks").error is None  # type: ignore[union-attr]


def test_nothing_kept_means_the_failure_is_raised() -> None:
    with pytest.raises(ServerError):
        LastGood().get("sandbox:a", "banks", failing(ServerError("down", status_code=500)))


def test_a_final_answer_is_not_papered_over_with_old_data() -> None:
    keeper = LastGood()
    keeper.get("sandbox:a", ("customer", "c-1"), lambda: Snapshot.now("Alice"))
    gone = NotFoundError("no such customer", status_code=404, code="UNKNOWN_CUSTOMER")
    with pytest.raises(NotFoundError):
        keeper.get("sandbox:a", ("customer", "c-1"), failing(gone))


def test_backends_never_share_answers() -> None:
    keeper = LastGood()
    keeper.get("sandbox:a", "banks", lambda: Snapshot.now(["sandbox bank"]))
    with pytest.raises(ServerError):
        keeper.get("production:b", "banks", failing(ServerError("down", status_code=500)))


def test_an_older_answer_does_not_replace_a_newer_one() -> None:
    keeper = LastGood()
    keeper.remember("k", "q", Snapshot("new", NOW))
    keeper.remember("k", "q", Snapshot("old", NOW - timedelta(minutes=1)))
    assert keeper.last("k", "q").value == "new"  # type: ignore[union-attr]


def test_the_least_recently_used_answers_are_forgotten_first() -> None:
    keeper = LastGood(max_entries=2)
    for name in ("a", "b", "c"):
        keeper.remember("k", name, Snapshot.now(name))
    assert keeper.last("k", "a") is None
    assert keeper.last("k", "c") is not None


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (2, "a moment ago"),
        (40, "40 s ago"),
        (250, "4 min ago"),
        (7300, "2 h ago"),
        (260000, "3 d ago"),
    ],
)
def test_ages_read_like_an_operator_would_say_them(seconds: int, words: str) -> None:
    assert describe_age(timedelta(seconds=seconds)) == words


@pytest.mark.parametrize(
    ("error", "notice"),
    [
        (APITimeoutError("slow"), "Lean did not answer; showing data from 4 min ago."),
        (
            RateLimitError("slow down", status_code=429, retry_after=120),
            "Lean is rate-limiting; showing data from 4 min ago.",
        ),
        (
            ServerError("down", status_code=500),
            "Lean could not answer; showing data from 4 min ago.",
        ),
    ],
)
def test_the_stale_notice_says_why_and_how_old(error: Exception, notice: str) -> None:
    snapshot = Snapshot("x", NOW - timedelta(minutes=4), error=error)  # type: ignore[arg-type]
    assert stale_notice(snapshot, now=NOW) == notice


def test_stale_notice_names_the_part_of_the_screen() -> None:
    snapshot = Snapshot(["x"], NOW - timedelta(minutes=4), error=APITimeoutError("slow"))
    assert stale_notice(snapshot, now=NOW, subject="bank list") == (
        "Lean did not answer; showing the bank list from 4 min ago."
    )
