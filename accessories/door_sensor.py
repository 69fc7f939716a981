"""A lock's door sensor as a HomeKit ContactSensor service on the lock's accessory.

HomeKit's ContactSensorState is 0 "contact detected" (closed) and 1 "not detected" (open),
so "when the front door opens" automations work. StatusTampered carries the lock's tamper
alarm (record 44), the one place HomeKit has for it; StatusLowBattery a wireless sensor's
own battery. The service renders what it is told; it never talks to the cloud.
"""

from __future__ import annotations

from pyhap.accessory import Accessory
from pyhap.characteristic import Characteristic
from pyhap.service import Service

from accessories.hap_push import push_now
from accessories.homekit_name import name_service
from hapbridge.ttlock.record_types import DoorChange

CLOSED, OPEN = 0, 1  # ContactSensorState
CONTACT = {DoorChange.OPEN: OPEN, DoorChange.CLOSED: CLOSED}  # a door change, as shown
NOT_TAMPERED, TAMPERED = 0, 1
BATTERY_NORMAL, BATTERY_LOW = 0, 1
SUFFIX = " Door Sensor"
# Name, then ConfiguredName: the name iOS 16+ shows for a service inside an accessory.
CHARS = ("StatusTampered", "StatusLowBattery", "Name", "ConfiguredName")


class DoorSensor:
    """The ContactSensor of one lock; starts closed, untampered."""

    def __init__(self, accessory: Accessory, lock_name: str) -> None:
        self._accessory = accessory
        self.service: Service = accessory.add_preload_service("ContactSensor", chars=CHARS)
        self._state: Characteristic = self.service.configure_char("ContactSensorState")
        self._tampered: Characteristic = self.service.configure_char("StatusTampered")
        self._low_battery: Characteristic = self.service.configure_char("StatusLowBattery")
        self.rename(lock_name)

    @property
    def door_open(self) -> bool:
        return bool(self._state.value == OPEN)

    @property
    def tampered(self) -> bool:
        return bool(self._tampered.value == TAMPERED)

    def show_door(self, door: DoorChange | None) -> None:
        """A door state from a pushed record or queryOpenState; None changes nothing."""
        if door is not None:
            push_now(self._accessory, self._state, CONTACT[door])

    def set_tampered(self, tampered: bool) -> None:
        push_now(self._accessory, self._tampered, TAMPERED if tampered else NOT_TAMPERED)

    def set_low_battery(self, low: bool) -> None:
        push_now(self._accessory, self._low_battery, BATTERY_LOW if low else BATTERY_NORMAL)

    def rename(self, lock_name: str) -> None:
        name_service(self.service, lock_name, SUFFIX)
