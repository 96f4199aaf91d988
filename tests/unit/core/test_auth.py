"""Request authentication and the process-wide token cache (core/auth.py)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from airflow_provider_batchops.core.auth import (
    StaticAuth,
    Token,
    TokenAuth,
    TokenCache,
    credential_key,
)
from tests.support.fake_service import WidgetApi, WidgetHook, job


class Issuer:
    """Hands out numbered tokens, sync and async, valid for ``lifetime`` seconds."""

    def __init__(self, lifetime: float | None = 3600) -> None:
        self.lifetime = lifetime
        self.issued = 0

    def fetch(self) -> Token:
        self.issued += 1
        now = time.time()
        return Token(f"tok-{self.issued}", None if self.lifetime is None else now + self.lifetime, now)

    async def afetch(self) -> Token:
        await asyncio.sleep(0.01)  # concurrent callers overlap here
        return self.fetch()


def test_one_token_serves_every_caller_until_it_nears_expiry(monkeypatch):
    cache, issuer, now = TokenCache(), Issuer(lifetime=1000), [10_000.0]
    monkeypatch.setattr(time, "time", lambda: now[0])
    assert {cache.get("k", issuer.fetch).value for _ in range(20)} == {"tok-1"}
    now[0] += 1000 - 61  # a 60 s margin (10% of a long lifetime, at most 60 s) before expiry
    assert cache.get("k", issuer.fetch).value == "tok-1"
    now[0] += 2
    assert cache.get("k", issuer.fetch).value == "tok-2"
    assert issuer.issued == 2 and cache.fetches == 2


def test_a_short_lived_token_is_replaced_at_ninety_percent_of_its_life():
    token = Token("t", expires_at=1100.0, issued_at=1000.0)
    assert token.usable(1089.0) and not token.usable(1090.0)
    assert Token("t").usable(1e12)  # no expiry known: usable until a 401


def test_credentials_have_their_own_tokens_and_keys_hide_the_secret():
    cache, issuer = TokenCache(), Issuer()
    a, b = credential_key("gw", "key", "secret-1"), credential_key("gw", "key", "secret-2")
    assert a != b and "secret-1" not in a
    assert cache.get(a, issuer.fetch).value != cache.get(b, issuer.fetch).value


def test_threads_asking_at_once_cause_one_fetch():
    cache = TokenCache()
    issuer = Issuer()
    slow_fetches = []

    def slow_fetch() -> Token:
        slow_fetches.append(1)
        time.sleep(0.05)
        return issuer.fetch()

    threads = [threading.Thread(target=cache.get, args=("k", slow_fetch)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(slow_fetches) == 1


async def test_tasks_asking_at_once_on_a_loop_cause_one_fetch():
    cache, issuer = TokenCache(), Issuer()
    tokens = await asyncio.gather(*(cache.aget("k", issuer.afetch) for _ in range(20)))
    assert {t.value for t in tokens} == {"tok-1"} and issuer.issued == 1


def test_invalidate_drops_only_the_token_that_failed():
    cache, issuer = TokenCache(), Issuer()
    cache.get("k", issuer.fetch)
    cache.invalidate("k", "tok-old")  # another caller refreshed it already: keep the fresh one
    assert cache.get("k", issuer.fetch).value == "tok-1"
    cache.invalidate("k", "tok-1")
    assert cache.get("k", issuer.fetch).value == "tok-2"


def test_token_auth_sends_the_bearer_and_a_401_asks_for_a_new_one():
    cache, issuer = TokenCache(), Issuer()
    auth = TokenAuth("k", issuer.fetch, issuer.afetch, cache)
    assert auth.ready_headers() is None  # nothing cached yet: the async client must await
    assert auth.headers() == {"Authorization": "Bearer tok-1"}
    assert auth.ready_headers() == {"Authorization": "Bearer tok-1"}
    assert auth.invalidate() is True
    assert auth.headers() == {"Authorization": "Bearer tok-2"}


async def test_token_auth_async_headers_come_from_the_same_cache():
    cache, issuer = TokenCache(), Issuer()
    auth = TokenAuth("k", issuer.fetch, issuer.afetch, cache)
    first = await auth.aheaders()
    assert first == {"Authorization": "Bearer tok-1"} and auth.headers() == first and issuer.issued == 1


def test_static_auth_is_ready_and_cannot_be_refreshed():
    auth = StaticAuth({"X-Key": "k"})
    assert auth.headers() == auth.ready_headers() == {"X-Key": "k"} and auth.invalidate() is False


def test_a_hook_sends_its_static_credential_on_every_read(requests_mock, monkeypatch):
    api = WidgetApi().script("w-1", job("w-1", "running")).mock(requests_mock, monkeypatch, key="k-123")
    hook = WidgetHook()
    for _ in range(3):
        hook.call(hook_call())
    assert [h.get("X-Widget-Key") for h in api.headers] == ["k-123"] * 3


def hook_call():
    from airflow_provider_batchops.core.http import Call

    return Call("GET", "/jobs/{id}", path_params={"id": "w-1"})


@pytest.mark.parametrize("password", [None, ""])
def test_a_hook_without_its_credential_names_the_field(requests_mock, monkeypatch, password):
    from airflow_provider_batchops.core.errors import ConnectionConfigError
    from tests.support.helpers import set_connection

    set_connection(monkeypatch, "widgets_default", conn_type="widgets", host="https://widgets.test/api",
                   password=password)
    with pytest.raises(ConnectionConfigError, match="'password'"):
        WidgetHook().call(hook_call())
    assert requests_mock.call_count == 0
