"""Optional authentication by the sidecar itself: API keys or HTTP basic users from the config.

Off unless `auth.api_keys` or `auth.users` is set. A caller proves itself with the `auth.api_key_header`
header (default `X-Api-Key`) or with `Authorization: Basic` for a configured user; on the sidecar's own
model-serving routes (`bearer_paths`: /rerank, /v1/rerank, which never go upstream) an API key may also come as
`Authorization: Bearer <key>`, as Cohere/Jina-style rerank clients send it. Secrets are compared in
constant time (`hmac.compare_digest`, always against every configured secret, so timing tells neither which
key nor whether a user exists). The sidecar's own credentials are removed from the request before anything
goes upstream: the cluster sees only what the caller meant for it (with basic users configured, the
`Authorization` header belongs to the sidecar; callers that need cluster credentials use API keys). Failures
answer 401 in OpenSearch's security format, with no hint of which part was wrong.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping

from flask import Flask, Response, g, request

from searchcore.errors import SearchError
from sidecar.services import services_of
from sidecar.settings import AuthSettings
from sidecar.window_cache import SIDECAR_CALLER_ENVIRON


class Unauthenticated(SearchError):
    status, error_type = 401, "security_exception"


class Authenticator:
    """Checks one request's credentials against the configured keys and users."""

    def __init__(self, settings: AuthSettings, bearer_paths: tuple[str, ...] = ()) -> None:
        self.settings = settings
        self.bearer_paths = frozenset(bearer_paths)
        # digests of equal length: compare_digest's time then depends on nothing the caller controls
        self._keys = [_digest(key) for key in settings.api_keys]
        self._users = [(_digest(name), _digest(password)) for name, password in settings.users]

    def exempt(self, path: str) -> bool:
        return path in self.settings.exempt_paths

    def check(self, headers: Mapping[str, str], path: str = "") -> str | None:
        """The caller's identity ("api-key", "bearer" or "user:<name>"), or None when it proved nothing."""
        key = headers.get(self.settings.api_key_header)
        if key is not None and self._keys and _any_equal(_digest(key), self._keys):
            return "api-key"
        token = _bearer(headers.get("Authorization")) if path in self.bearer_paths else None
        if token is not None and self._keys and _any_equal(_digest(token), self._keys):
            return "bearer"
        name, password = _basic(headers.get("Authorization"))
        if name is not None and self._users:
            wanted = (_digest(name), _digest(password or ""))
            matched = [hmac.compare_digest(wanted[0], n) & hmac.compare_digest(wanted[1], p) for n, p in self._users]
            if any(matched):
                return f"user:{name}"
        return None

    def consumed_headers(self, identity: str | None = None) -> tuple[str, ...]:
        """Headers that carry the sidecar's credentials, never forwarded."""
        return (self.settings.api_key_header,) + (("Authorization",) if self._users or identity == "bearer" else ())

    def challenge(self) -> Response:
        error = Unauthenticated("missing or invalid authentication credentials for REST request")
        response = Response(json.dumps(error.body()), status=401, content_type="application/json; charset=UTF-8")
        if self._users:
            response.headers["WWW-Authenticate"] = f'Basic realm="{self.settings.realm}"'
        return response


def register_auth(app: Flask, settings: AuthSettings, bearer_paths: tuple[str, ...] = ()) -> None:
    """A before-request check (after the request id and metrics start): 401 or on with the credentials removed."""
    authenticator = Authenticator(settings, bearer_paths)
    services_of(app).auth = authenticator

    @app.before_request
    def _authenticate() -> Response | None:
        if authenticator.exempt(request.path):
            return None
        identity = authenticator.check(request.headers, request.path)
        if identity is None:
            g.route = "unauthenticated"
            return authenticator.challenge()
        consumed = authenticator.consumed_headers(identity)
        # which credentials let the caller in, kept (as a digest) for the per-caller caches and async results
        proof = "\n".join(f"{name}={request.headers.get(name, '')}" for name in consumed)
        request.environ[SIDECAR_CALLER_ENVIRON] = hashlib.sha256(f"{identity}\n{proof}".encode()).hexdigest()
        for name in consumed:   # request.headers reads the environ: gone for the proxy too
            request.environ.pop("HTTP_" + name.upper().replace("-", "_"), None)
        return None


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).digest()


def _any_equal(given: bytes, secrets: list[bytes]) -> bool:
    found = False
    for secret in secrets:   # every one compared: the time does not say which matched
        found |= hmac.compare_digest(given, secret)
    return found


def _bearer(value: str | None) -> str | None:
    if not value or not value[:7].lower() == "bearer ":
        return None
    return value[7:].strip() or None


def _basic(value: str | None) -> tuple[str | None, str | None]:
    if not value or not value[:6].lower() == "basic ":
        return None, None
    try:
        decoded = base64.b64decode(value[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None, None
    name, sep, password = decoded.partition(":")
    return (name, password) if sep else (None, None)
