"""HomeKit accessory types published by hapbridge (one class per module, HAP-python style)."""

from accessories.door_sensor import DoorSensor
from accessories.lock_services import LockServices, add_lock_services
from accessories.passage_switch import PassageSwitch
from accessories.ttlock_lock import TTLockLock

__all__ = ["DoorSensor", "LockServices", "PassageSwitch", "TTLockLock", "add_lock_services"]
