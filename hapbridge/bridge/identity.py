"""What must never change between starts: bridge MAC, setup code, setup id, lock AIDs.

HAP-python persists pairings and keys but not these; losing them means a new QR code, or
rooms and scenes attached to the wrong lock. All of it lives in one private file,
``bridge.json``, rewritten atomically whenever it changes.
"""

from __future__ import annotations

import logging
import re
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
_FORMATS = {
    "mac": re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}"),
    "pincode": re.compile(r"[0-9]{3}-[0-9]{2}-[0-9]{3}"),
    "setup_id": re.compile(r"[0-9A-Z]{4}"),
}


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
    """The persisted identity; ``assign`` hands out AIDs that are never reused."""

    mac: str
    pincode: str
    setup_id: str
    aids: dict[int, int] = field(default_factory=dict)  # lockId -> AID
    next_aid: int = FIRST_AID
    # The port the bridge last listened on (``--port`` may differ from the config): for
    # ``check``, which reads the storage without a running bridge
    port: int | None = None
    _storage: Storage | None = field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:  # the setup code is a secret of sorts: keep it out of logs
        return f"Identity(mac={self.mac!r}, setup_id={self.setup_id!r}, locks={len(self.aids)})"

    @classmethod
    def load(cls, storage: Storage, bridge: BridgeConfig) -> Identity:
        """Read ``bridge.json``, filling and saving whatever is missing.

        The config's ``username`` and ``pin`` win over stored values (Homebridge semantics);
        generated ones are stored once so they survive restarts. A damaged file is an error,
        never a silent reset: a new MAC is a new bridge, reused AIDs move rooms and scenes.
        """
        data = _read(storage)
        stored = {key: _text(storage, data, key) for key in _FORMATS}
        aids, next_aid = _aid_map(storage, data)
        identity = cls(
            mac=bridge.username or stored["mac"] or generate_mac(),
            pincode=bridge.pin or stored["pincode"] or generate_pin(),
            setup_id=stored["setup_id"] or generate_setup_id(),
            aids=aids,
            next_aid=max([next_aid, *(aid + 1 for aid in aids.values())]),
            port=stored_port(data),
            _storage=storage,
        )
        if identity.to_json() != data:
            identity.save()
        return identity

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "mac": self.mac,
            "pincode": self.pincode,
            "setup_id": self.setup_id,
            "aids": {str(k): v for k, v in sorted(self.aids.items())},
            "next_aid": self.next_aid,
        }
        if self.port is not None:
            data["port"] = self.port
        return data

    def listening_on(self, port: int) -> None:
        """The bridge listens on ``port`` now: kept for ``check``, written only when it
        changed. Not saved is one warning: it is a display, not the bridge's identity."""
        if port == self.port:
            return
        self.port = port
        try:
            self.save()
        except StorageError as err:
            _LOGGER.warning("the bridge's port is not saved for 'hapbridge check': %s", err)

    def save(self) -> None:
        if self._storage is not None:
            self._storage.write_json(IDENTITY_FILE, self.to_json())

    def assign(self, lock_ids: Iterable[int]) -> dict[int, int]:
        """AIDs for many locks with a single write (startup with 149 new locks).

        If the write fails nothing changes: an AID in use but not on disk could be handed to
        another lock after a restart.
        """
        wanted = list(lock_ids)
        fresh = [lid for lid in dict.fromkeys(wanted) if lid not in self.aids]
        if fresh:
            before = (dict(self.aids), self.next_aid)
            for lid in fresh:
                self.aids[lid] = self._allocate()
            try:
                self.save()
            except BaseException:
                self.aids, self.next_aid = before
                raise
        return {lid: self.aids[lid] for lid in wanted}

    def forget(self, lock_ids: Iterable[int]) -> None:
        """The locks moved to another bridge (a pin in the config): out of this map. Their
        AIDs are never handed out again (``next_aid`` only grows)."""
        gone = [lid for lid in lock_ids if lid in self.aids]
        if gone:
            for lid in gone:
                del self.aids[lid]
            self.save()

    def _allocate(self) -> int:
        aid = self.next_aid
        while aid in SKIPPED_AIDS:
            aid += 1
        self.next_aid = aid + 1
        return aid


def stored_port(data: object) -> int | None:
    """The port ``bridge.json`` says the bridge last listened on; None when it says none
    (a file of an older version) or nothing usable (a display only: never an error)."""
    port = data.get("port") if isinstance(data, dict) else None
    if isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536:
        return port
    return None


def _read(storage: Storage) -> dict[str, Any]:
    """The stored object; {} only when there is no file yet."""
    data = storage.read_json(IDENTITY_FILE)
    if data is None and not storage.path(IDENTITY_FILE).exists():
        return {}
    if not isinstance(data, dict):
        raise StorageError(
            f"{storage.path(IDENTITY_FILE)} is not a JSON object (it holds the bridge's MAC, "
            "setup code and lock AIDs): restore it from a backup, or move it away to start "
            "over as a new bridge (then pair again)"
        )
    return data


def _damaged(storage: Storage, what: str) -> StorageError:
    return StorageError(
        f"{storage.path(IDENTITY_FILE)} has a damaged {what}; restore it from a backup"
    )


def _text(storage: Storage, data: dict[str, Any], key: str) -> str:
    """A stored string in its expected format, or "" when it is not stored yet."""
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str) or not _FORMATS[key].fullmatch(value):
        raise _damaged(storage, f"{key!r} ({value!r})")
    return value


def _aid_map(storage: Storage, data: dict[str, Any]) -> tuple[dict[int, int], int]:
    """lockId -> AID and the next free AID, checked: integers, >= 2, each AID once."""
    raw_aids = data.get("aids", {})
    raw_next = data.get("next_aid", FIRST_AID)
    if not isinstance(raw_aids, dict) or isinstance(raw_next, bool):
        raise _damaged(storage, "AID map")
    try:
        aids = {int(k): int(v) for k, v in raw_aids.items()}
        next_aid = int(raw_next)
    except (TypeError, ValueError):
        raise _damaged(storage, "AID map") from None
    values = list(aids.values())
    if any(isinstance(v, bool) for v in raw_aids.values()) or min(
        [*values, next_aid]
    ) < FIRST_AID or len(set(values)) != len(values):
        raise _damaged(storage, "AID map (an AID below 2 or used twice)")
    return aids, next_aid
