"""Vertex AI bearer tokens from a service-account JSON, minted by google-auth over httpx.

google-auth signs the JWT grant and posts it to the file's `token_uri`; its refresh needs a
`google.auth.transport.Request`, which `HttpxAuthRequest` provides over the provider's own
httpx client, so we need neither `requests` nor a second connection pool. One token serves
every thread of the process: a lock makes a stale token refresh once, not once per thread.
google-auth ships `py.typed` but leaves most functions unannotated, hence the three
`no-untyped-call` ignores.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC
from typing import Any

import google.auth.exceptions
import google.auth.transport
import httpx
from google.oauth2 import service_account

from labeller.errors import AuthError, ConfigError, ProviderError, Transient
from labeller.providers._errors import redact

__all__ = ["SCOPES", "HttpxAuthRequest", "ServiceAccountTokenSource"]

#: The OAuth scope Vertex AI calls need.
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
#: Refresh this long before the token's expiry (s): a call must not start with a dying token.
REFRESH_MARGIN_S = 300.0


class _AuthResponse(google.auth.transport.Response):
    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        return dict(self._response.headers)

    @property
    def data(self) -> bytes:
        return self._response.content


class HttpxAuthRequest(google.auth.transport.Request):
    """google-auth's transport contract over an httpx client (absolute URLs ignore base_url)."""

    def __init__(self, http: httpx.Client) -> None:
        self._http = http

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> _AuthResponse:
        try:
            response = self._http.request(
                method,
                url,
                content=body,
                headers=headers,
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.HTTPError as exc:
            raise google.auth.exceptions.TransportError(  # type: ignore[no-untyped-call]
                f"token request failed ({type(exc).__name__})"
            ) from exc
        return _AuthResponse(response)


class ServiceAccountTokenSource:
    """Bearer tokens for one service account, refreshed when within REFRESH_MARGIN_S of expiry."""

    def __init__(
        self,
        credentials: service_account.Credentials,
        request: google.auth.transport.Request,
        *,
        provider: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`clock` gives epoch seconds and decides when a token is stale."""
        self._credentials = credentials
        self._request = request
        self._provider = provider
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0

    @classmethod
    def from_file(
        cls,
        path: str,
        http: httpx.Client,
        *,
        provider: str,
        clock: Callable[[], float] = time.time,
    ) -> ServiceAccountTokenSource:
        """Load a service-account JSON; raises ConfigError naming the file (never its content)."""
        try:
            credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                path, scopes=list(SCOPES)
            )
        except (OSError, ValueError, KeyError, google.auth.exceptions.GoogleAuthError) as exc:
            raise ConfigError(
                f"providers.{provider}.credentials_file: {path} is not a usable service-account "
                f"JSON ({type(exc).__name__})"
            ) from exc
        return cls(credentials, HttpxAuthRequest(http), provider=provider, clock=clock)

    def __repr__(self) -> str:
        return f"ServiceAccountTokenSource(provider={self._provider!r})"

    def token(self) -> str:
        with self._lock:
            if self._token is None or self._clock() >= self._expires_at - REFRESH_MARGIN_S:
                self._token, self._expires_at = self._refresh()
            return self._token

    def _refresh(self) -> tuple[str, float]:
        """A new token and its expiry (epoch s); raises Transient or AuthError."""
        try:
            self._credentials.refresh(self._request)  # type: ignore[no-untyped-call]
        except google.auth.exceptions.TransportError as exc:
            raise Transient(self._provider, f"token refresh failed: {_text(exc)}") from exc
        except google.auth.exceptions.RefreshError as exc:
            error: ProviderError
            if getattr(exc, "retryable", False):
                error = Transient(self._provider, f"token refresh failed: {_text(exc)}")
            else:
                error = AuthError(self._provider, f"token refresh refused: {_text(exc)}")
            raise error from exc
        token = self._credentials.token
        if not isinstance(token, str) or not token:
            raise Transient(self._provider, "token refresh returned no token")
        expiry = self._credentials.expiry  # naive UTC, or None for a token that never expires
        return token, float("inf") if expiry is None else expiry.replace(tzinfo=UTC).timestamp()


def _text(exc: Exception) -> str:
    return redact(str(exc), None)[:300]
