"""The door sensor as a state source: what a poll or a pushed record says of the door.

The door is a fact of its own on the lock's record (``Fact.DOOR``), ordered like the bolt
(an older report never overwrites a newer one) but separately from it, so a late door
record is not lost behind a newer unlock. ``queryOpenState`` reports it when the bridge
polls the lock anyway; a pushed record 30/31 (and 64, "door not closed", which keeps it
open) when pushes arrive. The tamper flag follows ``push/door_alerts.py``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from accessories.door_sensor import CONTACT
from hapbridge.bridge.cloud_api import CloudApi
from hapbridge.bridge.cloud_health import CloudHealth
from hapbridge.bridge.registry import LockRegistry
from hapbridge.bridge.tracked_lock import Fact, Report, Source, TrackedLock
from hapbridge.push.door_alerts import tampered_after
from hapbridge.push.ordering import Judgement
from hapbridge.ttlock.errors import TTLockError
from hapbridge.ttlock.models import Feature, LockState, has_feature

_LOGGER = logging.getLogger(__name__)


def polled(registry: LockRegistry, lock_id: int, state: LockState, sent: float) -> None:
    """A state query's door reading, stamped with when the query was sent."""
    if state.door is not None:
        registry.report(lock_id, Report(Fact.DOOR, CONTACT[state.door], Source.POLL,
                                        since=sent))


def pushed(registry: LockRegistry, lock_id: int, judgement: Judgement, since: float) -> None:
    """A judged pushed record's door change and tamper flag (``since``: when the lock's
    clock says it happened, in loop time). "Door not closed" (64) reads as open: it never
    closes the sensor. ``push_intake`` calls this for every judged record."""
    record = registry.get(lock_id)
    if record is None:
        return
    tampered = tampered_after(judgement, record.tampered)
    flag_changed, record.tampered = tampered != record.tampered, tampered
    taken = False
    if judgement.door is not None:
        pushed_record = judgement.record
        taken = registry.report(lock_id, Report(
            Fact.DOOR, CONTACT[judgement.door], Source.PUSH, since=since,
            lock_date=pushed_record.lock_date, who=pushed_record.username,
            how=str(pushed_record.meaning.method or "")))
    if flag_changed and not taken:  # a report taken has rendered it already
        registry.render(lock_id)


async def read_sensors(client: CloudApi, health: CloudHealth, registry: LockRegistry,
                       lock_ids: Iterable[int] | None = None) -> None:
    """The batteries of wireless door sensors (``doorSensor/query``, no gateway): at start
    and daily, for the locks with one (bit 50) that show their sensor."""
    chosen = registry.records if lock_ids is None else lock_ids
    records = [record for lid in chosen if (record := registry.get(lid)) is not None
               and record.services.door_sensor is not None
               and has_feature(record.listing.feature_value, Feature.WIRELESS_DOOR_SENSOR)]

    async def one(record: TrackedLock) -> None:
        try:
            sensor = await health.watch(client.door_sensor(record.lock_id))
        except TTLockError as err:
            _LOGGER.info("%s: door sensor unavailable (%s)", record.name, err)
            return
        if sensor is None or sensor.battery is None or registry.get(record.lock_id) is not record:
            return
        low = sensor.battery < registry.platform.low_battery_threshold
        if low and not record.sensor_battery_low:
            _LOGGER.warning("%s: door sensor battery low (%d%%): replace it soon",
                            record.name, sensor.battery)
        record.sensor_battery_low = low
        registry.render(record.lock_id)

    await asyncio.gather(*(one(record) for record in records))
