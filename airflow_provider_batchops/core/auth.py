"""Request authentication and a process-wide token cache.

A token is fetched once per credential and shared by every hook and trigger of the process, sync or
async, until shortly before it expires; a 401 makes the next request fetch a new one.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from airflow_provider_batchops.core.secrets import amask, mask


class Auth:
    """How a request is authenticated. Subclasses return headers; they never log them."""

    def headers(self) -> dict[str, str]:
        return {}

    async def aheaders(self) -> dict[str, str]:
        return self.headers()

    def ready_headers(self) -> dict[str, str] | None:
        """The headers when they are at hand without waiting (fixed ones, a cached token), else ``None``
        (then ``await aheaders()``); what the async client asks first on every request."""
        return None

    def invalidate(self) -> bool:
        """Forget the current credential after a 401; True if a fresh one can be obtained."""
        return False


class StaticAuth(Auth):
    """Fixed headers, e.g. HTTP basic or a pre-issued bearer token.

    Airflow already masks a connection's password and its sensitive extras (``token``, ...) when the
    connection is read, so the values need no further registration here.
    """

    def __init__(self, headers: dict[str, str]) -> None:
        self._headers = headers

    def headers(self) -> dict[str, str]:
        return self._headers

    def ready_headers(self) -> dict[str, str] | None:
        return self._headers


@dataclass(frozen=True)
class Token:
    """A bearer token and when it stops being valid (wall clock, seconds; ``None`` = unknown)."""

    value: str
    expires_at: float | None = None
    issued_at: float = 0.0

    def usable(self, now: float) -> bool:
        if self.expires_at is None:
            return True
        lifetime = self.expires_at - (self.issued_at or now)
        margin = min(60.0, max(lifetime, 0.0) * 0.1)
        return now < self.expires_at - margin


def credential_key(*parts: str) -> str:
    """A cache key for a credential that does not keep the secret itself in memory as a key."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


class TokenCache:
    """Tokens by credential, shared by threads and event loops of one process."""

    def __init__(self) -> None:
        self._tokens: dict[str, Token] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._async_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
            weakref.WeakKeyDictionary()
        )
        self.fetches = 0  # how many tokens were requested, for tests and benchmarks

    def _usable(self, key: str) -> Token | None:
        token = self._tokens.get(key)
        return token if token is not None and token.usable(time.time()) else None

    def _store(self, key: str, token: Token) -> Token:
        self.fetches += 1
        self._tokens[key] = token
        return token

    def get(self, key: str, fetch: Callable[[], Token]) -> Token:
        token = self._usable(key)
        if token is not None:
            return token
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            token = self._usable(key)
            if token is None:
                token = fetch()
                mask(token.value)
                self._store(key, token)
            return token

    async def aget(self, key: str, fetch: Callable[[], Awaitable[Token]]) -> Token:
        token = self._usable(key)
        if token is not None:
            return token
        locks = self._async_locks.setdefault(asyncio.get_running_loop(), {})
        lock = locks.setdefault(key, asyncio.Lock())
        async with lock:
            token = self._usable(key)
            if token is None:
                token = await fetch()
                await amask(token.value)
                self._store(key, token)
            return token

    def invalidate(self, key: str, value: str | None) -> None:
        """Drop the token if it is still ``value`` (another caller may have refreshed it already)."""
        token = self._tokens.get(key)
        if token is not None and (value is None or token.value == value):
            del self._tokens[key]

    def clear(self) -> None:
        self._tokens.clear()
        self.fetches = 0


#: The process-wide cache every hook and trigger shares.
TOKEN_CACHE = TokenCache()


class TokenAuth(Auth):
    """Bearer auth with a token obtained by ``fetch``/``afetch`` and kept in :data:`TOKEN_CACHE`.

    :param key: the credential's cache key (see :func:`credential_key`).
    :param fetch: obtains a token synchronously.
    :param afetch: obtains a token on the event loop.
    """

    def __init__(
        self,
        key: str,
        fetch: Callable[[], Token],
        afetch: Callable[[], Awaitable[Token]],
        cache: TokenCache = TOKEN_CACHE,
    ) -> None:
        self.key, self._fetch, self._afetch, self.cache = key, fetch, afetch, cache
        self._last: str | None = None
        self._header: tuple[str, dict[str, str]] | None = None

    def headers(self) -> dict[str, str]:
        self._last = self.cache.get(self.key, self._fetch).value
        return {"Authorization": f"Bearer {self._last}"}

    async def aheaders(self) -> dict[str, str]:
        return self._header_of((await self.cache.aget(self.key, self._afetch)).value)

    def ready_headers(self) -> dict[str, str] | None:
        token = self.cache._tokens.get(self.key)  # TokenCache._usable, inline: asked on every poll
        if token is None or not token.usable(time.time()):
            return None
        return self._header_of(token.value)

    def _header_of(self, value: str) -> dict[str, str]:
        """The header of a token: the same dict (not to be changed) while the token stays."""
        self._last = value
        header = self._header
        if header is None or header[0] != value:
            header = self._header = (value, {"Authorization": f"Bearer {value}"})
        return header[1]

    def invalidate(self) -> bool:
        self.cache.invalidate(self.key, self._last)
        return True
