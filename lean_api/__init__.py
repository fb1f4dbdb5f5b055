"""Lean KSA open-banking client library. Knows nothing of Streamlit or the console."""

from lean_api.client import LeanClient
from lean_api.config import LeanSettings
from lean_api.errors import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    ConsentExpiredError,
    LeanAPIError,
    LeanError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)

__all__ = [
    "APIConnectionError",
    "APIResponseValidationError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConflictError",
    "ConsentExpiredError",
    "LeanAPIError",
    "LeanClient",
    "LeanError",
    "LeanSettings",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
]
