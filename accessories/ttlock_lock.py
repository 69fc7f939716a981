"""One TTLock lock as a bridged HomeKit door lock (LockMechanism + BatteryService).

The accessory only renders the view it is given and forwards HomeKit's wishes: it never
talks to the cloud and decides nothing. Reads are served from memory; a write calls
``on_target(lock_id, target)`` and returns at once. The service and characteristic order is
fixed so IIDs stay stable across versions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyhap.accessory import Accessory
from pyhap.characteristic import Characteristic
from pyhap.const import CATEGORY_DOOR_LOCK

from accessories.hap_push import push_now
from accessories.homekit_name import homekit_name

_LOGGER = logging.getLogger(__name__)

# HomeKit LockCurrentState / LockTargetState values.
UNSECURED = 0
SECURED = 1
UNKNOWN = 3  # never Jammed (2): a lock that did not say is not jammed

LOW_BATTERY_NORMAL = 0
LOW_BATTERY_LOW = 1
NOT_CHARGEABLE = 2

MANUFACTURER = "TTLock"

TargetCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class LockView:
    """What the tile shows: current and target state, and whether it responds."""

    current: int
    target: int
    available: bool = True


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

    def render(self, view: LockView) -> None:
        """Show ``view``, pushing changed values at once (a person waits for them).

        The target goes first, so HomeKit never sees a settled state next to a stale target
        ("Unlocking..." that never ends).
        """
        self._available = view.available
        push_now(self, self._target, view.target)
        push_now(self, self._current, view.current)

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
