"""Account data shaped for operators, on models: balances in words, transactions as rows, the
balance line and monthly cash flow, identity and records masked, ownership verdicts."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from console.account_data import (
    OwnershipCheck,
    anchor_balance,
    balance_rows,
    balance_series,
    balance_type_words,
    credit_line_words,
    currency_words,
    field_of,
    identity_choices,
    identity_rows,
    monthly_cash_flow,
    newest_pending,
    ownership_verdict,
    record_choices,
    record_rows,
    refresh_account_rows,
    signed,
    transaction_rows,
    verification_rows,
)
from lean_api.models import Balance, Identity, OwnershipVerification, Refresh, Transaction

IBAN = "SA0380000000608010167519"


def balance(
    kind: str, amount: Any, indicator: str = "CREDIT", currency: str = "SAR", **extra: Any
) -> Balance:
    return Balance.model_validate(
        {
            "type": kind,
            "credit_debit_indicator": indicator,
            "amount": {"amount": amount, "currency": currency},
            "date_time": "2026-11-27T10:00:00.000Z",
            **extra,
        }
    )


def tx(
    when: str,
    amount: Any,
    indicator: str = "DEBIT",
    currency: str = "SAR",
    *,
    status: str = "BOOKED",
    running: Any = None,
    **extra: Any,
) -> Transaction:
    body: dict[str, Any] = {
        "transaction_id": f"t-{when}-{amount}",
        "credit_debit_indicator": indicator,
        "amount": {"amount": amount, "currency": currency},
        "booking_date_time": when,
        "status": status,
        "transaction_information": "POS PURCHASE - JARIR",
        **extra,
    }
    if running is not None:
        body["balance"] = {
            "type": "PREVIOUSLY_CLOSED_BOOKED",
            "credit_debit_indicator": "DEBIT" if running < 0 else "CREDIT",
            "amount": {"amount": abs(running), "currency": currency},
        }
    return Transaction.model_validate(body)


# --- reading fields -----------------------------------------------------------------------------


def test_fields_the_model_does_not_name_are_read_from_its_extras() -> None:
    t = tx("2026-11-01T10:00:00Z", 10, transaction_mutability="IMMUTABLE",
           merchant_details={"merchant_name": "JARIR", "merchant_category_code": "CC5942"})  # fmt: skip
    assert field_of(t, "transaction_mutability") == "IMMUTABLE"
    assert field_of(t, "status") == "BOOKED"
    assert field_of(t, "not_there", "x") == "x"
    assert field_of({"a": None}, "a", 1) == 1


def test_signed_amounts_read_numbers_and_strings() -> None:
    assert signed("DEBIT", "12.50") == Decimal("-12.50")
    assert signed("CREDIT", 12.5) == Decimal("12.5")
    assert signed(None, 3) == Decimal(3)
    assert signed("DEBIT", None) is None
    assert signed("DEBIT", "not a number") is None
    assert signed("CREDIT", "NaN") is None


# --- balances -----------------------------------------------------------------------------------


def test_every_lean_balance_type_has_words_and_unknown_types_are_kept() -> None:
    for kind in ("CLOSING_AVAILABLE", "CLOSING_BOOKED", "INTERIM_AVAILABLE", "INTERIM_BOOKED",
                 "OPENING_BOOKED", "FORWARD_AVAILABLE", "EXPECTED", "INFORMATION",
                 "PREVIOUSLY_CLOSED_BOOKED", "CLOSING_CLEARED", "INTERIM_CLEARED",
                 "OPENING_AVAILABLE", "OPENING_CLEARED"):  # fmt: skip
        assert balance_type_words(kind) != kind
    assert balance_type_words("NEW_KIND") == "NEW_KIND"
    assert balance_type_words(None) == "Type not given"


def test_balance_rows_in_reading_order_with_words_debits_and_credit_lines() -> None:
    rows = balance_rows(
        [
            balance("SOMETHING_NEW", 5),
            balance("CLOSING_AVAILABLE", "407906.23"),
            balance(
                "CLOSING_BOOKED",
                "250.5",
                "DEBIT",
                credit_line=[
                    {
                        "included": True,
                        "amount": {"currency": "SAR", "amount": 462.6},
                        "type": "CREDIT",
                    },
                    {
                        "included": False,
                        "amount": {"currency": "SAR", "amount": 131.61},
                        "type": "EMERGENCY",
                    },
                ],
            ),
            balance("INTERIM_AVAILABLE", None),
        ]
    )
    assert [r["Balance"] for r in rows] == [
        "Closing booked",
        "Closing available",
        "Interim available (during the day)",
        "SOMETHING_NEW",
    ]
    booked, available, interim, unknown = rows
    assert booked["Amount"] == -250.5
    assert booked["In words"] == "250.50 SAR overdrawn (debit)"
    assert booked["Credit lines"] == (
        "Credit limit 462.60 SAR (in the balance) · Emergency credit 131.61 SAR (not in the balance)"
    )
    assert available["In words"] == "407,906.23 SAR in credit"
    assert available["Credit lines"] == "none listed"
    assert interim["Amount"] is None and interim["In words"] == "amount not given"
    assert unknown["Lean type"] == "SOMETHING_NEW"


def test_a_credit_line_of_an_unknown_type_without_amount_is_still_listed() -> None:
    b = balance("CLOSING_BOOKED", 1, credit_line=[{"type": "SEASONAL"}])
    assert credit_line_words(b) == "SEASONAL"


def test_the_line_ends_at_the_booked_balance_before_the_available_one() -> None:
    available, booked = balance("CLOSING_AVAILABLE", 1), balance("CLOSING_BOOKED", 2)
    assert anchor_balance([available, booked]) is booked
    assert anchor_balance([available]) is available
    assert anchor_balance([balance("CLOSING_BOOKED", None)]) is None
    assert anchor_balance([]) is None


# --- transactions -------------------------------------------------------------------------------


def test_transaction_rows_newest_first_signed_with_merchant_and_mutability() -> None:
    rows = transaction_rows(
        [
            tx("2026-10-01T09:00:00Z", "100", "DEBIT", transaction_mutability="IMMUTABLE",
               merchant_details={"merchant_name": "JARIR"}, transaction_type="POS",
               sub_transaction_type="PURCHASE", transaction_reference="ABC"),
            tx("2026-11-01T09:00:00Z", "5000", "CREDIT", status="PENDING"),
            tx("2026-09-01T09:00:00Z", None),
        ]
    )  # fmt: skip
    assert [r["Date"][:10] for r in rows] == ["2026-11-01", "2026-10-01", "2026-09-01"]
    credit, debit, missing = rows
    assert credit["Amount"] == 5000 and credit["Status"] == "Pending"
    assert credit["Merchant"] == "" and credit["Mutability"] == "Not Given"
    assert debit["Amount"] == -100 and debit["Merchant"] == "JARIR"
    assert debit["Mutability"] == "Immutable" and debit["Type"] == "POS / PURCHASE"
    assert debit["Reference"] == "ABC" and debit["Currency"] == "SAR"
    assert missing["Amount"] is None


def test_no_transactions_no_rows() -> None:
    assert transaction_rows([]) == []


# --- balance over time --------------------------------------------------------------------------


def test_the_line_uses_leans_running_balance_when_given() -> None:
    series = balance_series(
        [
            tx("2026-11-02T09:00:00Z", 100, "DEBIT", running=900),
            tx("2026-11-01T09:00:00Z", 1000, "CREDIT", running=1000),
        ],
        [balance("CLOSING_BOOKED", 900)],
    )
    assert series.method == "Lean's running balance after each transaction"
    assert [(p.at.day, p.balance) for p in series.points] == [(1, 1000), (2, 900)]
    assert series.currency == "SAR" and series.notes == []


def test_without_running_balances_the_line_walks_back_from_the_booked_balance() -> None:
    series = balance_series(
        [
            tx("2026-11-02T09:00:00Z", 100, "DEBIT"),
            tx("2026-11-01T09:00:00Z", 1000, "CREDIT"),
            tx("2026-11-26T09:00:00Z", 50, "DEBIT", status="PENDING"),
        ],
        [balance("CLOSING_BOOKED", 900), balance("CLOSING_AVAILABLE", 850)],
    )
    assert (
        series.method == "the current closing booked balance, walked back one transaction at a time"
    )
    values = [p.balance for p in series.points]
    # Oldest first: before the credit 0, after it 1000, after the debit 900, now 900.
    assert values[0] == 0 and values[-1] == 900
    assert Decimal(1000) in values
    assert any("1 pending" in n for n in series.notes)


def test_a_debit_balance_walks_back_below_zero() -> None:
    series = balance_series(
        [tx("2026-11-02T09:00:00Z", 300, "DEBIT")], [balance("CLOSING_BOOKED", 200, "DEBIT")]
    )
    assert [p.balance for p in series.points] == [Decimal(100), Decimal(-200), Decimal(-200)]


def test_missing_amounts_are_skipped_and_said() -> None:
    series = balance_series(
        [tx("2026-11-02T09:00:00Z", None), tx("2026-11-01T09:00:00Z", 10)],
        [balance("CLOSING_BOOKED", 100)],
    )
    assert any("1 transactions have no amount" in n for n in series.notes)
    assert series.points[0].balance == 110


def test_other_currencies_are_never_added_to_the_line() -> None:
    series = balance_series(
        [
            tx("2026-11-02T09:00:00Z", 100, "DEBIT"),
            tx("2026-11-01T09:00:00Z", 99999, "DEBIT", "USD"),
        ],
        [balance("CLOSING_BOOKED", 1000)],
    )
    assert series.currency == "SAR"
    assert min(p.balance for p in series.points) == 1000 - 0  # USD never subtracted
    assert [p.balance for p in series.points] == [1100, 1000, 1000]
    assert any("1 in USD" in n and "never added" in n for n in series.notes)


def test_no_data_gives_an_empty_line_that_says_why() -> None:
    series = balance_series([], [])
    assert series.points == [] and series.method == "none"
    assert "no line to draw" in series.notes[0]


def test_currency_words_keep_lean_text_out_of_notes() -> None:
    assert currency_words("SAR") == "SAR"
    assert currency_words("[x](https://evil.example)") == "an unreadable currency"
    assert currency_words(None) == "an unnamed currency"


# --- monthly cash flow --------------------------------------------------------------------------


def test_cash_flow_per_month_credits_and_debits_apart() -> None:
    flow = monthly_cash_flow(
        [
            tx("2026-10-27T09:00:00Z", "12000", "CREDIT"),
            tx("2026-10-03T09:00:00Z", "250.25", "DEBIT"),
            tx("2026-11-01T00:30:00+03:00", "100", "DEBIT"),  # 31 Oct in UTC
            tx("2026-11-05T09:00:00Z", "40", "DEBIT"),
        ]
    )
    assert flow.currencies == ["SAR"]
    october, november = flow.of("SAR")
    assert october.month == date(2026, 10, 1)
    assert (october.credits, october.debits, october.count) == (
        Decimal(12000),
        Decimal("350.25"),
        3,
    )
    assert october.net == Decimal("11649.75")
    assert (november.credits, november.debits) == (Decimal(0), Decimal(40))
    assert flow.notes == []


def test_cash_flow_keeps_currencies_apart_and_says_so() -> None:
    flow = monthly_cash_flow(
        [
            tx("2026-10-01T09:00:00Z", 100, "DEBIT", "SAR"),
            tx("2026-10-02T09:00:00Z", 100, "DEBIT", "SAR"),
            tx("2026-10-03T09:00:00Z", 7, "DEBIT", "USD"),
        ]
    )
    assert flow.currencies == ["SAR", "USD"]
    assert flow.of("SAR")[0].debits == 200 and flow.of("USD")[0].debits == 7
    assert any("more than one currency" in n for n in flow.notes)


def test_cash_flow_counts_what_it_cannot_place() -> None:
    no_date = Transaction.model_validate({"amount": {"amount": 1, "currency": "SAR"}})
    no_currency = tx("2026-10-01T09:00:00Z", 5, currency="")
    flow = monthly_cash_flow([no_date, no_currency, tx("2026-10-01T09:00:00Z", None)])
    assert flow.months == []
    assert flow.notes == [
        "1 transactions with no date are not counted.",
        "1 transactions with no amount are not counted.",
        "1 transactions with no currency are not counted.",
    ]


# --- identity and records -----------------------------------------------------------------------


def test_identity_masks_names_ids_contacts_and_address_unless_revealed() -> None:
    person = Identity.model_validate(
        {"full_legal_name": "Sara Al-Qahtani", "name": "سارة القحطاني", "national_id": "1234567897",
         "mobile_number": "966512345678", "email_address": "sara.q@example.com", "gender": "F",
         "address": {"address_line": "4187 King Fahd Road", "town_name": "Riyadh",
                     "country": "Saudi Arabia", "street": None}}
    )  # fmt: skip
    masked = {r["Field"]: r["Value"] for r in identity_rows(person)}
    assert masked == {
        "Full legal name": "S•••• A••••",
        "Name": "س•••• ا••••",
        "National ID": "•••• •••• 97",
        "Birth date": "not given",
        "Gender": "F",
        "Email": "s•••@e•••.com",
        "Mobile": "+966 •••• ••78",
        "Address": "•••• · Riyadh, Saudi Arabia",
        "Party type": "not given",
        "Account role": "not given",
    }
    shown = {r["Field"]: r["Value"] for r in identity_rows(person, reveal=True)}
    assert shown["National ID"] == "1234567897"
    assert shown["Address"] == "4187 King Fahd Road, Saudi Arabia"


def test_identity_reveals_one_field_at_a_time() -> None:
    person = Identity.model_validate(
        {"full_legal_name": "Sara Al-Qahtani", "national_id": "1234567897",
         "email_address": "sara.q@example.com", "gender": "F"}
    )  # fmt: skip
    choices = identity_choices(person, 1)
    assert choices == {
        "identity:1:Full legal name": "Full legal name: S•••• A••••",
        "identity:1:National ID": "National ID: •••• •••• 97",
        "identity:1:Email": "Email: s•••@e•••.com",
    }
    rows = identity_rows(person, revealed={"identity:1:Email"}, person=1)
    shown = {r["Field"]: r["Value"] for r in rows}
    assert shown["Email"] == "sara.q@example.com"
    assert shown["National ID"] == "•••• •••• 97"
    # Another person's item reveals nothing here.
    other = identity_rows(person, revealed={"identity:0:Email"}, person=1)
    assert {r["Field"]: r["Value"] for r in other}["Email"] == "s•••@e•••.com"


def test_records_are_flattened_with_identifiers_masked() -> None:
    beneficiary = {
        "account_id": "a-1",
        "account_holder_name": "Fahad",
        "creditor_account": {"scheme_name": "IBAN", "identification": IBAN, "name": "Fahad"},
        "amounts": [{"amount": 1}],
        "tags": ["a", "b"],
        "card": {"pan": "4111111111111111"},
        "regional_data": None,
    }
    row = record_rows([beneficiary])[0]
    assert "account_id" not in row
    assert row["creditor_account.identification"] == "SA03 •••• •••• •• 19"
    assert row["card.pan"] == "•••• •••• •••• 1111"
    assert row["amounts[0].amount"] == 1 and row["tags"] == "a, b"
    assert row["regional_data"] == ""
    assert row["account_holder_name"] == "F••••"
    assert row["creditor_account.name"] == "F••••"
    assert record_rows([beneficiary], reveal=True)[0]["creditor_account.identification"] == IBAN
    assert record_rows([]) == []
    # One row revealed by its item; the other stays masked.
    rows = record_rows([beneficiary, beneficiary], revealed={"beneficiaries:1"},
                       data_type="beneficiaries")  # fmt: skip
    assert rows[0]["creditor_account.identification"] == "SA03 •••• •••• •• 19"
    assert rows[1]["creditor_account.identification"] == IBAN
    assert rows[1]["account_holder_name"] == "Fahad"
    labels = record_choices([beneficiary], "beneficiaries")
    assert list(labels) == ["beneficiaries:0"] and IBAN not in labels["beneficiaries:0"]
    assert "Fahad" not in labels["beneficiaries:0"]


# --- ownership and refreshes --------------------------------------------------------------------


def verification(verified: bool | None, ibans: list[dict[str, Any]]) -> OwnershipCheck:
    body = {"status": "OK", "results_id": "r-1",
            "verifications": {"entity_ownership_verified": verified, "ibans": ibans}}  # fmt: skip
    return OwnershipCheck("•••• •••• 97", OwnershipVerification.from_response(body))


def test_ownership_verdicts_in_words() -> None:
    yes = verification(True, [{"iban": IBAN, "iban_ownership_verified": True}])
    no = verification(False, [{"iban": IBAN, "iban_ownership_verified": False}, {"iban": None}])
    assert ownership_verdict(yes) == (
        "Verified — The person with national ID •••• •••• 97 owns this bank connection.",
        "good",
    )
    assert ownership_verdict(no)[0].startswith("Not verified") and ownership_verdict(no)[1] == "bad"
    assert ownership_verdict(verification(None, []))[1] == "warn"
    assert verification_rows(yes) == [
        {"IBAN": "SA03 •••• •••• •• 19", "Result": "Owned by this person"}
    ]
    assert verification_rows(yes, reveal=True)[0]["IBAN"] == IBAN
    assert [r["Result"] for r in verification_rows(no)] == [
        "Not owned by this person",
        "Not stated by Lean",
    ]


def refresh(
    refresh_id: str, status: str, created: str, accounts: list[dict[str, Any]] | None = None
) -> Refresh:
    return Refresh.model_validate(
        {"refresh_id": refresh_id, "status": status, "created_at": created,
         "data_status": {"accounts": "OK", "identity": "SUCCESS", "account_data": accounts or []}}
    )  # fmt: skip


def test_the_newest_pending_refresh_is_followed() -> None:
    older = refresh("r-old", "PENDING", "2026-11-27T10:00:00Z")
    newer = refresh("r-new", "PENDING", "2026-11-28T10:00:00Z")
    done = refresh("r-done", "OK", "2026-11-28T11:00:00Z")
    assert newest_pending([older, done, newer]) is newer
    assert newest_pending([done]) is None
    assert newest_pending([]) is None


def test_refresh_account_rows_in_words_with_unknown_words_kept() -> None:
    r = refresh(
        "r-1",
        "FINISHED",
        "2026-11-28T10:00:00Z",
        [{"account_id": "0123456789abcdef", "balance": "OK", "transactions": "PARTIAL",
          "identity": "WEIRD_NEW", "transactionAvailability": {"start": "2026-01-01", "end": "2026-11-27"}}],
    )  # fmt: skip
    (row,) = refresh_account_rows(r)
    assert row["Account"] == "0123456789abcdef"  # the whole id when no name is known
    (named,) = refresh_account_rows(r, {"0123456789abcdef": "Current · SA04 •••• 0I"})
    assert named["Account"] == "Current · SA04 •••• 0I"
    assert row["Balance"] == "Success" and row["Transactions"] == "Partial"
    assert row["Identity"] == "WEIRD_NEW" and row["Beneficiaries"] == "—"
    assert (row["Transactions from"], row["to"]) == ("2026-01-01", "2026-11-27")


def test_no_dates_are_shifted() -> None:
    # A guard for the tests above: the fixtures' times are read as UTC.
    assert tx("2026-11-01T00:30:00+03:00", 1).booking_date_time == datetime(
        2026, 10, 31, 21, 30, tzinfo=UTC
    )


def test_a_banks_own_code_is_not_masked() -> None:
    agent = {"creditor_agent": {"scheme_name": "BICFI", "identification": "KSAOB.ARNB"}}
    assert record_rows([agent])[0]["creditor_agent.identification"] == "KSAOB.ARNB"


def test_the_banks_one_line_address_is_not_repeated() -> None:
    person = Identity.model_validate(
        {"address": {"address_line": "2645 Al Madinah Road, Al Rawdah, Jeddah 21797",
                     "street": "Al Madinah Road", "town_name": "Jeddah",
                     "region": "Makkah Region", "country": "Saudi Arabia"}}
    )  # fmt: skip
    address = {r["Field"]: r["Value"] for r in identity_rows(person, reveal=True)}["Address"]
    assert address == "2645 Al Madinah Road, Al Rawdah, Jeddah 21797, Makkah Region, Saudi Arabia"


def test_an_unknown_refresh_word_from_lean_is_shown_literally() -> None:
    from console.ui_refresh_actions import summary_markdown

    hostile = refresh("r-1", "[click](https://evil.example)", "2026-11-28T10:00:00Z")
    assert summary_markdown(hostile).startswith("`")
    finished = refresh("r-2", "OK", "2026-11-28T10:00:00Z", [{"account_id": "a", "balance": "OK"}])
    assert summary_markdown(finished).startswith("Finished —")
