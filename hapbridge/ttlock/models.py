"""Typed views of TTLock answers, so raw dicts never leak past the client.

Key material (``lockData``, ``lockKey``, ``aesKeyStr``, ``adminPwd``) is deliberately not
kept: the bridge never needs it, and what is not held cannot be logged.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

from hapbridge.ttlock.record_types import DoorChange, meaning_of


class Feature(IntEnum):
    """Bits of ``featureValue`` (an uppercase hex bitmask)."""

    PASSCODE = 0
    AUTO_LOCK_TIME = 4
    LOCK_COMMAND = 8
    GATEWAY_UNLOCK = 10
    DOOR_SENSOR = 13
    PASSAGE_MODE = 22
    PASSAGE_AUTO_LOCK_OFF = 23  # passage mode's auto-lock can be switched off
    QR_CODE = 44
    PASSAGE_AUTO_UNLOCK = 46
    WIRELESS_DOOR_SENSOR = 50
    DOOR_NOT_LOCKED_ALERT = 51
    WIFI = 56


def has_feature(feature_value: str, feature: Feature) -> bool:
    try:
        return bool(int(feature_value or "0", 16) >> int(feature) & 1)
    except ValueError:
        return False


def has_door_sensor(feature_value: str) -> bool:
    """A built-in door sensor (bit 13) or a wireless one bound to the lock (bit 50)."""
    return (has_feature(feature_value, Feature.DOOR_SENSOR)
            or has_feature(feature_value, Feature.WIRELESS_DOOR_SENSOR))


class OpenState(IntEnum):
    """``queryOpenState`` polarity: the opposite of HomeKit's LockCurrentState."""

    LOCKED = 0
    UNLOCKED = 1
    UNKNOWN = 2


class PasscodeType(IntEnum):
    ONE_TIME = 1
    PERMANENT = 2
    PERIOD = 3
    DELETE_ALL = 4
    WEEKEND = 5
    DAILY = 6
    WORKDAY = 7
    MONDAY = 8
    TUESDAY = 9
    WEDNESDAY = 10
    THURSDAY = 11
    FRIDAY = 12
    SATURDAY = 13
    SUNDAY = 14




def battery_of(item: dict[str, Any]) -> int | None:
    """``electricQuantity`` as a percentage; a negative one (not known) is None."""
    battery = item.get("electricQuantity")
    return int(battery) if battery is not None and int(battery) >= 0 else None


def from_ms(value: Any) -> datetime | None:
    """TTLock milliseconds (0 or missing = none) as an aware UTC datetime."""
    if not value:
        return None
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC)


def to_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


@dataclass(frozen=True)
class Token:
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    uid: int
    expires_at: float  # unix seconds
    issued_at: float = 0.0

    def expired(self, now: float) -> bool:
        return now >= self.expires_at

    def refresh_due(self, now: float) -> bool:
        """True when the token is within a tenth of its life (at most a day) of expiring."""
        margin = min(86_400.0, max(1.0, (self.expires_at - self.issued_at) * 0.1))
        return now >= self.expires_at - margin

    def to_json(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "uid": self.uid,
            "expires_at": self.expires_at,
            "issued_at": self.issued_at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Token:
        return cls(
            access_token=str(data["access_token"]),
            refresh_token=str(data["refresh_token"]),
            uid=int(data.get("uid") or 0),
            expires_at=float(data["expires_at"]),
            issued_at=float(data.get("issued_at") or 0.0),
        )


@dataclass(frozen=True)
class Lock:
    """One item of ``lock/list``: enough to publish an accessory and its battery."""

    lock_id: int
    alias: str
    name: str
    mac: str
    battery: int | None
    feature_value: str
    has_gateway: bool
    group_id: int | None = None

    @property
    def is_wifi(self) -> bool:
        return has_feature(self.feature_value, Feature.WIFI)

    @property
    def has_door_sensor(self) -> bool:
        return has_door_sensor(self.feature_value)

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> Lock:
        return cls(
            lock_id=int(item["lockId"]),
            alias=str(item.get("lockAlias") or item.get("lockName") or item["lockId"]),
            name=str(item.get("lockName") or ""),
            mac=str(item.get("lockMac") or ""),
            battery=battery_of(item),
            feature_value=str(item.get("featureValue") or "0"),
            has_gateway=bool(int(item.get("hasGateway") or 0)),
            group_id=int(item["groupId"]) if item.get("groupId") else None,
        )


PARSE_ERRORS = (KeyError, TypeError, ValueError, AttributeError)


@dataclass(frozen=True)
class LockListing:
    """``lock/list`` read item by item: one malformed item must not hide every other lock.

    ``unreadable`` holds the ids of bad items that still had one, so that a caller can keep
    what it knew of those locks instead of treating them as removed.
    """

    locks: list[Lock]
    unreadable: frozenset[int] = frozenset()
    problems: tuple[str, ...] = ()

    @classmethod
    def from_items(cls, items: list[Any]) -> LockListing:
        locks: list[Lock] = []
        unreadable: set[int] = set()
        problems: list[str] = []
        for index, item in enumerate(items):
            try:
                locks.append(Lock.from_api(item))
            except PARSE_ERRORS as err:
                raw_id = item.get("lockId") if isinstance(item, dict) else None
                problems.append(f"lock list item {index} (lockId {raw_id}) is unreadable "
                                f"({type(err).__name__}: {err})")
                with contextlib.suppress(TypeError, ValueError):
                    unreadable.add(int(raw_id))  # type: ignore[arg-type]
        return cls(locks, frozenset(unreadable), tuple(problems))


@dataclass(frozen=True)
class LockDetail(Lock):
    model: str = ""
    hardware_revision: str = ""
    firmware_revision: str = ""
    auto_lock_time: int = -1  # seconds; <= 0 means off
    passage_mode: bool = False
    lock_sound: bool | None = None
    timezone_offset_ms: int | None = None
    passage_auto_unlock: bool | None = None  # passageModeAutoUnlock, when reported

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> LockDetail:
        base = Lock.from_api(item)
        sound = item.get("lockSound")
        tz = item.get("timezoneRawOffset")
        return cls(
            **base.__dict__,
            model=str(item.get("modelNum") or ""),
            hardware_revision=str(item.get("hardwareRevision") or ""),
            firmware_revision=str(item.get("firmwareRevision") or ""),
            auto_lock_time=int(item.get("autoLockTime") if item.get("autoLockTime") is not None
                               else -1),
            passage_mode=int(item.get("passageMode") or 2) == 1,
            lock_sound=None if sound is None else int(sound) == 1,
            timezone_offset_ms=None if tz is None else int(tz),
            passage_auto_unlock=(None if item.get("passageModeAutoUnlock") is None
                                 else int(item["passageModeAutoUnlock"]) == 1),
        )


SENSOR_OPEN, SENSOR_CLOSED = 0, 1  # queryOpenState's sensorState, as read in practice


@dataclass(frozen=True)
class LockState:
    """``queryOpenState``: the bolt, and the door where a sensor is bound. The docs say
    only that it "also returns the door sensor status"; the field is ``sensorState``
    (0 open, 1 closed) in practice (hass-ttlock). Any other value reads as not reported."""

    state: OpenState
    sensor_state: int | None = None  # SENSOR_OPEN / SENSOR_CLOSED, when reported

    @property
    def door(self) -> DoorChange | None:
        """The door as the sensor reports it (None: no sensor, or no reading)."""
        if self.sensor_state is None:
            return None
        return DoorChange.OPEN if self.sensor_state == SENSOR_OPEN else DoorChange.CLOSED

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> LockState:
        raw = int(item.get("state", 2))
        state = OpenState(raw) if raw in (0, 1, 2) else OpenState.UNKNOWN
        sensor = item.get("sensorState")
        sensor_state = int(sensor) if isinstance(sensor, int | str) and str(sensor) in (
            "0", "1") else None
        return cls(state=state, sensor_state=sensor_state)


@dataclass(frozen=True)
class DoorSensor:
    """``doorSensor/query``: the wireless door sensor bound to a lock."""

    sensor_id: int
    name: str
    battery: int | None
    mac: str
    number: str
    firmware: str
    alarm_seconds: int  # doorNotClosedWarningTime: "door not closed" after this; 0 off

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> DoorSensor:
        return cls(
            sensor_id=int(item["doorSensorId"]),
            name=str(item.get("name") or ""),
            battery=battery_of(item),
            mac=str(item.get("mac") or ""),
            number=str(item.get("number") or ""),
            firmware=str(item.get("version") or ""),
            alarm_seconds=int(item.get("doorNotClosedWarningTime") or 0),
        )


@dataclass(frozen=True)
class Gateway:
    gateway_id: int
    mac: str
    name: str
    version: int
    lock_count: int
    online: bool
    network_name: str

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> Gateway:
        return cls(
            gateway_id=int(item["gatewayId"]),
            mac=str(item.get("gatewayMac") or ""),
            name=str(item.get("gatewayName") or ""),
            version=int(item.get("gatewayVersion") or 0),
            lock_count=int(item.get("lockNum") or 0),
            online=bool(int(item.get("isOnline") or 0)),
            network_name=str(item.get("networkName") or ""),
        )


@dataclass(frozen=True)
class GatewayLock:
    """A lock as seen from a gateway (``gateway/listLock``)."""

    lock_id: int
    alias: str
    mac: str
    rssi: int | None

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> GatewayLock:
        rssi = item.get("rssi")
        return cls(
            lock_id=int(item["lockId"]),
            alias=str(item.get("lockAlias") or item.get("lockName") or item["lockId"]),
            mac=str(item.get("lockMac") or ""),
            rssi=None if rssi is None else int(rssi),
        )


@dataclass(frozen=True)
class LockGateway:
    """A gateway as seen from a lock (``gateway/listByLock``).

    The answer carries the signal and when it was measured, but no online flag: whether a
    gateway is online is only in ``gateway/list``.
    """

    gateway_id: int
    mac: str
    name: str
    rssi: int | None
    rssi_updated: datetime | None

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> LockGateway:
        rssi = item.get("rssi")
        return cls(
            gateway_id=int(item["gatewayId"]),
            mac=str(item.get("gatewayMac") or ""),
            name=str(item.get("gatewayName") or ""),
            rssi=None if rssi is None else int(rssi),
            rssi_updated=from_ms(item.get("rssiUpdateDate")),
        )


@dataclass(frozen=True)
class Passcode:
    passcode_id: int
    lock_id: int
    code: str
    name: str
    type: int
    start: datetime | None
    end: datetime | None
    created: datetime | None
    is_custom: bool

    def is_expired(self, now: datetime | None = None) -> bool:
        now = now or datetime.now(tz=UTC)
        return self.end is not None and self.end <= now

    @classmethod
    def from_api(cls, item: dict[str, Any], lock_id: int | None = None) -> Passcode:
        return cls(
            passcode_id=int(item["keyboardPwdId"]),
            lock_id=int(item.get("lockId") or lock_id or 0),
            code=str(item.get("keyboardPwd") or ""),
            name=str(item.get("keyboardPwdName") or ""),
            type=int(item.get("keyboardPwdType") or 0),
            start=from_ms(item.get("startDate")),
            end=from_ms(item.get("endDate")),
            created=from_ms(item.get("sendDate")),
            is_custom=bool(int(item.get("isCustom") or 0)),
        )


@dataclass(frozen=True)
class GeneratedPasscode:
    passcode_id: int
    code: str


@dataclass(frozen=True)
class LockRecord:
    record_id: int
    lock_id: int
    record_type: int
    success: bool
    username: str
    passcode: str
    lock_date: datetime | None
    server_date: datetime | None

    @property
    def description(self) -> str:
        return meaning_of(self.record_type).description

    @classmethod
    def from_api(cls, item: dict[str, Any], lock_id: int | None = None) -> LockRecord:
        return cls(
            record_id=int(item.get("recordId") or 0),
            lock_id=int(item.get("lockId") or lock_id or 0),
            record_type=int(item.get("recordType") or 0),
            success=bool(int(item.get("success", 1))),
            username=str(item.get("username") or ""),
            passcode=str(item.get("keyboardPwd") or ""),
            lock_date=from_ms(item.get("lockDate")),
            server_date=from_ms(item.get("serverDate")),
        )
