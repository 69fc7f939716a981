"""The kinds of value config.json holds, each with its bounds and its one-line complaint.

Numbers may arrive as strings (the Homebridge UI sometimes writes them so); ``Clearable``
values treat "" (what the UI writes for a cleared field) as unset.
"""

from __future__ import annotations

import contextlib
import math
import re
from urllib.parse import urlsplit

from hapbridge.config_schema import Invalid, Kind, Spot, Value

REGIONS: dict[str, str] = {"eu": "https://euapi.ttlock.com", "cn": "https://cnapi.ttlock.com"}

# HAP-python advertises the bridge as the mDNS instance "<name> <last 6 hex digits of the
# MAC>" (pyhap/accessory_driver.py, AccessoryMDNSServiceInfo), and zeroconf refuses an
# instance label over 63 bytes of UTF-8 (RFC 6763 section 7.2).
MDNS_LABEL_BYTES = 63
MDNS_SUFFIX_BYTES = 7

_PIN_RE = re.compile(r"[0-9]{3}-[0-9]{2}-[0-9]{3}|[0-9]{8}")
_MAC_RE = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}")
_INTEGER_RE = re.compile(r"\s*[+-]?[0-9]+\s*")


def text(*, non_empty: bool = False) -> Value[str]:
    """A string; ``non_empty`` ones are stripped and must keep something."""

    def convert(value: object) -> str:
        if not isinstance(value, str) or (non_empty and not value.strip()):
            raise Invalid("must be a non-empty string" if non_empty else "must be a string")
        return value.strip() if non_empty else value

    return Value(convert)


class Clearable(Kind["str | None"]):
    """A string kind where a blank string means unset (None)."""

    def __init__(self, kind: Kind[str]) -> None:
        self.kind = kind

    def read(self, value: object, spot: Spot) -> str | None:
        if isinstance(value, str):
            value = value.strip()
            if not value:
                return None
        return self.kind.read(value, spot)


def integer(low: int, high: int | None = None) -> Value[int]:
    expected = f"from {low} to {high}" if high is not None else f"of at least {low}"

    def convert(value: object) -> int:
        number: int | None = None
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # 3.0 is how some tools write 3
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and _INTEGER_RE.fullmatch(value):
            number = int(value)
        if number is None or number < low or (high is not None and number > high):
            raise Invalid(f"must be an integer {expected}")
        return number

    return Value(convert)


def number(low: float, high: float, unit: str = "") -> Value[float]:
    def convert(value: object) -> float:
        result = math.nan
        if isinstance(value, int | float) and not isinstance(value, bool):
            result = float(value)
        elif isinstance(value, str):
            with contextlib.suppress(ValueError):
                result = float(value)
        if not low <= result <= high:  # also refuses NaN and infinities
            raise Invalid(f"must be a number from {low:g} to {high:g}{unit}")
        return result

    return Value(convert)


def name_item(single: str) -> Value[str]:
    """One entry of a list of names: a non-empty string, or an integer (a lock id)."""

    def convert(value: object) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            raise Invalid(f"must be {single}")
        return value.strip()

    return Value(convert)


def _boolean(value: object) -> bool:
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"  # as a form field may write it
    if not isinstance(value, bool):
        raise Invalid("must be true or false")
    return value


def _region(value: object) -> str:
    if not isinstance(value, str):
        raise Invalid("must be a string")
    region = value.strip().lower()
    if region not in REGIONS:
        valid = ", ".join(repr(r) for r in REGIONS)
        raise Invalid(
            f"must be one of {valid} (for any other server set baseUrl, which overrides it)"
        )
    return region


def _url(value: object) -> str:
    try:
        parts = urlsplit(value) if isinstance(value, str) else None
    except ValueError:  # e.g. an unclosed IPv6 bracket
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise Invalid('must be an http(s) URL like "https://euapi.ttlock.com" (or null)')
    try:
        port = parts.port  # parsed lazily: "http://host:99999" splits fine, then fails here
    except ValueError:
        port = 0
    if port == 0:
        raise Invalid("must have a port from 1 to 65535 (or none, for the scheme's default)")
    return str(value)


def mac(value: object) -> str:
    if not isinstance(value, str) or not _MAC_RE.fullmatch(value.strip()):
        raise Invalid(
            'must be a MAC address like "0E:2C:44:7A:19:B3" (leave it out to have one generated)'
        )
    return value.strip().upper()


def pin(value: object) -> str:
    """A setup code as "XXX-XX-XXX"; a wrong one is never echoed (it is a secret)."""
    if not isinstance(value, str) or not _PIN_RE.fullmatch(value.strip()):
        raise Invalid(
            'must be 8 digits written "XXX-XX-XXX" or "XXXXXXXX" (leave it out to have one '
            "generated)",
            show_value=not isinstance(value, str),
        )
    digits = value.strip().replace("-", "")
    reason = trivial_reason(digits)
    if reason:
        raise Invalid(
            f"is a trivial setup code ({reason}) that HomeKit refuses: choose another or leave "
            "it out to have one generated",
            show_value=False,
        )
    return f"{digits[:3]}-{digits[3:5]}-{digits[5:]}"


def trivial_reason(digits: str) -> str | None:
    if len(digits) == 8 and len(set(digits)) == 1:
        return "all digits the same"
    if digits == "12345678":
        return "ascending digits"
    if digits == "87654321":
        return "descending digits"
    return None


def bridge_name(fallback: str) -> Value[str]:
    """A bridge name that fits in the mDNS label HAP-python advertises it under."""
    non_empty = text(non_empty=True)
    room = MDNS_LABEL_BYTES - MDNS_SUFFIX_BYTES

    def convert(value: object) -> str:
        name = non_empty.convert(value)
        # Each step (HomeKit's name rules, then HAP-python's) only shortens a name, so one
        # short enough here needs no measuring (nor loading HAP-python).
        if len(name.encode("utf-8")) > room:
            label = len(mdns_name(name, fallback).encode("utf-8"))
            if label > room:
                raise Invalid(
                    f"is too long for mDNS: HomeKit advertises it in {label + MDNS_SUFFIX_BYTES}"
                    f" bytes with the {MDNS_SUFFIX_BYTES}-character bridge id, over the limit "
                    f"of {MDNS_LABEL_BYTES}; shorten it to {room} characters or fewer",
                    show_value=False)
        return name

    return Value(convert)


def mdns_name(name: str, fallback: str) -> str:
    """The name part of the mDNS instance HAP-python advertises the bridge under: the
    HomeKit name the bridge shows (accessories/homekit_name.py), cleaned by HAP-python's own
    rule (``AccessoryMDNSServiceInfo._valid_name``: ASCII letters, digits and dashes)."""
    # Imported here: both load HAP-python, which config loading otherwise does without.
    from pyhap.accessory_driver import LEADING_TRAILING_SPACE_DASH, VALID_MDNS_REGEX

    from accessories.homekit_name import homekit_name

    cleaned = VALID_MDNS_REGEX.sub(" ", homekit_name(name, fallback))
    return LEADING_TRAILING_SPACE_DASH.sub("", cleaned)


BOOLEAN = Value(_boolean)
TEXT = text()
NON_EMPTY_TEXT = text(non_empty=True)
REGION = Value(_region)
URL = Clearable(Value(_url))
MAC = Clearable(Value(mac))
PIN = Clearable(Value(pin))
