"""Log lines of real code paths carry no personal data once the process masks them: a customer
looked up by an e-mail app_user_id, and an identity read whose failing answer from Lean echoes a
national ID and an IBAN, both over loopback HTTP to the sandbox."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from console import log_masking
from lean_api import LeanClient
from lean_api.errors import NotFoundError
from sandbox.faults import FaultConfig
from sandbox.server import SandboxServer

EMAIL = "sara.qahtani@example.com"
IBAN = "SA0420000001234567891234"


@pytest.fixture
def fresh_logging() -> Iterator[None]:
    """Each test starts unmasked and leaves the process as it found it."""
    factory = logging.getLogRecordFactory()
    root_filters = {h: list(h.filters) for h in logging.getLogger().handlers}
    yield
    logging.setLogRecordFactory(factory)
    for handler, filters in root_filters.items():
        handler.filters[:] = filters


def look_up_by_email(client: LeanClient) -> None:
    with pytest.raises(NotFoundError):
        client.get_customer_by_app_user_id(EMAIL)


def identity_with_an_echoing_failure(
    client: LeanClient, sandbox: SandboxServer, national_id: str, entity_id: str
) -> None:
    # Lean's error messages echo the values they were given (its INVALID_PARAMETERS examples);
    # a 503 is retried and the retry is logged with Lean's message.
    sandbox.faults.set(
        FaultConfig(
            error_rate=1.0, error_status=503, error_code="SERVICE_UNAVAILABLE", remaining=1,
            error_message=f"upstream refused national_id {national_id} for iban {IBAN}",
            path_prefix="/data/v2/identity",
        )
    )  # fmt: skip
    assert client.get_identity(entity_id).items


def test_real_log_lines_are_masked_once_installed(
    fresh_logging: None,
    client: LeanClient,
    sandbox: SandboxServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    entity = next(e for e in sandbox.state.data.entities.values() if e.accounts)
    national_id = sandbox.state.data.customers[entity.customer_id].person.national_id
    caplog.set_level(logging.INFO)

    # Unmasked first: these paths really do log personal data (so the test can fail).
    look_up_by_email(client)
    identity_with_an_echoing_failure(client, sandbox, national_id, entity.entity_id)
    assert "sara.qahtani%40example.com" in caplog.text
    assert "lean retry 1/" in caplog.text
    # The client logs Lean's status and code, never its message (which may echo what it was sent).
    assert national_id not in caplog.text and IBAN not in caplog.text
    caplog.clear()

    log_masking.install()
    log_masking.install()  # twice is once
    assert log_masking.installed()
    look_up_by_email(client)
    identity_with_an_echoing_failure(client, sandbox, national_id, entity.entity_id)
    text = caplog.text
    assert "lean GET /customers/v1/app-user-id/" in text  # the line is still there…
    assert "lean retry 1/" in text
    for secret in ("sara.qahtani", "example.com", national_id, IBAN):  # …without the data
        assert secret not in text
    assert "app-user-id/s•••@e•••.com" in text


def test_exception_text_and_arguments_are_masked(
    fresh_logging: None, caplog: pytest.LogCaptureFixture
) -> None:
    log_masking.install()
    log = logging.getLogger("console.test")
    try:
        raise ValueError(f"beneficiary {IBAN} of {EMAIL} phone +966512345678")
    except ValueError:
        log.exception("could not add %s", EMAIL)
    log.warning("id %s", "١١٠٦٩٧٢٨٨٦")  # Arabic-Indic digits
    text = caplog.text
    assert IBAN not in text and EMAIL not in text and "512345678" not in text
    assert "1106972886" not in text and "١١٠٦٩٧٢٨٨٦" not in text
    assert "ValueError: beneficiary SA04 •••• •••• •• 34 of s•••@e•••.com" in text
    assert "phone +966 •••• ••78" in text


def test_the_filter_masks_records_it_is_given() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "to %s", (EMAIL,), None)
    assert log_masking.PersonalDataFilter().filter(record)
    assert record.getMessage() == "to s•••@e•••.com"
