"""/v3/keyboardPwd/* and /v3/lock/listKeyboardPwd: custom and cloud-generated passcodes.

Custom codes (add/change/delete) reach the lock through the gateway when their
``addType``/``changeType``/``deleteType`` is 2; generated codes (get) come from the lock's
offline algorithm, so the cloud answers them without touching the gateway. A change of
the name alone is the cloud's too (docs: passcode/update.md), whatever ``changeType`` says.
Lists take ``orderBy`` (required) and pages of up to 200; ``add`` without a type is a
period code (docs: passcode/add.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from hapbridge.simulator.api import OK, READ, WRITE, Call, Route
from hapbridge.simulator.errors import ApiError
from hapbridge.simulator.params import paginate
from hapbridge.simulator.world import MAX_PASSCODES_PER_LOCK, SimLock, SimPasscode, World

T = TypeVar("T")
PASSCODE_PAGE_MAX = 200
ONE_TIME, PERMANENT, PERIOD, DELETE_ALL = 1, 2, 3, 4
CYCLIC = range(5, 15)  # weekend, daily, workday, Monday..Sunday
HOUR_MS = 3_600_000
ORDER_BY_NAME, ORDER_BY_NEWEST, ORDER_BY_NAME_DESC = 0, 1, 2
ORDER_BY = (ORDER_BY_NAME, ORDER_BY_NEWEST, ORDER_BY_NAME_DESC)  # a required parameter


def ordered(
    items: Iterable[T], order: int, *, newest: Callable[[T], Any], name: Callable[[T], Any]
) -> list[T]:
    """``orderBy`` as the cloud's lists take it: 0 by name, 1 newest first, 2 by name
    reversed."""
    if order == ORDER_BY_NEWEST:
        return sorted(items, key=newest, reverse=True)
    return sorted(items, key=name, reverse=order == ORDER_BY_NAME_DESC)


def passcode_item(passcode: SimPasscode) -> dict[str, Any]:
    return {
        "keyboardPwdId": passcode.passcode_id,
        "lockId": passcode.lock_id,
        "keyboardPwd": passcode.code,
        "keyboardPwdName": passcode.name,
        "keyboardPwdType": passcode.type,
        "keyboardPwdVersion": 4,
        "startDate": passcode.start_date,
        "endDate": passcode.end_date,
        "sendDate": passcode.send_date,
        "isCustom": int(passcode.is_custom),
        "status": passcode.status,
    }


def _checked_code(code: str) -> str:
    if not (code.isascii() and code.isdigit() and 4 <= len(code) <= 9):
        raise ApiError(-3006)
    return code


def _check_free(world: World, lock: SimLock, code: str, *, other_than: int | None = None) -> None:
    """-3007 when another passcode of the lock already has ``code``."""
    for passcode in world.passcodes[lock.lock_id].values():
        if passcode.code == code and passcode.passcode_id != other_than:
            raise ApiError(-3007)


def _check_room(world: World, lock: SimLock) -> None:
    if len(world.passcodes[lock.lock_id]) >= MAX_PASSCODES_PER_LOCK:
        raise ApiError(-3009)


def _dates(call: Call, *, required: bool) -> tuple[int, int]:
    """``startDate``/``endDate`` in ms; when both are present, start must be before end."""
    start = call.params.int("startDate") if required else call.params.int("startDate", 0)
    end = call.params.int("endDate") if required else call.params.int("endDate", 0)
    if start and end and start >= end:
        raise ApiError(-3, "startDate must be before endDate")
    return start, end


def _passcode(call: Call, lock: SimLock) -> SimPasscode:
    passcode = call.world.passcodes[lock.lock_id].get(call.params.int("keyboardPwdId"))
    if passcode is None:
        raise ApiError(-2009)
    return passcode


async def add(call: Call) -> dict[str, Any]:
    lock = call.lock()
    world = call.world
    code = _checked_code(call.params.str("keyboardPwd"))
    # without a type the docs say period (3), which then needs startDate and endDate
    kind = call.params.choice("keyboardPwdType", (PERMANENT, PERIOD), PERIOD)
    start, end = _dates(call, required=kind == PERIOD)
    _check_free(world, lock, code)
    _check_room(world, lock)
    await call.carry_if_remote(lock, "addType", default=1)
    _check_free(world, lock, code)  # the world may have moved while the gateway worked
    _check_room(world, lock)
    passcode = world.add_passcode(
        lock.lock_id,
        code,
        name=call.params.str("keyboardPwdName", ""),
        type=kind,
        start_date=start if kind == PERIOD else 0,
        end_date=end if kind == PERIOD else 0,
    )
    return {"keyboardPwdId": passcode.passcode_id}


async def generate(call: Call) -> dict[str, Any]:
    """A code from the lock's offline algorithm; its times are accurate to the hour."""
    lock = call.lock()
    kind = call.params.choice("keyboardPwdType", range(1, 15))
    start = call.params.int("startDate") // HOUR_MS * HOUR_MS
    if kind == PERIOD or kind in CYCLIC:
        end = call.params.int("endDate") // HOUR_MS * HOUR_MS
        if end <= start:
            raise ApiError(-3, "endDate must be at least an hour after startDate")
    elif kind == ONE_TIME:
        end = start + 6 * HOUR_MS
    elif kind == DELETE_ALL:
        end = start + 24 * HOUR_MS
    else:
        end = 0
    world = call.world
    length = 7 if kind == PERMANENT else 9
    while True:
        code = str(world.rng.randrange(10 ** (length - 1), 10**length))
        if all(p.code != code for p in world.passcodes[lock.lock_id].values()):
            break
    passcode = world.add_passcode(
        lock.lock_id,
        code,
        name=call.params.str("keyboardPwdName", ""),
        type=kind,
        start_date=start,
        end_date=end,
        is_custom=False,
    )
    return {"keyboardPwd": passcode.code, "keyboardPwdId": passcode.passcode_id}


async def change(call: Call) -> dict[str, Any]:
    lock = call.lock()
    world = call.world
    passcode = _passcode(call, lock)
    new_code = call.params.str("newKeyboardPwd", "") or None
    if new_code is not None:
        _check_free(world, lock, _checked_code(new_code), other_than=passcode.passcode_id)
    start, end = _dates(call, required=False)
    if new_code is not None or start or end:  # a new name alone is the cloud's business
        await call.carry_if_remote(lock, "changeType", default=1)
    passcode = _passcode(call, lock)  # it may have been deleted meanwhile
    if new_code is not None:
        _check_free(world, lock, new_code, other_than=passcode.passcode_id)
        passcode.code = new_code
    if "keyboardPwdName" in call.params:
        passcode.name = call.params.str("keyboardPwdName")
    if start:
        passcode.start_date = start
    if end:
        passcode.end_date = end
    return OK


async def delete(call: Call) -> dict[str, Any]:
    lock = call.lock()
    _passcode(call, lock)
    await call.carry_if_remote(lock, "deleteType", default=1)
    passcode = _passcode(call, lock)
    del call.world.passcodes[lock.lock_id][passcode.passcode_id]
    return OK


async def list_passcodes(call: Call) -> dict[str, Any]:
    """``searchStr`` matches names fuzzily (case-insensitive) and codes exactly."""
    lock = call.lock()
    search = call.params.str("searchStr", "")
    needle = search.casefold()
    order = call.params.choice("orderBy", ORDER_BY)
    found = ordered(
        (passcode for passcode in call.world.passcodes[lock.lock_id].values()
         if not search or needle in passcode.name.casefold() or passcode.code == search),
        order,
        newest=lambda p: (p.send_date, p.passcode_id),
        name=lambda p: (p.name.casefold(), p.passcode_id),
    )
    return paginate(found, call.params, PASSCODE_PAGE_MAX, passcode_item)


ROUTES = (
    Route("/v3/keyboardPwd/add", add, WRITE),
    Route("/v3/keyboardPwd/get", generate, WRITE),
    Route("/v3/keyboardPwd/change", change, WRITE),
    Route("/v3/keyboardPwd/delete", delete, WRITE),
    Route("/v3/lock/listKeyboardPwd", list_passcodes, READ),
)
