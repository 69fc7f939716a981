"""Everyday lock administration from the command line, on the bridge's config and token.

Each module adds its commands to the top-level parser; ``hapbridge.cli.main`` calls
:func:`register`.
"""

from __future__ import annotations

from typing import Any

from hapbridge.cli.admin import (
    check,
    credentials,
    ekeys,
    gateways,
    lock_settings,
    locks,
    passcodes,
    qrcodes,
    records,
    usage,
)

MODULES = (check, locks, gateways, passcodes, records, usage,
           ekeys, qrcodes, credentials, lock_settings)


def register(subparsers: Any) -> None:
    for module in MODULES:
        module.register(subparsers)
