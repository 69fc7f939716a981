"""One TTLock lock as a bridged HomeKit door lock (LockMechanism + BatteryService).

The accessory only holds state and forwards HomeKit's wishes: it never talks to the cloud.
Reads are served from memory; a write calls ``on_target(lock_id, target)`` and returns at once.
The service and characteristic order is fixed so IIDs stay stable across versions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pyhap.accessory import Accessory
from pyhap.characteristic import Characteristic
from pyhap.const import CATEGORY_DOOR_LOCK

from accessories.homekit_name import homekit_name

_LOGGER = logging.getLogger(__name__)

# HomeKit LockCurrentState / LockTargetState values.
UNSECURED = 0
SECURED = 1
JAMMED = 2
UNKNOWN = 3

LOW_BATTERY_NORMAL = 0
LOW_BATTERY_LOW = 1
NOT_CHARGEABLE = 2

MANUFACTURER = "TTLock"

TargetCallback = Callable[[int, int], None]


class TTLockLock(Accessory):
    """A door lock tile: current/target lock state, battery, and "No Response" when offline."""

    category = CATEGORY_DOOR_LOCK

    def __init__(
        self,
        driver: Any,
        *,
        lock_id: int,
        name: str,
        aid: int,
        serial: str,
        on_target: TargetCallback,
        model: str = "",
        firmware: str = "",
        low_battery_threshold: int = 20,
    ) -> None:
        super().__init__(driver, homekit_name(name, f"Lock {lock_id}"), aid=aid)
        self.lock_id = lock_id
        self._on_target = on_target
        self._low_battery_threshold = low_battery_threshold
        self._available = True
        # The target that matched reality last: where a failed command reverts to.
        self._settled_target = SECURED

        info = self.get_service("AccessoryInformation")
        info.configure_char("Manufacturer", value=MANUFACTURER)
        info.configure_char("SerialNumber", value=serial or str(lock_id))
        self._name = info.get_characteristic("Name")
        self._model = info.configure_char("Model", value=model or "TTLock lock")
        self._firmware = info.configure_char("FirmwareRevision", value=firmware or "0.0.0")

        lock = self.add_preload_service("LockMechanism")
        self._current: Characteristic = lock.configure_char("LockCurrentState")
        self._current.set_value(UNKNOWN, should_notify=False)  # configure_char drops falsy
        self._target: Characteristic = lock.configure_char(
            "LockTargetState", setter_callback=self._target_written
        )
        self._target.set_value(SECURED, should_notify=False)
        self.set_primary_service(lock)

        battery = self.add_preload_service("BatteryService")
        self._battery_level: Characteristic = battery.configure_char("BatteryLevel")
        self._low_battery: Characteristic = battery.configure_char("StatusLowBattery")
        self._charging: Characteristic = battery.configure_char("ChargingState")
        self._charging.set_value(NOT_CHARGEABLE, should_notify=False)

    # -- HomeKit side ---------------------------------------------------------------

    @property
    def available(self) -> bool:
        return self._available

    def _target_written(self, value: int) -> None:
        """A controller wrote LockTargetState: hand the wish over, never block or raise."""
        try:
            self._on_target(self.lock_id, int(value))
        except Exception:
            _LOGGER.exception("%s: could not queue the command", self.display_name)

    # -- bridge side ----------------------------------------------------------------

    @property
    def current_state(self) -> int:
        return int(self._current.value)

    @property
    def target_state(self) -> int:
        return int(self._target.value)

    def set_available(self, available: bool) -> None:
        self._available = available

    def show_state(self, current: int, *, settle_target: bool = True) -> None:
        """Show a state the cloud confirmed, pushing the event at once.

        The target follows a known state first (so HomeKit sees no "Unlocking..." mismatch),
        then the current state is published immediately: a person waits for that one.
        """
        if settle_target and current in (UNSECURED, SECURED):
            self._settled_target = current
            self._push(self._target, current)
        self._push(self._current, current)

    def revert_target(self) -> None:
        """A command failed: the target goes back to what the lock really is."""
        current = self.current_state
        self._push(self._target, current if current in (UNSECURED, SECURED) else
                   self._settled_target)

    def set_target(self, target: int) -> None:
        """Show a wish that did not come from HomeKit (e.g. auto-lock about to happen)."""
        self._push(self._target, target)

    @property
    def battery_low(self) -> bool:
        return bool(self._low_battery.value == LOW_BATTERY_LOW)

    def set_battery(self, level: int | None) -> None:
        if level is None:
            return
        level = max(0, min(100, int(level)))
        self._battery_level.set_value(level)
        low = LOW_BATTERY_LOW if level < self._low_battery_threshold else LOW_BATTERY_NORMAL
        self._low_battery.set_value(low)

    def set_info(self, *, name: str | None = None, model: str = "", firmware: str = "") -> None:
        """Details that arrive after publishing (values only: the layout hash is unchanged)."""
        if name:
            self.display_name = homekit_name(name, f"Lock {self.lock_id}")
            self._name.set_value(self.display_name)
        if model:
            self._model.set_value(model)
        if firmware:
            self._firmware.set_value(firmware)

    def _push(self, char: Characteristic, value: int) -> None:
        if char.value == value:
            return
        char.set_value(value, should_notify=False)
        if self.driver is not None and getattr(self.driver, "aio_stop_event", None) is not None:
            self.publish(char.value, char, immediate=True)
