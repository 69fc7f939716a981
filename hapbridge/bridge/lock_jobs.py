"""The two jobs a lock's mailbox runs, and how their answers become state.

A command (lock or unlock) is sent one attempt at a time (the dispatcher decides about
retries); its result reports COMMAND state, or puts the tile back to the true state. A
state query reports POLL state, stamped with the time it was sent, so an answer that
predates a command or an auto-lock is dropped by the record. Every call goes through the
cloud health, and a lock the cloud says no longer exists (-1003) is removed at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from accessories.ttlock_lock import SECURED, UNKNOWN, UNSECURED
from hapbridge.bridge.cloud_api import CloudApi
from hapbridge.bridge.cloud_health import CloudHealth
from hapbridge.bridge.dispatcher import Mailbox
from hapbridge.bridge.door_state import polled as door_polled
from hapbridge.bridge.log_text import advice, verb
from hapbridge.bridge.registry import LockRegistry
from hapbridge.bridge.tracked_lock import Fact, Report, Source, TrackedLock
from hapbridge.ttlock.errors import LockNotFoundError, QuotaError, TTLockError, UnreachableError
from hapbridge.ttlock.models import OpenState
from hapbridge.ttlock.reach import CAUSE_BY_ERRCODE, Cause

_LOGGER = logging.getLogger(__name__)

OPEN_STATE_TO_HOMEKIT = {
    OpenState.LOCKED: SECURED,
    OpenState.UNLOCKED: UNSECURED,
    OpenState.UNKNOWN: UNKNOWN,  # never Jammed: the lock just did not say
}
GONE = "no longer exists on the account (the cloud answers -1003)"


class LockJobs:
    def __init__(self, client: CloudApi, health: CloudHealth, registry: LockRegistry,
                 retry_poll: Callable[[TrackedLock], None]) -> None:
        self._client = client
        self._health = health
        self._registry = registry
        self._retry_poll = retry_poll  # a query that met a busy gateway is tried again soon

    # -- commands ---------------------------------------------------------------------

    async def send(self, box: Mailbox, target: int) -> None:
        """One attempt: no client retries, so a newer wish can end them. While it travels,
        locks.json says the lock's state is in doubt (written side by side with the call):
        a crash before the result is on disk makes the restart ask the lock."""
        written = self._registry.doubt(box.lock_id)
        send = self._client.unlock if target == UNSECURED else self._client.lock
        try:
            await self._health.watch(send(box.lock_id, retries=0))
        finally:
            await written

    def settled(self, box: Mailbox, target: int, error: BaseException | None) -> None:
        registry, lock_id = self._registry, box.lock_id
        if (record := registry.get(lock_id)) is None:
            return
        if error is None:
            registry.set_cause(lock_id, None)
            registry.report(lock_id, Report(Fact.LOCK, target, Source.COMMAND))
            _LOGGER.info("%s: %sed", record.name, verb(target))
            return
        command_failed(registry, record, verb(target), error, newer=box.wish is not None)

    # -- state queries ----------------------------------------------------------------

    async def query(self, lock_id: int) -> None:
        registry = self._registry
        if (record := registry.get(lock_id)) is None or self._health.quiet:
            return
        sent = time.monotonic()
        try:
            # No client retries: they would hold the gateway (and a waiting command) for up
            # to maximumApiRetry timeouts; a busy answer is retried after a backoff instead.
            state = await self._health.watch(
                self._client.query_open_state(lock_id, retries=0))
        except LockNotFoundError:
            registry.drop(lock_id, GONE)
            return
        except UnreachableError as err:
            mark_unreachable(registry, lock_id, err)
            return
        except QuotaError:
            return  # the health pauses the polls
        except TTLockError as err:
            _LOGGER.info("%s: state query failed (%s); trying again %s", record.name, err,
                         "soon" if err.retryable else "at the next poll")
            if err.retryable:
                self._retry_poll(record)
            return
        record.poll_failures = 0
        registry.set_cause(lock_id, None)
        registry.report(lock_id, Report(Fact.LOCK, OPEN_STATE_TO_HOMEKIT[state.state],
                                        Source.POLL, since=sent))
        door_polled(registry, lock_id, state, sent)



def command_failed(registry: LockRegistry, record: TrackedLock, what: str,
                   error: BaseException, *, newer: bool) -> None:
    """A command (``what``: "unlock", "passage mode on") failed for good: -1003 removes
    the lock, an unreachable one shows why, and the tile goes back to the true state
    (unless a ``newer`` wish waits, which it then shows)."""
    lock_id = record.lock_id
    if isinstance(error, LockNotFoundError):
        registry.drop(lock_id, GONE)
        return
    if isinstance(error, UnreachableError):
        mark_unreachable(registry, lock_id, error)
    replaced = "; a newer wish replaces it" if newer else ""
    if isinstance(error, TTLockError):
        _LOGGER.error("%s: %s failed: %s (%s)%s", record.name, what, error, advice(error),
                      replaced)
    else:
        _LOGGER.error("%s: %s failed unexpectedly%s", record.name, what, replaced)
    registry.render(lock_id)


def mark_unreachable(registry: LockRegistry, lock_id: int, err: TTLockError) -> None:
    cause = CAUSE_BY_ERRCODE.get(err.errcode or 0, Cause.LOCK_SILENT)
    registry.set_cause(lock_id, cause, str(err))
