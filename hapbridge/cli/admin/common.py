"""Glue shared by the admin commands: argument help, running a handler with a client, and
running cloud calls side by side."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar, overload

from hapbridge.cli.admin.errors import NoSuchItemError
from hapbridge.cli.context import Context
from hapbridge.errors import HapbridgeError
from hapbridge.ttlock import TTLockClient

A = TypeVar("A")
B = TypeVar("B")
T = TypeVar("T")

LOCK_HELP = "a lock id or alias (case-insensitive), as 'hapbridge locks' lists them"
TIME_HELP = ("the lock's time, ISO 8601: 2026-12-24T15:00 (or a date, or 'now'); without an "
             "offset it is read in the time zone the lock reports")
JSON_FAILURE_HELP = ("With --json a failure after the lock was found (the cloud or the gateway "
                     "refused) still prints the object, with \"ok\": false, \"error\" and "
                     "\"errcode\" when there is one; a mistake in the command line (a bad "
                     "argument, an unknown or ambiguous LOCK) prints only the error line "
                     "(exit 2).")

ClientHandler = Callable[[argparse.Namespace, TTLockClient], Awaitable[int | None]]
Handler = Callable[[argparse.Namespace, Context], Awaitable[int]]


def with_client(func: ClientHandler) -> Handler:
    """Run ``func(args, client)`` with a client on the bridge's config, stored token and
    usage counter, closing it (and saving the counter) afterwards."""

    async def handler(args: argparse.Namespace, ctx: Context) -> int:
        try:
            async with ctx.open_client() as client:
                return int(await func(args, client) or 0)
        except NoSuchItemError as err:
            err.command = ctx.command  # the list command with this run's -U and -c
            raise

    handler.__doc__ = func.__doc__
    return handler


class HelpFormatter(argparse.HelpFormatter):
    """argparse's wrapping to the terminal width for prose, but examples kept as typed.

    A paragraph (text between blank lines) with an indented line is an example block, as
    every epilog is (``examples:`` then indented commands): wrapping would break a command
    line in the middle. Any other paragraph is reflowed, so long descriptions fit.
    """

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n\n".join(
            self._fill_paragraph(paragraph, width, indent)
            for paragraph in text.strip("\n").split("\n\n")
        )

    def _fill_paragraph(self, paragraph: str, width: int, indent: str) -> str:
        lines = paragraph.splitlines()
        if any(line[:1].isspace() for line in lines):
            return "\n".join(indent + line for line in lines)
        return super()._fill_text(paragraph, width, indent)


def add_parser(subparsers: Any, name: str, **kwargs: Any) -> argparse.ArgumentParser:
    """A subcommand whose help fits the terminal and keeps the examples' line breaks."""
    kwargs.setdefault("formatter_class", HelpFormatter)
    parser: argparse.ArgumentParser = subparsers.add_parser(name, **kwargs)
    return parser


@overload
async def together(
    first: Coroutine[Any, Any, A], second: Coroutine[Any, Any, B], /
) -> tuple[A, B]: ...


@overload
async def together(*coros: Coroutine[Any, Any, T]) -> tuple[T, ...]: ...


async def together(*coros: Coroutine[Any, Any, Any]) -> tuple[Any, ...]:
    """Run ``coros`` side by side; their results in order.

    When one fails, the others are cancelled *and awaited* before this returns, so none is
    left running on a client that is about to close; the failure comes out as
    :func:`single_error` (one user-facing error, not an ``ExceptionGroup``).
    """
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(coro) for coro in coros]
    except ExceptionGroup as errors:
        raise single_error(errors) from None
    return tuple(task.result() for task in tasks)


def single_error(errors: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first failure when all of them are :class:`HapbridgeError` (the others are
    usually its echoes: the same refused login, the same unreachable server), else the group
    itself: a bug, to be seen whole."""
    matched, rest = errors.split(HapbridgeError)
    if matched is None or rest is not None:
        return errors
    first: BaseException = matched
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    return first
