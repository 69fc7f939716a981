"""The locks of the last successful start, so a cloud outage at startup hides nothing.

HomeKit drops an accessory (and its room and scenes) when a bridge stops exposing it; with
this cache the bridge publishes the known locks as unavailable until the cloud answers.
It also keeps each lock's details (model, firmware, auto-lock time), so a restart does not
spend one ``lock/detail`` call per lock to learn them again.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

from hapbridge.storage import Storage, StorageError
from hapbridge.ttlock.models import Lock, LockDetail

_LOGGER = logging.getLogger(__name__)

CACHE_FILE = "locks.json"


@dataclass(frozen=True)
class KnownLock:
    """Everything the bridge keeps about a lock between starts (no key material)."""

    lock_id: int
    alias: str
    mac: str = ""
    battery: int | None = None
    wifi: bool = False
    has_gateway: bool = True
    model: str = ""
    firmware: str = ""
    auto_lock_time: int = -1  # seconds; <= 0: off
    passage_mode: bool = False
    group_id: int | None = None  # TTLock's groupId: bridge.bridges may pin a group
    detailed: bool = False  # model, firmware and auto-lock time came from lock/detail
    # What the accessory's layout and the passage-mode rules need (an older locks.json
    # lacks them: the defaults, until the lock list and details tell).
    feature_value: str = "0"  # lock/list: which services the lock shows
    timezone_offset_ms: int = 0  # lock/detail timezoneRawOffset: the lock's clock
    passage_auto_unlock: bool = False  # lock/detail passageModeAutoUnlock
    # The last HomeKit LockCurrentState learnt from the cloud (a poll or a command) and when
    # (unix seconds): a restart shows it, instead of polling, while it is fresher than the
    # poll plan's interval.
    state: int | None = None
    state_at: float = 0.0

    @classmethod
    def from_lock(cls, lock: Lock, previous: KnownLock | None = None) -> KnownLock:
        """From a ``lock/list`` item, keeping details learnt earlier from ``lock/detail``."""
        base = previous or cls(lock_id=lock.lock_id, alias=lock.alias)
        return dataclasses.replace(
            base,
            alias=lock.alias,
            mac=lock.mac,
            battery=lock.battery if lock.battery is not None else base.battery,
            wifi=lock.is_wifi,
            has_gateway=lock.has_gateway,
            group_id=lock.group_id,
            feature_value=lock.feature_value,
        )

    def with_detail(self, detail: LockDetail) -> KnownLock:
        return dataclasses.replace(
            self,
            model=detail.model or self.model,
            firmware=detail.firmware_revision or self.firmware,
            auto_lock_time=detail.auto_lock_time,
            passage_mode=detail.passage_mode,
            detailed=True,
            timezone_offset_ms=(self.timezone_offset_ms if detail.timezone_offset_ms is None
                                else detail.timezone_offset_ms),
            passage_auto_unlock=(self.passage_auto_unlock if detail.passage_auto_unlock is None
                                 else detail.passage_auto_unlock),
        )

    @property
    def auto_lock_seconds(self) -> int:
        """Seconds after an unlock the lock secures itself; 0 when it does not. Passage
        mode does not switch it off: ``auto_lock`` asks the schedule when it applies."""
        return self.auto_lock_time if self.auto_lock_time > 0 else 0

    def to_json(self) -> dict[str, Any]:
        # Every field is a plain value: no deep copy (asdict's) needed, 1,000 locks at start.
        return {name: getattr(self, name) for name in _FIELD_NAMES}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KnownLock:
        """Every field type-checked: a damaged value must cost this item, not the start."""
        values = {k: v for k, v in data.items() if k in _FIELD_TYPES}
        for key, value in values.items():
            expected = _FIELD_TYPES[key]
            if (isinstance(value, bool) and bool not in expected) or not isinstance(
                    value, expected):
                raise TypeError(f"{key} is {type(value).__name__}")
        return cls(**values)


def _field_types() -> dict[str, tuple[type, ...]]:
    """KnownLock's field -> accepted JSON types (from its annotations: one source)."""
    accepted = {"int": (int,), "str": (str,), "bool": (bool,), "float": (int, float),
                "int | None": (int, type(None))}
    return {f.name: accepted[str(f.type)] for f in dataclasses.fields(KnownLock)}


_FIELD_TYPES = _field_types()
_FIELD_NAMES = tuple(_FIELD_TYPES)


def load_cached_locks(storage: Storage) -> list[KnownLock]:
    """The cached locks; a damaged cache (or item) is only a lost convenience, never fatal."""
    try:
        data = storage.read_json(CACHE_FILE)
    except StorageError as err:
        _LOGGER.warning("ignoring the lock cache (%s); it is rebuilt on the next sync", err)
        return []
    items = data.get("locks") if isinstance(data, dict) else None
    if data is not None and not isinstance(items, list):
        _LOGGER.warning("ignoring the lock cache %s (unexpected shape); it is rebuilt on the "
                        "next sync", storage.path(CACHE_FILE))
        return []
    locks: list[KnownLock] = []
    for index, item in enumerate(items or []):
        try:
            lock = KnownLock.from_json(item)
        except (TypeError, ValueError, AttributeError) as err:
            _LOGGER.warning("lock cache: skipping damaged item %d (%s)", index, err)
            continue
        locks.append(lock)
    return locks


def save_cached_locks(storage: Storage, locks: list[KnownLock]) -> None:
    """Write the cache, except an empty list over a non-empty cache."""
    write_cache(storage, [lock.to_json() for lock in locks])


def write_cache(storage: Storage, items: list[dict[str, Any]]) -> None:
    """Write the cache's items (``KnownLock.to_json``), except none over a non-empty cache.

    An empty list comes from a start that never saw the cloud's list (or an account emptied
    on purpose, which costs only a stale cache); saving it would make the next start during
    an outage publish no locks, and HomeKit would drop every room and scene.
    """
    if not items and load_cached_locks(storage):
        _LOGGER.debug("not replacing the lock cache with an empty list")
        return
    storage.write_json(CACHE_FILE, {"locks": items})
