"""Waylay authentication: the token endpoint, JWT issuing and the credential check of every API route."""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import threading
import time
import uuid
from typing import TYPE_CHECKING, Annotated, Any

import jwt
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from ..http import json_body
from ..service import ApiError, unbound

if TYPE_CHECKING:
    from ..app import SimulatorConfig
    from . import WaylayState

#: API key accepted by the simulator (24 hex characters, like a real Waylay key).
SIM_API_KEY = "5ca1ab1e0ddba11c0ffee000"
#: API secret accepted by the simulator (base64 of 24 bytes).
SIM_API_SECRET = "c2ltdWxhdG9yLXNlY3JldC0wMTIzNDU2"
TOKEN_DOMAIN = "simulator.local"


class WaylayError(ApiError):
    """An error of a Waylay API, answered as Waylay's ``ErrorResponse`` (``statusCode``, ``error``)."""


class TokenIssuer:
    """Issues HS256 JWTs and checks them; revoking rotates the signing key."""

    def __init__(self, tenant: str, subject: str) -> None:
        self.tenant = tenant
        self.subject = subject
        self._key = secrets.token_bytes(32)
        self._valid: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self, ttl: float) -> str:
        """A fresh token valid for ``ttl`` seconds."""
        now = time.time()
        claims = {
            "tenant": self.tenant,
            "sub": self.subject,
            "domain": TOKEN_DOMAIN,
            "iat": int(now),
            "exp": int(now + ttl),
            "jti": uuid.uuid4().hex,
        }
        with self._lock:
            return jwt.encode(claims, self._key, algorithm="HS256")

    def revoke_all(self) -> None:
        """Invalidate every token issued so far."""
        with self._lock:
            self._key = secrets.token_bytes(32)
            self._valid.clear()

    def check(self, token: str) -> str | None:
        """Return why ``token`` is refused, or ``None`` when it is valid."""
        with self._lock:
            exp = self._valid.get(token)
            if exp is None:
                try:
                    claims = jwt.decode(
                        token, self._key, algorithms=["HS256"], options={"require": ["exp", "sub"]}
                    )
                except jwt.ExpiredSignatureError:
                    return "Token expired"
                except jwt.InvalidTokenError:
                    return "Invalid token"
                if len(self._valid) > 10_000:
                    self._valid.clear()
                exp = self._valid[token] = float(claims["exp"])
            return None if time.time() < exp else "Token expired"


def valid_credentials(config: SimulatorConfig, key: object, secret: object) -> bool:
    """Compare an API key and secret with the configured ones (constant time)."""
    if not isinstance(key, str) or not isinstance(secret, str):
        return False
    return hmac.compare_digest(key.encode(), config.api_key.encode()) & hmac.compare_digest(
        secret.encode(), config.api_secret.encode()
    )


def authenticate(config: SimulatorConfig, tokens: TokenIssuer, header: str | None) -> str | None:
    """Return why an ``Authorization`` header (Bearer JWT or Basic key:secret) is refused, or ``None``."""
    if not header:
        return "Missing Authorization header"
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return tokens.check(value.strip())
    if scheme.lower() == "basic":
        try:
            key, _, secret = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return "Malformed basic credentials"
        return None if valid_credentials(config, key, secret) else "Invalid API key or secret"
    return "Unsupported authorization scheme"


def waylay_state() -> WaylayState:
    """Route dependency: the Waylay tenant of this application (bound by the application)."""
    return unbound()  # type: ignore[no-any-return]


if TYPE_CHECKING:
    Tenant = Annotated[WaylayState, Depends(waylay_state)]
else:
    # FastAPI resolves route annotations in the route's own module, where WaylayState is not
    # imported; older FastAPI releases then ignore the dependency, so keep the runtime type plain.
    Tenant = Annotated[Any, Depends(waylay_state)]


def authorized(request: Request, waylay: Tenant) -> WaylayState:
    """Route dependency: the Waylay state, once the request's credentials are accepted (else 401)."""
    denied = waylay.authenticate(request.headers.get("authorization"))
    if denied:
        raise WaylayError(401, denied)
    return waylay


if TYPE_CHECKING:
    Authorized = Annotated[WaylayState, Depends(authorized)]
else:
    Authorized = Annotated[Any, Depends(authorized)]

router = APIRouter()


@router.post("/accounts/v1/tokens")
async def issue_token(request: Request, waylay: Tenant) -> Response:
    """Exchange an API key and secret for a JWT (client credentials grant)."""
    if request.query_params.get("grant_type") != "client_credentials":
        raise WaylayError(401, "Unsupported grant_type, expected client_credentials")
    body = await json_body(request)
    if not isinstance(body, dict):
        raise WaylayError(401, "Expected a JSON body with clientId and clientSecret")
    if not waylay.valid_credentials(body.get("clientId"), body.get("clientSecret")):
        raise WaylayError(401, "Invalid client credentials")
    return JSONResponse({"token": waylay.tokens.issue(waylay.config.token_ttl)})
