"""What must never change between starts: bridge MAC, setup code, setup id, lock AIDs.

HAP-python persists pairings and keys but not these; losing them means a new QR code, or
rooms and scenes attached to the wrong lock. All of it lives in one private file,
``bridge.json``, rewritten atomically whenever it changes.
"""

from __future__ import annotations

import logging
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hapbridge.config import BridgeConfig, is_trivial_pin
from hapbridge.storage import Storage, StorageError

_LOGGER = logging.getLogger(__name__)

IDENTITY_FILE = "bridge.json"
FIRST_AID = 2  # 1 is the bridge itself
SKIPPED_AIDS = frozenset({7})  # HAP-python skips 7 (an old iOS quirk): so do we
SETUP_ID_CHARS = string.ascii_uppercase + string.digits


def generate_pin() -> str:
    """A random setup code HomeKit accepts (never a trivial one)."""
    while True:
        digits = f"{secrets.randbelow(10**8):08d}"
        if not is_trivial_pin(digits):
            return f"{digits[:3]}-{digits[3:5]}-{digits[5:]}"


def generate_mac() -> str:
    """A random locally administered unicast MAC, the HomeKit device id of the bridge."""
    octets = bytearray(secrets.token_bytes(6))
    octets[0] = (octets[0] & 0xFC) | 0x02
    return ":".join(f"{b:02X}" for b in octets)


def generate_setup_id() -> str:
    return "".join(secrets.choice(SETUP_ID_CHARS) for _ in range(4))


@dataclass
class Identity:
    """The persisted identity; ``aid_for`` hands out AIDs that are never reused."""

    mac: str
    pincode: str
    setup_id: str
    aids: dict[int, int] = field(default_factory=dict)  # lockId -> AID
    next_aid: int = FIRST_AID
    _storage: Storage | None = field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:  # the setup code is a secret of sorts: keep it out of logs
        return f"Identity(mac={self.mac!r}, setup_id={self.setup_id!r}, locks={len(self.aids)})"

    @classmethod
    def load(cls, storage: Storage, bridge: BridgeConfig) -> Identity:
        """Read ``bridge.json``, filling and saving whatever is missing.

        The config's ``username`` and ``pin`` win over stored values (Homebridge semantics);
        generated ones are stored once so they survive restarts.
        """
        data: dict[str, Any] = storage.read_json(IDENTITY_FILE) or {}
        if not isinstance(data, dict):
            raise StorageError(
                f"{storage.path(IDENTITY_FILE)} is not a JSON object; restore or delete it"
            )
        try:
            aids = {int(k): int(v) for k, v in (data.get("aids") or {}).items()}
            next_aid = int(data.get("next_aid") or FIRST_AID)
        except (TypeError, ValueError):
            raise StorageError(
                f"{storage.path(IDENTITY_FILE)} has a damaged AID map; restore it from a backup"
            ) from None
        identity = cls(
            mac=bridge.username or str(data.get("mac") or "") or generate_mac(),
            pincode=bridge.pin or str(data.get("pincode") or "") or generate_pin(),
            setup_id=str(data.get("setup_id") or "") or generate_setup_id(),
            aids=aids,
            next_aid=max([next_aid, *(aid + 1 for aid in aids.values())]),
            _storage=storage,
        )
        if identity.to_json() != data:
            identity.save()
        return identity

    def to_json(self) -> dict[str, Any]:
        return {
            "mac": self.mac,
            "pincode": self.pincode,
            "setup_id": self.setup_id,
            "aids": {str(k): v for k, v in sorted(self.aids.items())},
            "next_aid": self.next_aid,
        }

    def save(self) -> None:
        if self._storage is not None:
            self._storage.write_json(IDENTITY_FILE, self.to_json())

    def aid_for(self, lock_id: int) -> int:
        """The lock's AID, allocating (and saving) a fresh one for a lock never seen."""
        aid = self.aids.get(lock_id)
        if aid is None:
            aid = self._allocate()
            self.aids[lock_id] = aid
            self.save()
        return aid

    def assign(self, lock_ids: Iterable[int]) -> dict[int, int]:
        """AIDs for many locks with a single write (startup with 149 new locks)."""
        fresh = [lid for lid in lock_ids if lid not in self.aids]
        for lid in fresh:
            self.aids[lid] = self._allocate()
        if fresh:
            self.save()
        return {lid: self.aids[lid] for lid in lock_ids}

    def _allocate(self) -> int:
        aid = self.next_aid
        while aid in SKIPPED_AIDS:
            aid += 1
        self.next_aid = aid + 1
        return aid
