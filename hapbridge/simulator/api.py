"""The cloud's answer shapes and what a route handler receives.

Handlers return the data object (read calls) or :data:`OK` (commands) and raise
:class:`~hapbridge.simulator.errors.ApiError` for everything else, so no handler builds an
error answer by hand.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hapbridge.simulator.errors import ApiError
from hapbridge.simulator.params import Params

if TYPE_CHECKING:
    from hapbridge.simulator.commands import Physics
    from hapbridge.simulator.config import SimConfig
    from hapbridge.simulator.world import SimLock, World

VIA_BLUETOOTH, VIA_GATEWAY = 1, 2

OK: dict[str, Any] = {
    "errcode": 0,
    "errmsg": "none error message or means yes",
    "description": "success",
}

JSON_BODY_REFUSED: dict[str, str] = {
    "error": "invalid_request",
    "error_description": "Bad request content type. "
    "Expecting: application/x-www-form-urlencoded",
}


def check_date(params: Params, config: SimConfig) -> None:
    """``date`` (ms) must be within ``max_clock_skew`` of now; a missing one fails too."""
    date = params.optional_int("date")
    if date is None or abs(date / 1000 - time.time()) > config.max_clock_skew:
        raise ApiError(80000)


@dataclass
class Call:
    """One authenticated /v3 request as a handler sees it."""

    params: Params
    world: World
    physics: Physics
    config: SimConfig
    uid: int

    def lock(self, name: str = "lockId") -> SimLock:
        """The lock named by a parameter; one that does not exist (never did, or was
        deleted) answers -1003, as the cloud's error table says."""
        lock = self.world.locks.get(self.params.int(name))
        if lock is None:
            raise ApiError(-1003)
        return lock

    async def carry_if_remote(
        self, lock: SimLock, mode_param: str, default: int | None = None
    ) -> None:
        """``type``/``addType``/... = 2 goes through the gateway; 1 means the app already
        did it over Bluetooth, so the cloud only records the result."""
        mode = self.params.choice(mode_param, (VIA_BLUETOOTH, VIA_GATEWAY), default)
        if mode == VIA_GATEWAY:
            await self.physics.remote(lock)


Handler = Callable[[Call], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Route:
    path: str
    handler: Handler
    methods: tuple[str, ...] = ("GET", "POST")


READ = ("GET", "POST")  # reads: GET with query parameters, POST works too
WRITE = ("POST",)
