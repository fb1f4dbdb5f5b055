"""Every example response in Lean's Postman collection reads into the models with its key fields.

Skipped cleanly when ../shared/lean-reference is not beside the checkout.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lean_api.errors import LeanAPIError, error_from_response
from lean_api.models import (
    AccessToken,
    Account,
    Balance,
    Customer,
    DataItem,
    DataResult,
    Entity,
    Identity,
    OwnershipVerification,
    Page,
    PageInfo,
    Refresh,
    RefreshTrigger,
    Transaction,
    unwrap_page,
)

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "lean-reference"
COLLECTION = REFERENCE / "LeanAPI-KSA.postman_collection.json"

pytestmark = pytest.mark.skipif(
    not COLLECTION.is_file(), reason="../shared/lean-reference is not present"
)


def examples() -> Iterator[tuple[str, str, str, int, Any]]:
    """(id, method, url, status, body) for every saved example response."""
    if not COLLECTION.is_file():
        return
    collection = json.loads(COLLECTION.read_text())

    def walk(
        items: list[dict[str, Any]], trail: list[str]
    ) -> Iterator[tuple[str, str, str, int, Any]]:
        for item in items:
            if "item" in item:
                yield from walk(item["item"], [*trail, item["name"]])
                continue
            request = item["request"]
            url = request["url"]["raw"] if isinstance(request["url"], dict) else request["url"]
            for response in item.get("response", []):
                body_text = response.get("body") or ""
                try:
                    body = json.loads(body_text)
                except ValueError:
                    body = body_text
                name = " / ".join([*trail[-2:], item["name"], response.get("name", "")])
                yield name, request["method"], url, int(response.get("code") or 0), body

    yield from walk(collection["item"], [])


def route(method: str, url: str) -> str:
    path = (
        url.split("}}", 1)[-1].split("?", 1)[0]
        if "}}" in url
        else url.split(".me", 1)[-1].split("?", 1)[0]
    )
    return f"{method} {path}"


USED_PREFIXES = (
    "/oauth2/token",
    "/customers/v1",
    "/data/v2/",
    "/verifications/v2/entity",
    "/banks/v1",
)


def used_by_console(method: str, url: str) -> bool:
    path = route(method, url).split(" ", 1)[1]
    return path.startswith(USED_PREFIXES) and not path.startswith("/data/v2/results")


ALL = list(examples())
# Success examples of endpoints the console calls, and every error example (errors are shared).
CHECKED = [e for e in ALL if e[3] >= 400 or used_by_console(e[1], e[2])]
DATA_MODELS = {
    "accounts": Account,
    "transactions": Transaction,
    "balances": Balance,
    "identities": Identity,
    "beneficiaries": DataItem,
    "direct-debits": DataItem,
    "scheduled-payments": DataItem,
    "standing-orders": DataItem,
}


def check_success(method: str, url: str, body: Any) -> None:
    key = route(method, url)
    if key.endswith("/oauth2/token"):
        token = AccessToken.model_validate(body)
        assert token.access_token and token.token_type == "Bearer" and token.expires_in
    elif key in ("POST /customers/v1/", "GET /customers/v1/{{customer_id}}") or key.startswith(
        "GET /customers/v1/app-user-id/"
    ):
        assert Customer.model_validate(body).customer_id
    elif key == "GET /customers/v1":
        items, page = unwrap_page(body)
        parsed = Page[Customer](
            items=[Customer.model_validate(i) for i in items], page=PageInfo.model_validate(page)
        )
        assert parsed.items and parsed.page.total_elements and parsed.has_next
    elif "/entities" in key:
        items = body if isinstance(body, list) else body.get("data", [body])
        entities = [Entity.model_validate(i) for i in items]
        for entity in entities:
            assert entity.id and entity.bank_identifier and entity.created_at
            assert len(entity.permissions) >= 9
            consent = entity.current_consent
            assert consent is not None and consent.consent_status and consent.expiration_date_time
            assert consent.transaction_from_date_time and consent.accounts
    elif key == "POST /data/v2/refreshes":
        trigger = RefreshTrigger.model_validate(body)
        assert trigger.refresh_id and trigger.status == "OK"
    elif key == "GET /data/v2/refreshes":
        items, page = unwrap_page(body)
        refreshes = [Refresh.model_validate(i) for i in items]
        assert refreshes and all(r.status == "FINISHED" and r.created_at for r in refreshes)
    elif key.startswith("GET /data/v2/refreshes/"):
        refresh = Refresh.model_validate(body)
        assert refresh.status == "FINISHED" and refresh.data_status
        account = refresh.data_status.account_data[0]
        assert account.balance == "SUCCESS" and account.scheduled_payments == "UNSUPPORTED"
        assert account.transaction_availability and account.transaction_availability.start
    elif key == "POST /verifications/v2/entity":
        verification = OwnershipVerification.from_response(body)
        assert verification.entity_ownership_verified is True and verification.ibans
    elif key.startswith("GET /data/v2/"):
        data_type = body.get("type") or body.get("data", {}).get("type")
        model = DATA_MODELS.get(data_type, DataItem)
        items, page = unwrap_page(body, data_type)
        result = DataResult[model](  # type: ignore[valid-type]
            **{k: v for k, v in body.items() if k not in ("data", "page")},
            items=[model.model_validate(i) for i in items],
            page=PageInfo.model_validate(page),
        )
        assert result.status == "SUCCESS" and result.results_id and result.items
        assert result.page.total_elements is not None
        if model is Transaction:
            assert all(t.amount.amount is not None and t.booking_date_time for t in result.items)
        if model is Account:
            assert all(a.account_id and a.iban for a in result.items)
    else:
        raise AssertionError(f"{key} has no check")


@pytest.mark.parametrize(
    ("name", "method", "url", "status", "body"), CHECKED, ids=[a[0] for a in CHECKED]
)
def test_example_reads_into_models(
    name: str, method: str, url: str, status: int, body: Any
) -> None:
    if status >= 400:
        error = error_from_response(
            status, json.dumps(body).encode() if not isinstance(body, str) else body.encode()
        )
        assert isinstance(error, LeanAPIError)
        assert error.status_code == status and error.message
        if body:
            assert error.code, f"{name}: Lean's code should be read from the body"
        return
    check_success(method, url, body)


def test_collection_has_the_endpoints_the_console_uses() -> None:
    routes = {route(m, u) for _, m, u, s, _ in ALL if s < 400}
    for needed in (
        "GET /customers/v1",
        "POST /data/v2/refreshes",
        "GET /data/v2/refreshes",
        "POST /verifications/v2/entity",
    ):
        assert needed in routes
