"""The one exception tree of labeller; code decides on type and attributes, never on text.

    LabellerError
    ├── UserError                  the CLI prints the message on one line and exits 2
    │   ├── RecordingError         a recording is missing, unreadable or malformed
    │   └── ConfigError            a setting is missing or invalid
    ├── ProviderError              a VLM call failed; carries the provider name
    │   ├── RateLimited            429: retry_after_s says when to try again
    │   ├── Overloaded             529/503: the provider is shedding load
    │   ├── Transient              other 5xx, connection errors, timeouts, malformed bodies
    │   ├── BadRequest             400/413: retrying will not help
    │   └── AuthError              401/403: the key is wrong or disabled
    ├── LimiterUnavailable         the shared rate limiter (Redis) cannot be reached
    ├── BrokerUnavailable          the Celery broker cannot be reached
    └── StoreError                 the database refused or lost a write

Messages name the file, dataset, setting or provider and the fault; they never contain a secret.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "BadRequest",
    "BrokerUnavailable",
    "ConfigError",
    "LabellerError",
    "LimiterUnavailable",
    "Overloaded",
    "ProviderError",
    "RateLimited",
    "RecordingError",
    "StoreError",
    "Transient",
    "UserError",
]


class LabellerError(Exception):
    """Root of every error labeller raises on purpose."""


class UserError(LabellerError):
    """Bad input from the person at the keyboard: shown as one line, exit code 2."""


class RecordingError(UserError):
    """A recording cannot be used; the message names the file and dataset."""


class ConfigError(UserError):
    """A setting is missing or invalid; the message names the key."""


class ProviderError(LabellerError):
    """A provider call failed. `retryable` tells the router whether another try may succeed."""

    retryable: bool = True

    def __init__(self, provider: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.status = status


class RateLimited(ProviderError):
    """429: the provider asked us to wait `retry_after_s` seconds (None if it did not say)."""

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        status: int | None = 429,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(provider, message, status=status)
        self.retry_after_s = retry_after_s


class Overloaded(ProviderError):
    """529/503: the provider is shedding load; another provider may answer."""


class Transient(ProviderError):
    """A 5xx, a connection error, a timeout or a malformed body: worth another try."""


class BadRequest(ProviderError):
    """400/413: the request itself is wrong, so the frame fails without a retry."""

    retryable = False


class AuthError(ProviderError):
    """401/403: the key is wrong or disabled; no frame should use it again."""

    retryable = False


class LimiterUnavailable(LabellerError):
    """The shared rate limiter could not be reached; the frame is retried later."""


class BrokerUnavailable(LabellerError):
    """The Celery broker could not be reached or refused a message."""


class StoreError(LabellerError):
    """The database refused or lost a write."""
