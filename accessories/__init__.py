"""HomeKit accessory types published by hapbridge (one class per module, HAP-python style)."""

from accessories.ttlock_lock import TTLockLock

__all__ = ["TTLockLock"]
