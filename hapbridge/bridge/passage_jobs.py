"""Passage mode: the switch's wishes as commands, and the cloud's configuration as state.

A write of the "<lock> Passage Mode" switch is a command like a lock or unlock: it waits
in the lock's mailbox (``Dispatcher.wish_passage``), runs when the lock's gateway is free,
is retried by the mailbox (a newer passage wish ends the retries), and on failure the
switch goes back to what the lock has. ``on`` keeps the lock's schedule (or makes it all
day, every day), ``off`` keeps it stored (``PassageMode.switched``).

The configuration is read from the cloud (``lock/getPassageModeConfiguration``, no
gateway) at start and at the daily detail refresh, and only for locks that support passage
mode (bit 22) and either show the switch or have passage mode on: for the others the
schedule changes nothing the bridge shows. What it reads or a command sets is a
``Fact.PASSAGE`` report; the auto-lock model hears it and plans again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Iterable

from hapbridge.bridge.cloud_api import CloudApi
from hapbridge.bridge.cloud_health import CloudHealth
from hapbridge.bridge.dispatcher import Dispatcher, Mailbox
from hapbridge.bridge.lock_jobs import command_failed
from hapbridge.bridge.registry import LockRegistry
from hapbridge.bridge.tracked_lock import Fact, Report, Source, TrackedLock
from hapbridge.ttlock.errors import TTLockError
from hapbridge.ttlock.models import Feature, has_feature
from hapbridge.ttlock.passage import PassageMode
from hapbridge.ttlock.reach import Cause

_LOGGER = logging.getLogger(__name__)

READ_CONCURRENCY = 4


def _on_off(on: bool) -> str:
    return "on" if on else "off"


class PassageJobs:
    def __init__(self, client: CloudApi, health: CloudHealth, registry: LockRegistry) -> None:
        self._client = client
        self._health = health
        self._registry = registry
        self.dispatcher: Dispatcher | None = None  # set by the hub (it is built after)

    # -- HomeKit wishes -----------------------------------------------------------------

    def request(self, lock_id: int, on: bool) -> None:
        """The switch was written: hand the wish to the lock's mailbox, return at once."""
        record = self._registry.get(lock_id)
        if record is None or self.dispatcher is None:
            return
        if record.cause is Cause.NO_GATEWAY:
            _LOGGER.warning("%s: passage mode %s from HomeKit not sent: no gateway reaches "
                            "this lock; %s", record.name, _on_off(on), Cause.NO_GATEWAY.advice)
            asyncio.get_running_loop().call_soon(self._registry.render, lock_id)
            return
        _LOGGER.info("%s: passage mode %s requested from HomeKit", record.name, _on_off(on))
        self.dispatcher.wish_passage(record.mailbox, on)
        self._registry.render(lock_id)

    async def send(self, box: Mailbox, on: bool) -> None:
        """One attempt (the mailbox retries). The configuration is read first when it is
        not known yet: ``on`` must keep the lock's schedule."""
        record = self._registry.get(box.lock_id)
        if record is None:
            return
        mode = record.passage
        if mode is None:
            mode = await self._health.watch(self._client.passage_mode(box.lock_id))
            self._learnt(record, mode, Source.POLL, time.monotonic())
        await self._health.watch(self._client.set_passage_mode(
            box.lock_id, mode.switched(on), retries=0))

    def settled(self, box: Mailbox, on: bool, error: BaseException | None) -> None:
        registry, lock_id = self._registry, box.lock_id
        if (record := registry.get(lock_id)) is None:
            return
        if error is None:
            registry.set_cause(lock_id, None)
            mode = (record.passage or PassageMode(enabled=not on)).switched(on)
            self._learnt(record, mode, Source.COMMAND, time.monotonic())
            _LOGGER.info("%s: passage mode %s", record.name, _on_off(on))
            return
        command_failed(registry, record, f"passage mode {_on_off(on)}", error,
                       newer=box.passage is not None)

    # -- the cloud's configuration --------------------------------------------------------

    def wanted(self, record: TrackedLock) -> bool:
        """Whether the lock's configuration is worth a call: it supports passage mode and
        shows the switch, or has passage mode on (its schedule decides what auto-lock
        does)."""
        listing = record.listing
        return has_feature(listing.feature_value, Feature.PASSAGE_MODE) and (
            record.services.passage_switch is not None or listing.passage_mode)

    async def refresh(self, lock_ids: Iterable[int] | None = None) -> None:
        """Read the configuration of the locks that need it; one failure skips one lock."""
        registry = self._registry
        limit = asyncio.Semaphore(READ_CONCURRENCY)

        async def one(record: TrackedLock) -> None:
            async with limit:
                sent = time.monotonic()
                try:
                    mode = await self._health.watch(self._client.passage_mode(record.lock_id))
                except TTLockError as err:
                    _LOGGER.info("%s: passage mode unavailable (%s)", record.name, err)
                    return
            if registry.get(record.lock_id) is record:
                self._learnt(record, mode, Source.POLL, sent)

        chosen = [registry.records[lid] for lid in (registry.records if lock_ids is None
                                                    else lock_ids) if lid in registry.records]
        await asyncio.gather(*(one(record) for record in chosen if self.wanted(record)))

    def _learnt(self, record: TrackedLock, mode: PassageMode, source: Source,
                since: float) -> None:
        """The configuration (read, or set by a command) on the record, if newer than what
        it shows; the auto-lock model hears it through the registry."""
        before = record.passage, record.listing
        record.passage = mode
        record.listing = dataclasses.replace(record.listing, passage_mode=mode.enabled)
        if not self._registry.report(record.lock_id, Report(Fact.PASSAGE, int(mode.enabled),
                                                            source, since=since)):
            record.passage, record.listing = before
