"""The sandbox's per-account records look like a Saudi customer's: a salary every month, rent,
groceries in Arabic and English, valid IBANs, balances that add up and stay plausible; and the
refresh words are Lean's: `OK` in the status API, `SUCCESS` in webhooks (the integration guide).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import requests

from sandbox import seed
from sandbox.app import refresh_view
from sandbox.server import SandboxServer
from tests.conftest import ANCHOR

DATA = seed.generate(2026, ANCHOR)
YEAR = (ANCHOR - timedelta(days=365), ANCHOR)


def _iban_ok(iban: str) -> bool:
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def test_a_transaction_is_the_same_in_every_window_that_holds_it() -> None:
    account = next(a for a in DATA.accounts.values() if a.sub_type == "CURRENT")
    wide = {r["transaction_id"]: r for r in seed.transactions_for(account, *YEAR)}
    narrow = seed.transactions_for(account, ANCHOR - timedelta(days=40), ANCHOR - timedelta(days=9))
    assert narrow
    for row in narrow:
        twin = wide[row["transaction_id"]]
        assert {k: v for k, v in row.items() if k != "balance_after"} == {
            k: v for k, v in twin.items() if k != "balance_after"
        }


def test_running_balances_stay_on_the_right_side_of_zero() -> None:
    """Current and savings accounts stay in credit, cards in debit, for nearly every account."""
    wrong = total = 0
    for account in list(DATA.accounts.values())[:150]:
        rows = seed.transactions_for(account, *YEAR)
        if not rows:
            continue
        total += 1
        balances = [r["balance_after"] for r in rows]
        if account.sub_type in seed.CARD_SUB_TYPES:
            wrong += max(balances) > 0
        else:
            wrong += min(balances) < 0
        assert rows[0]["balance_after"] == account.balance
    assert total > 120 and wrong <= total * 0.03


def test_a_current_account_year_reads_like_a_saudi_customers() -> None:
    currents = [a for a in DATA.accounts.values() if a.sub_type == "CURRENT"][:25]
    kinds: set[str] = set()
    for account in currents:
        rows = seed.transactions_for(account, *YEAR)
        kinds |= {r["kind"] for r in rows}
        salaries = [r for r in rows if r["kind"] == "SALARY"]
        assert len(salaries) == 12 and all(r["booking_date_time"].day == 27 for r in salaries)
        assert all(r["credit_debit_indicator"] == "CREDIT" for r in salaries)
        merchants = [r["merchant"] for r in rows if r["merchant"]]
        assert merchants and all(len(m.mcc) == 4 and m.mcc.isdigit() for m in merchants)
        assert all(_iban_ok(r["counterparty"].iban) for r in rows if r["counterparty"])
        assert all(
            r["amount"] > 0 and r["amount"] == r["amount"].quantize(Decimal("0.01")) for r in rows
        )
    assert {"SALARY", "RENT", "PURCHASE", "ONLINE", "BILL", "ATM", "REMITTANCE"} <= kinds
    texts = " ".join(
        r["transaction_information"] for r in seed.transactions_for(currents[0], *YEAR)
    )
    assert "شراء" in texts and "SALARY" in texts  # Arabic and English, as Saudi banks write


def test_records_use_leans_words() -> None:
    accounts = list(DATA.accounts.values())[:200]
    orders = [o for a in accounts for o in seed.standing_orders_for(a)]
    assert {o["standing_order_status_code"] for o in orders} == {"ACTIVE", "INACTIVE"}
    assert {o["standing_order_type"] for o in orders} == {"LOCAL_BANK_TRANSFER", "CHARITY"}
    assert all(o["frequency"]["frequency_type"] == "OTHER" for o in orders)
    beneficiaries = [b for a in accounts for b in seed.beneficiaries_for(a)]
    assert {b["reference"] for b in beneficiaries} == {"KSA_OB_ACTIVATED", "KSA_OB_NOT_ACTIVATED"}
    assert all(_iban_ok(b["creditor_account"]["identification"]) for b in beneficiaries)
    joint = [seed.joint_party(a) for a in accounts]
    assert {p[1] for p in joint if p} == {"POWER_OF_ATTORNEY", "BENEFICIARY"}


def test_refresh_words_are_ok_in_the_status_api_and_success_in_webhooks(
    sandbox: SandboxServer,
) -> None:
    refresh = next(
        r
        for r in sandbox.state.data.refreshes.values()
        if r.finishes_at and "SUCCESS" in r.entity_statuses.values()
    )
    webhook = refresh_view(refresh, refresh.finishes_at + timedelta(seconds=1), camel_case=False)
    assert "SUCCESS" in webhook["data_status"].values()
    assert all(
        "transactionAvailability" not in row for row in webhook["data_status"]["account_data"]
    )
    token = requests.post(
        f"{sandbox.url}/oauth2/token",
        data={
            "client_id": sandbox.config.client_id,
            "client_secret": sandbox.config.client_secret,
            "grant_type": "client_credentials",
            "scope": "api",
        },
        timeout=10,
    ).json()["access_token"]
    answer = requests.get(
        f"{sandbox.url}/data/v2/refreshes/{refresh.refresh_id}",
        params={"entity_id": refresh.entity_id},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ).json()
    words = {answer["data_status"]["accounts"], answer["data_status"]["identity"]}
    words |= {v for row in answer["data_status"]["account_data"] for v in row.values()
              if isinstance(v, str) and v.isupper()}  # fmt: skip
    assert "OK" in words and "SUCCESS" not in words
