"""One cloud command in flight per gateway; the newest wish per lock wins.

A TTLock gateway carries one command at a time and answers -3003 to a second one, so every
call that travels through a gateway (lock, unlock, queryOpenState) waits in that gateway's
queue. Queues of different gateways run in parallel. Commands go before polls; a newer
command for a lock replaces its queued older one in place (a scene keeps its order), and a
poll is pointless while a command for the same lock is waiting, so it is dropped.

``holding`` finds the queue that has work for a lock: the hub keeps a lock's work there
while its route changes (see ``LockHub.queue_key``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from enum import IntEnum

_LOGGER = logging.getLogger(__name__)

Job = Callable[[], Awaitable[None]]


class Priority(IntEnum):
    COMMAND = 0
    POLL = 1


@dataclass
class _Entry:
    job: Job
    done: asyncio.Future[bool]  # True: ran; False: superseded or dropped


def _finish(future: asyncio.Future[bool], ran: bool) -> None:
    if not future.done():
        future.set_result(ran)


class GatewayQueue:
    """The serial queue of one gateway (or of one Wi-Fi lock)."""

    def __init__(self, key: Hashable) -> None:
        self.key = key
        self._lanes: dict[Priority, OrderedDict[int, _Entry]] = {p: OrderedDict() for p in Priority}
        self._worker: asyncio.Task[None] | None = None
        self.in_flight: tuple[int, Priority] | None = None

    def __len__(self) -> int:
        return sum(len(lane) for lane in self._lanes.values())

    def submit(self, lock_id: int, job: Job, priority: Priority) -> asyncio.Future[bool]:
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        commands, polls = self._lanes[Priority.COMMAND], self._lanes[Priority.POLL]
        if priority is Priority.COMMAND:
            if (old := commands.get(lock_id)) is not None:
                _finish(old.done, False)  # last wish wins, in the older wish's place
            commands[lock_id] = _Entry(job, done)
            if (poll := polls.pop(lock_id, None)) is not None:
                _finish(poll.done, False)
        elif self.has_command(lock_id) or lock_id in polls:
            _finish(done, False)
            return done
        else:
            polls[lock_id] = _Entry(job, done)
        self._ensure_worker()
        return done

    def has_command(self, lock_id: int) -> bool:
        """A command for the lock waits or runs: poll results must not touch its target."""
        return lock_id in self._lanes[Priority.COMMAND] or self.in_flight == (
            lock_id,
            Priority.COMMAND,
        )

    def has_queued_command(self, lock_id: int) -> bool:
        """A newer command waits behind the running one: its wish must stay on show."""
        return lock_id in self._lanes[Priority.COMMAND]

    def holds(self, lock_id: int) -> bool:
        """Any work for the lock waits or runs here."""
        in_flight = self.in_flight is not None and self.in_flight[0] == lock_id
        return in_flight or any(lock_id in lane for lane in self._lanes.values())

    def _ensure_worker(self) -> None:
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work(), name=f"gateway-queue-{self.key}")

    def _next(self) -> tuple[int, Priority, _Entry] | None:
        for priority in Priority:
            lane = self._lanes[priority]
            if lane:
                lock_id, entry = lane.popitem(last=False)
                return lock_id, priority, entry
        return None

    async def _work(self) -> None:
        while (item := self._next()) is not None:
            lock_id, priority, entry = item
            self.in_flight = (lock_id, priority)
            try:
                await entry.job()
            except asyncio.CancelledError:
                _finish(entry.done, False)
                raise
            except Exception:  # one bad job never stops the gateway's queue
                _LOGGER.exception("queue %s: job for lock %s failed", self.key, lock_id)
            finally:
                self.in_flight = None
            _finish(entry.done, True)

    async def close(self) -> None:
        for lane in self._lanes.values():
            for entry in lane.values():
                _finish(entry.done, False)
            lane.clear()
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)


class CommandQueues:
    """The queues by gateway key, created on first use; closed for good by ``close``."""

    def __init__(self) -> None:
        self._queues: dict[Hashable, GatewayQueue] = {}
        self._closed = False

    def queue(self, key: Hashable) -> GatewayQueue:
        if (queue := self._queues.get(key)) is None:
            queue = self._queues[key] = GatewayQueue(key)
        return queue

    def holding(self, key: Hashable, lock_id: int) -> GatewayQueue | None:
        """The queue with work for the lock (``key``, its current route, is looked at first)."""
        first = self._queues.get(key)
        if first is not None and first.holds(lock_id):
            return first
        return next((q for q in self._queues.values() if q.holds(lock_id)), None)

    def submit(
        self, key: Hashable, lock_id: int, job: Job, priority: Priority = Priority.COMMAND
    ) -> asyncio.Future[bool]:
        if self._closed:  # shutting down: nothing new may start a worker
            done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
            done.set_result(False)
            return done
        return self.queue(key).submit(lock_id, job, priority)

    def has_command(self, key: Hashable, lock_id: int) -> bool:
        queue = self._queues.get(key)
        return queue is not None and queue.has_command(lock_id)

    def has_queued_command(self, key: Hashable, lock_id: int) -> bool:
        queue = self._queues.get(key)
        return queue is not None and queue.has_queued_command(lock_id)

    async def close(self) -> None:
        self._closed = True
        await asyncio.gather(*(q.close() for q in self._queues.values()))
        self._queues.clear()
