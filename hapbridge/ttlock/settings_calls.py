"""Lock settings through the cloud: passage mode, auto-lock time, and the cloud's own
count of this month's calls.

Passage mode uses the current endpoints (``lock/configurePassageMode`` with up to five
periods in ``cyclicConfig``, ``lock/getPassageModeConfiguration``) and falls back to the
older flat ones only when the cloud refuses the path itself (an HTTP 4xx without an
errcode): an errcode from the new endpoint is its verdict on the lock, and asking the old
one would only spend a second call on the same answer.
"""

from __future__ import annotations

import json
import logging

from hapbridge.ttlock.answers import GATEWAY_TYPE, CallsBase, answer_of
from hapbridge.ttlock.errors import ConfigurationError, TTLockError, UnknownError
from hapbridge.ttlock.passage import MAX_PERIODS, OFF, ON, PassageMode

_LOGGER = logging.getLogger(__name__)

PASSAGE_SET = "/v3/lock/configurePassageMode"
PASSAGE_GET = "/v3/lock/getPassageModeConfiguration"
OLD_PASSAGE_SET = "/v3/lock/configPassageMode"
OLD_PASSAGE_GET = "/v3/lock/getPassageModeConfig"
MONTH_COUNT = "/v3/app/getMonthRequestCount"
# The answer's shape is not in the docs mirror: the first of these that holds a number.
MONTH_COUNT_KEYS = ("count", "requestCount", "monthRequestCount", "total")


def path_refused(err: TTLockError) -> bool:
    """Whether the cloud refused the endpoint itself (no such path), not the request."""
    return (err.errcode is None and err.reached_server
            and isinstance(err, ConfigurationError | UnknownError))


class SettingsCalls(CallsBase):
    async def passage_mode(self, lock_id: int) -> PassageMode:
        """The lock's passage-mode configuration (no gateway: the cloud's copy)."""
        try:
            answer = await self.call("GET", PASSAGE_GET, lockId=lock_id)
        except TTLockError as err:
            if not path_refused(err):
                raise
            _LOGGER.info("%s refused (%s); asking %s", PASSAGE_GET, err, OLD_PASSAGE_GET)
            answer = await self.call("GET", OLD_PASSAGE_GET, lockId=lock_id)
            with answer_of(OLD_PASSAGE_GET):
                return PassageMode.from_flat_api(answer)
        with answer_of(PASSAGE_GET):
            return PassageMode.from_api(answer)

    async def set_passage_mode(self, lock_id: int, mode: PassageMode, *,
                               retries: int | None = None) -> None:
        """Write ``mode`` to the lock through its gateway (``type=2``; busy is retried,
        ``retries`` times when given: the bridge's mailbox retries itself).

        Turning it off sends no periods, so the cloud keeps the schedule for the next
        time it is turned on. Raises ValueError for more than five periods, or for on
        without any: the cloud would refuse them after the wait.
        """
        if len(mode.periods) > MAX_PERIODS:
            raise ValueError(f"passage mode takes at most {MAX_PERIODS} periods")
        if mode.enabled and not mode.periods:
            raise ValueError("passage mode on needs at least one period")
        common = {"lockId": lock_id, "passageMode": ON if mode.enabled else OFF,
                  "autoUnlock": ON if mode.auto_unlock else OFF, "type": GATEWAY_TYPE}
        try:
            await self.call("POST", PASSAGE_SET, **common, retries=retries,
                            cyclicConfig=mode.cyclic_config() if mode.enabled else None)
            return
        except TTLockError as err:
            if not path_refused(err) or len(mode.periods) > 1:
                raise
            _LOGGER.info("%s refused (%s); using %s", PASSAGE_SET, err, OLD_PASSAGE_SET)
        flat: dict[str, object] = {}
        if mode.periods:
            period = mode.periods[0].to_api()
            flat = {"isAllDay": period["isAllDay"], "startDate": period["startTime"],
                    "endDate": period["endTime"], "weekDays": json.dumps(period["weekDays"])}
        await self.call("POST", OLD_PASSAGE_SET, **common, **flat, retries=retries)

    async def set_auto_lock_time(self, lock_id: int, seconds: int) -> None:
        """Auto-lock after ``seconds`` (0 turns it off), through the gateway."""
        await self.call("POST", "/v3/lock/setAutoLockTime", lockId=lock_id,
                        seconds=max(0, seconds), type=GATEWAY_TYPE)

    async def month_request_count(self) -> int:
        """This month's API calls as the cloud counts them (its months are UTC+8).

        The endpoint is only on TTLock's older doc pages: an answer without a count is an
        UnknownError like any unreadable answer."""
        answer = await self.call("GET", MONTH_COUNT, retries=1)
        with answer_of(MONTH_COUNT):
            for key in MONTH_COUNT_KEYS:
                value = answer.get(key)
                if isinstance(value, int | str) and str(value).isdigit():
                    return int(value)
            raise KeyError("count")
