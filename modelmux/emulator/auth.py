"""Google OAuth for the emulator: a service-account key, the JWT-bearer grant, access tokens.

The emulator writes a real service-account JSON key whose `token_uri` points back at itself, so
google-auth's unmodified flow (wire-formats.md C.1) runs end to end: sign a JWT with the key,
POST it to `/token`, get an opaque bearer token with a lifetime.
"""

from __future__ import annotations

import functools
import hashlib
import os
import secrets
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import exceptions as google_exceptions
from google.auth import jwt as google_jwt

__all__ = ["GrantRefused", "ServiceAccountKey", "TokenStore"]

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
EMULATOR_PROJECT = "modelmux-emulator"
EMULATOR_EMAIL = f"modelmux-emulator@{EMULATOR_PROJECT}.iam.gserviceaccount.com"
_SHORT_LIVED = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
    "Check your iat and exp values in the JWT claim."
)


class GrantRefused(Exception):
    """The token endpoint's refusal: OAuth error code, description, HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


@functools.cache
def _process_key() -> rsa.RSAPrivateKey:
    # RSA generation costs ~0.1 s; one key per process keeps test start-ups fast.
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class ServiceAccountKey:
    """The emulator's service account: private key (for the JSON file) and public key (to verify)."""

    private_key: rsa.RSAPrivateKey = field(default_factory=_process_key)
    client_email: str = EMULATOR_EMAIL
    project_id: str = EMULATOR_PROJECT

    @property
    def private_pem(self) -> str:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    @functools.cached_property
    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def key_id(self) -> str:
        return hashlib.sha1(self.public_pem).hexdigest()

    @classmethod
    def load_if_emulator(cls, path: str) -> ServiceAccountKey | None:
        """Reuse a key file this emulator wrote earlier (so a restart keeps clients' keys valid)."""
        try:
            with open(path, "rb") as fh:
                info = orjson.loads(fh.read())
            if info.get("client_email") != EMULATOR_EMAIL:
                return None
            key = serialization.load_pem_private_key(info["private_key"].encode(), None)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        if not isinstance(key, rsa.RSAPrivateKey):
            return None
        return cls(private_key=key)

    def info(self, token_uri: str) -> dict[str, Any]:
        """The service-account JSON, in the layout `gcloud iam service-accounts keys create` writes."""
        return {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": self.key_id,
            "private_key": self.private_pem,
            "client_email": self.client_email,
            "client_id": str(int(self.key_id[:16], 16)),
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": (
                "https://www.googleapis.com/robot/v1/metadata/x509/"
                + self.client_email.replace("@", "%40")
            ),
            "universe_domain": "googleapis.com",
        }

    def write(self, path: str, token_uri: str) -> None:
        """Write the key file atomically with mode 0600 (it holds a private key)."""
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".sa-", dir=directory)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(orjson.dumps(self.info(token_uri), option=orjson.OPT_INDENT_2))
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise


class TokenStore:
    """Grants and checks opaque access tokens (`ya29.emu-…`) with a fixed lifetime."""

    def __init__(self, key: ServiceAccountKey, ttl_s: float, audiences: set[str]) -> None:
        self.key = key
        self.ttl_s = ttl_s
        self.audiences = audiences
        self._tokens: dict[str, float] = {}

    def grant(self, form: dict[str, str]) -> dict[str, Any]:
        """Check a JWT-bearer grant form; return the token response or raise GrantRefused."""
        grant_type = form.get("grant_type")
        if grant_type != JWT_BEARER:
            raise GrantRefused("unsupported_grant_type", f"Invalid grant_type: {grant_type}")
        assertion = form.get("assertion")
        if not assertion:
            raise GrantRefused("invalid_request", "Missing required parameter: assertion")
        claims = self._verify(assertion)
        if claims.get("iss") != self.key.client_email:
            raise GrantRefused("invalid_grant", "Invalid grant: account not found")
        if claims.get("aud") not in self.audiences:
            raise GrantRefused(
                "invalid_grant",
                "Invalid JWT: Failed audience check. The expected value is "
                f"{GOOGLE_TOKEN_AUDIENCE}",
            )
        if claims["exp"] - claims["iat"] > 3600:
            raise GrantRefused("invalid_grant", _SHORT_LIVED)
        scopes = str(claims.get("scope") or "").split()
        if CLOUD_PLATFORM_SCOPE not in scopes:
            raise GrantRefused(
                "invalid_scope", "Invalid OAuth scope or ID token audience provided."
            )
        token = "ya29.emu-" + secrets.token_urlsafe(32)
        now = time.monotonic()
        # Expired tokens are kept an hour so they answer ACCESS_TOKEN_EXPIRED, not "unknown".
        self._tokens = {t: exp for t, exp in self._tokens.items() if exp > now - 3600}
        self._tokens[token] = now + self.ttl_s
        return {
            "access_token": token,
            "expires_in": max(1, round(self.ttl_s)),
            "token_type": "Bearer",
        }

    def _verify(self, assertion: str) -> dict[str, Any]:
        try:
            claims = google_jwt.decode(
                assertion, certs=self.key.public_pem, verify=True, clock_skew_in_seconds=10
            )
        except (ValueError, google_exceptions.GoogleAuthError) as exc:
            text = str(exc)
            if "signature" in text:
                raise GrantRefused("invalid_grant", "Invalid JWT Signature.") from None
            if "Token expired" in text or "too early" in text:
                raise GrantRefused("invalid_grant", _SHORT_LIVED) from None
            raise GrantRefused("invalid_grant", f"Invalid JWT: {text}") from None
        if not isinstance(claims, dict):
            raise GrantRefused("invalid_grant", "Invalid JWT: claims are not an object")
        return claims

    def check(self, token: str) -> str | None:
        """None if the token is valid, else the Google ErrorInfo reason."""
        expiry = self._tokens.get(token)
        if expiry is None:
            return "ACCESS_TOKEN_TYPE_UNSUPPORTED"
        if expiry <= time.monotonic():
            return "ACCESS_TOKEN_EXPIRED"
        return None

    def clear(self) -> None:
        self._tokens.clear()
