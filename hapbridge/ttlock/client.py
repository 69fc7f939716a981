"""The async TTLock cloud client: typed calls over one shared httpx.AsyncClient.

Every call gets a fresh ``date``, the shared token, retries for busy/5xx/timeouts with
backoff, one refresh-and-retry on a refused token, and a count in the usage counter.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any, Self, TypeVar

import httpx

from hapbridge.redact import install_log_redaction
from hapbridge.storage import Storage
from hapbridge.ttlock.auth import Credentials, TokenManager
from hapbridge.ttlock.errors import AuthError, TTLockError
from hapbridge.ttlock.models import (
    Gateway,
    GatewayLock,
    GeneratedPasscode,
    Lock,
    LockDetail,
    LockGateway,
    LockRecord,
    LockState,
    PassageModeConfig,
    Passcode,
    PasscodeType,
    to_ms,
)
from hapbridge.ttlock.retry import RetryPolicy
from hapbridge.ttlock.transport import exchange
from hapbridge.ttlock.usage import UsageCounter

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")

LOCK_PAGE_SIZE = 1000
GATEWAY_PAGE_SIZE = 200
PASSCODE_PAGE_SIZE = 100
RECORD_PAGE_SIZE = 200
GATEWAY_TYPE = 2  # addType/changeType/deleteType/type: through the gateway (or Wi-Fi)
DEFAULT_TIMEOUT = httpx.Timeout(20.0, connect=10.0)


class TTLockClient:
    """The TTLock Open Platform API, as the bridge and the CLI need it."""

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
    ) -> None:
        install_log_redaction()
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.usage = usage or UsageCounter(storage)
        self._credentials = credentials
        self._clock = clock
        self._rng = rng or random.Random()
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=timeout,
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
            headers={"User-Agent": "hapbridge"},
        )
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
        self.usage.flush()
        await self._http.aclose()

    # -- plumbing ---------------------------------------------------------------------

    async def _oauth(self, form: dict[str, str]) -> dict[str, Any]:
        return await self._with_retries("/oauth2/token", lambda: self._send("POST",
                                        "/oauth2/token", form))

    async def _send(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        self.usage.record(path)
        _LOGGER.debug("TTLock %s %s", method, path)
        return await exchange(self._http, method, path, params)

    async def _with_retries(self, path: str, attempt: Callable[[], Awaitable[T]]) -> T:
        retries = 0
        while True:
            try:
                return await attempt()
            except TTLockError as err:
                if not err.retryable or retries >= self.retry.max_retries:
                    raise
                delay = self.retry.delay(retries, self._rng)
                retries += 1
                _LOGGER.info(
                    "%s: %s; retry %d/%d in %.1fs",
                    path, err, retries, self.retry.max_retries, delay,
                )
                await asyncio.sleep(delay)

    async def call(self, method: str, path: str, **params: Any) -> dict[str, Any]:
        """One authenticated API call with retries; ``None`` parameters are left out."""
        clean = {k: v for k, v in params.items() if v is not None}
        refused_once = False

        async def attempt() -> dict[str, Any]:
            nonlocal refused_once
            while True:
                token = await self.tokens.access_token()
                form = {
                    "clientId": self._credentials.client_id,
                    "accessToken": token,
                    "date": int(self._clock() * 1000),
                    **clean,
                }
                try:
                    return await self._send(method, path, form)
                except AuthError:
                    if refused_once:
                        raise
                    refused_once = True
                    await self.tokens.invalidate(token)

        return await self._with_retries(path, attempt)

    async def _pages(
        self, path: str, page_size: int, limit: int | None = None, **params: Any
    ) -> list[dict[str, Any]]:
        """Every item of a paged list (``pageNo`` from 1), up to ``limit`` items."""
        items: list[dict[str, Any]] = []
        page = 1
        while True:
            answer = await self.call("GET", path, pageNo=page, pageSize=page_size, **params)
            batch = answer.get("list") or []
            items.extend(batch)
            pages = int(answer.get("pages") or 0)
            if limit is not None and len(items) >= limit:
                return items[:limit]
            if not batch or page >= pages:
                return items
            page += 1

    # -- locks ------------------------------------------------------------------------

    async def list_locks(self, *, alias: str | None = None) -> list[Lock]:
        """All locks of the account (one call per 1,000 locks)."""
        items = await self._pages("/v3/lock/list", LOCK_PAGE_SIZE, lockAlias=alias)
        return [Lock.from_api(item) for item in items]

    async def lock_detail(self, lock_id: int) -> LockDetail:
        return LockDetail.from_api(await self.call("GET", "/v3/lock/detail", lockId=lock_id))

    async def unlock(self, lock_id: int) -> None:
        """Send unlock through the gateway; success means the command went out."""
        await self.call("POST", "/v3/lock/unlock", lockId=lock_id)

    async def lock(self, lock_id: int) -> None:
        await self.call("POST", "/v3/lock/lock", lockId=lock_id)

    async def query_open_state(self, lock_id: int) -> LockState:
        """Live state through the gateway: costs lock battery and seconds."""
        return LockState.from_api(
            await self.call("GET", "/v3/lock/queryOpenState", lockId=lock_id)
        )

    async def query_battery(self, lock_id: int) -> int:
        answer = await self.call("GET", "/v3/lock/queryElectricQuantity", lockId=lock_id)
        return int(answer["electricQuantity"])

    async def set_auto_lock_time(self, lock_id: int, seconds: int) -> None:
        await self.call(
            "POST", "/v3/lock/setAutoLockTime", lockId=lock_id, seconds=seconds,
            type=GATEWAY_TYPE,
        )

    async def get_passage_mode(self, lock_id: int) -> PassageModeConfig:
        return PassageModeConfig.from_api(
            await self.call("GET", "/v3/lock/getPassageModeConfig", lockId=lock_id)
        )

    async def configure_passage_mode(
        self,
        lock_id: int,
        *,
        enabled: bool,
        start_minute: int | None = None,
        end_minute: int | None = None,
        week_days: Iterable[int] = (1, 2, 3, 4, 5, 6, 7),
        auto_unlock: bool = False,
    ) -> None:
        """Passage mode all day when no minutes are given, else between the two minutes."""
        all_day = start_minute is None and end_minute is None
        await self.call(
            "POST",
            "/v3/lock/configPassageMode",
            lockId=lock_id,
            passageMode=1 if enabled else 2,
            startDate=start_minute,
            endDate=end_minute,
            isAllDay=1 if all_day else 2,
            weekDays=json.dumps(sorted(set(week_days))),
            autoUnlock=1 if auto_unlock else 2,
            type=GATEWAY_TYPE,
        )

    # -- gateways ---------------------------------------------------------------------

    async def list_gateways(self) -> list[Gateway]:
        items = await self._pages("/v3/gateway/list", GATEWAY_PAGE_SIZE)
        return [Gateway.from_api(item) for item in items]

    async def gateway_locks(self, gateway_id: int) -> list[GatewayLock]:
        answer = await self.call("GET", "/v3/gateway/listLock", gatewayId=gateway_id)
        return [GatewayLock.from_api(item) for item in answer.get("list") or []]

    async def lock_gateways(self, lock_id: int) -> list[LockGateway]:
        answer = await self.call("GET", "/v3/gateway/listByLock", lockId=lock_id)
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
        """A custom code through the gateway: permanent without dates, period with them."""
        period = start is not None or end is not None
        answer = await self.call(
            "POST",
            "/v3/keyboardPwd/add",
            lockId=lock_id,
            keyboardPwd=code,
            keyboardPwdName=name,
            keyboardPwdType=int(PasscodeType.PERIOD if period else PasscodeType.PERMANENT),
            startDate=to_ms(start) if start else None,
            endDate=to_ms(end) if end else None,
            addType=GATEWAY_TYPE,
        )
        return int(answer["keyboardPwdId"])

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
            lockId=lock_id,
            keyboardPwdType=int(kind),
            keyboardPwdName=name,
            startDate=to_ms(start),
            endDate=to_ms(end) if end else None,
        )
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
        await self.call(
            "POST",
            "/v3/keyboardPwd/change",
            lockId=lock_id,
            keyboardPwdId=passcode_id,
            keyboardPwdName=name,
            newKeyboardPwd=code,
            startDate=to_ms(start) if start else None,
            endDate=to_ms(end) if end else None,
            changeType=GATEWAY_TYPE,
        )

    async def delete_passcode(self, lock_id: int, passcode_id: int) -> None:
        await self.call(
            "POST",
            "/v3/keyboardPwd/delete",
            lockId=lock_id,
            keyboardPwdId=passcode_id,
            deleteType=GATEWAY_TYPE,
        )

    async def list_passcodes(self, lock_id: int, *, search: str | None = None) -> list[Passcode]:
        items = await self._pages(
            "/v3/lock/listKeyboardPwd",
            PASSCODE_PAGE_SIZE,
            lockId=lock_id,
            searchStr=search or None,
            orderBy=1,
        )
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
            limit=limit,
            lockId=lock_id,
            startDate=to_ms(since) if since else None,
            endDate=to_ms(until) if until else None,
        )
        return [LockRecord.from_api(item, lock_id) for item in items]
