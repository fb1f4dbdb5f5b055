"""Signing and verifying with one piece of code; parsing every envelope variant."""

from __future__ import annotations

import json

import pytest

from lean_api.webhooks import (
    SignatureVerificationError,
    WebhookPayloadError,
    compute_signature,
    generate_signature_header,
    parse_event,
    verify_signature,
)

SECRET = "whsec_test_0123456789"
BODY = b'{"type": "entity.created", "payload": {"id": "e"}, "event_id": "ev-1"}'


def test_a_signature_we_generate_verifies() -> None:
    verify_signature(BODY, generate_signature_header(BODY, SECRET), SECRET)
    verify_signature(BODY, "SHA512=" + compute_signature(BODY, SECRET).upper(), SECRET)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        ("sha512", "malformed"),
        ("sha512=", "malformed"),
        ("sha256=" + compute_signature(BODY, SECRET), "unsupported signature algorithm"),
        ("sha512=" + compute_signature(BODY, SECRET)[:-8], "malformed"),
        ("sha512=" + "é" * 128, "malformed"),
        ("sha512=" + compute_signature(BODY, "another-secret"), "does not match"),
        ("sha512=" + compute_signature(BODY + b" ", SECRET), "does not match"),
    ],
)
def test_bad_signatures_are_refused_with_a_reason(header: str | None, reason: str) -> None:
    with pytest.raises(SignatureVerificationError, match=reason):
        verify_signature(BODY, header, SECRET)


def test_upper_case_hex_and_spaces_still_verify() -> None:
    verify_signature(BODY, " SHA512=" + compute_signature(BODY, SECRET).upper() + " ", SECRET)


def test_timestamp_keeps_nanoseconds_and_junk_timestamps_are_none() -> None:
    def stamp(value: object) -> tuple[object, int]:
        event = parse_event(json.dumps({"type": "x", "timestamp": value}).encode())
        return event.timestamp, event.timestamp_nanos

    assert stamp("2026-11-01T10:00:00.123456789Z")[1] == 789
    assert stamp("2026-11-01T10:00:00.1234567Z")[1] == 700
    assert stamp("2026-11-01T10:00:00.123Z")[1] == 0
    for junk in [
        1e300,
        -1e300,
        True,
        "9999-12-31T23:59:59-01:00",
        "2026-13-01",
        [1],
        {"a": 1},
        "x" * 1000,
        "٢٠٢٦-١١-٠١",
    ]:
        assert stamp(junk)[0] is None, junk


def test_event_without_id_gets_a_stable_digest_id() -> None:
    body = json.dumps({"type": "entity.updated", "payload": {"id": "e"}}).encode()
    assert parse_event(body).event_id == parse_event(body).event_id
    assert parse_event(body).event_id.startswith("sha256:")


@pytest.mark.parametrize(
    "number",
    [
        9223372036854775807,
        18446744073709551615,
        18446744073709551616,
        -9223372036854775808,
        -9223372036854775809,
        -9999999999999999999,
        10**40,
    ],
)
def test_integers_past_64_bits_stay_integers(number: int) -> None:
    """orjson reads an integer past 64 bits as a float: a 19-digit negative one too (found by
    `test_fast_envelope_equals_the_validated_one`)."""
    body = json.dumps({"type": "entity.updated", "payload": {"amount": number}}).encode()
    amount = parse_event(body).payload["amount"]
    assert type(amount) is int and amount == number


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "not an object"),
        (b'{"payload": {}}', "no event type"),
        (b'{"type": "x", "payload": [1]}', "payload is not an object"),
        (b"\xff\xfe", "not UTF-8"),
        ('{"type": "x"}'.encode("utf-16"), "not UTF-8"),
        (b"[" * 100_000, "nested deeper"),
        (b'{"type": "x", "payload": ' + b'{"a": ' * 70 + b"1" + b"}" * 71, "nested deeper"),
    ],
)
def test_malformed_bodies_are_payload_errors(body: bytes, reason: str) -> None:
    with pytest.raises(WebhookPayloadError, match=reason):
        parse_event(body)


def test_index_fields_for_each_type() -> None:
    refresh = parse_event(
        json.dumps(
            {
                "type": "entity.data.refresh.updated",
                "payload": {
                    "refresh_id": "r",
                    "entity_id": "e",
                    "customer_id": "c",
                    "status": "OK",
                },
            }
        ).encode()
    )
    assert refresh.index_fields() | {} == {
        "customer_id": "c", "entity_id": "e", "app_user_id": None, "bank_identifier": None, "refresh_id": "r", "status": "FINISHED",
    }  # fmt: skip
    bank = parse_event(
        json.dumps(
            {
                "type": "bank.availability.updated",
                "payload": {
                    "identifier": "B1",
                    "availability": {"active": {"data": True}, "enabled": {"data": False}},
                },
            }
        ).encode()
    )
    assert (
        bank.index_fields()["bank_identifier"] == "B1"
        and bank.index_fields()["status"] == "disabled_by_us"
    )
    unknown = parse_event(
        b'{"type": "payment_source.created", "payload": {"customer_id": "c", "nested": {"x": 1}}}'
    )
    assert not unknown.is_known_type and unknown.index_fields()["customer_id"] == "c"


def test_a_refused_body_claims_only_what_it_says() -> None:
    from lean_api.webhooks import claimed_identity

    body = json.dumps(
        {
            "type": "entity.created",
            "event_id": "ev-1",
            "payload": {"id": "ent-1", "customer_id": "cus-1"},
        }
    ).encode()
    assert claimed_identity(body) == {
        "claimed_type": "entity.created",
        "claimed_event_id": "ev-1",
        "claimed_customer_id": "cus-1",
        "claimed_entity_id": "ent-1",
    }
    refresh = json.dumps(
        {"type": "entity.data.refresh.updated", "payload": {"id": "r-1", "refresh_id": "r-1"}}
    ).encode()
    assert claimed_identity(refresh)["claimed_entity_id"] is None
    for hostile in (b"", b"[1,2]", b"\xff\xfe", b"[" * 100_000, b'{"payload": [1]}'):
        assert set(claimed_identity(hostile).values()) <= {None}
