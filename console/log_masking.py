"""Personal data never reaches a log line: IBANs, card numbers, national IDs, e-mail addresses and
phone numbers are masked in every record's final message and exception text.

`install()` (called once by `server.py`) puts `PersonalDataFilter` in front of every record the
process creates, whichever library logs it and whichever handler writes it: a filter on one
logger or handler would miss the records of loggers configured later (Streamlit's, uvicorn's).
"""

from __future__ import annotations

import logging
import threading
import traceback
from typing import Any

from console.masking import mask_text

_installed = threading.Lock()
_INSTALLED_FLAG = "_console_masks_personal_data"


class PersonalDataFilter(logging.Filter):
    """Masks personal data in a record's message (formatted with its arguments) and in its
    exception and stack text; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        mask_record(record)
        return True


def mask_record(record: logging.LogRecord) -> logging.LogRecord:
    """The record with its final message, exception text and stack text masked, in place."""
    if getattr(record, _INSTALLED_FLAG, False):
        return record
    try:
        message = record.getMessage()
    except Exception:  # arguments that do not fit the format: logging reports it later itself
        return record
    record.msg = mask_text(message)
    record.args = None
    if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
        record.exc_text = mask_text("".join(traceback.format_exception(*record.exc_info)).rstrip())
    elif record.exc_text:
        record.exc_text = mask_text(record.exc_text)
    if record.stack_info:
        record.stack_info = mask_text(record.stack_info)
    setattr(record, _INSTALLED_FLAG, True)
    return record


def install() -> None:
    """Mask personal data in every log record of this process from now on (idempotent)."""
    with _installed:
        factory = logging.getLogRecordFactory()
        if getattr(factory, _INSTALLED_FLAG, False):
            return

        def masked_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
            return mask_record(factory(*args, **kwargs))

        setattr(masked_record, _INSTALLED_FLAG, True)
        logging.setLogRecordFactory(masked_record)
        # Records made before install() or by code that builds LogRecord itself still pass the
        # root logger's handlers.
        for handler in logging.getLogger().handlers:
            if not any(isinstance(f, PersonalDataFilter) for f in handler.filters):
                handler.addFilter(PersonalDataFilter())


def installed() -> bool:
    """True once `install()` ran in this process."""
    return bool(getattr(logging.getLogRecordFactory(), _INSTALLED_FLAG, False))
