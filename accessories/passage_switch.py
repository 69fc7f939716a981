"""A lock's passage mode as a HomeKit Switch named "<lock> Passage Mode".

On means passage mode on (the lock stays open within its periods), off means off. A write
hands the wish over (``on_wish(lock_id, on)``) and returns at once, as the lock's target
does; the bridge carries it through the gateway queue and calls :meth:`show` with what the
cloud confirms, or :meth:`revert` when the command failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from pyhap.accessory import Accessory
from pyhap.characteristic import Characteristic
from pyhap.service import Service

from accessories.hap_push import push_now
from accessories.homekit_name import name_service

_LOGGER = logging.getLogger(__name__)

SUFFIX = " Passage Mode"
CHARS = ("Name", "ConfiguredName")

PassageWish = Callable[[int, bool], None]


class PassageSwitch:
    """The Switch of one lock; starts off until the cloud's configuration is read."""

    def __init__(self, accessory: Accessory, lock_id: int, lock_name: str,
                 on_wish: PassageWish) -> None:
        self._accessory = accessory
        self.lock_id = lock_id
        self._on_wish = on_wish
        self._settled = False  # what the cloud confirmed last: where a failure reverts to
        self.service: Service = accessory.add_preload_service("Switch", chars=CHARS)
        self._on: Characteristic = self.service.configure_char(
            "On", setter_callback=self._written)
        self.rename(lock_name)

    @property
    def on(self) -> bool:
        return bool(self._on.value)

    def _written(self, value: object) -> None:
        """A controller wrote On: hand the wish over, never block or raise."""
        try:
            self._on_wish(self.lock_id, bool(value))
        except Exception:
            _LOGGER.exception("%s: could not queue the passage-mode change",
                              self._accessory.display_name)

    def show(self, on: bool) -> None:
        """Passage mode as the cloud has it (read back, or a command that succeeded)."""
        self._settled = on
        push_now(self._accessory, self._on, on)

    def revert(self) -> None:
        """The change failed: the switch goes back to what the lock really has."""
        push_now(self._accessory, self._on, self._settled)

    def rename(self, lock_name: str) -> None:
        name_service(self.service, lock_name, SUFFIX)
