"""Entities in Lean's own shape (the Postman collection's `Get Entity by ID`), built for tests."""

from __future__ import annotations

from typing import Any

from lean_api.models import PERMISSIONS

CUSTOMER_ID = "a33a50fc-b29c-4c03-9cab-379280d7e500"
ENTITY_ID = "a2c45b62-0182-4fd8-85e0-f70ca5297eb5"
CONSENT_STATUSES = ("ACTIVE", "REVOKED", "AWAITING_AUTHORIZATION", "EXPIRED", "PAUSED_BY_BANK")


def iban(n: int) -> str:
    return f"SA{10 + n:02d}20{n:018d}"


def accounts_json(count: int) -> list[dict[str, Any]]:
    """`count` accounts, each with an IBAN and an account number; every fourth a card as well."""
    items: list[dict[str, Any]] = []
    for n in range(count):
        name = f"Mae Zulauf Account {n + 1}" if n % 5 else None  # Lean sends null names
        items.append({"scheme_name": "IBAN", "identification": iban(n), "name": name})
        items.append({"scheme_name": "ACCOUNT_NUMBER", "identification": iban(n)[6:], "name": name})
        if n % 4 == 0:
            items.append(
                {
                    "scheme_name": "MASKED_PAN",
                    "identification": f"************{7400 + n}",
                    "name": None,
                }
            )
    items.append({"scheme_name": "NATIONAL_ID", "identification": "1106972886", "name": None})
    return items


def large_entity_json(accounts: int = 20, consents: int = 5) -> dict[str, Any]:
    """An entity with many accounts and consents, an unknown permission and unknown words."""
    consent_items = []
    for n in range(consents):
        permissions: Any = {name: (i + n) % 3 != 0 for i, name in enumerate(PERMISSIONS)}
        if n == 1:
            permissions = ["identity", "accounts", "balance"]  # the webhook's list shape
        if n == 0:
            permissions["payments_initiation"] = True
        consent_items.append(
            {
                "id": f"c{n:07d}-0000-4000-8000-000000000000",
                "bank_consent_id": str(150070 + n),
                "consent_status": CONSENT_STATUSES[n % len(CONSENT_STATUSES)],
                "permissions": permissions,
                "creation_date_time": f"2026-0{n + 1}-10T12:02:27.915062Z",
                "status_update_date_time": f"2026-0{n + 1}-11T12:02:27Z",
                "expiration_date_time": f"2027-0{n + 1}-10T12:02:27.228Z",
                "transaction_from_date_time": "2025-05-11T12:02:27.228Z",
                "transaction_to_date_time": "2027-05-10T12:02:27.228Z",
                "accounts": accounts_json(accounts),
            }
        )
    return {
        "id": ENTITY_ID,
        "customer_id": CUSTOMER_ID,
        "bank_identifier": "LEA2_SAMAOB_SAU",
        "permissions": {name: True for name in PERMISSIONS} | {"payments_initiation": True},
        "bank_type": "RETAIL",
        "created_at": "2026-05-10T12:06:03.484787Z",
        "status": "RECONNECT_REQUIRED",
        "consents": consent_items,
    }
