"""Entities and consents as Lean's examples show them, read back through the client's models."""

from __future__ import annotations

from datetime import UTC, datetime

from lean_api import LeanClient
from lean_api.models import Entity
from sandbox.app import iso
from sandbox.server import SandboxServer


def all_entities(client: LeanClient) -> list[Entity]:
    body = client.request(
        "GET",
        "/customers/v1/entities",
        params={"page_number": 0, "page_size": 500, "start_date": "2020-01-01", "end_date": "2030-01-01"},
    )  # fmt: skip
    return [Entity.model_validate(item) for item in body["data"]]


def test_consents_list_accounts_by_iban_masked_pan_and_national_id(client: LeanClient) -> None:
    accounts = [a for e in all_entities(client) for c in e.consents for a in c.accounts]
    schemes = {a.scheme_name for a in accounts}
    assert schemes == {"IBAN", "ACCOUNT_NUMBER", "MASKED_PAN", "NATIONAL_ID"}
    cards = [a for a in accounts if a.scheme_name == "MASKED_PAN"]
    assert all(a.name is None and a.identification.startswith("*" * 12) for a in cards)
    assert all(a.name is None for a in accounts if a.scheme_name == "NATIONAL_ID")
    assert all(a.name for a in accounts if a.scheme_name in ("IBAN", "ACCOUNT_NUMBER"))


def test_entity_status_is_the_connections_not_its_consents(client: LeanClient) -> None:
    entities = all_entities(client)
    assert {e.status for e in entities} == {"ACTIVE"}
    consent_words = {c.consent_status for e in entities for c in e.consents}
    assert consent_words == {"ACTIVE", "REVOKED", "EXPIRED"}


def test_entity_by_id_omits_status_and_updated_at_like_lean(
    client: LeanClient, sandbox: SandboxServer
) -> None:
    entity = next(iter(sandbox.state.data.entities.values()))
    body = client.request("GET", f"/customers/v1/{entity.customer_id}/entities/{entity.entity_id}")
    assert "status" not in body and "updated_at" not in body
    consent = body["consents"][0]
    # Lean's precisions: 6 digits on the entity and a consent's own times, 3 on its window.
    assert len(body["created_at"].split(".")[1]) == len("123456Z")
    assert len(consent["creation_date_time"].split(".")[1]) == len("123456Z")
    assert len(consent["expiration_date_time"].split(".")[1]) == len("123Z")
    assert Entity.model_validate(body).current_consent is not None


def test_iso_writes_leans_precisions() -> None:
    moment = datetime(2026, 5, 10, 12, 6, 3, 484787, tzinfo=UTC)
    assert iso(moment, 0) == "2026-05-10T12:06:03Z"
    assert iso(moment, 3) == "2026-05-10T12:06:03.484Z"
    assert iso(moment) == "2026-05-10T12:06:03.484787Z"
    assert iso(moment, 9) == "2026-05-10T12:06:03.484787000Z"
