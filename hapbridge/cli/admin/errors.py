"""Errors of the admin commands: one line, what is wrong and what to do, never a traceback.

Exit code 2 means nothing was done because of something the user must change (an argument,
a LOCK that names no lock or several); 1 is for everything that went wrong after that.
"""

from __future__ import annotations

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


# Mistakes in the command line: no --json failure object, only the stderr line (exit 2).
USAGE_ERRORS = (AdminUsageError, NotFoundError, AmbiguousError)


class PartialFailure(HapbridgeError):
    """Some of several operations failed; their results were printed already."""
