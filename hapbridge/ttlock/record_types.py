"""What each cloud ``recordType`` means: the one table for records, pushes and the simulator.

A record says what happened at the door (unlocked, locked, door opened or closed, an alert)
and how (keypad, card, app, auto-lock...). The ``records`` command shows the description,
the push receiver turns the meaning into state, the simulator writes records by these codes.
Numbers are the cloud's (``ttlock-api.md``, "Records and callbacks"); ``recordTypeFromLock``
is numbered differently and only known here where a real push showed it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum


class LockChange(Enum):
    UNLOCKED = "unlocked"
    LOCKED = "locked"


class DoorChange(Enum):
    OPEN = "open"
    CLOSED = "closed"


class Alert(StrEnum):
    TAMPER = "tamper"
    LOCKED_OUT = "locked out after wrong tries"
    DOOR_LEFT_OPEN = "door left open"
    FORCED = "forced open"


class Method(StrEnum):
    """How it was done: the ``how`` of an event."""

    APP = "app"
    KEYPAD = "keypad"
    ADMIN_KEYPAD = "admin passcode"
    CARD = "card"
    FINGERPRINT = "fingerprint"
    WRISTBAND = "wristband"
    KEY = "mechanical key"
    GATEWAY = "gateway"
    BUTTON = "button"
    INSIDE = "from inside"
    AUTO_LOCK = "auto-lock"
    PASSAGE_MODE = "passage mode"
    REMOTE_FOB = "remote fob"
    QR_CODE = "QR code"
    FACE = "face"
    PALM_VEIN = "palm vein"
    DOOR_SENSOR = "door sensor"
    LOCK = "the lock"


@dataclass(frozen=True)
class RecordMeaning:
    code: int
    description: str
    method: Method | None = None
    lock: LockChange | None = None
    door: DoorChange | None = None
    alert: Alert | None = None
    from_lock: int | None = None  # recordTypeFromLock, where a real push showed it

    @property
    def known(self) -> bool:
        return self.code in RECORD_MEANINGS

    @property
    def changes_state(self) -> bool:
        return self.lock is not None or self.door is not None


_U, _L = LockChange.UNLOCKED, LockChange.LOCKED
_M = Method

# The codes the simulator and the bridge name in code.
APP_UNLOCK, PASSCODE_UNLOCK, CARD_UNLOCK, FINGERPRINT_UNLOCK = 1, 4, 7, 8
KEY_UNLOCK, APP_LOCK, GATEWAY_UNLOCK = 10, 11, 12
DOOR_CLOSED, DOOR_OPEN = 30, 31
TAMPER, AUTO_LOCK, UNLOCK_BUTTON, LOCK_BUTTON, LOCKED_OUT = 44, 45, 46, 47, 48
PASSAGE_UNLOCK, DOOR_NOT_CLOSED = 63, 64

_ROWS = (
    RecordMeaning(APP_UNLOCK, "unlock by app", _M.APP, _U),
    RecordMeaning(PASSCODE_UNLOCK, "unlock by passcode", _M.KEYPAD, _U),
    RecordMeaning(CARD_UNLOCK, "unlock by IC card", _M.CARD, _U, from_lock=17),
    RecordMeaning(FINGERPRINT_UNLOCK, "unlock by fingerprint", _M.FINGERPRINT, _U),
    RecordMeaning(9, "unlock by wristband", _M.WRISTBAND, _U),
    RecordMeaning(KEY_UNLOCK, "unlock by mechanical key", _M.KEY, _U),
    RecordMeaning(APP_LOCK, "lock by app", _M.APP, _L),
    RecordMeaning(GATEWAY_UNLOCK, "unlock by gateway", _M.GATEWAY, _U),
    RecordMeaning(29, "forced unlock", _M.LOCK, _U, alert=Alert.FORCED),
    RecordMeaning(DOOR_CLOSED, "door closed", _M.DOOR_SENSOR, door=DoorChange.CLOSED),
    RecordMeaning(DOOR_OPEN, "door open", _M.DOOR_SENSOR, door=DoorChange.OPEN),
    RecordMeaning(32, "opened from inside", _M.INSIDE, _U),
    RecordMeaning(33, "lock by fingerprint", _M.FINGERPRINT, _L),
    RecordMeaning(34, "lock by passcode", _M.KEYPAD, _L),
    RecordMeaning(35, "lock by IC card", _M.CARD, _L),
    RecordMeaning(36, "lock by mechanical key", _M.KEY, _L),
    RecordMeaning(TAMPER, "tamper alarm", _M.LOCK, alert=Alert.TAMPER),
    RecordMeaning(AUTO_LOCK, "auto-lock", _M.AUTO_LOCK, _L),
    RecordMeaning(UNLOCK_BUTTON, "unlock button", _M.BUTTON, _U),
    RecordMeaning(LOCK_BUTTON, "lock button", _M.BUTTON, _L),
    RecordMeaning(LOCKED_OUT, "system locked", _M.LOCK, alert=Alert.LOCKED_OUT),
    RecordMeaning(55, "unlock by remote fob", _M.REMOTE_FOB, _U),
    RecordMeaning(57, "unlock by QR code", _M.QR_CODE, _U),
    RecordMeaning(61, "lock by QR code", _M.QR_CODE, _L),
    RecordMeaning(PASSAGE_UNLOCK, "passage-mode auto-unlock", _M.PASSAGE_MODE, _U),
    RecordMeaning(DOOR_NOT_CLOSED, "door not closed alarm", _M.DOOR_SENSOR,
                  door=DoorChange.OPEN, alert=Alert.DOOR_LEFT_OPEN),
    RecordMeaning(67, "unlock by face", _M.FACE, _U),
    RecordMeaning(84, "unlock by palm vein", _M.PALM_VEIN, _U),
    RecordMeaning(92, "unlock by admin passcode", _M.ADMIN_KEYPAD, _U),
)

RECORD_MEANINGS: dict[int, RecordMeaning] = {row.code: row for row in _ROWS}


def meaning_of(code: int) -> RecordMeaning:
    """The table's row; an unknown code means nothing (no state, no alert)."""
    return RECORD_MEANINGS.get(code) or RecordMeaning(code, f"record type {code}")
