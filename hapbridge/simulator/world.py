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

from hapbridge.ttlock.models import Feature

FIRST_LOCK_ID = 3_000_001
FIRST_GATEWAY_ID = 100_001
FIRST_PASSCODE_ID = 20_000_001
FIRST_RECORD_ID = 900_000_001
FIRST_KEY_ID = 40_000_001
FIRST_QR_CODE_ID = 60_000_001
FIRST_CREDENTIAL_ID = 70_000_001  # fingerprints and IC cards share one id range
FIRST_UID = 8_000_001
MAC_PREFIX = "5C:A1:B2"
NAMED_ALIASES = ("Front Door", "Back Door", "Garage", "Office")
FIRST_ROOM = 101
MAX_PASSCODES_PER_LOCK = 250

# featureValue bits: the client's table (models.Feature), plus the few only the simulator sets.
BIT_PASSCODE, BIT_AUTO_LOCK = Feature.PASSCODE, Feature.AUTO_LOCK_TIME
BIT_LOCK = Feature.LOCK_COMMAND
BIT_GATEWAY_UNLOCK, BIT_DOOR_SENSOR, BIT_PASSAGE = (Feature.GATEWAY_UNLOCK, Feature.DOOR_SENSOR,
                                                    Feature.PASSAGE_MODE)
BIT_WIRELESS_DOOR_SENSOR, BIT_WIFI = Feature.WIRELESS_DOOR_SENSOR, Feature.WIFI
BIT_QR_CODE, BIT_PASSAGE_AUTO_UNLOCK = Feature.QR_CODE, Feature.PASSAGE_AUTO_UNLOCK
BIT_CARD, BIT_FINGERPRINT = 1, 2
_BASE_BITS = (BIT_PASSCODE, BIT_CARD, BIT_FINGERPRINT, BIT_AUTO_LOCK, BIT_LOCK,
              BIT_GATEWAY_UNLOCK, 14, 18, BIT_PASSAGE, Feature.PASSAGE_AUTO_LOCK_OFF,
              BIT_PASSAGE_AUTO_UNLOCK)

AUTO: Literal["auto"] = "auto"


def now_ms() -> int:
    return int(time.time() * 1000)


def feature_value(*, wifi: bool, door_sensor: bool, qr_code: bool = False,
                  wireless_sensor: bool = False) -> str:
    """The uppercase hex bitmask the cloud reports for a lock with these abilities
    (``wireless_sensor``: a separate sensor bound to the lock, bit 50, instead of bit 13)."""
    sensor_bit = BIT_WIRELESS_DOOR_SENSOR if wireless_sensor else BIT_DOOR_SENSOR
    bits = [*_BASE_BITS, *([sensor_bit] if door_sensor or wireless_sensor else []),
            *([BIT_WIFI] if wifi else []), *([BIT_QR_CODE] if qr_code else [])]
    return format(sum(1 << int(bit) for bit in bits), "X")


def mac_tag(mac: str) -> str:
    """The MAC's last three bytes in lower-case hex, as the cloud ends device names."""
    return mac[-8:].replace(":", "").lower()


def alias_for(index: int) -> str:
    """The n-th default alias: the four named doors, then "Room 101", "Room 102" and on."""
    if index < len(NAMED_ALIASES):
        return NAMED_ALIASES[index]
    return f"Room {FIRST_ROOM + index - len(NAMED_ALIASES)}"


@dataclass
class PassagePeriod:
    """One period of ``cyclicConfig``: minutes from midnight, week days 1=Mon..7."""

    all_day: bool = True
    start_minute: int = 0
    end_minute: int = 0
    week_days: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 5, 6, 7])


@dataclass
class PassageConfig:
    """What ``configurePassageMode`` (or the older ``configPassageMode``, one period)
    stores."""

    periods: list[PassagePeriod] = field(default_factory=list)
    auto_unlock: bool = False


@dataclass
class SimDoorSensor:
    """A wireless door sensor bound to a lock (``doorSensor/query``)."""

    sensor_id: int
    mac: str
    name: str = "Door sensor"
    battery: int = 90
    number: str = ""
    version: str = "1.0.0.210903"


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
    door_sensor: SimDoorSensor | None = None  # a wireless one (bit 50), else built in
    # "door not closed" (record 64) when the door stays open this long; 0 off
    door_alarm_seconds: int = 0
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
class SimEKey:
    """An eKey: app access to one lock for another account (``key/send``)."""

    key_id: int
    lock_id: int
    username: str
    uid: int
    name: str
    start_date: int  # ms; 0 = permanent
    end_date: int
    sender: str
    remarks: str
    remote_enable: bool
    date: int
    key_status: str = "110401"  # normal


@dataclass
class SimQrCode:
    qr_code_id: int
    lock_id: int
    number: int
    name: str
    type: int  # 1 period, 2 permanent, 4 cyclic
    start_date: int
    end_date: int
    creator: str
    create_date: int
    content: str = field(repr=False)  # what the lock's camera reads
    link: str = ""


@dataclass
class SimCredential:
    """A fingerprint or an IC card: the cloud holds a number and a name, never the
    biometric template itself."""

    credential_id: int
    lock_id: int
    number: str
    name: str
    type: int  # 1 normal, 4 cyclic
    start_date: int
    end_date: int
    create_date: int
    sender: str


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
    ekeys: dict[int, SimEKey] = field(default_factory=dict)  # by key id
    qr_codes: dict[int, dict[int, SimQrCode]] = field(default_factory=dict)  # by lock
    fingerprints: dict[int, dict[int, SimCredential]] = field(default_factory=dict)  # by lock
    cards: dict[int, dict[int, SimCredential]] = field(default_factory=dict)  # by lock
    # app accounts that exist (username -> uid): eKeys go only to these
    accounts: dict[str, int] = field(default_factory=dict)
    # API calls per month as the cloud counts them ("2026-12", months in UTC+8)
    month_calls: Counter[str] = field(default_factory=Counter)
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
    _next_key: int = field(default=FIRST_KEY_ID, repr=False)
    _next_qr_code: int = field(default=FIRST_QR_CODE_ID, repr=False)
    _next_credential: int = field(default=FIRST_CREDENTIAL_ID, repr=False)
    _next_uid: int = field(default=FIRST_UID, repr=False)
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
            name=name or f"G{version}_{mac_tag(mac)}",
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
        qr_code: bool = False,
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
            "name": f"{model}_{mac_tag(mac)}",
            "battery": self.rng.randint(20, 100),
            "feature_value": feature_value(wifi=wifi, door_sensor=door_sensor,
                                           qr_code=qr_code),
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
        self.qr_codes[lock_id] = {}
        self.fingerprints[lock_id] = {}
        self.cards[lock_id] = {}
        if gateway_id is not None:
            self.gateways[gateway_id].rssi[lock_id] = -self.rng.randint(45, 85)
        return lock

    def remove_lock(self, lock_id: int) -> None:
        """The lock disappears from every list, with everything on it; asking for it
        answers -1003 from now on."""
        self.locks.pop(lock_id, None)
        for per_lock in (self.passcodes, self.records, self.qr_codes, self.fingerprints,
                         self.cards):
            per_lock.pop(lock_id, None)
        self._drop_ekeys(lock_id)
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

    # -- accounts, eKeys, QR codes, fingerprints and cards ------------------------------

    def add_account(self, username: str) -> int:
        """An app account that exists (registered in the app or by ``user/register``)."""
        if username not in self.accounts:
            self.accounts[username] = self._next_uid
            self._next_uid += 1
        return self.accounts[username]

    def add_ekey(self, lock_id: int, username: str, **fields: Any) -> SimEKey:
        """An eKey for ``username`` (an existing account); one per account and lock, so an
        older one for the same account is replaced, as the cloud does."""
        uid = self.add_account(username)
        self._drop_ekeys(lock_id, username)
        values: dict[str, Any] = {"name": username, "start_date": 0, "end_date": 0,
                                  "sender": "", "remarks": "", "remote_enable": False,
                                  "date": now_ms()}
        values.update(fields)
        key = SimEKey(key_id=self._next_key, lock_id=lock_id, username=username, uid=uid,
                      **values)
        self._next_key += 1
        self.ekeys[key.key_id] = key
        return key

    def _drop_ekeys(self, lock_id: int, username: str | None = None) -> None:
        """Delete the lock's eKeys (only ``username``'s, when given)."""
        for key_id in [key_id for key_id, key in self.ekeys.items() if key.lock_id == lock_id
                       and (username is None or key.username == username)]:
            del self.ekeys[key_id]

    def add_qr_code(self, lock_id: int, **fields: Any) -> SimQrCode:
        codes = self.qr_codes[lock_id]
        number = max((code.number for code in codes.values()), default=0) + 1
        values: dict[str, Any] = {"name": "", "type": 2, "start_date": 0, "end_date": 0,
                                  "creator": "", "create_date": now_ms()}
        values.update(fields)
        qr_id = self._next_qr_code
        self._next_qr_code += 1
        code = SimQrCode(qr_code_id=qr_id, lock_id=lock_id, number=number,
                         content=secrets.token_urlsafe(24),
                         link=f"https://ttekey.example/q?k={secrets.token_urlsafe(6)}",
                         **values)
        codes[qr_id] = code
        return code

    def add_credential(
        self, kind: Literal["fingerprint", "card"], lock_id: int, name: str, **fields: Any
    ) -> SimCredential:
        """A fingerprint or IC card enrolled at the lock (the app's job; tests seed them)."""
        values: dict[str, Any] = {"type": 1, "start_date": 0, "end_date": 0,
                                  "create_date": now_ms(), "sender": ""}
        values.update(fields)
        credential_id = self._next_credential
        self._next_credential += 1
        item = SimCredential(credential_id=credential_id, lock_id=lock_id,
                             number=str(10_000_000_000 + credential_id), name=name, **values)
        store = self.fingerprints if kind == "fingerprint" else self.cards
        store[lock_id][credential_id] = item
        return item

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
