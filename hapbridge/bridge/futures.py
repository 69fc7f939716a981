"""A future that is already done: the answer of a call that had nothing to wait for."""

from __future__ import annotations

import asyncio
from typing import TypeVar

T = TypeVar("T")


def resolved(value: T) -> asyncio.Future[T]:
    """Done with ``value`` on the running loop (a job not run, a write not needed)."""
    done: asyncio.Future[T] = asyncio.get_running_loop().create_future()
    done.set_result(value)
    return done
