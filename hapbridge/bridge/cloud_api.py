"""What the bridge needs of the TTLock client, as a type: the client has it, and so does a
test's fake, checked like any other implementation."""

from __future__ import annotations

from typing import Protocol

from hapbridge.ttlock.models import (
    DoorSensor,
    Gateway,
    GatewayLock,
    LockDetail,
    LockListing,
    LockState,
)
from hapbridge.ttlock.passage import PassageMode
from hapbridge.ttlock.retry import RetryPolicy


class CallCounts(Protocol):
    @property
    def total(self) -> int:
        """Calls this month."""

    @property
    def session_total(self) -> int:
        """Calls since this process started."""


class CloudApi(Protocol):
    @property
    def retry(self) -> RetryPolicy: ...

    @property
    def usage(self) -> CallCounts: ...

    async def lock_listing(self, *, retries: int | None = None) -> LockListing: ...

    async def lock_detail(self, lock_id: int) -> LockDetail: ...

    async def list_gateways(self) -> list[Gateway]: ...

    async def gateway_locks(self, gateway_id: int) -> list[GatewayLock]: ...

    async def unlock(self, lock_id: int, *, retries: int | None = None) -> None: ...

    async def lock(self, lock_id: int, *, retries: int | None = None) -> None: ...

    async def query_open_state(self, lock_id: int, *, retries: int | None = None
                               ) -> LockState: ...

    async def passage_mode(self, lock_id: int) -> PassageMode: ...

    async def set_passage_mode(self, lock_id: int, mode: PassageMode, *,
                               retries: int | None = None) -> None: ...

    async def door_sensor(self, lock_id: int) -> DoorSensor | None: ...
