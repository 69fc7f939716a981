"""What a controller may write to a characteristic, checked before HAP-python sees it.

HAP-python 5.2 writes to read-only characteristics and clamps or coerces values that are out
of range or of the wrong type (or raises, answering -70402 with a traceback). HAP answers a
write without ``pw`` permission with -70404 and a value that does not fit the
characteristic's format, range or valid values with -70410; this module decides which.
"""

from __future__ import annotations

import math
from typing import Any

from pyhap.characteristic import Characteristic
from pyhap.const import HAP_PERMISSION_NOTIFY, HAP_PERMISSION_READ, HAP_PERMISSION_WRITE

SUCCESS = 0
INSUFFICIENT_PRIVILEGES = -70401
SERVICE_COMMUNICATION_FAILURE = -70402
READ_ONLY = -70404
WRITE_ONLY = -70405
NOTIFICATION_NOT_SUPPORTED = -70406
RESOURCE_DOES_NOT_EXIST = -70409
INVALID_VALUE = -70410

DEFAULT_MAX_LEN = 64  # HAP: strings default to 64 bytes
_INT_RANGES = {
    "uint8": (0, 2**8 - 1),
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
    "uint64": (0, 2**64 - 1),
    "int": (-(2**31), 2**31 - 1),
}


def perms(char: Characteristic) -> list[str]:
    return list(char.properties.get("Permissions", ()))


def read_status(char: Characteristic) -> int:
    return SUCCESS if HAP_PERMISSION_READ in perms(char) else WRITE_ONLY


def notify_status(char: Characteristic) -> int:
    return SUCCESS if HAP_PERMISSION_NOTIFY in perms(char) else NOTIFICATION_NOT_SUPPORTED


def write_status(char: Characteristic, value: Any) -> int:
    """SUCCESS, READ_ONLY or INVALID_VALUE for writing ``value`` to ``char``."""
    if HAP_PERMISSION_WRITE not in perms(char):
        return READ_ONLY
    return SUCCESS if fits(char.properties, value) else INVALID_VALUE


def fits(props: dict[str, Any], value: Any) -> bool:
    """Whether ``value`` (as decoded from the request's JSON) is valid for ``props``."""
    fmt = props.get("Format")
    if fmt == "bool":
        # HAP sends booleans as true/false or 1/0.
        return isinstance(value, bool) or (type(value) is int and value in (0, 1))
    if fmt in _INT_RANGES:
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if type(value) is not int:
            return False
        low, high = _INT_RANGES[fmt]
        return low <= value <= high and _in_bounds(props, value)
    if fmt == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return math.isfinite(value) and _in_bounds(props, value)
    if fmt == "string":
        return isinstance(value, str) and len(value.encode("utf-8")) <= props.get(
            "maxLen", DEFAULT_MAX_LEN)
    if fmt in ("data", "tlv8"):
        return isinstance(value, str)
    return value is not None


def _in_bounds(props: dict[str, Any], value: float) -> bool:
    low, high = props.get("minValue"), props.get("maxValue")
    if low is not None and value < low:
        return False
    if high is not None and value > high:
        return False
    valid = props.get("ValidValues")
    return not valid or value in valid.values()
