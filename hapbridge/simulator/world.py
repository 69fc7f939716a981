"""The simulated cloud's state: locks, gateways, passcodes, records, tokens and counters.

Plain dataclasses with no HTTP in them, so tests can read and bend the world directly
(``world.gateways[gid].online = False``) and the next request sees it. Times are unix
milliseconds like the API's, except ``busy_until`` (event-loop time, for command timing).
"""

from __future__ import annotations

import random
import secrets
import string
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

FIRST_LOCK_ID = 3_000_001
FIRST_GATEWAY_ID = 100_001
FIRST_PASSCODE_ID = 20_000_001
FIRST_RECORD_ID = 900_000_001
MAC_PREFIX = "5C:A1:B2"
NAMED_ALIASES = ("Front Door", "Back Door", "Garage", "Office")
FIRST_ROOM = 101
MAX_PASSCODES_PER_LOCK = 250

# featureValue bits (see ttlock-api.md): passcode, auto-lock time, lock command,
# unlock via gateway, door sensor, passage mode, Wi-Fi.
BIT_PASSCODE, BIT_AUTO_LOCK, BIT_LOCK, BIT_GATEWAY_UNLOCK = 0, 4, 8, 10
BIT_DOOR_SENSOR, BIT_PASSAGE, BIT_WIFI = 13, 22, 56
_BASE_BITS = (BIT_PASSCODE, 1, 2, BIT_AUTO_LOCK, BIT_LOCK, BIT_GATEWAY_UNLOCK, 14, 18,
              BIT_PASSAGE)

AUTO: Literal["auto"] = "auto"


def now_ms() -> int:
    return int(time.time() * 1000)


def feature_value(*, wifi: bool, door_sensor: bool) -> str:
    """The uppercase hex bitmask the cloud reports for a lock with these abilities."""
    bits = [*_BASE_BITS, *([BIT_DOOR_SENSOR] if door_sensor else []),
            *([BIT_WIFI] if wifi else [])]
    return format(sum(1 << bit for bit in bits), "X")


def alias_for(index: int) -> str:
    """The n-th default alias: the four named doors, then "Room 101", "Room 102" and on."""
    if index < len(NAMED_ALIASES):
        return NAMED_ALIASES[index]
    return f"Room {FIRST_ROOM + index - len(NAMED_ALIASES)}"


@dataclass
class PassageConfig:
    """What ``configPassageMode`` stores; minutes from midnight, week days 1=Mon..7."""

    start_minute: int = 0
    end_minute: int = 0
    all_day: bool = True
    week_days: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 5, 6, 7])
    auto_unlock: bool = False


@dataclass
class SimLock:
    lock_id: int
    alias: str
    name: str
    mac: str
    battery: int
    feature_value: str
    gateway_id: int | None
    wifi: bool = False
    remote_unlock: bool = True
    state: int = 0  # physical: 0 locked, 1 unlocked, 2 unknown
    auto_lock_time: int = -1  # seconds; -1 or 0 off
    passage_mode: bool = False
    passage: PassageConfig = field(default_factory=PassageConfig)
    model_num: str = "SN9161_PV53"
    hardware_revision: str = "1.3"
    firmware_revision: str = "6.0.6.220125"
    lock_data: str = field(default="", repr=False)  # fake secret
    admin_pwd: str = field(default="", repr=False)
    lock_key: str = field(default="", repr=False)
    aes_key: str = field(default="", repr=False)
    group_id: int | None = None
    online: bool = True  # Wi-Fi locks only: reachable over their own Wi-Fi
    sensor_state: int | None = None  # door sensor: 0 open, 1 closed; None = no sensor
    lock_sound: bool = True
    timezone_raw_offset: int = 3_600_000
    init_date: int = field(default_factory=now_ms)
    busy_until: float = 0.0  # Wi-Fi locks carry their own commands (loop time)

    @property
    def has_gateway(self) -> bool:
        """What ``hasGateway`` reports; a Wi-Fi lock is its own gateway."""
        return self.gateway_id is not None or self.wifi


@dataclass
class SimGateway:
    gateway_id: int
    mac: str
    name: str
    version: int = 2  # 1 G1, 2 G2, 3 G3, 4 G4
    online: bool = True
    network_name: str = "HomeWiFi"
    rssi: dict[int, int] = field(default_factory=dict)  # lock id -> dBm
    busy_until: float = 0.0  # loop time: a command is in flight until then


@dataclass
class SimPasscode:
    passcode_id: int
    lock_id: int
    code: str
    name: str
    type: int  # keyboardPwdType: 1 one-time, 2 permanent, 3 period, 4 delete-all, 5..14 cyclic
    start_date: int  # ms; 0 = none
    end_date: int  # ms; 0 = none
    send_date: int
    is_custom: bool
    status: int = 1  # 1 normal


@dataclass
class SimRecord:
    record_id: int
    lock_id: int
    record_type: int
    success: bool
    username: str
    keyboard_pwd: str
    lock_date: int
    server_date: int
    battery: int | None = None  # the lock's battery when it made the record


@dataclass
class SimUser:
    """An app account made with ``user/register``: its own, empty world of locks."""

    username: str  # with the application's prefix, as the cloud answered it
    password_md5: str = field(repr=False)
    uid: int
    world: World = field(repr=False)


@dataclass
class World:
    """Everything the cloud knows; ids are allocated here so they never collide."""

    seed: int = 0
    locks: dict[int, SimLock] = field(default_factory=dict)
    gateways: dict[int, SimGateway] = field(default_factory=dict)
    passcodes: dict[int, dict[int, SimPasscode]] = field(default_factory=dict)  # by lock
    records: dict[int, list[SimRecord]] = field(default_factory=dict)  # by lock, oldest first
    # token -> (uid, expiry) and refresh token -> (uid, access token); kept out of repr
    access_tokens: dict[str, tuple[int, float]] = field(default_factory=dict, repr=False)
    refresh_tokens: dict[str, tuple[int, str]] = field(default_factory=dict, repr=False)
    calls: Counter[str] = field(default_factory=Counter)  # requests by path
    # prefixed username -> an account registered under the application (user/register)
    users: dict[str, SimUser] = field(default_factory=dict, repr=False)
    errcodes: Counter[int] = field(default_factory=Counter)  # nonzero errcodes answered
    rng: random.Random = field(init=False, repr=False)
    _next_lock: int = field(default=FIRST_LOCK_ID, repr=False)
    _next_gateway: int = field(default=FIRST_GATEWAY_ID, repr=False)
    _next_passcode: int = field(default=FIRST_PASSCODE_ID, repr=False)
    _next_record: int = field(default=FIRST_RECORD_ID, repr=False)
    _aliases_used: int = field(default=0, repr=False)
    _macs: set[str] = field(default_factory=set, repr=False)
    # told of every record added from now on (the cloud pushes them to the callback URL)
    on_record: Callable[[SimRecord], None] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    # -- ids and names ----------------------------------------------------------------

    def _mac(self) -> str:
        while True:
            tail = ":".join(f"{self.rng.randrange(256):02X}" for _ in range(3))
            mac = f"{MAC_PREFIX}:{tail}"
            if mac not in self._macs:
                self._macs.add(mac)
                return mac

    def _secret(self, length: int) -> str:
        alphabet = string.ascii_letters + string.digits
        return "".join(self.rng.choice(alphabet) for _ in range(length))

    # -- gateways and locks -----------------------------------------------------------

    def add_gateway(self, name: str | None = None, **fields: Any) -> SimGateway:
        gateway_id = self._next_gateway
        self._next_gateway += 1
        mac = self._mac()
        version = fields.pop("version", 2 + (gateway_id - FIRST_GATEWAY_ID) % 3)
        gateway = SimGateway(
            gateway_id=gateway_id,
            mac=mac,
            name=name or f"G{version}_{mac[-8:].replace(':', '').lower()}",
            version=version,
            **fields,
        )
        self.gateways[gateway_id] = gateway
        return gateway

    def add_lock(
        self,
        alias: str | None = None,
        *,
        gateway_id: int | Literal["auto"] | None = AUTO,
        wifi: bool = False,
        **fields: Any,
    ) -> SimLock:
        """A new lock, listed from the next ``lock/list`` on.

        ``gateway_id="auto"`` puts a Bluetooth lock on the gateway with the fewest locks
        (none when there is no gateway); ``None`` makes it an orphan (-2012).
        """
        if wifi or gateway_id is None:
            gateway_id = None
        elif gateway_id == AUTO:
            gateway_id = min(
                self.gateways, key=lambda gid: len(self.gateways[gid].rssi), default=None
            )
        elif gateway_id not in self.gateways:
            raise KeyError(f"no gateway {gateway_id}")
        lock_id = self._next_lock
        self._next_lock += 1
        if alias is None:
            alias = alias_for(self._aliases_used)
            self._aliases_used += 1
        mac = self._mac()
        door_sensor = self.rng.random() < 0.5
        model = "W5" if wifi else "S31"
        values: dict[str, Any] = {
            "name": f"{model}_{mac[-8:].replace(':', '').lower()}",
            "battery": self.rng.randint(20, 100),
            "feature_value": feature_value(wifi=wifi, door_sensor=door_sensor),
            "sensor_state": 1 if door_sensor else None,
            "model_num": "SN9161_PV53" if not wifi else "SN238W_PV12",
            "lock_data": self._secret(96),
            "admin_pwd": self._secret(16),
            "lock_key": self._secret(16),
            "aes_key": "".join(f"{self.rng.randrange(256):02x}" for _ in range(16)),
        }
        values.update(fields)
        lock = SimLock(
            lock_id=lock_id, alias=alias, mac=mac, gateway_id=gateway_id, wifi=wifi, **values
        )
        self.locks[lock_id] = lock
        self.passcodes[lock_id] = {}
        self.records[lock_id] = []
        if gateway_id is not None:
            self.gateways[gateway_id].rssi[lock_id] = -self.rng.randint(45, 85)
        return lock

    def remove_lock(self, lock_id: int) -> None:
        """The lock disappears from every list, with its passcodes and records."""
        self.locks.pop(lock_id, None)
        self.passcodes.pop(lock_id, None)
        self.records.pop(lock_id, None)
        for gateway in self.gateways.values():
            gateway.rssi.pop(lock_id, None)

    def gateway_of(self, lock: SimLock) -> SimGateway | None:
        return None if lock.gateway_id is None else self.gateways.get(lock.gateway_id)

    def gateways_of(self, lock_id: int) -> list[SimGateway]:
        return [g for g in self.gateways.values() if lock_id in g.rssi]

    def locks_of(self, gateway: SimGateway) -> list[SimLock]:
        return [self.locks[lid] for lid in gateway.rssi if lid in self.locks]

    # -- passcodes and records --------------------------------------------------------

    def add_passcode(
        self,
        lock_id: int,
        code: str,
        *,
        name: str = "",
        type: int = 2,
        start_date: int = 0,
        end_date: int = 0,
        is_custom: bool = True,
    ) -> SimPasscode:
        passcode = SimPasscode(
            passcode_id=self._next_passcode,
            lock_id=lock_id,
            code=code,
            name=name,
            type=type,
            start_date=start_date,
            end_date=end_date,
            send_date=now_ms(),
            is_custom=is_custom,
        )
        self._next_passcode += 1
        self.passcodes[lock_id][passcode.passcode_id] = passcode
        return passcode

    def add_record(
        self,
        lock_id: int,
        record_type: int,
        *,
        username: str = "",
        keyboard_pwd: str = "",
        success: bool = True,
        lock_date: int | None = None,
    ) -> SimRecord:
        """Append a record; ``lock_date`` defaults to now (records are kept oldest first)."""
        when = now_ms() if lock_date is None else lock_date
        lock = self.locks.get(lock_id)
        record = SimRecord(
            record_id=self._next_record,
            lock_id=lock_id,
            record_type=record_type,
            success=success,
            username=username,
            keyboard_pwd=keyboard_pwd,
            lock_date=when,
            server_date=when if lock_date is None else when + 1500,  # cloud got it later
            battery=None if lock is None else lock.battery,
        )
        self._next_record += 1
        self.records[lock_id].append(record)
        if self.on_record is not None:
            self.on_record(record)
        return record

    # -- tokens -----------------------------------------------------------------------

    def add_user(self, username: str, password_md5: str, uid: int) -> SimUser:
        user = SimUser(username, password_md5, uid, World(seed=self.seed))
        self.users[username] = user
        return user

    def world_of(self, uid: int) -> World:
        """The locks, gateways and passcodes ``uid`` sees: a registered user's own (empty
        until locks are added in the app), else this, the seeded account's."""
        return next((user.world for user in self.users.values() if user.uid == uid), self)

    def issue_tokens(self, uid: int, lifetime: float) -> tuple[str, str]:
        """A fresh access/refresh pair; tokens are random, not from the seeded rng."""
        access = secrets.token_hex(16)
        refresh = secrets.token_hex(16)
        self.access_tokens[access] = (uid, time.time() + lifetime)
        self.refresh_tokens[refresh] = (uid, access)
        return access, refresh

    def expire_all_tokens(self) -> None:
        """Every access token answers 10004 from now on; refresh tokens still work."""
        past = time.time() - 1
        for token, (uid, _) in self.access_tokens.items():
            self.access_tokens[token] = (uid, past)

    def revoke_refresh_tokens(self) -> None:
        """Every refresh token answers 10011: the client must log in with the password."""
        self.refresh_tokens.clear()
