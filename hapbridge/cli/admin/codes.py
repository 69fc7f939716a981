"""What makes a passcode acceptable, checked before any cloud call.

A gateway command takes seconds and a lock holds ~250 codes, so bad input is refused here
with a clear message instead of a cloud errcode after the wait.
"""

from __future__ import annotations

import itertools
import re
import secrets
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from typing import Protocol

from hapbridge.cli.admin.errors import AdminUsageError
from hapbridge.cli.admin.timeparse import LOCAL, TypedTime, Zone, format_time
from hapbridge.ttlock.models import PasscodeType

CODE_RE = re.compile(r"[0-9]{4,9}")
RANDOM_LENGTH = 6
# A start typed to the minute ("15:00") is a few seconds old by the time it is checked.
START_GRACE = timedelta(minutes=1)
# Where on Earth a lock's clock may be: a wall time is past everywhere once it is past at
# UTC-12, the last zone to reach it.
LAST_ZONE = timezone(timedelta(hours=-12))
NAME_MAX = 100

TYPE_NAMES: dict[PasscodeType, str] = {
    kind: kind.name.lower().replace("_", "-") for kind in PasscodeType
}
# Types `passcodes random` offers ("delete-all" would wipe the lock's codes: not offered).
RANDOM_TYPES: dict[str, PasscodeType] = {
    name: kind for kind, name in TYPE_NAMES.items() if kind is not PasscodeType.DELETE_ALL
}
NEEDS_END = {
    kind for kind in PasscodeType
    if kind not in (PasscodeType.ONE_TIME, PasscodeType.PERMANENT, PasscodeType.DELETE_ALL)
}  # fmt: skip


def type_name(value: int) -> str:
    try:
        return TYPE_NAMES[PasscodeType(value)]
    except ValueError:
        return f"type {value}"


def validate_code(code: str, *, option: str = "--code") -> str:
    if not code.isascii() or not code.isdigit():
        raise AdminUsageError(f"{option}: a passcode is digits only (0-9)")
    if not CODE_RE.fullmatch(code):
        raise AdminUsageError(f"{option}: a passcode has 4 to 9 digits, not {len(code)}")
    return code


# Straight lines down a phone keypad's columns (1-4-7, 2-5-8-0, 3-6-9), one column after
# another, either way: codes that look random on paper but are a swipe of the finger.
KEYPAD_WALKS = ("147258369", "963852741", "741852963", "369258147", "2580", "0852")


def is_trivial(code: str) -> bool:
    """All one digit, a run up or down (wrapping 9->0), a repeated block (1212, 123123), a
    keypad column walk (2580, 147258), or one of these with every digit doubled (112233)."""
    steps = {(int(b) - int(a)) % 10 for a, b in itertools.pairwise(code)}
    if steps in ({0}, {1}, {9}):
        return True
    if any(code in walk for walk in KEYPAD_WALKS):
        return True
    if len(code) % 2 == 0 and code[::2] == code[1::2] and len(code) >= 6:
        return is_trivial(code[::2])
    return any(
        len(code) % size == 0 and code == code[:size] * (len(code) // size)
        for size in range(1, len(code) // 2 + 1)
    )


def trivial_warning(code: str) -> str | None:
    """A warning for a code anyone would try first (1234, 123456, 1111, 121212), or None."""
    if not is_trivial(code):
        return None
    return (f"warning: {code} is among the first codes anyone tries at a keypad; "
            "leave out --code for a random one")


def check_daily_window(type_label: str, start: datetime, end: datetime, zone: Zone) -> None:
    """A repeating code opens each day from --start's hour to --end's: a window that ends
    before it starts would be listed (and refused by the lock) as 20:00 to 17:00.

    The cloud counts whole hours of UTC, so the hours are compared as it will keep them."""
    def kept(when: datetime) -> datetime:
        return when.astimezone(UTC).replace(minute=0, second=0, microsecond=0)

    opens, closes = kept(start), kept(end)
    if (closes.astimezone(zone.tz).time()) <= (opens.astimezone(zone.tz).time()):
        raise AdminUsageError(
            f"--type {type_label}: the daily window {format_time(opens, zone)[-5:]} to "
            f"{format_time(closes, zone)[-5:]} ends before it starts; give --start at the "
            "hour it opens each day (e.g. 08:00) and --end at the hour it closes, on the "
            "last day"
        )


def random_code(length: int = RANDOM_LENGTH) -> str:
    """A code from the system CSPRNG: no leading zero (some keypads drop it), never trivial."""
    rng = secrets.SystemRandom()
    while True:
        code = str(rng.randint(10 ** (length - 1), 10**length - 1))
        if not is_trivial(code):
            return code


def validate_window(
    start: datetime | None,
    end: datetime | None,
    *,
    now: datetime,
    future_start: bool,
    pair: bool = True,
    zone: Zone = LOCAL,
) -> None:
    """End after start and not past; a new code's start not past; with ``pair``, --start
    and --end come together. Messages show the times in ``zone``, as they were typed."""
    check_pair(start, end, pair=pair)
    if start is not None and end is not None and end <= start:
        raise AdminUsageError(
            f"--end ({format_time(end, zone)}) must be after --start "
            f"({format_time(start, zone)})"
        )
    if future_start and start is not None and start < now - START_GRACE:
        raise AdminUsageError(
            f"--start ({format_time(start, zone)}) is in the past; use a later time or 'now'"
        )
    if end is not None and end <= now:
        raise AdminUsageError(
            f"--end ({format_time(end, zone)}) is in the past: the code would never work"
        )


def precheck_window(
    start: TypedTime | None, end: TypedTime | None, *, now: datetime, future_start: bool
) -> None:
    """What is wrong in every time zone, checked before the lock's zone is known (a cloud
    call): --end not after --start (both typed the same way), a time past even at UTC-12."""
    def latest(typed: TypedTime) -> datetime:  # range-checked; 'now' is now
        return typed.at(Zone(LAST_ZONE, "UTC-12:00"), clock=lambda: now)

    if start is not None and end is not None:
        walls = (start.wall, end.wall)
        comparable = (None not in walls and
                      (start.wall.tzinfo is None) == (end.wall.tzinfo is None))  # type: ignore[union-attr]
        if comparable and end.wall <= start.wall:  # type: ignore[operator]
            raise AdminUsageError(f"--end ({end.text}) must be after --start ({start.text})")
    if future_start and start is not None and latest(start) < now - START_GRACE:
        raise AdminUsageError(
            f"--start ({start.text}) is in the past; use a later time or 'now'")
    if end is not None and latest(end) <= now:
        raise AdminUsageError(
            f"--end ({end.text}) is in the past: the code would never work")


def validate_name(name: str | None) -> str | None:
    """A name the lock's app and our tables can show: printable, one line, not empty."""
    if name is None:
        return None
    name = unicodedata.normalize("NFC", name.strip())
    if not name:
        raise AdminUsageError("--name: give a name (it cannot be empty)")
    if any(unicodedata.category(char).startswith("C") for char in name):
        raise AdminUsageError("--name: use printable characters only (no tabs or newlines)")
    if len(name) > NAME_MAX:
        raise AdminUsageError(f"--name: at most {NAME_MAX} characters, not {len(name)}")
    return name


def check_pair(start: object, end: object, *, pair: bool = True) -> None:
    """With ``pair``, --start and --end come together (checkable before any cloud call)."""
    if pair and (start is None) != (end is None):
        raise AdminUsageError("--start and --end go together: give both (or neither)")


class Timed(Protocol):
    """Anything valid from ``start`` until ``end`` (passcodes, fingerprints, cards)."""

    @property
    def start(self) -> datetime | None: ...
    @property
    def end(self) -> datetime | None: ...


def status(item: Timed, now: datetime) -> str:
    """``expired``, ``pending`` (not valid yet) or ``active``."""
    if item.end is not None and item.end <= now:
        return "expired"
    if item.start is not None and item.start > now:
        return "pending"
    return "active"
