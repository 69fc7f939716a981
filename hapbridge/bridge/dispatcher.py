"""One mailbox per lock; at most one job in flight per gateway; commands ahead of polls.

A TTLock gateway carries one command at a time and answers -3003 to a second one, so every
call that travels through a gateway (lock, unlock, queryOpenState) waits until that
gateway is free. Gateways run side by side. Each lock has a mailbox: the wish waiting (the
newest wins, in the place of the first, so a scene keeps its order), the wish in flight,
and a state query waiting (pointless while a command is there, so it is dropped).

The lock's carrier (its gateway) is looked up when its job starts, never when it is
queued: a lock that moves to another gateway needs nothing special. A job in flight keeps
both the carrier it started on and the lock's current one busy.

A command's retries are the mailbox's business, not the client's: a newer wish ends them
(the older command is awaited while it is on the wire, never sent twice, and not retried
once a newer wish waits). The command lane is used by the bridge; the admin CLI uses the
same dispatcher for its state queries. Commands come in kinds (:class:`Kind`): a lock or
unlock, and a passage-mode change; the newest wish wins within its kind (a passage wish
never replaces a lock wish), each kind has its own sender, and all share the lane, the
lock's turn on its gateway and the retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Any

from hapbridge.bridge.futures import resolved
from hapbridge.ttlock.reach import Carrier
from hapbridge.ttlock.retry import RetryPolicy

_LOGGER = logging.getLogger(__name__)

Job = Callable[[], Awaitable[None]]
# One attempt of a command (raises the cloud's error), and what happened to it at the end:
# None when it landed, else the last error (the mailbox tells whether a newer wish waits).
Send = Callable[["Mailbox", int], Awaitable[None]]
Settled = Callable[["Mailbox", int, BaseException | None], None]
SendPassage = Callable[["Mailbox", bool], Awaitable[None]]
SettledPassage = Callable[["Mailbox", bool, BaseException | None], None]
CarrierOf = Callable[[int], Carrier | None]  # None: not dispatchable yet (no route known)


class Lane(IntEnum):
    COMMAND = 0
    POLL = 1


class Kind(Enum):
    """What a command changes; the order is the order of their turns within a lock."""

    LOCK = "lock"  # lock or unlock: a LockTargetState
    PASSAGE = "passage-mode"  # passage mode on or off


@dataclass(eq=False)
class Errand:
    """One kind of command of one lock: the newest wish waiting, the one in flight (or
    between its retries)."""

    waiting: Any = None
    in_flight: Any = None
    done: asyncio.Future[bool] | None = field(default=None, repr=False)


def _finish(future: asyncio.Future[bool] | None, ran: bool) -> None:
    if future is not None and not future.done():
        future.set_result(ran)


@dataclass(eq=False)
class Mailbox:
    """The work of one lock: what waits, what is in flight."""

    lock_id: int
    poll: Job | None = None  # a state query waiting
    polling: bool = False
    errands: dict[Kind, Errand] = field(
        default_factory=lambda: {kind: Errand() for kind in Kind})
    _poll_done: asyncio.Future[bool] | None = field(default=None, repr=False)
    _newer: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def wish(self) -> int | None:
        """The newest lock command waiting."""
        return self.errands[Kind.LOCK].waiting

    @property
    def in_flight(self) -> int | None:
        """The lock command on its way (or between its retries)."""
        return self.errands[Kind.LOCK].in_flight

    @property
    def passage(self) -> bool | None:
        """The newest passage-mode wish waiting."""
        return self.errands[Kind.PASSAGE].waiting

    @property
    def busy(self) -> bool:
        return self.polling or any(e.in_flight is not None for e in self.errands.values())

    @property
    def has_command(self) -> bool:
        """A lock command waits or runs: poll answers must not touch what HomeKit shows as
        the target, and a poll is pointless."""
        return self.wish is not None or self.in_flight is not None

    @property
    def target(self) -> int | None:
        """The wish HomeKit should show: the waiting one, else the one in flight."""
        return self.wish if self.wish is not None else self.in_flight

    @property
    def passage_target(self) -> bool | None:
        """The passage-mode wish HomeKit should show: the waiting one, else in flight."""
        errand = self.errands[Kind.PASSAGE]
        return errand.waiting if errand.waiting is not None else errand.in_flight


class Dispatcher:
    """Orders the mailboxes' work onto their carriers."""

    def __init__(
        self,
        carrier_of: CarrierOf,
        *,
        send: Send | None = None,
        settled: Settled | None = None,
        retry: RetryPolicy | None = None,
        send_passage: SendPassage | None = None,
        settled_passage: SettledPassage | None = None,
    ) -> None:
        self._carrier_of = carrier_of
        self._senders: dict[Kind, tuple[Callable[[Mailbox, Any], Awaitable[None]],
                                        Callable[[Mailbox, Any, BaseException | None], None]
                                        | None]] = {}
        if send is not None:
            self._senders[Kind.LOCK] = (send, settled)
        if send_passage is not None:
            self._senders[Kind.PASSAGE] = (send_passage, settled_passage)
        self._retry = retry or RetryPolicy()
        self._waiting: dict[Lane, OrderedDict[Mailbox, None]] = {
            lane: OrderedDict() for lane in Lane}
        self._running: dict[Mailbox, tuple[Carrier, asyncio.Task[None]]] = {}
        self._closed = False

    # -- submitting -------------------------------------------------------------------

    def wish(self, box: Mailbox, target: int) -> asyncio.Future[bool]:
        """HomeKit wants ``target``: it replaces a waiting wish (in its place) and ends the
        retries of one in flight. True once it ran, False when replaced or dropped."""
        done = self._wish(box, Kind.LOCK, target)
        self._drop_poll(box)
        return done

    def wish_passage(self, box: Mailbox, on: bool) -> asyncio.Future[bool]:
        """HomeKit wants passage mode ``on``: as :meth:`wish`, among passage wishes."""
        return self._wish(box, Kind.PASSAGE, on)

    def _wish(self, box: Mailbox, kind: Kind, value: Any) -> asyncio.Future[bool]:
        if self._closed or kind not in self._senders:
            return resolved(False)
        errand = box.errands[kind]
        _finish(errand.done, False)
        errand.waiting = value
        errand.done = done = asyncio.get_running_loop().create_future()
        if errand.in_flight is not None:
            box._newer.set()
        self._waiting[Lane.COMMAND].setdefault(box)
        self.pump()
        return done

    def poll(self, box: Mailbox, job: Job) -> asyncio.Future[bool]:
        """Queue a state query; dropped (False) while a command or a query waits."""
        if self._closed or box.has_command or box.poll is not None:
            return resolved(False)
        box.poll = job
        box._poll_done = done = asyncio.get_running_loop().create_future()
        self._waiting[Lane.POLL][box] = None
        self.pump()
        return done

    def discard(self, box: Mailbox) -> None:
        """The lock is gone: its waiting work is dropped, its job in flight cancelled."""
        self._drop_poll(box)
        self._waiting[Lane.COMMAND].pop(box, None)
        for errand in box.errands.values():
            errand.waiting = None
            _finish(errand.done, False)
        if (running := self._running.get(box)) is not None:
            running[1].cancel()

    def _drop_poll(self, box: Mailbox) -> None:
        if box.poll is not None:
            box.poll = None
            self._waiting[Lane.POLL].pop(box, None)
            _finish(box._poll_done, False)

    # -- running ----------------------------------------------------------------------

    def pump(self) -> None:
        """Start every job whose lock and carrier are free (also after a route is known)."""
        if self._closed:
            return
        busy: set[Carrier] = set()
        for box, (started_on, _task) in self._running.items():
            busy.add(started_on)
            if (now := self._carrier_of(box.lock_id)) is not None:
                busy.add(now)
        for lane in Lane:
            for box in list(self._waiting[lane]):
                carrier = self._carrier_of(box.lock_id)
                if box.busy or carrier is None or carrier in busy:
                    continue
                del self._waiting[lane][box]
                busy.add(carrier)
                coro = self._command(box) if lane is Lane.COMMAND else self._query(box)
                task = asyncio.create_task(coro, name=f"gateway-queue-{carrier}")
                self._running[box] = (carrier, task)
                task.add_done_callback(lambda _t, box=box: self._ended(box))

    def _ended(self, box: Mailbox) -> None:
        self._running.pop(box, None)
        self.pump()

    async def _query(self, box: Mailbox) -> None:
        job, done = box.poll, box._poll_done
        box.poll, box._poll_done, box.polling = None, None, True
        try:
            if job is not None:
                await job()
        except asyncio.CancelledError:
            _finish(done, False)
            raise
        except Exception:  # one bad job never stops the others
            _LOGGER.exception("state query of lock %s failed", box.lock_id)
        finally:
            box.polling = False
        _finish(done, True)

    async def _command(self, box: Mailbox) -> None:
        """The lock's next command: the first kind with a wish waiting."""
        kind = next((k for k in Kind if box.errands[k].waiting is not None), None)
        if kind is None or kind not in self._senders:
            return
        send, settled = self._senders[kind]
        errand = box.errands[kind]
        value, done = errand.waiting, errand.done
        errand.waiting, errand.done, errand.in_flight = None, None, value
        if any(e.waiting is not None for e in box.errands.values()):
            self._waiting[Lane.COMMAND].setdefault(box)  # another kind's turn comes next
        box._newer.clear()
        error: BaseException | None = None
        try:
            error = await self._attempts(box, lambda: send(box, value),
                                         lambda: errand.waiting is not None)
        except asyncio.CancelledError:
            _finish(done, False)
            raise
        except Exception as err:  # a bug in a sender must not stop the gateway
            _LOGGER.exception("%s command for lock %s failed unexpectedly", kind.value,
                              box.lock_id)
            error = err
        finally:
            errand.in_flight = None
        try:
            if settled is not None:
                settled(box, value, error)
        except Exception:  # reporting a result must not stop the gateway either
            _LOGGER.exception("result of the %s command for lock %s was lost", kind.value,
                              box.lock_id)
        _finish(done, error is None)

    async def _attempts(self, box: Mailbox, send: Job,
                        newer: Callable[[], bool]) -> BaseException | None:
        """Send until it lands, fails for good, or a newer wish waits (then the older one
        is not tried again: the newer decides)."""
        retries = 0
        while True:
            try:
                await send()
            except Exception as err:
                if (not getattr(err, "retryable", False) or newer()
                        or retries >= self._retry.max_retries):
                    return err
                delay = self._retry.delay(retries)
                retries += 1
                _LOGGER.info("lock %s: %s; retry %d/%d in %.1fs", box.lock_id, err, retries,
                             self._retry.max_retries, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(box._newer.wait(), delay)
                if newer():
                    return err  # a newer wish arrived during the backoff
                continue
            return None

    # -- state ------------------------------------------------------------------------

    def cut_off(self) -> list[Mailbox]:
        """Mailboxes whose command is in flight or waits (what a stop cuts off)."""
        boxes = {box for box in self._running
                 if any(e.in_flight is not None for e in box.errands.values())}
        boxes.update(self._waiting[Lane.COMMAND])
        return sorted(boxes, key=lambda box: box.lock_id)

    async def close(self) -> None:
        """Nothing new starts; waiting work is dropped, running jobs cancelled."""
        self._closed = True
        for lane in Lane:
            for box in list(self._waiting[lane]):
                self.discard(box)
        tasks = [task for _carrier, task in self._running.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
