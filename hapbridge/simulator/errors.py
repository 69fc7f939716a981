"""The cloud's errcodes and the exception that carries one to the answer.

The server turns an :class:`ApiError` into the cloud's HTTP 200
``{"errcode", "errmsg", "description"}`` answer and counts it in ``world.errcodes``.
Codes and messages follow TTLock's published error table; where the API doc leaves a case
open we chose (see the package docstring): -3 for bad or missing parameters and for a
``pageSize`` over the endpoint's maximum, -1003 for a lock that does not exist, -4037 for
an unknown gateway.
"""

from __future__ import annotations

from typing import Any

# errcode -> errmsg, in the cloud's own words where it has them.
ERRMSG: dict[int, str] = {
    1: "failed or means no",
    -3: "Invalid Parameter",
    10000: "invalid client_id",
    10001: "invalid client",
    10003: "invalid token",
    10004: "invalid grant",
    10007: "invalid account",
    10010: "unsupported grant_type",
    10011: "invalid refresh_token",
    30002: "invalid username, only English character and digits is allowed",
    30003: "existing registered users",
    30005: "password must be md5 encrypted",
    80000: "date must be current time, in 5 minutes",
    90000: "internal server error",
    -1003: "Lock does not exist",
    -1008: "eKey does not exist",
    -1021: "This IC Card does not exist",
    -1023: "This Fingerprint does not exist",
    -2009: "Passcode does not exist",
    -2012: "The lock is not connected to any gateway",
    -2018: "Permission Denied",
    -2019: "You cannot send an eKey to Yourself",
    -2020: "You cannot send an eKey to the Admin",
    -3002: "The gateway is offline. Please check and try again",
    -3003: "The gateway is busy. Please try again later",
    -3006: "Invalid Passcode. Passcode should be between 4 - 9 Digits in length",
    -3007: "The same passcode already exists. Please use another one",
    -3009: "No more space for custom passcode. Please delete unused passcodes and retry",
    -3036: "The lock is offline. Please check and try again",
    -3037: "The lock is busy. Please try again later",
    -4037: "Gateway does not exist",
    -4043: "The function is not supported for this lock",
    -4064: "Failed. The eKey can only be sent to a registered account",
    -4082: "Auto locking period invalid",
}


class ApiError(Exception):
    """An errcode answer; ``detail`` goes into ``description`` (the cloud's hint)."""

    def __init__(self, errcode: int, detail: str | None = None) -> None:
        self.errcode = errcode
        self.errmsg = ERRMSG.get(errcode, "failed or means no")
        self.detail = detail or self.errmsg
        super().__init__(f"{errcode} {self.errmsg}: {self.detail}")

    def body(self) -> dict[str, Any]:
        return {"errcode": self.errcode, "errmsg": self.errmsg, "description": self.detail}
