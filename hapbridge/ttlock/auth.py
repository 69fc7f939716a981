"""OAuth tokens for the TTLock cloud: login, proactive refresh, persistence.

Concurrent callers share one in-flight renewal (login or refresh) and its *outcome*: a burst
of HomeKit commands after expiry costs one refresh, and a wrong password costs one login
attempt, not one per waiting caller (the account may lock itself after a few).

OAuth exchanges are single attempts: retrying is the job of the API call that needed the
token (``TTLockClient.call``), so one call never makes more than 1 + maximumApiRetry
attempts in total.

Tokens are persisted (0600, atomic) so a restart does not log in again, and re-read before
every renewal: the bridge and CLI commands share ``tokens.json``, and a refresh by one
retires the other's refresh token (single use), so the other must adopt the new one instead
of falling back to a password login.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from hapbridge.errors import HapbridgeError
from hapbridge.storage import Storage
from hapbridge.ttlock.errors import TTLockError
from hapbridge.ttlock.models import Token

_LOGGER = logging.getLogger(__name__)

TOKENS_FILE = "tokens.json"
# Held across a whole renewal (re-read, refresh or login, save), so that the bridge and a
# CLI command never both spend the single-use refresh token: the second one waits, then
# adopts the first one's token. Bounded: a hung holder only costs that process a login.
RENEWAL_LOCK = "tokens.json.renewal"
RENEWAL_LOCK_TIMEOUT = 30.0
_MD5_RE = re.compile(r"[0-9a-fA-F]{32}")
# After a transient failure of a proactive refresh, keep the still-valid token this long
# before trying again, instead of adding a failing refresh to every call.
REFRESH_RETRY_SECONDS = 300.0

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
        self._renewal: asyncio.Task[Token] | None = None
        # An access token taken from tokens.json (another process renewed) that no answer
        # has vouched for yet: the cloud may have forgotten it too (a restart, a revocation)
        self._adopted: str | None = None
        self._refresh_not_before = 0.0
        self._token: Token | None = self._stored()
        self.logins = 0
        self.refreshes = 0

    @property
    def uid(self) -> int | None:
        return self._token.uid if self._token else None

    # -- persistence --------------------------------------------------------------------

    def _read_all(self) -> dict[str, Any]:
        """Every account's tokens; an unreadable or wrong-shaped file counts as empty."""
        if self._storage is None:
            return {}
        try:
            data = self._storage.read_json(TOKENS_FILE)
        except HapbridgeError as err:
            _LOGGER.warning("%s; logging in to TTLock again", err)
            return {}
        if data is None:
            return {}
        if not isinstance(data, dict):
            _LOGGER.warning("%s has an unexpected shape; logging in to TTLock again",
                            self._storage.path(TOKENS_FILE))
            return {}
        return data

    def _stored(self) -> Token | None:
        entry = self._read_all().get(self._key)
        if entry is None:
            return None
        try:
            return Token.from_json(entry)
        except (KeyError, TypeError, ValueError, AttributeError):
            _LOGGER.warning("Ignoring an unreadable stored token; logging in again")
            return None

    def _save(self, token: Token) -> None:
        """Keep ``token``; failing to persist it costs a login at the next start, no more."""
        self._token = token
        self._adopted = None
        if self._storage is None:
            return
        try:
            with self._storage.locked(TOKENS_FILE):  # other accounts' entries survive
                data = self._read_all()
                data[self._key] = token.to_json()
                self._storage.write_json(TOKENS_FILE, data)
        except HapbridgeError as err:
            _LOGGER.warning("TTLock token not saved: %s", err)

    # -- getting a token ----------------------------------------------------------------

    def _needs_renewal(self, token: Token | None, now: float) -> bool:
        if token is None or token.expired(now):
            return True
        return token.refresh_due(now) and now >= self._refresh_not_before

    async def access_token(self) -> str:
        """A valid access token, logging in or refreshing first when needed."""
        token = self._token
        if not self._needs_renewal(token, self._clock()):
            assert token is not None
            return token.access_token
        return (await self._shared(lambda: self._renew(token, refused=False))).access_token

    def adopted(self, access_token: str) -> bool:
        """Whether ``access_token`` is one another process stored, unproven here: refused,
        it is worth a renewal of our own rather than failing the call."""
        return access_token == self._adopted

    async def invalidate(self, stale_access_token: str) -> None:
        """The cloud refused ``stale_access_token``: renew unless another caller already did.

        The renewal first adopts a newer token another process stored (a refresh there
        retired ours); if the cloud refuses that one as well, the next ``invalidate`` of it
        refreshes or logs in for ourselves (it is in storage already: nothing to adopt)."""
        token = self._token
        if token is not None and token.access_token != stale_access_token:
            return
        renewed = await self._shared(lambda: self._renew(token, refused=True))
        if renewed.access_token == stale_access_token:
            # We joined a proactive renewal that kept the token after a transient failure;
            # the cloud has refused that token, so renew for ourselves.
            await self._shared(lambda: self._renew(renewed, refused=True))

    async def login(self) -> Token:
        """A password login (or the outcome of the renewal already in flight)."""
        return await self._shared(self._login)

    def close(self) -> None:
        """Stop a renewal nobody will wait for (the client is closing)."""
        if self._renewal is not None:
            self._renewal.cancel()

    def _shared(self, start: Callable[[], Awaitable[Token]]) -> Awaitable[Token]:
        """Join the renewal in flight, or start one; every waiter gets its result or error.

        Shielded, so a caller that is cancelled does not cancel the renewal for the others.
        """
        if self._renewal is None:
            task = asyncio.ensure_future(start())
            task.add_done_callback(self._renewal_done)
            self._renewal = task
        return asyncio.shield(self._renewal)

    def _renewal_done(self, task: asyncio.Task[Token]) -> None:
        if self._renewal is task:
            self._renewal = None
        if not task.cancelled():
            task.exception()  # retrieved even if every waiter was cancelled

    async def _renew(self, token: Token | None, *, refused: bool) -> Token:
        async with self._renewal_lock():
            return await self._renew_locked(token, refused=refused)

    @contextlib.asynccontextmanager
    async def _renewal_lock(self) -> AsyncIterator[None]:
        """The cross-process renewal lock, taken in a thread (flock blocks)."""
        if self._storage is None:
            yield
            return
        held = self._storage.locked(RENEWAL_LOCK, timeout=RENEWAL_LOCK_TIMEOUT)
        taking = asyncio.ensure_future(asyncio.to_thread(held.__enter__))
        try:
            await asyncio.shield(taking)
        except asyncio.CancelledError:
            # The thread cannot be stopped: release the lock whenever it gets it.
            taking.add_done_callback(
                lambda done: done.cancelled() or done.exception() is not None
                or held.__exit__(None, None, None))
            raise
        except HapbridgeError as err:  # the lock file cannot be made: renew without it
            _LOGGER.debug("renewing without the cross-process lock: %s", err)
            yield
            return
        try:
            yield
        finally:
            held.__exit__(None, None, None)

    async def _renew_locked(self, token: Token | None, *, refused: bool) -> Token:
        """Adopt another process's newer token, else refresh, else log in.

        ``refused``: the cloud rejected ``token``, so it cannot be kept on a transient
        refresh failure; a merely due token can (it still works until it expires).
        """
        now = self._clock()
        stored = self._stored()
        if stored is not None and (
            token is None
            or (stored.access_token != token.access_token and stored.issued_at > token.issued_at)
        ):
            self._token = token = stored
            self._adopted = stored.access_token
            if not token.refresh_due(now):
                _LOGGER.debug("Using the TTLock token another process renewed")
                return token
        if token is not None:
            try:
                return await self._refresh(token)
            except TTLockError as err:
                if not err.retryable:
                    _LOGGER.info("TTLock token refresh failed (%s); logging in again with "
                                 "the password", err)
                elif refused or token.expired(now):
                    if refused:
                        # Never hand the refused token out again: the caller's retry (the
                        # outage may be over by then) must renew, not send it once more.
                        self._token = replace(token, expires_at=0.0)
                    raise
                else:
                    self._refresh_not_before = now + REFRESH_RETRY_SECONDS
                    _LOGGER.warning("TTLock token refresh failed (%s); the current token "
                                    "stays valid, trying again later", err)
                    return token
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
        await asyncio.to_thread(self._save, token)  # flock + fsync: not on the event loop
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
        self._refresh_not_before = 0.0
        await asyncio.to_thread(self._save, new)
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
