"""Glue shared by the admin commands: argument help, and running a handler with a client."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import Any

from hapbridge.cli.context import Context
from hapbridge.ttlock import TTLockClient

LOCK_HELP = "a lock id or alias (case-insensitive), as 'hapbridge locks' lists them"
TIME_HELP = "local time, ISO 8601: 2026-12-24T15:00 (or a date, or 'now')"

ClientHandler = Callable[[argparse.Namespace, TTLockClient], Awaitable[int | None]]
Handler = Callable[[argparse.Namespace, Context], Awaitable[int]]


def with_client(func: ClientHandler) -> Handler:
    """Run ``func(args, client)`` with a client on the bridge's config, stored token and
    usage counter, closing it (and saving the counter) afterwards."""

    async def handler(args: argparse.Namespace, ctx: Context) -> int:
        async with ctx.open_client() as client:
            return int(await func(args, client) or 0)

    handler.__doc__ = func.__doc__
    return handler


def add_parser(subparsers: Any, name: str, **kwargs: Any) -> argparse.ArgumentParser:
    """A subcommand whose help keeps the examples' line breaks."""
    kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
    parser: argparse.ArgumentParser = subparsers.add_parser(name, **kwargs)
    return parser
