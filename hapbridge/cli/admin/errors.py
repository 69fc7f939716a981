"""Errors of the admin commands: one line, what is wrong and what to do, never a traceback."""

from __future__ import annotations

from hapbridge.errors import HapbridgeError


class AdminUsageError(HapbridgeError):
    """A bad argument caught before any cloud call (bad date, bad code, missing option)."""

    exit_code = 2


class NotFoundError(HapbridgeError):
    """No lock, gateway or passcode matches what the user named."""


class AmbiguousError(HapbridgeError):
    """An alias names several locks (or a name several gateways): the message lists them."""


class PartialFailure(HapbridgeError):
    """Some of several operations failed; their results were printed already."""
