"""The async TTLock cloud client: typed calls over one shared httpx.AsyncClient.

Every call gets a fresh ``date``, the shared token, retries for busy/5xx/timeouts with
backoff, one refresh-and-retry on a refused token (plus one try of a token another process
stored, which the cloud may have forgotten as well), and a count in the usage counter.

One call makes at most 1 + ``RetryPolicy.max_retries`` attempts, each attempt being "get a
token (logging in if needed), then send": OAuth exchanges are not retried on their own.
Commands that are not idempotent (passcode add/get/change/delete) are retried only when
the cloud certainly did not carry them out (a busy answer, no connection, or a failure
before sending): after a timeout or 5xx the code may exist, and sending again would create
a second one or report a duplicate. A passcode add looks the code up then: found, it is
done; confirmed absent, it is sent again within the same retry budget.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self, TypeVar

import httpx

from hapbridge.redact import install_log_redaction
from hapbridge.storage import Storage
from hapbridge.ttlock.access_calls import AccessCalls
from hapbridge.ttlock.answers import GATEWAY_TYPE, answer_of
from hapbridge.ttlock.auth import Credentials, TokenManager
from hapbridge.ttlock.errors import AuthError, TTLockError, UnknownError
from hapbridge.ttlock.models import (
    DoorSensor,
    Gateway,
    GatewayLock,
    GeneratedPasscode,
    Lock,
    LockDetail,
    LockGateway,
    LockListing,
    LockRecord,
    LockState,
    Passcode,
    PasscodeType,
    to_ms,
)
from hapbridge.ttlock.retry import RetryPolicy
from hapbridge.ttlock.settings_calls import SettingsCalls
from hapbridge.ttlock.transport import OAUTH_PATH, bad_url_error, exchange
from hapbridge.ttlock.usage import UsageCounter

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")

LOCK_PAGE_SIZE = 1000
GATEWAY_PAGE_SIZE = 200
PASSCODE_PAGE_SIZE = 200
RECORD_PAGE_SIZE = 200
GATEWAY_ORDER_BY = 0  # by name: gateway/list requires orderBy
DEFAULT_TIMEOUT = httpx.Timeout(20.0, connect=10.0)
# A server that ignores pageNo or reports absurd page counts must not keep us paging:
# 500 pages is 100,000 records or 500,000 locks, far beyond any real account.
MAX_PAGES = 500
ADD_PATH = "/v3/keyboardPwd/add"
# Refused tokens one call survives: its own, then one adopted from another process that the
# cloud had forgotten too (the renewal after that is ours, and final).
MAX_REFUSALS = 2

# Asked after a non-idempotent command's answer was lost: the answer it would have had if
# it ran, None if it certainly did not; raises a TTLockError when it cannot tell.
Confirm = Callable[[], Awaitable[dict[str, Any] | None]]


@dataclass
class _Attempt:
    """Whether the current attempt has sent the command (so it may have run)."""

    sent: bool = False


class TTLockClient(SettingsCalls, AccessCalls):
    """The TTLock Open Platform API, as the bridge and the CLI need it.

    Lock settings (passage mode, auto-lock, the cloud's call count) and the access
    commands (eKeys, QR codes, fingerprints, cards) live in their own modules."""

    def __init__(
        self,
        credentials: Credentials,
        base_url: str,
        *,
        storage: Storage | None = None,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        usage: UsageCounter | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``transport`` replaces httpx's network transport (tests, proxies)."""
        install_log_redaction()
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.usage = usage or UsageCounter(storage)
        self._credentials = credentials
        self._clock = clock
        self._rng = rng or random.Random()
        try:
            self._http = httpx.AsyncClient(
                base_url=self.base_url,
                timeout=timeout,
                limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
                headers={"User-Agent": "hapbridge"},
                transport=transport,
            )
        except (httpx.InvalidURL, ValueError) as err:
            raise bad_url_error(self.base_url, err) from None
        self.tokens = TokenManager(
            credentials, self._oauth, storage=storage, base_url=self.base_url, clock=clock
        )

    def __repr__(self) -> str:
        return f"TTLockClient(base_url={self.base_url!r}, user={self._credentials.username!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Save the usage counts, then close the connections (even if saving fails)."""
        try:
            self.tokens.close()
            await self.usage.aclose()
        finally:
            await self._http.aclose()

    # -- plumbing ---------------------------------------------------------------------

    async def _oauth(self, form: dict[str, str]) -> dict[str, Any]:
        """One OAuth exchange, deliberately without retries (see the module docstring)."""
        return await self._send("POST", OAUTH_PATH, form)

    async def _send(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        """One exchange, counted only if it got to the server: the count is held against
        the API call limit, which a refused connection does not touch."""
        _LOGGER.debug("TTLock %s %s", method, path)
        try:
            answer = await exchange(self._http, method, path, params)
        except TTLockError as err:
            if err.reached_server:
                self.usage.record(path)
            raise
        self.usage.record(path)
        return answer

    async def _with_retries(
        self,
        path: str,
        attempt: Callable[[], Awaitable[T]],
        may_retry: Callable[[TTLockError], bool],
        max_retries: int | None = None,
    ) -> T:
        limit = self.retry.max_retries if max_retries is None else max_retries
        retries = 0
        while True:
            try:
                return await attempt()
            except TTLockError as err:
                if not may_retry(err) or retries >= limit:
                    raise
                delay = self.retry.delay(retries, self._rng)
                retries += 1
                _LOGGER.info(
                    "%s: %s; retry %d/%d in %.1fs",
                    path, err, retries, limit, delay,
                )
                await asyncio.sleep(delay)

    async def call(
        self, method: str, path: str, *, idempotent: bool = True, retries: int | None = None,
        confirm: Confirm | None = None, **params: Any,
    ) -> dict[str, Any]:
        """One authenticated API call with retries; ``None`` parameters are left out.

        ``idempotent=False``: retry only failures after which the command certainly did not
        run (see the module docstring); the ambiguous ones are raised to the caller, unless
        ``confirm`` settles them (see :func:`_settle`).
        ``retries`` overrides ``maximumApiRetry`` (a poll that will be repeated anyway).
        """
        clean = {k: v for k, v in params.items() if v is not None}
        refusals = 0
        state = _Attempt()

        async def attempt() -> dict[str, Any]:
            nonlocal refusals
            while True:
                state.sent = False
                token = await self.tokens.access_token()
                form = {
                    "clientId": self._credentials.client_id,
                    "accessToken": token,
                    "date": int(self._clock() * 1000),
                    **clean,
                }
                state.sent = True
                try:
                    return await self._send(method, path, form)
                except AuthError:  # refused before running: a new token, then once more
                    # One renewal per call; a token adopted from another process (which
                    # the cloud may have forgotten as well) is one extra try, not a renewal.
                    refusals += 1
                    if refusals > MAX_REFUSALS or (refusals > 1
                                                   and not self.tokens.adopted(token)):
                        raise
                    state.sent = False
                    await self.tokens.invalidate(token)
                except TTLockError as err:
                    if confirm is None or not err.retryable or err.not_executed:
                        raise
                    return await _settle(err, confirm)

        def may_retry(err: TTLockError) -> bool:
            return err.retryable and (idempotent or not state.sent or err.not_executed)

        return await self._with_retries(path, attempt, may_retry, retries)

    async def _pages(
        self,
        path: str,
        page_size: int,
        id_key: str,
        limit: int | None = None,
        retries: int | None = None,
        **params: Any,
    ) -> list[dict[str, Any]]:
        """Every item of a paged list (``pageNo`` from 1), up to ``limit`` items.

        Items are de-duplicated by ``id_key``: in a newest-first list, items arriving
        between two page requests push already-seen ones onto the next page. Paging stops at
        the answer's ``pages``/``total``, on a page with nothing new (a server ignoring
        ``pageNo``), or after MAX_PAGES.
        """
        items: list[dict[str, Any]] = []
        seen: set[object] = set()
        for page in range(1, MAX_PAGES + 1):
            answer = await self.call("GET", path, retries=retries, pageNo=page,
                                     pageSize=page_size, **params)
            with answer_of(path):
                batch = [item for item in answer.get("list") or [] if isinstance(item, dict)]
                pages = int(answer.get("pages") or 0)
                total = int(answer.get("total") or 0)
            fresh = [item for item in batch if not _seen_before(item.get(id_key), seen)]
            items.extend(fresh)
            if limit is not None and len(items) >= limit:
                return items[:limit]
            if not fresh or page >= pages or (total and len(items) >= total):
                return items
        _LOGGER.warning("%s: stopped after %d pages (%d items)", path, MAX_PAGES, len(items))
        return items

    # -- locks ------------------------------------------------------------------------

    async def lock_listing(
        self, *, alias: str | None = None, retries: int | None = None
    ) -> LockListing:
        """All locks of the account (one call per 1,000 locks); bad items skipped and logged.
        ``retries`` overrides maximumApiRetry (a probe of the cloud wants a quick verdict)."""
        items = await self._pages("/v3/lock/list", LOCK_PAGE_SIZE, "lockId", lockAlias=alias,
                                  retries=retries)
        listing = LockListing.from_items(items)
        for problem in listing.problems:
            _LOGGER.warning("%s: skipped", problem)
        return listing

    async def list_locks(self, *, alias: str | None = None) -> list[Lock]:
        """All readable locks of the account."""
        return (await self.lock_listing(alias=alias)).locks

    async def lock_detail(self, lock_id: int) -> LockDetail:
        answer = await self.call("GET", "/v3/lock/detail", lockId=lock_id)
        with answer_of("/v3/lock/detail"):
            return LockDetail.from_api(answer)

    async def unlock(self, lock_id: int, *, retries: int | None = None) -> None:
        """Send unlock through the gateway; success means the command went out.
        ``retries`` overrides maximumApiRetry (the bridge retries itself, per wish)."""
        await self.call("POST", "/v3/lock/unlock", lockId=lock_id, retries=retries)

    async def lock(self, lock_id: int, *, retries: int | None = None) -> None:
        await self.call("POST", "/v3/lock/lock", lockId=lock_id, retries=retries)

    async def query_open_state(self, lock_id: int, *, retries: int | None = None) -> LockState:
        """Live state through the gateway: costs lock battery and seconds."""
        answer = await self.call("GET", "/v3/lock/queryOpenState", lockId=lock_id,
                                 retries=retries)
        with answer_of("/v3/lock/queryOpenState"):
            return LockState.from_api(answer)

    async def door_sensor(self, lock_id: int) -> DoorSensor | None:
        """The wireless door sensor bound to the lock (``doorSensor/query``, no gateway);
        None when the answer names none (a lock with a built-in sensor, or none bound)."""
        answer = await self.call("POST", "/v3/doorSensor/query", lockId=lock_id)
        if answer.get("doorSensorId") is None:
            return None
        with answer_of("/v3/doorSensor/query"):
            return DoorSensor.from_api(answer)

    async def query_battery(self, lock_id: int) -> int:
        answer = await self.call("GET", "/v3/lock/queryElectricQuantity", lockId=lock_id)
        with answer_of("/v3/lock/queryElectricQuantity"):
            return int(answer["electricQuantity"])

    # -- gateways ---------------------------------------------------------------------

    async def list_gateways(self) -> list[Gateway]:
        items = await self._pages("/v3/gateway/list", GATEWAY_PAGE_SIZE, "gatewayId",
                                  orderBy=GATEWAY_ORDER_BY)
        with answer_of("/v3/gateway/list"):
            return [Gateway.from_api(item) for item in items]

    async def gateway_locks(self, gateway_id: int) -> list[GatewayLock]:
        answer = await self.call("GET", "/v3/gateway/listLock", gatewayId=gateway_id)
        with answer_of("/v3/gateway/listLock"):
            return [GatewayLock.from_api(item) for item in answer.get("list") or []]

    async def lock_gateways(self, lock_id: int) -> list[LockGateway]:
        answer = await self.call("GET", "/v3/gateway/listByLock", lockId=lock_id)
        with answer_of("/v3/gateway/listByLock"):
            return [LockGateway.from_api(item) for item in answer.get("list") or []]

    # -- passcodes --------------------------------------------------------------------

    async def add_passcode(
        self,
        lock_id: int,
        code: str,
        *,
        name: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> int:
        """A custom code through the gateway: permanent without dates, period with them.

        When the answer is lost (timeout, 5xx) the code may have been added anyway, so it is
        looked up rather than added again (which would answer "already exists"): found, that
        is the answer; certainly absent, the add is sent again, within the retry budget.
        """
        period = start is not None or end is not None
        answer = await self.call(
            "POST",
            ADD_PATH,
            idempotent=False,
            confirm=lambda: self._added_anyway(lock_id, code, name),
            lockId=lock_id,
            keyboardPwd=code,
            keyboardPwdName=name,
            keyboardPwdType=int(PasscodeType.PERIOD if period else PasscodeType.PERMANENT),
            startDate=to_ms(start) if start else None,
            endDate=to_ms(end) if end else None,
            addType=GATEWAY_TYPE,
        )
        with answer_of(ADD_PATH):
            return int(answer["keyboardPwdId"])

    async def _added_anyway(
        self, lock_id: int, code: str, name: str | None
    ) -> dict[str, Any] | None:
        """After a lost answer to an add: the answer it would have had if ``code`` (named
        ``name``) is on the lock, None if the code is certainly not there. Raises when the
        lock cannot be checked, or holds the code under another name (someone else's, or
        ours renamed: sending again cannot tell)."""
        same_code = [p for p in await self.list_passcodes(lock_id, search=code)
                     if p.code == code]
        if not same_code:
            return None
        for passcode in same_code:
            if name is None or passcode.name == name:
                return {"keyboardPwdId": passcode.passcode_id}
        raise UnknownError("the code is on the lock under another name", path=ADD_PATH)

    async def generate_passcode(
        self,
        lock_id: int,
        kind: PasscodeType,
        *,
        start: datetime,
        end: datetime | None = None,
        name: str | None = None,
    ) -> GeneratedPasscode:
        """A cloud-generated code (no gateway needed); times are accurate to the hour."""
        answer = await self.call(
            "POST",
            "/v3/keyboardPwd/get",
            idempotent=False,
            lockId=lock_id,
            keyboardPwdType=int(kind),
            keyboardPwdName=name,
            startDate=to_ms(start),
            endDate=to_ms(end) if end else None,
        )
        with answer_of("/v3/keyboardPwd/get"):
            return GeneratedPasscode(
                passcode_id=int(answer["keyboardPwdId"]), code=str(answer["keyboardPwd"])
            )

    async def change_passcode(
        self,
        lock_id: int,
        passcode_id: int,
        *,
        name: str | None = None,
        code: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> None:
        """A new name alone is the cloud's business (no ``changeType``, no gateway);
        new digits or validity go through the gateway."""
        on_lock = code is not None or start is not None or end is not None
        await self.call(
            "POST",
            "/v3/keyboardPwd/change",
            idempotent=False,
            lockId=lock_id,
            keyboardPwdId=passcode_id,
            keyboardPwdName=name,
            newKeyboardPwd=code,
            startDate=to_ms(start) if start else None,
            endDate=to_ms(end) if end else None,
            changeType=GATEWAY_TYPE if on_lock else None,
        )

    async def delete_passcode(self, lock_id: int, passcode_id: int) -> None:
        await self.call(
            "POST",
            "/v3/keyboardPwd/delete",
            idempotent=False,
            lockId=lock_id,
            keyboardPwdId=passcode_id,
            deleteType=GATEWAY_TYPE,
        )

    async def list_passcodes(self, lock_id: int, *, search: str | None = None) -> list[Passcode]:
        items = await self._pages(
            "/v3/lock/listKeyboardPwd",
            PASSCODE_PAGE_SIZE,
            "keyboardPwdId",
            lockId=lock_id,
            searchStr=search or None,
            orderBy=1,
        )
        with answer_of("/v3/lock/listKeyboardPwd"):
            return [Passcode.from_api(item, lock_id) for item in items]

    # -- records ----------------------------------------------------------------------

    async def list_records(
        self,
        lock_id: int,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[LockRecord]:
        """Records newest first, across pages until ``limit``."""
        items = await self._pages(
            "/v3/lockRecord/list",
            RECORD_PAGE_SIZE if limit is None else min(RECORD_PAGE_SIZE, max(1, limit)),
            "recordId",
            limit=limit,
            lockId=lock_id,
            startDate=to_ms(since) if since else None,
            endDate=to_ms(until) if until else None,
        )
        with answer_of("/v3/lockRecord/list"):
            return [LockRecord.from_api(item, lock_id) for item in items]


async def _settle(err: TTLockError, confirm: Confirm) -> dict[str, Any]:
    """The outcome of a command whose answer ``err`` lost: ``confirm``'s answer if it ran;
    ``err`` marked not executed if it certainly did not (so it is sent again, within the
    call's retry budget); ``err`` as it is when nobody can tell."""
    try:
        answer = await confirm()
    except TTLockError as unknown:
        _LOGGER.info("%s: %s; cannot tell whether it ran (%s)", err.path, err, unknown)
        raise err from None
    if answer is None:
        _LOGGER.info("%s: %s; it certainly did not run", err.path, err)
        err.not_executed = True
        raise err
    _LOGGER.info("%s: %s, but it ran", err.path, err)
    return answer


def _seen_before(ident: object, seen: set[object]) -> bool:
    """Whether ``ident`` was seen (and remember it); items without an id are all new."""
    if ident is None:
        return False
    if ident in seen:
        return True
    seen.add(ident)
    return False
