"""The data v2 models read Lean's own examples field by field, shrug off the drift real payloads
show, and read every data type the sandbox serves through the client.

The example tests skip cleanly when ../shared/lean-reference is not beside the checkout.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from lean_api import LeanClient
from lean_api.models import (
    ACCOUNT_DATA_MODELS,
    Balance,
    Beneficiary,
    DataItem,
    DirectDebit,
    Identity,
    Refresh,
    ScheduledPayment,
    StandingOrder,
    Transaction,
    unwrap_page,
)
from sandbox import seed as seedlib
from sandbox.app import consent_status_at
from sandbox.seed import SeedAccount, SeedEntity
from sandbox.server import SandboxServer

COLLECTION = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "lean-reference"
    / "LeanAPI-KSA.postman_collection.json"
)
needs_reference = pytest.mark.skipif(
    not COLLECTION.is_file(), reason="../shared/lean-reference is not present"
)

# Lean's fields the models keep untyped (in `model_extra`): null in every example, shape unknown.
UNTYPED = {"insights", "payment_modes", "regional_data", "supplementary_data", "meta"}


def lean_items(request_name: str) -> list[dict[str, Any]]:
    """The items of the 200 example of one request in Lean's data v2 folder."""
    collection = json.loads(COLLECTION.read_text())

    def find(items: list[dict[str, Any]]) -> dict[str, Any] | None:
        for item in items:
            if "item" in item:
                found = find(item["item"])
                if found:
                    return found
            elif item["name"] == request_name:
                return item
        return None

    request = find(collection["item"])
    assert request, request_name
    body = next(json.loads(r["body"]) for r in request["response"] if r["code"] == 200)
    items, _ = unwrap_page(body, body.get("type"))
    return items


def untyped_keys(model: Any) -> set[str]:
    """Keys a model (and its typed children) kept without a field, minus the known untyped."""
    keys = set(model.model_extra or {}) - UNTYPED
    for name in type(model).model_fields:
        value = getattr(model, name)
        children = value if isinstance(value, list) else [value]
        for child in children:
            if hasattr(child, "model_extra"):
                keys |= {f"{name}.{k}" for k in untyped_keys(child)}
    return keys


# ---------------------------------------------------------------------------------------------
# Lean's own examples
# ---------------------------------------------------------------------------------------------


@needs_reference
def test_leans_transactions_read_into_typed_fields() -> None:
    transactions = [Transaction.model_validate(t) for t in lean_items("Get Transactions")]
    assert len(transactions) == 50
    for tx in transactions:
        assert not untyped_keys(tx), untyped_keys(tx)
        assert tx.transaction_reference and tx.transaction_mutability == "IMMUTABLE"
        assert tx.signed_amount is not None and tx.booking_date_time
        assert tx.balance_after is not None and tx.balance and tx.balance.type
        assert tx.merchant_details and tx.merchant_details.mcc and tx.merchant_details.mcc.isdigit()
        assert tx.bank_transaction_code and tx.bank_transaction_code.code
        assert tx.card_instrument and tx.card_instrument.card_scheme_name
        assert tx.charge_amount and isinstance(tx.charge_amount.amount, Decimal)
        assert tx.charge_amount.charge_included is False
        assert tx.statement_reference and tx.index is not None and tx.flags == []
    exchanged = [t for t in transactions if t.currency_exchange]
    assert exchanged and all(
        t.currency_exchange.target_currency == "AED"
        and isinstance(t.currency_exchange.exchange_rate, Decimal)
        and t.currency_exchange.quotation_date
        for t in exchanged
    )
    transfers = [t for t in transactions if t.creditor_agent and t.creditor_agent.postal_address]
    assert transfers and all(
        t.creditor_agent.postal_address.country == "Saudi Arabia" for t in transfers
    )
    assert any(t.creditor_agent.postal_address.country_subdivision for t in transfers)
    debits = [t for t in transactions if t.credit_debit_indicator == "DEBIT"]
    assert debits and all(t.signed_amount < 0 for t in debits)


@needs_reference
def test_leans_balances_carry_credit_lines() -> None:
    balances = [Balance.model_validate(b) for b in lean_items("Get Balances")]
    assert len({b.type for b in balances}) == 13
    for balance in balances:
        assert not untyped_keys(balance), untyped_keys(balance)
        assert balance.signed_amount and balance.date_time
    lines = [line for b in balances for line in b.credit_line]
    assert {line.type for line in lines} >= {"CREDIT", "EMERGENCY", "TEMPORARY"}
    assert all(isinstance(line.amount.amount, Decimal) for line in lines)
    assert {line.included for line in lines} == {True, False}


@needs_reference
@pytest.mark.parametrize("request_name", ["Get identities", "Get identity"])
def test_leans_identities_read_roles_parties_and_addresses(request_name: str) -> None:
    identities = [Identity.model_validate(i) for i in lean_items(request_name)]
    for identity in identities:
        assert not untyped_keys(identity), untyped_keys(identity)
        assert identity.phone and identity.party_id and identity.party_type == "JOINT"
        assert identity.account_role in ("POWER_OF_ATTORNEY", "BENEFICIARY")
        address = identity.postal_address
        assert address and address.town_name and address.post_code
        assert address.one_line.startswith(address.address_line or "")
        # The screens read the address as a mapping.
        assert identity.address and identity.address["town_name"] == address.town_name
    assert {i.gender for i in identities} <= {"F", None}  # Lean's "" means not given


@needs_reference
def test_leans_other_records_read_into_their_models() -> None:
    beneficiaries = [Beneficiary.model_validate(b) for b in lean_items("Get Beneficiaries")]
    assert [b.activated for b in beneficiaries] == [True, False]
    assert all(b.creditor_agent and b.creditor_agent.postal_address for b in beneficiaries)
    assert beneficiaries[0].creditor_agent.postal_address.town_name == "Riyadh"

    debits = [DirectDebit.model_validate(d) for d in lean_items("Get Direct Debits")]
    assert {d.frequency for d in debits} == {"MONTHLY", "HALF_YEARLY"}
    assert all(d.previous_payment_amount and d.previous_payment_date_time for d in debits)

    orders = [StandingOrder.model_validate(o) for o in lean_items("Get Standing Orders")]
    assert [o.frequency.every_days for o in orders if o.frequency] == [5, 1]
    assert [o.frequency.words for o in orders if o.frequency] == [
        "every 5 days",
        "every working day",
    ]
    assert all(o.next_payment_amount and o.final_payment_date_time for o in orders)

    payments = [ScheduledPayment.model_validate(p) for p in lean_items("Get Scheduled Payments")]
    assert {p.scheduled_type for p in payments} == {"ARRIVAL", "EXECUTION"}
    for record in [*beneficiaries, *debits, *orders, *payments]:
        assert isinstance(record, DataItem)  # older code checking DataItem still matches
        assert not untyped_keys(record), untyped_keys(record)


# ---------------------------------------------------------------------------------------------
# Drift
# ---------------------------------------------------------------------------------------------


def test_transaction_drift_camel_case_lower_words_odd_stamps_and_missing_fields() -> None:
    tx = Transaction.model_validate(
        {
            "transactionId": "t-1",
            "creditDebitIndicator": "debit",
            "amount": {"amount": "120.50", "currency": "SAR"},
            "bookingDateTime": "2026-03-01T10:00:00.123456789+4:00",
            "valueDateTime": "2026-03-01T06:00:00.123456Z",
            "transactionMutability": "Immutable",
            "merchantDetails": {"merchantName": "بنده", "merchantCategoryCode": "5411"},
            "statementReference": "STMT-1",
            "balance": {"creditDebitIndicator": "Credit", "amount": {"amount": 900}},
            "chargeAmount": {"amount": 0.58, "currency": "SAR", "chargeIncluded": False},
            "flags": None,
            "somethingNew": {"kept": True},
        }
    )
    assert tx.transaction_id == "t-1" and tx.signed_amount == Decimal("-120.50")
    assert tx.booking_date_time == datetime(2026, 3, 1, 6, 0, 0, 123456, tzinfo=UTC)
    assert tx.value_date_time == tx.booking_date_time
    assert tx.transaction_mutability == "IMMUTABLE" and tx.merchant_name == "بنده"
    assert tx.merchant_details and tx.merchant_details.mcc == "5411"
    assert tx.statement_reference == ["STMT-1"] and tx.flags == []
    assert tx.balance_after == Decimal(900)
    assert tx.charge_amount and tx.charge_amount.amount == Decimal("0.58")
    assert tx.model_extra == {"somethingNew": {"kept": True}}

    bare = Transaction.model_validate({"transaction_id": "t-2"})
    assert bare.signed_amount is None and bare.balance_after is None and bare.merchant_name is None
    assert bare.card_instrument is None and bare.statement_reference == []


def test_balance_identity_and_order_drift() -> None:
    balance = Balance.model_validate(
        {"type": "CLOSING_BOOKED", "creditDebitIndicator": "DEBIT", "amount": {"amount": 10},
         "creditLine": {"included": True, "type": "credit", "amount": {"amount": "5000"}}}
    )  # fmt: skip
    assert balance.signed_amount == Decimal(-10)
    assert [(line.type, line.amount.amount) for line in balance.credit_line] == [
        ("CREDIT", Decimal(5000))
    ]
    assert Balance.model_validate({"type": "X", "credit_line": None}).credit_line == []

    identity = Identity.model_validate(
        {"fullLegalName": "Noura Al-Harbi", "gender": "", "address": "Riyadh 12345",
         "accountRole": "power_of_attorney", "partyType": "Joint"}
    )  # fmt: skip
    assert identity.full_legal_name == "Noura Al-Harbi" and identity.gender is None
    assert identity.postal_address and identity.postal_address.one_line == "Riyadh 12345"
    assert (identity.account_role, identity.party_type) == ("POWER_OF_ATTORNEY", "JOINT")
    assert Identity.model_validate({"address": None}).postal_address is None

    order = StandingOrder.model_validate({"frequency": "MONTHLY", "standingOrderStatusCode": "x"})
    assert order.frequency and order.frequency.frequency_type == "MONTHLY"
    assert order.frequency.every_days is None and order.frequency.words == "monthly"
    assert order.standing_order_status_code == "X"
    weekly = StandingOrder.model_validate({"frequency": {"interval": "intervalday:07"}})
    assert weekly.frequency and weekly.frequency.words == "every 7 days"


def test_refresh_drift_ok_and_success_camel_keys_and_missing_months() -> None:
    refresh = Refresh.model_validate(
        {
            "refreshId": "r-1",
            "status": "OK",
            "dataStatus": {
                "accounts": "OK",
                "identity": "SUCCESS",
                "accountData": [
                    {
                        "accountId": "a-1",
                        "balance": "ok",
                        "directDebits": "UNSUPPORTED",
                        "standingOrders": "FAILED",
                        "transactions": "PARTIAL",
                        "transactionAvailability": {"start": "2025-09-07", "end": "2026-09-12"},
                    }
                ],
            },
            "createdAt": "2026-09-12T08:36:04.084+03:00",
        }
    )
    assert refresh.refresh_id == "r-1" and refresh.status == "FINISHED"
    assert refresh.data_status and refresh.data_status.accounts == "SUCCESS"
    row = refresh.data_status.account_data[0]
    assert row.account_id == "a-1" and row.balance == "SUCCESS"
    assert (row.direct_debits, row.standing_orders) == ("UNSUPPORTED", "FAILED")
    assert row.transaction_availability and row.transaction_availability.complete_months is None
    assert refresh.created_at == datetime(2026, 9, 12, 5, 36, 4, 84000, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# The client against the sandbox, every data type
# ---------------------------------------------------------------------------------------------


def _rich_account(sandbox: SandboxServer) -> tuple[SeedEntity, SeedAccount]:
    """A current account of an active, fully permitted entity, with records of every kind."""
    now = datetime.now(UTC)
    for entity in sorted(sandbox.state.data.entities.values(), key=lambda e: e.entity_id):
        consent = entity.current_consent
        if consent_status_at(consent, now) != "ACTIVE" or not all(entity.permissions.values()):
            continue
        if consent.transactions_to < now:
            continue
        for account in entity.accounts:
            if account.sub_type == "CURRENT" and all(
                generate(account)
                for generate in (
                    seedlib.beneficiaries_for,
                    seedlib.direct_debits_for,
                    seedlib.standing_orders_for,
                    seedlib.scheduled_payments_for,
                )
            ):
                return entity, account
    raise AssertionError("the seed has no current account with every kind of record")


@pytest.mark.parametrize("data_type", sorted(ACCOUNT_DATA_MODELS))
def test_client_reads_every_data_type_from_the_sandbox(
    client: LeanClient, sandbox: SandboxServer, data_type: str
) -> None:
    entity, account = _rich_account(sandbox)
    result = client.get_account_data(entity.entity_id, account.account_id, data_type, 0, 500)
    assert result.status == "SUCCESS" and result.items and result.refreshed_at
    model = ACCOUNT_DATA_MODELS[data_type]
    assert all(type(item) is model for item in result.items)
    for item in result.items:
        assert not untyped_keys(item), untyped_keys(item)


def test_sandbox_transactions_add_up_to_the_balance(
    client: LeanClient, sandbox: SandboxServer
) -> None:
    entity, account = _rich_account(sandbox)
    transactions = list(
        client.iter_account_data(entity.entity_id, account.account_id, "transactions", size=500)
    )
    balances = client.get_account_data(entity.entity_id, account.account_id, "balances").items
    booked = next(b for b in balances if b.type == "CLOSING_BOOKED")
    assert {b.type for b in balances} >= {"CLOSING_AVAILABLE", "CLOSING_BOOKED", "EXPECTED"}
    # Newest first: the newest transaction leaves today's balance; each earlier one leaves the
    # balance before the next (its amount and any charge not already in it taken back).
    assert transactions[0].balance_after == booked.signed_amount
    for newer, older in itertools.pairwise(transactions):
        charge = newer.charge_amount.amount if newer.charge_amount else Decimal(0)
        assert older.balance_after == newer.balance_after - newer.signed_amount + charge
    # A Saudi current account's year: a salary every month, rent, groceries, in SAR.
    salary_months = {
        t.booking_date_time.strftime("%Y-%m")
        for t in transactions
        if t.credit_debit_indicator == "CREDIT" and "SALARY" in (t.transaction_information or "")
    }
    months = {t.booking_date_time.strftime("%Y-%m") for t in transactions}
    assert len(salary_months) >= len(months) - 2
    assert {t.amount.currency for t in transactions} == {"SAR"}
    groceries = [t for t in transactions if t.merchant_details and t.merchant_details.mcc == "5411"]
    assert groceries and all(t.card_instrument for t in groceries)
    newest = transactions[0].booking_date_time
    assert newest and newest > datetime.now(UTC) - timedelta(days=7)


def test_sandbox_identity_and_records_read_like_leans(
    client: LeanClient, sandbox: SandboxServer
) -> None:
    entity, account = _rich_account(sandbox)
    (holder,) = client.get_identity(entity.entity_id).items
    assert holder.postal_address and holder.postal_address.country == "Saudi Arabia"
    assert holder.phone and holder.phone.startswith("9665")
    orders = client.get_account_data(entity.entity_id, account.account_id, "standing-orders").items
    assert all(o.frequency and o.frequency.words != "not given" for o in orders)
    beneficiaries = client.get_account_data(
        entity.entity_id, account.account_id, "beneficiaries"
    ).items
    assert all(b.activated in (True, False) for b in beneficiaries)
