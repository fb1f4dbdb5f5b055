"""Personal data is masked by kind (identifiers by scheme, names, phones, e-mail, addresses, free
text, whole payloads), with a fixed shape that hides its length too."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from console.masking import (
    BULLET,
    looks_like_iban,
    mask_account_name,
    mask_address,
    mask_card,
    mask_email,
    mask_iban,
    mask_identifier,
    mask_name,
    mask_payload,
    mask_phone,
    mask_text,
    redact_names,
    scheme_label,
)


def test_iban_keeps_country_check_digits_and_last_two() -> None:
    assert mask_iban("SA04203XGFV6Y7UWB7IYNK0I") == "SA04 •••• •••• •• 0I"
    assert mask_identifier("IBAN", "sa04 203X GFV6 Y7UW B7IY NK0I") == "SA04 •••• •••• •• 0I"


def test_masked_iban_hides_everything_in_the_middle() -> None:
    masked = mask_identifier("IBAN", "SA04203XGFV6Y7UWB7IYNK0I")
    for hidden in ("203X", "GFV6", "Y7UW", "B7IY", "NK"):
        assert hidden not in masked


def test_masked_shape_does_not_depend_on_length() -> None:
    assert len(mask_iban("SA0420000000000000000001")) == len(mask_iban("AE070331234567890123456"))


def test_card_numbers_show_only_the_last_four() -> None:
    assert mask_identifier("MASKED_PAN", "************7401") == "•••• •••• •••• 7401"
    assert mask_card("4111 1111 1111 1234") == "•••• •••• •••• 1234"
    assert "4111" not in mask_identifier("PAN", "4111111111111234")


def test_iban_sent_under_a_card_scheme_is_masked_as_an_iban() -> None:
    # Lean's beneficiaries example carries an IBAN with scheme_name PAN.
    assert mask_identifier("PAN", "SA5008GC7NKG2J9JDX2A9DE7") == "SA50 •••• •••• •• E7"


@pytest.mark.parametrize(
    ("scheme", "value", "expected"),
    [
        ("ACCOUNT_NUMBER", "3XGFV6Y7UWB7IYNK0I", "•••• •••• 0I"),
        ("BBAN", "44NOL8PFRARMFZN3BI", "•••• •••• BI"),
        ("NATIONAL_ID", "1106972886", "•••• •••• 86"),
        ("SOMETHING_NEW", "ABCDEFGH12", "•••• •••• 12"),
        (None, "ABCDEFGH12", "•••• •••• 12"),
    ],
)
def test_other_identifiers_keep_the_last_two(scheme: str | None, value: str, expected: str) -> None:
    assert mask_identifier(scheme, value) == expected


@pytest.mark.parametrize("value", ["12345", "AB", "x", "SA04"])
def test_short_values_are_hidden_whole(value: str) -> None:
    assert mask_identifier("ACCOUNT_NUMBER", value) == BULLET * 4
    assert mask_identifier("IBAN", value) == BULLET * 4


@pytest.mark.parametrize("value", [None, "", "   "])
def test_missing_identifier_is_empty(value: str | None) -> None:
    assert mask_identifier("IBAN", value) == ""


def test_scheme_words() -> None:
    assert scheme_label("MASKED_PAN") == "Card number (masked by the bank)"
    assert scheme_label("national_id") == "National ID"
    assert scheme_label("ACCOUNT_NUMBER") == "Account number"
    assert scheme_label("WALLET_ID") == "WALLET_ID"
    assert scheme_label(None) == "Not given"


def test_iban_shape() -> None:
    assert looks_like_iban("SA04203XGFV6Y7UWB7IYNK0I")
    assert not looks_like_iban("************7401")
    assert not looks_like_iban("1106972886")


# ---------------------------------------------------------------------------------------------
# Names, phones, e-mail and postal addresses
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Mae Darlene Zulauf", "M•••• D•••• Z••••"),
        ("Ahmed Al-Saud", "A•••• A••••"),
        ("محمد بن عبدالله العتيبي", "م•••• ب•••• ع•••• ا••••"),
        ("  cS  ", "c••••"),
        ("", ""),
        (None, ""),
    ],
)
def test_names_keep_the_first_letter_of_each_word(name: str | None, expected: str) -> None:
    assert mask_name(name) == expected


def test_an_account_name_keeps_the_words_of_its_kind() -> None:
    assert mask_account_name("Lama Al-Yami Current Account") == "L•••• A•••• Current Account"
    assert mask_account_name("حساب جاري سارة") == "حساب جاري س••••"
    assert mask_account_name(None) == ""


def test_a_masked_name_hides_its_length() -> None:
    assert len(mask_name("Al")) == len(mask_name("Abdulrahman"))
    assert "Darlene" not in mask_name("Mae Darlene Zulauf")


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        ("+966512345678", "+966 •••• ••78"),
        ("00966 51 234 5678", "+966 •••• ••78"),
        ("966512345678", "+966 •••• ••78"),
        ("0512345678", "•••• ••78"),
        ("٠٥١٢٣٤٥٦٧٨", "•••• ••78"),  # Arabic-Indic digits
        ("664344234554", "•••• ••54"),  # Lean's identity example
        ("1234", "••••"),
        ("", ""),
    ],
)
def test_phone_numbers_keep_the_country_code_and_last_two(phone: str, expected: str) -> None:
    assert mask_phone(phone) == expected


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        ("yvone.jacobson@hotmail.com", "y•••@h•••.com"),
        ("m@d.sa", "m•••@d•••.sa"),
        ("سارة@مثال.السعودية", "س•••@م•••.السعودية"),
        ("not an address", "••••"),
        ("", ""),
    ],
)
def test_email_keeps_first_letters_and_top_level_domain(email: str, expected: str) -> None:
    assert mask_email(email) == expected


def test_address_keeps_only_town_and_country() -> None:
    address = {
        "address_line": "4187 King Fahd Road, Al Olaya, Riyadh 12214 - 7345",
        "street": "King Fahd Road",
        "post_code": "12214",
        "town_name": "Riyadh",
        "region": "Riyadh Region",
        "country": "Saudi Arabia",
    }
    assert mask_address(address) == "•••• · Riyadh, Saudi Arabia"
    assert mask_address("4187 King Fahd Road, Riyadh") == "••••"
    assert mask_address({}) == "" and mask_address(None) == ""


def test_known_names_are_masked_inside_other_text() -> None:
    assert (
        redact_names("Mae Zulauf Savings Account", ["Mae Zulauf"]) == "M•••• Z•••• Savings Account"
    )
    assert redact_names("TRANSFER TO MAE ZULAUF", ["Mae Zulauf"]) == "TRANSFER TO M•••• Z••••"
    # Short words (Al, bin) would mask half the sentence: they stay.
    assert redact_names("Al Rajhi", ["Al Mae"]) == "Al Rajhi"


# ---------------------------------------------------------------------------------------------
# Free text (log lines)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "hidden", "shown"),
    [
        ("owner sara.q@example.com asked", "sara.q@example.com", "s•••@e•••.com"),
        (
            "iban SA0420000001234567891234 checked",
            "SA0420000001234567891234",
            "SA04 •••• •••• •• 34",
        ),
        ("iban SA04 2000 0001 2345 6789 1234.", "2000 0001", "SA04 •••• •••• •• 34"),
        ("id=1106972886 sent", "1106972886", "•••• •••• 86"),
        ("iqama ٢٣٤٥٦٧٨٩٠١ sent", "2345678901", "•••• •••• 01"),
        ("card 4111 1111 1111 1111 used", "4111 1111", "•••• •••• •••• 1111"),
        ("card 5555555555554444 used", "5555555555554444", "•••• •••• •••• 4444"),
        ("call +966 51 234 5678 now", "234 5678", "+966 •••• ••78"),
        ("call 0512345678 now", "0512345678", "•••• ••78"),
    ],
)
def test_free_text_masks_every_shape_of_personal_data(text: str, hidden: str, shown: str) -> None:
    masked = mask_text(text)
    assert hidden not in masked
    assert shown in masked


@pytest.mark.parametrize(
    "text",
    [
        "refresh 3f0c1a2e-1234-4d5e-8f90-1234567890ab finished",
        "lean_timestamp_ns 1715344468510038424 stored",
        "at 2026-05-10T12:34:28.510038424Z",
        "took 1234.5678901 s; 4 of 7 data types; port 8501",
        "sha512=" + "ab12" * 32,
    ],
)
def test_free_text_leaves_ids_timestamps_and_digests_alone(text: str) -> None:
    assert mask_text(text) == text


# ---------------------------------------------------------------------------------------------
# Payloads: Lean's own examples
# ---------------------------------------------------------------------------------------------

COLLECTION = (
    Path(__file__).resolve().parents[3] / "shared" / "lean-reference"
    / "LeanAPI-KSA.postman_collection.json"
)  # fmt: skip


def lean_example(*path: str, request: bool = False) -> Any:
    """The body of one response example in Lean's Postman collection, by item names (or the
    body of the request it answered)."""
    items = json.loads(COLLECTION.read_text())["item"]
    node: dict[str, Any] = {}
    for name in path[:-1]:
        node = next(i for i in items if i.get("name") == name)
        items = node.get("item", [])
    response = next(r for r in node["response"] if r.get("name") == path[-1])
    if request:
        return json.loads(response["originalRequest"]["body"]["raw"])
    return json.loads(response["body"])


def strings_of(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def test_identity_payload_masks_names_contacts_address_and_keeps_the_rest() -> None:
    body = lean_example("Data", "Raw Data - v2", "identity", "Get identity", "OK")
    person = body["data"]["identities"][0]
    masked = mask_payload(body)
    text = strings_of(masked)
    for secret in (
        person["full_legal_name"], person["name"], person["email_address"], person["phone"],
        person["address"]["address_line"], person["address"]["post_code"],
    ):  # fmt: skip
        assert secret not in text
    shown = masked["data"]["identities"][0]
    assert shown["name"] == "M•••• D•••• Z••••"
    assert shown["email_address"] == "y•••@h•••.com"
    assert shown["mobile_number"] == "•••• ••54"
    assert shown["address"] == "•••• · East Marjorie, Tanzania"
    assert shown["entity_id"] == person["entity_id"] and shown["gender"] == "F"
    assert masked["status"] == "OK" and masked["results_id"] == body["results_id"]


def test_accounts_payload_masks_holders_and_identifiers_but_not_the_bank() -> None:
    body = lean_example("Data", "Raw Data - v2", "accounts", "Get Accounts", "Get Account", "OK")
    masked = mask_payload(body)
    text = strings_of(masked)
    for account in body["data"]["accounts"]:
        assert account["account_holder_name"] not in text
        assert account["account_holder_short_name"] not in text
        for identifier in account["account"]:
            assert identifier["identification"] not in text
    first = masked["data"]["accounts"][0]
    assert first["account"][0]["identification"] == "SA04 •••• •••• •• 0I"
    # The description repeated the holder's name.
    assert first["description"] == "M•••• Z•••• Current Account"
    assert first["servicer"]["identification"] == "KSAOB.SALEAN"  # the bank's code
    assert first["nickname"] == "Current Account" and first["account_id"]
    assert first["account"][0]["name"] == "M•••• Z•••• Current Account"


def test_beneficiaries_payload_masks_the_people_and_keeps_their_banks() -> None:
    body = lean_example(
        "Data", "Raw Data - v2", "accounts", "{account_id}", "beneficiaries",
        "Get Beneficiaries", "OK",
    )  # fmt: skip
    masked = mask_payload(body)
    text = strings_of(masked)
    for item in body["data"]["beneficiaries"]:
        assert item["creditor_account"]["identification"] not in text
        if item["account_holder_name"]:
            assert item["account_holder_name"] not in text
    first = masked["data"]["beneficiaries"][0]
    assert first["creditor_account"]["name"] == "M••••"
    assert first["creditor_agent"]["name"] == "The Saudi British Bank"
    assert first["creditor_agent"]["postal_address"]["town_name"] == "Riyadh"


def test_tagged_values_are_masked_by_their_type() -> None:
    body = lean_example(
        "Verifications", "Account Verification API", "Account Verification - SA (Saudi Arabia)",
        "SA (Saudi Arabia) - OK", request=True,
    )  # fmt: skip
    masked = mask_payload(body)
    assert masked["account_details"]["value"] == "SA28 •••• •••• •• 09"
    assert masked["identifications"][0]["value"] == "A•••• A••••"
    assert masked["identifications"][1]["value"] == "•••• •••• 90"
    assert masked["country_code"] == "SA"


def test_webhook_payload_masks_personal_data_hiding_anywhere() -> None:
    event = {
        "type": "payment_source.beneficiary.created",
        "payload": {
            "app_user_id": "sara.q@example.com",
            "customer_id": "a2c45b62-0182-4fd8-85e0-f70ca5297eb5",
            "bank_details": {"name": "Saudi National Bank", "identifier": "SNB_SAU"},
            "beneficiary": {
                "iban": "SA0420000001234567891234",
                "account_holder_name": "سارة القحطاني",
                "mobile": "+966512345678",
                "national_id": 1106972886,
            },
            "note": "call 0512345678",
        },
        "event_id": "e-1",
    }
    masked = mask_payload(event)
    text = strings_of(masked)
    for secret in ("sara.q@example.com", "SA0420000001234567891234", "سارة القحطاني",
                   "512345678", "1106972886"):  # fmt: skip
        assert secret not in text
    assert masked["payload"]["bank_details"]["name"] == "Saudi National Bank"
    assert masked["payload"]["customer_id"] == event["payload"]["customer_id"]
    assert masked["payload"]["beneficiary"]["account_holder_name"] == "س•••• ا••••"
    assert masked["type"] == event["type"] and masked["event_id"] == "e-1"
    assert mask_payload(event) == masked and event["payload"]["beneficiary"]["mobile"].startswith(
        "+"
    )


def test_payload_masking_takes_any_json() -> None:
    for value in (None, 3, 2.5, True, "text", [], {}, [[{"name": "Ali Hassan"}]]):
        mask_payload(value)
    assert mask_payload([[{"name": "Ali Hassan"}]]) == [[{"name": "A•••• H••••"}]]


# ---------------------------------------------------------------------------------------------
# Exports: the webhook inbox's CSV
# ---------------------------------------------------------------------------------------------


def test_the_inbox_export_masks_personal_data_in_payloads(tmp_path: Path) -> None:
    from console.store import EventFilter, EventRecord, EventStore

    store = EventStore(f"sqlite:///{tmp_path / 'export.db'}")
    store.migrate()
    occurred = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
    bodies = {
        "ev-1": json.dumps({"type": "payment_source.beneficiary.created", "event_id": "ev-1",
                            "payload": {"app_user_id": "sara.q@example.com",
                                        "beneficiary": {"iban": "SA0420000001234567891234",
                                                        "account_holder_name": "Sara Qahtani"},
                                        "bank_details": {"name": "Saudi National Bank"}}}),
        "ev-2": "not json, from 0512345678",
    }  # fmt: skip
    store.write_events(
        [
            EventRecord(
                event_id=event_id,
                type="payment_source.beneficiary.created",
                message="m",
                lean_timestamp=occurred,
                received_at=occurred,
                verified=True,
                source_ip="127.0.0.1",
                payload=body,
                size=len(body),
                app_user_id="sara.q@example.com",
                customer_id="c-1",
            )
            for event_id, body in bodies.items()
        ]
    )
    exported = store.export_csv(EventFilter())
    store.dispose()
    for secret in ("sara.q@example.com", "SA0420000001234567891234", "Sara Qahtani", "512345678"):
        assert secret not in exported
    rows = {row["event_id"]: row for row in csv.DictReader(io.StringIO(exported))}
    payload = json.loads(rows["ev-1"]["payload"])
    assert payload["payload"]["beneficiary"]["iban"] == "SA04 •••• •••• •• 34"
    assert payload["payload"]["bank_details"]["name"] == "Saudi National Bank"
    assert rows["ev-1"]["app_user_id"] == "s•••@e•••.com" and rows["ev-1"]["customer_id"] == "c-1"
    assert rows["ev-2"]["payload"] == "not json, from •••• ••78"
