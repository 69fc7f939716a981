"""The root of every error hapbridge raises on purpose.

Anything derived from :class:`HapbridgeError` is a user-facing condition: the CLI prints
``str(err)`` as one line and exits non-zero, never a traceback.
"""

from __future__ import annotations


class HapbridgeError(Exception):
    """A problem with a message a user can act on."""

    exit_code: int = 1


class ConfigError(HapbridgeError):
    """The configuration is wrong; the message names the key and the fix."""

    exit_code = 2
