"""OAuth tokens for the TTLock cloud: login, proactive refresh, persistence.

Concurrent callers share one in-flight login or refresh (one lock, re-checked inside), so a
burst of HomeKit commands after expiry costs one refresh, not one each. Tokens are persisted
(0600, atomic) so a restart does not log in again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from hapbridge.storage import Storage
from hapbridge.ttlock.errors import AuthError, TTLockError
from hapbridge.ttlock.models import Token

_LOGGER = logging.getLogger(__name__)

TOKENS_FILE = "tokens.json"
_MD5_RE = re.compile(r"[0-9a-fA-F]{32}")

OAuthSender = Callable[[dict[str, str]], Awaitable[dict[str, Any]]]


def password_md5(password: str) -> str:
    """The md5 the cloud expects; a password given as 32 hex digits is taken as its md5."""
    if _MD5_RE.fullmatch(password):
        return password.lower()
    return hashlib.md5(password.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Credentials:
    client_id: str
    client_secret: str = field(repr=False)
    username: str
    password: str = field(repr=False)  # plain or md5

    @property
    def account_key(self) -> str:
        """Which account a stored token belongs to (no secret in it)."""
        return f"{self.client_id}|{self.username}"


class TokenManager:
    def __init__(
        self,
        credentials: Credentials,
        send: OAuthSender,
        *,
        storage: Storage | None = None,
        base_url: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._credentials = credentials
        self._send = send
        self._storage = storage
        self._key = f"{base_url}|{credentials.account_key}"
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token: Token | None = self._load()
        self.logins = 0
        self.refreshes = 0

    @property
    def uid(self) -> int | None:
        return self._token.uid if self._token else None

    def _load(self) -> Token | None:
        if self._storage is None:
            return None
        data = self._storage.read_json(TOKENS_FILE) or {}
        entry = data.get(self._key)
        if not entry:
            return None
        try:
            return Token.from_json(entry)
        except (KeyError, TypeError, ValueError):
            _LOGGER.warning("Ignoring an unreadable stored token; logging in again")
            return None

    def _save(self, token: Token) -> None:
        self._token = token
        if self._storage is None:
            return
        data = self._storage.read_json(TOKENS_FILE) or {}
        data[self._key] = token.to_json()
        self._storage.write_json(TOKENS_FILE, data)

    async def access_token(self) -> str:
        """A valid access token, logging in or refreshing first when needed."""
        token = self._token
        if token is not None and not token.refresh_due(self._clock()):
            return token.access_token
        async with self._lock:
            token = self._token
            if token is not None and not token.refresh_due(self._clock()):
                return token.access_token
            return (await self._renew(token)).access_token

    async def invalidate(self, stale_access_token: str) -> None:
        """The cloud refused ``stale_access_token``: renew unless another caller already did."""
        async with self._lock:
            token = self._token
            if token is not None and token.access_token != stale_access_token:
                return
            await self._renew(token)

    async def login(self) -> Token:
        async with self._lock:
            return await self._login()

    async def _renew(self, token: Token | None) -> Token:
        if token is not None:
            try:
                return await self._refresh(token)
            except AuthError:
                _LOGGER.info("TTLock refresh token refused; logging in again with the password")
        return await self._login()

    async def _login(self) -> Token:
        creds = self._credentials
        answer = await self._send(
            {
                "clientId": creds.client_id,
                "clientSecret": creds.client_secret,
                "username": creds.username,
                "password": password_md5(creds.password),
            }
        )
        token = self._token_from(answer, uid=None)
        self.logins += 1
        self._save(token)
        _LOGGER.info("Logged in to the TTLock cloud as %s", creds.username)
        return token

    async def _refresh(self, token: Token) -> Token:
        creds = self._credentials
        answer = await self._send(
            {
                "clientId": creds.client_id,
                "clientSecret": creds.client_secret,
                "grant_type": "refresh_token",
                "refresh_token": token.refresh_token,
            }
        )
        new = self._token_from(answer, uid=token.uid)
        self.refreshes += 1
        self._save(new)
        _LOGGER.debug("Refreshed the TTLock access token")
        return new

    def _token_from(self, answer: dict[str, Any], uid: int | None) -> Token:
        try:
            now = self._clock()
            return Token(
                access_token=str(answer["access_token"]),
                refresh_token=str(answer["refresh_token"]),
                uid=int(answer.get("uid") or uid or 0),
                expires_at=now + float(answer.get("expires_in") or 7_776_000),
                issued_at=now,
            )
        except (KeyError, TypeError, ValueError):
            raise TTLockError("the TTLock cloud answered the login without a token") from None
