"""Showing a value at once: the one way accessories push a state a person waits for.

``set_value`` alone queues the event behind HAP-python's ~0.5 s coalescing; a door that
opened or a lock that turned should reach the controllers now. Nothing is sent while the
driver is not running (an accessory being built, a test without a server).
"""

from __future__ import annotations

from typing import Any

from pyhap.accessory import Accessory
from pyhap.characteristic import Characteristic


def push_now(accessory: Accessory, char: Characteristic, value: Any) -> bool:
    """Set ``value`` and send its event immediately; False when it was already shown."""
    if char.value == value:
        return False
    char.set_value(value, should_notify=False)
    driver = accessory.driver
    if driver is not None and getattr(driver, "aio_stop_event", None) is not None:
        accessory.publish(char.value, char, immediate=True)
    return True
