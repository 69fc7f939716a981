"""Work over several locks: gateways side by side, one command per gateway at a time, with
progress on a terminal and a clean stop on Ctrl-C.

The order comes from the bridge's dispatcher (``hapbridge/bridge/dispatcher.py``) keyed by
the reach model's carriers, so the CLI and the bridge share the one rule: a gateway carries
one command at a time (a second gets -3003), different gateways work at once, a Wi-Fi lock
carries its own commands, and a lock without a gateway fails at once, as it always did.

Ctrl-C: the first press drops what waits and, for work that changes locks, waits for the
commands already sent (their answer says whether the code was added); a second press
abandons those too. The command then prints what was done, from its own rows, and exits 130.
Work that only reads stops at the first press.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hapbridge.bridge.dispatcher import Dispatcher, Job, Mailbox
from hapbridge.cli.admin.output import note
from hapbridge.cli.admin.progress import Progress
from hapbridge.cli.admin.reach import reach_so_far
from hapbridge.errors import HapbridgeError
from hapbridge.ttlock import TTLockClient
from hapbridge.ttlock.models import Lock
from hapbridge.ttlock.reach import Carrier, gateway_carrier, lone_carrier

INTERRUPTED_EXIT = 130  # as a shell reports a command ended by SIGINT
# Locks whose gateway cannot be told (their gateway's list failed, or none lists them yet)
# share one carrier: done one after the other, as before there was any parallel work.
UNKNOWN_GATEWAY: Carrier = ("gateway", None)


@dataclass(frozen=True)
class Step:
    """How one lock's work ended, for its progress line."""

    ok: bool
    text: str


Work = Callable[[Lock], Awaitable[Step]]


def label(lock: Lock) -> str:
    return f"{lock.alias} ({lock.lock_id})"


# -- carriers -----------------------------------------------------------------------------


def cloud_carriers(locks: Sequence[Lock]) -> dict[int, Carrier]:
    """For work that is the cloud's alone (listings, records): every lock at once."""
    return {lock.lock_id: ("cloud", lock.lock_id) for lock in locks}


async def gateway_carriers(client: TTLockClient, locks: Sequence[Lock]) -> dict[int, Carrier]:
    """What carries each lock's gateway commands, from the reach model (``gateway/list`` and
    one ``gateway/listLock`` per gateway, only when two or more locks may share one)."""
    carriers = {lock.lock_id: lone_carrier(lock.lock_id, wifi=lock.is_wifi) for lock in locks}
    behind = [lock for lock in locks if lock.has_gateway and not lock.is_wifi]
    if len(behind) < 2:
        return carriers
    try:
        reach = await reach_so_far(client)
    except HapbridgeError:  # no gateway list: one after the other, as before
        return carriers | {lock.lock_id: UNKNOWN_GATEWAY for lock in behind}
    for lock in behind:
        link = reach.best(lock.lock_id)
        carriers[lock.lock_id] = (gateway_carrier(link.gateway.gateway_id) if link is not None
                                  else UNKNOWN_GATEWAY)
    return carriers


def spread(carriers: Mapping[int, Carrier]) -> str:
    """``, through 3 gateways side by side (one command at a time on each)`` for the first
    progress line; nothing when no gateway is known."""
    gateways = {c for c in carriers.values()
                if isinstance(c, tuple) and c[0] == "gateway" and c[1] is not None}
    if len(gateways) > 1:
        return (f", through {len(gateways)} gateways side by side (one command at a time "
                "on each)")
    return ", through 1 gateway (one command at a time)" if gateways else ""


# -- Ctrl-C -------------------------------------------------------------------------------


@dataclass
class Presses:
    """How often Ctrl-C was pressed during a run."""

    count: int = 0
    _events: list[asyncio.Event] = field(default_factory=lambda: [asyncio.Event(),
                                                                  asyncio.Event()])

    def press(self) -> None:
        self.count += 1
        for event in self._events[:self.count]:
            event.set()

    def pressed(self, times: int) -> asyncio.Event:
        return self._events[min(times, len(self._events)) - 1]


@contextlib.contextmanager
def catching_ctrl_c() -> Iterator[Presses]:
    """Ctrl-C counted instead of cancelling the command (asyncio.run's way, which would
    leave no chance to wait for a command in flight); the previous handler afterwards."""
    presses = Presses()
    loop = asyncio.get_running_loop()
    previous = signal.getsignal(signal.SIGINT)
    try:
        loop.add_signal_handler(signal.SIGINT, presses.press)
    except (ValueError, RuntimeError, NotImplementedError):  # not the main thread
        yield presses
        return
    try:
        yield presses
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        signal.signal(signal.SIGINT, previous if previous is not None
                      else signal.default_int_handler)


async def _until(done: asyncio.Future[Any], event: asyncio.Event) -> None:
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait([done, waiter], return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()


# -- the run ------------------------------------------------------------------------------


class LockRun:
    """One piece of work per lock, ordered by carrier; what became of each lock.

    ``changes``: the work changes locks (wait for commands in flight on the first Ctrl-C)
    rather than only reading them (stop at once). The work keeps its own results (rows in
    the order the user gave); the run tells which locks finished, which were never
    started and which were abandoned in flight.
    """

    def __init__(
        self, locks: Sequence[Lock], carriers: Mapping[int, Carrier], *, changes: bool,
        progress: Progress | None = None,
    ) -> None:
        self.locks = list(locks)
        self._carriers = dict(carriers)
        self.changes = changes
        self.progress = progress or Progress(len(self.locks))
        self.finished: set[int] = set()
        self.abandoned: list[Lock] = []
        self.interrupted = False
        self._running: dict[int, Lock] = {}
        self._failures: list[BaseException] = []

    @property
    def stopping(self) -> bool:
        """Ctrl-C was pressed: work of several steps stops after the step in flight."""
        return self.interrupted

    @property
    def not_started(self) -> list[Lock]:
        gone = {lock.lock_id for lock in self.abandoned} | self.finished
        return [lock for lock in self.locks if lock.lock_id not in gone]

    async def each(self, work: Work, *, title: str) -> None:
        """Run ``work`` for every lock; returns when all finished or Ctrl-C stopped them.
        An unexpected error of one lock's work (a bug) is raised once the others ended."""
        dispatcher = Dispatcher(self._carriers.get)
        boxes = {lock.lock_id: Mailbox(lock.lock_id) for lock in self.locks}
        self.progress.begin(title + spread(self._carriers))
        try:
            with catching_ctrl_c() as presses:
                done = asyncio.gather(*(dispatcher.poll(boxes[lock.lock_id], self._job(lock, work))
                                        for lock in self.locks))
                await _until(done, presses.pressed(1))
                if not done.done():
                    await self._stop(dispatcher, boxes, done, presses)
        finally:
            await dispatcher.close()
            self.progress.end()
        if self._failures:
            raise self._failures[0]

    async def _stop(
        self, dispatcher: Dispatcher, boxes: Mapping[int, Mailbox], done: asyncio.Future[Any],
        presses: Presses,
    ) -> None:
        self.interrupted = True
        for box in boxes.values():
            if not box.busy:  # waiting, or not begun: nothing was sent for it
                dispatcher.discard(box)
        if not self.changes or not self._running:
            return
        flying = list(self._running.values())
        them = "them" if len(flying) > 1 else "it"
        self.progress.say(f"Ctrl-C: stopping. Waiting for the command{'s' * (len(flying) > 1)} "
                          f"in flight on {names(flying)} (Ctrl-C again to abandon {them})")
        await _until(done, presses.pressed(2))

    def _job(self, lock: Lock, work: Work) -> Job:
        async def run() -> None:
            self._running[lock.lock_id] = lock
            self.progress.started(label(lock), lock.alias)
            try:
                step = await work(lock)
            except asyncio.CancelledError:
                self.abandoned.append(lock)
                self.progress.abandoned(label(lock))
                raise
            except Exception as err:  # kept for after the run, never lost in a task
                self._failures.append(err)
                step = Step(False, f"failed: {err}")
            finally:
                self._running.pop(lock.lock_id, None)
            self.finished.add(lock.lock_id)
            self.progress.finished(label(lock), step.text, ok=step.ok)

        return run


def interrupted(summary: str) -> int:
    """The last line of an interrupted run (after what was done was printed): exit 130."""
    note(f"hapbridge: interrupted: {summary}")
    return INTERRUPTED_EXIT


def names(locks: Sequence[Lock]) -> str:
    return ", ".join(label(lock) for lock in locks)
