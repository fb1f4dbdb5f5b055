"""Searching for an identifier (an event_id, a UUID, an IBAN): PostgreSQL's trigram index is
asked for the needle's two ends and the whole needle is tested on what they name
(`console.store._trigram_windows`); the answers must be those of a plain substring test."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from console.events import InboxView, inbox_page
from console.store import EventFilter, EventRecord, EventStore, _trigram_windows

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
# Shares its first and last eight characters with NEAR, and nothing else.
TARGET = "SA03800000006080101675190000"
NEAR = "SA038000ffff6080101675ff675190000"[:8] + "77777777" + "75190000"


def body(n: int, extra: str) -> str:
    return json.dumps(
        {
            "type": "entity.created",
            "event_id": f"00000000-0000-4000-8000-{n:012d}",
            "payload": {"id": str(uuid.UUID(int=n * 7919)), "note": extra},
        }
    )


@pytest.fixture
def searchable(store: EventStore) -> Iterator[EventStore]:
    records = []
    for n in range(300):
        extra = TARGET if n == 17 else NEAR if n % 10 == 3 else f"plain {n}"
        text = body(n, extra)
        records.append(
            EventRecord(
                event_id=f"00000000-0000-4000-8000-{n:012d}",
                type="entity.created",
                message=None,
                lean_timestamp=NOW - timedelta(minutes=n),
                received_at=NOW - timedelta(hours=1),
                verified=True,
                source_ip=None,
                payload=text,
                size=len(text),
            )
        )
    store.write_events(records)
    while store.index_search_text():
        pass
    yield store


def brute_force(store: EventStore, needle: str) -> set[str]:
    found = store.query_events(EventFilter(), limit=1000)
    folded = needle.casefold()
    return {
        e.event_id for e in found if folded in f"{e.type}\n{e.event_id}\n{e.payload}".casefold()
    }


@pytest.mark.parametrize(
    "needle",
    [
        TARGET,  # its ends are also NEAR's: every row they name is tested whole
        "00000000-0000-4000-8000-000000000042",  # an event_id
        str(uuid.UUID(int=99 * 7919)),  # a UUID inside a body
        "00000000-0000-4000-8000-00000000",  # the common start of every event_id
        "SA038000ffff-no-such-thing-75190000",  # ends found, the whole nowhere
        "100%_sure\\path-2026-11-28-x",  # LIKE's own characters, cut at an end
        "مصرف-الراجحي-1234567890",  # not ASCII
        "<b>**x**</b>'\"1234567890",  # markup and quotes
    ],
)
def test_an_identifier_is_found_exactly_where_it_is(searchable: EventStore, needle: str) -> None:
    expected = brute_force(searchable, needle)
    page = inbox_page(searchable, InboxView(text=needle, range="all"), now=NOW)
    assert {item.event_id for item in page.items} == expected or len(expected) > 50
    assert page.total == len(expected)
    candidates = searchable.text_candidates(needle, limit=1000)
    assert candidates is not None
    if searchable.dialect == "postgresql":  # exact there; a superset on SQLite
        assert len(candidates) == len(expected)
    else:
        assert len(candidates) >= len(expected)


def test_only_identifiers_are_asked_by_their_ends() -> None:
    assert _trigram_windows("6173498e-1134-4fbf-a838-a4275c87d61c") == ("%6173498e%", "%5c87d61c%")
    assert _trigram_windows("SA62_4252738750185349779") == ("%SA62\\_425%", "%85349779%")
    assert _trigram_windows("entity.data.refresh.updated") is None  # no digit: words
    assert _trigram_windows("Al Rajhi Bank account 12345678") is None  # a phrase
    assert _trigram_windows("6173498e-1134-4fbf") is None  # short: every trigram is cheap
    assert _trigram_windows("12345678-xx-12345678") is None  # both ends the same
