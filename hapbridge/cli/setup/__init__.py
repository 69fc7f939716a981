"""Getting started: ``init`` (a tested config), ``register`` (an app account) and
``service`` (start at boot, restart on failure)."""

from __future__ import annotations

from typing import Any

from hapbridge.cli.setup import init, new_account, service

MODULES = (init, new_account, service)


def register(subparsers: Any) -> None:
    for module in MODULES:
        module.register(subparsers)
