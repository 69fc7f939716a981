"""The services a lock's accessory gains beside its LockMechanism and battery.

``add_lock_services`` appends them AFTER the services the lock accessory already has, each
in its own fixed block of IIDs (``SLOT`` apart, in a fixed order), and links them from the
LockMechanism as Home Assistant's HomeKit bridge links related services. So the IIDs of a
lock paired before keep their meaning (its room, scenes and automations survive the
upgrade), and showing or hiding one extra service never moves another's IIDs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyhap.accessory import Accessory

from accessories.door_sensor import DoorSensor
from accessories.passage_switch import PassageSwitch, PassageWish
from hapbridge.ttlock.models import Feature, has_door_sensor, has_feature
from hapbridge.ttlock.record_types import DoorChange

if TYPE_CHECKING:
    from hapbridge.config import PlatformConfig

SLOT = 10  # IIDs per extra service: ContactSensor takes 6, Switch 4; room to grow
ORDER = ("door_sensor", "passage_switch")  # slot 0, 1, ...: never reorder, only append
_ATTACHED = "_hapbridge_lock_services"


@dataclass(frozen=True)
class ServicesView:
    """What the extra services show: the door (None: not known yet, shown closed), the
    tamper flag, a wireless sensor's low battery, passage mode (the wish on its way, else
    the cloud's; None: not read)."""

    door_open: bool | None = None
    tampered: bool = False
    sensor_battery_low: bool = False  # a wireless sensor's own battery
    passage_on: bool | None = None


@dataclass(frozen=True)
class LockServices:
    """What was added (None: not shown for this lock)."""

    door_sensor: DoorSensor | None = None
    passage_switch: PassageSwitch | None = None

    @property
    def wanted(self) -> Wanted:
        """The layout these services make (a lock whose features change is rebuilt)."""
        return Wanted(door_sensor=self.door_sensor is not None,
                      passage_switch=self.passage_switch is not None)

    def render(self, view: ServicesView) -> None:
        if self.door_sensor is not None:
            if view.door_open is not None:
                self.door_sensor.show_door(DoorChange.OPEN if view.door_open
                                           else DoorChange.CLOSED)
            self.door_sensor.set_tampered(view.tampered)
            self.door_sensor.set_low_battery(view.sensor_battery_low)
        if self.passage_switch is not None and view.passage_on is not None:
            self.passage_switch.show(view.passage_on)

    def rename(self, lock_name: str) -> None:
        """The lock's name changed (values only: the layout hash is unchanged)."""
        for service in (self.door_sensor, self.passage_switch):
            if service is not None:
                service.rename(lock_name)


@dataclass(frozen=True)
class Wanted:
    """Which extra services a lock shows: what it has, less what the user hid."""

    door_sensor: bool
    passage_switch: bool

    @classmethod
    def of(cls, lock_id: int, alias: str, feature_value: str,
           platform: PlatformConfig) -> Wanted:
        """From the lock's ``featureValue`` (kept in locks.json too, so a start from the
        cache publishes the same layout) and the platform's choices."""
        return cls(
            door_sensor=has_door_sensor(feature_value)
            and platform.shows_door_sensor(lock_id, alias),
            passage_switch=has_feature(feature_value, Feature.PASSAGE_MODE)
            and platform.shows_passage_switch(lock_id, alias),
        )


def add_lock_services(
    accessory: Accessory,
    *,
    lock_id: int,
    door_sensor: bool,
    passage_switch: bool,
    on_passage: PassageWish | None = None,
) -> LockServices:
    """Append the door sensor and the passage-mode switch that the flags ask for.

    Call once, right after the lock accessory is built and before it is published;
    ``on_passage`` receives the switch's wishes (needed when ``passage_switch``)."""
    if getattr(accessory, _ATTACHED, False):
        raise RuntimeError(f"{accessory.display_name}: lock services are already attached")
    if passage_switch and on_passage is None:
        raise ValueError("a passage-mode switch needs on_passage")
    setattr(accessory, _ATTACHED, True)
    base = accessory.iid_manager.counter  # the lock's own IIDs end here
    lock = accessory.get_service("LockMechanism")
    name = accessory.display_name

    def slot(index: int) -> None:
        accessory.iid_manager.counter = max(accessory.iid_manager.counter,
                                            base + index * SLOT)

    sensor = switch = None
    if door_sensor:
        slot(ORDER.index("door_sensor"))
        sensor = DoorSensor(accessory, name)
        lock.add_linked_service(sensor.service)
    if passage_switch and on_passage is not None:  # None was refused above
        slot(ORDER.index("passage_switch"))
        switch = PassageSwitch(accessory, lock_id, name, on_passage)
        lock.add_linked_service(switch.service)
    return LockServices(door_sensor=sensor, passage_switch=switch)
