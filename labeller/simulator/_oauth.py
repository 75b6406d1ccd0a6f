"""An OAuth2 token endpoint (`POST /token`) for Vertex AI, as google-auth's service accounts use.

google-auth signs a JWT with the service account's key and posts it as a JWT-bearer grant
(RFC 7523) to the `token_uri` of the account's JSON. The simulator does not verify signatures:
it checks the grant type and that the assertion is a three-part JWT naming its issuer (the
account's email), then issues an opaque token valid for an hour of the injected clock. Vertex
requests count against key_hash(issuer). Only sha256 prefixes of tokens and issuers are kept.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import threading
import urllib.parse
from collections.abc import Callable, Mapping

from labeller.simulator._wire import Reply, key_hash

__all__ = ["JWT_BEARER", "TOKEN_LIFETIME_S", "TokenStore"]

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: Lifetime of an issued token, in seconds of the injected clock.
TOKEN_LIFETIME_S = 3600


class TokenStore:
    """Issues access tokens for JWT-bearer grants and says whose a presented token is."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        #: sha256(token) → (key hash of the issuer, expiry in epoch s).
        self._issued: dict[str, tuple[str, float]] = {}

    def grant(self, headers: Mapping[str, str], body: bytes) -> Reply:
        """Answer one token request (form-encoded, or JSON as google-auth's `use_json`)."""
        try:
            text = body.decode("utf-8")
            if headers.get("content-type", "").startswith("application/json"):
                form = {str(k): str(v) for k, v in json.loads(text).items()}
            else:
                form = dict(urllib.parse.parse_qsl(text, keep_blank_values=True))
        except (ValueError, AttributeError):
            return _oauth_error("invalid_request", "Could not parse the token request.")
        grant_type = form.get("grant_type", "")
        if grant_type != JWT_BEARER:
            return _oauth_error("unsupported_grant_type", f"Invalid grant_type: {grant_type}")
        issuer = _issuer(form.get("assertion", ""))
        if issuer is None:
            return _oauth_error("invalid_grant", "Invalid JWT: Token must be a short-lived token")
        token = f"sim-{secrets.token_urlsafe(32)}"
        with self._lock:
            expiry = self._clock() + TOKEN_LIFETIME_S
            self._issued[_digest(token)] = (key_hash(issuer), expiry)
        body_out = {"access_token": token, "expires_in": TOKEN_LIFETIME_S, "token_type": "Bearer"}
        return Reply(200, body_out, {"cache-control": "no-store"})

    def owner(self, token: str, now: float) -> str | None:
        """The issuer's key hash for a live token this store issued, else None."""
        with self._lock:
            found = self._issued.get(_digest(token))
        if found is None or found[1] <= now:
            return None
        return found[0]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _issuer(assertion: str) -> str | None:
    """The `iss` claim of a three-part JWT, unverified; None if it is not one."""
    parts = assertion.split(".")
    if len(parts) != 3 or not all(parts):
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        return None
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    return issuer if isinstance(issuer, str) and issuer else None


def _oauth_error(error: str, description: str) -> Reply:
    """RFC 6749 §5.2 error body; google-auth raises RefreshError with it."""
    return Reply(400, {"error": error, "error_description": description})
