"""The one search box: any identifier from a ticket to the screens it may mean, without Lean."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from console.identifiers import InvalidSearch, normalise, resolve
from console.store import EventStore
from tests.console.test_store_bank_health import stored

AT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
CUSTOMER = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
ENTITY = "a2c45b62-0182-4fd8-85e0-f70ca5297eb5"
REFRESH = "721d6010-828f-4b30-9039-4c72ad6906a8"
IBAN = "SA0380000000608010167519"  # a valid Saudi IBAN (check digits 03)


@pytest.fixture
def store(tmp_path: Path) -> EventStore:
    store = EventStore(f"sqlite:///{tmp_path / 'search.db'}")
    entity = {
        "id": ENTITY,
        "customer_id": CUSTOMER,
        "app_user_id": "user-42",
        "bank_details": {"identifier": "RIBL_SA"},
        "consents": [{"accounts": [{"scheme_name": "IBAN", "identification": IBAN}]}],
    }
    refresh = {"refresh_id": REFRESH, "entity_id": ENTITY, "customer_id": CUSTOMER}
    store.write_events(
        [
            stored("entity.created", entity, AT, "evt-entity-1"),
            stored("entity.data.refresh.updated", refresh, AT, "evt-refresh-1"),
        ]
    )
    return store


def test_a_uuid_named_as_customer_opens_the_customer(store: EventStore) -> None:
    found = resolve(store, f"  {CUSTOMER.upper()} ")
    assert found.shape == "uuid"
    assert found.single is not None
    assert found.single.kind == "customer_id"
    assert found.single.query == {"customer_id": CUSTOMER}
    assert "2 stored webhooks" in found.single.evidence


def test_an_entity_id_opens_its_connection_with_its_customer(store: EventStore) -> None:
    only = resolve(store, ENTITY).single
    assert only is not None
    assert only.page == "pages/entities.py"
    assert only.query == {"entity_id": ENTITY, "customer_id": CUSTOMER}


def test_a_refresh_id_opens_the_refresh_screen_of_its_entity(store: EventStore) -> None:
    only = resolve(store, REFRESH).single
    assert only is not None
    assert only.kind == "refresh_id"
    assert only.page == "pages/refreshes.py"
    assert only.query == {"entity_id": ENTITY, "refresh_id": REFRESH}


def test_an_event_id_and_an_app_user_id_are_found(store: EventStore) -> None:
    event = resolve(store, "evt-refresh-1").single
    assert event is not None and event.query == {"event_id": "evt-refresh-1"}
    user = resolve(store, "user-42").single
    assert user is not None and user.query == {"app_user_id": "user-42"}


def test_an_iban_finds_the_connection_whose_consent_covers_it(store: EventStore) -> None:
    spaced = "sa03 8000 0000 6080 1016 7519"
    found = resolve(store, spaced)
    assert found.shape == "iban"
    assert found.single is not None
    assert found.single.query == {"entity_id": ENTITY, "customer_id": CUSTOMER}


def test_an_iban_with_a_typo_is_refused_before_any_search() -> None:
    with pytest.raises(InvalidSearch, match="check digits"):
        normalise("SA0380000000608010167518")


def test_an_unknown_uuid_offers_the_lookups_lean_can_answer(store: EventStore) -> None:
    found = resolve(store, "11111111-2222-4333-8444-555555555555")
    assert [c.kind for c in found.candidates] == ["customer_id", "app_user_id"]
    assert not any(c.known for c in found.candidates)
    assert found.single is None  # two guesses: the operator chooses


def test_unknown_text_is_looked_up_as_an_app_user_id(store: EventStore) -> None:
    found = resolve(store, "someone@example.com")
    assert found.single is None  # offered, not followed
    (guess,) = found.candidates
    assert guess.known is False
    assert guess.query == {"app_user_id": "someone@example.com"}


def test_a_uuid_that_is_both_customer_and_app_user_id_lists_both(store: EventStore) -> None:
    entity = {"id": "b2c45b62-0182-4fd8-85e0-f70ca5297eb5", "customer_id": CUSTOMER,
              "app_user_id": CUSTOMER}  # fmt: skip
    store.write_events([stored("entity.created", entity, AT, "evt-odd")])
    found = resolve(store, CUSTOMER)
    assert {c.kind for c in found.candidates} == {"customer_id", "app_user_id"}
    assert found.single is None


@pytest.mark.parametrize(
    ("raw", "reason"),
    [("", "Paste an identifier"), ("x" * 300, "300 characters"), ("a\nb", "control")],
)
def test_text_that_is_no_identifier_is_refused_with_the_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidSearch, match=reason):
        normalise(raw)


def test_like_wildcards_in_the_text_match_only_themselves(store: EventStore) -> None:
    found = resolve(store, "%")
    assert all(not c.known for c in found.candidates)
