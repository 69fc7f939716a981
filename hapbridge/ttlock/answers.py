"""Shared by the client's call modules: reading an answer, and the cloud's "through the
gateway" mode value."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from hapbridge.ttlock.errors import TTLockError, UnknownError
from hapbridge.ttlock.models import PARSE_ERRORS

GATEWAY_TYPE = 2  # addType/changeType/deleteType/type: through the gateway (or Wi-Fi)


@contextmanager
def answer_of(path: str) -> Iterator[None]:
    """Turn a malformed answer (a missing key, a wrong type) into a TTLockError.

    Callers handle one family of errors; a KeyError from deep in the parsing would pass
    them by and, in the bridge, end a task that should only have logged a failed poll.
    Only the kind of problem is named, never a value (it could be key material).
    """
    failure: TTLockError | None = None
    try:
        yield
    except KeyError as err:
        failure = UnknownError(
            f"the TTLock cloud sent an unexpected answer to {path} (no {err}); "
            "try again later, and report it if it persists", path=path)
    except PARSE_ERRORS as err:
        failure = UnknownError(
            f"the TTLock cloud sent an unexpected answer to {path} ({type(err).__name__}); "
            "try again later, and report it if it persists", path=path)
    if failure is not None:
        raise failure


class CallsBase:
    """What the call modules (settings_calls, access_calls) use of TTLockClient, so each
    can be a small mixin of its own."""

    if TYPE_CHECKING:
        async def call(
            self, method: str, path: str, *, idempotent: bool = True,
            retries: int | None = None, confirm: Any = None, **params: Any,
        ) -> dict[str, Any]: ...

        async def _pages(
            self, path: str, page_size: int, id_key: str, limit: int | None = None,
            retries: int | None = None, **params: Any,
        ) -> list[dict[str, Any]]: ...
