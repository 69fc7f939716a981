"""The words of the bridge's log lines: a lock's command, the advice after a failure.

Kept apart from the hub so every message about a lock reads the same, wherever it is made.
"""

from __future__ import annotations

from accessories.ttlock_lock import UNSECURED
from hapbridge.ttlock.errors import BusyError, ServerError, TTLockError, UnreachableError


def verb(target: int) -> str:
    return "unlock" if target == UNSECURED else "lock"


def advice(err: TTLockError) -> str:
    """What the user can do, beyond the error's own message."""
    if isinstance(err, UnreachableError):
        return "HomeKit shows it as No Response until it answers again"
    if isinstance(err, BusyError):
        return "the gateway stayed busy through every retry; try again in a moment"
    if isinstance(err, ServerError):
        return "the TTLock cloud failed; try again in a moment"
    return "HomeKit shows the lock's last known state again"


def describe(err: BaseException) -> str:
    """One log line: TTLock errors speak for themselves, anything else also names its type."""
    return str(err) if isinstance(err, TTLockError) else f"{type(err).__name__}: {err}"


def plural(number: int, noun: str) -> str:
    """``1 gateway``, ``2 gateways``."""
    return f"{number} {noun}{'' if number == 1 else 's'}"
