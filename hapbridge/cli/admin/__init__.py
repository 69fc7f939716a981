"""Everyday lock administration from the command line, on the bridge's config and token.

Each module adds its commands to the top-level parser; ``hapbridge.cli.main`` calls
:func:`register`.
"""

from __future__ import annotations

from typing import Any

from hapbridge.cli.admin import check, gateways, locks, passcodes, records, usage

MODULES = (check, locks, gateways, passcodes, records, usage)


def register(subparsers: Any) -> None:
    for module in MODULES:
        module.register(subparsers)
