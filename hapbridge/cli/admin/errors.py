"""Errors of the admin commands: one line, what is wrong and what to do, never a traceback.

Exit code 2 means nothing was done because of something the user must change (an argument,
a LOCK that names no lock or several); 1 is for everything that went wrong after that.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable

from hapbridge.errors import HapbridgeError


class AdminUsageError(HapbridgeError):
    """A bad argument caught before any cloud call (bad date, bad code, missing option)."""

    exit_code = 2


class NotFoundError(HapbridgeError):
    """No lock or gateway matches what the user named: a mistake in the command line,
    caught before any command was sent."""

    exit_code = 2


class AmbiguousError(HapbridgeError):
    """An alias names several locks (or a name several gateways): the message lists them,
    and nothing was sent."""

    exit_code = 2


class NoSuchItemError(AdminUsageError):
    """An ID (passcode, eKey, QR code, card, fingerprint) that is not on the lock: a typed
    mistake (exit 2), with the list command that shows the IDs. The command is completed
    with this run's -U/-c where the client is made (``with_client``)."""

    def __init__(self, what: str, item_id: int, alias: str, lock_id: int,
                 list_command: str) -> None:
        super().__init__(what)
        self.what, self.item_id, self.alias, self.lock_id = what, item_id, alias, lock_id
        self.list_words = (*list_command.split(), alias)
        self.command: Callable[..., str] = lambda *words: shlex.join(["hapbridge", *words])

    def __str__(self) -> str:
        return (f"no {self.what} {self.item_id} on {self.alias} ({self.lock_id}); the IDs: "
                f"{self.command(*self.list_words)}")


# Mistakes in the command line: no --json failure object, only the stderr line (exit 2).
USAGE_ERRORS = (AdminUsageError, NotFoundError, AmbiguousError)


class PartialFailure(HapbridgeError):
    """Some of several operations failed; their results were printed already."""
