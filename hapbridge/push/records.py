"""A pushed lock-record notification, parsed and checked field by field.

The cloud's callback is not signed, so the form is hostile until every field has the type
the docs give (``lockRecord/notify.md``): a wrong type, a missing field, malformed JSON in
``records`` or a record naming another lock raises :class:`PushError` with a short reason
(logged, answered 4xx), never a traceback. Passcode, card and fingerprint numbers are kept
for the bridge but never shown: ``repr`` and :meth:`PushedRecord.summary` mask them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from hapbridge.ttlock.record_types import RecordMeaning, meaning_of

NOTIFY_LOCK_RECORDS = "1"
MAX_RECORDS = 200  # per push; far above what a gateway uploads at once
MAX_TEXT = 256  # username, keyboardPwd, lockMac, admin: names, codes and card numbers
MASK = "***"
_MAC = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}")
_INT_TEXT = re.compile(r"-?[0-9]{1,19}")


class PushError(ValueError):
    """The push is not one the bridge can take; ``reason`` is a short, safe description
    (never the offending value: it may be a guest's passcode)."""

    def __init__(self, reason: str, *, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def masked(code: str) -> str:
    return MASK if code else ""


@dataclass(frozen=True)
class PushedRecord:
    lock_id: int
    record_type: int
    success: bool
    lock_date: int  # ms, the lock's clock
    server_date: int | None  # ms, when the cloud received it
    username: str = ""  # app account, passcode, card or fingerprint name
    keyboard_pwd: str = field(default="", repr=False)  # the code itself: never shown
    battery: int | None = None  # electricQuantity, 0-100
    lock_mac: str = ""
    record_type_from_lock: int | None = None

    @property
    def meaning(self) -> RecordMeaning:
        return meaning_of(self.record_type)

    @property
    def key(self) -> tuple[int, int, bool, str, str]:
        """What makes two records the same one: a replay, or the same record uploaded
        twice (a new ``serverDate``). The lock's clock counts seconds, and one person does
        not do the same thing twice in a second."""
        return (self.lock_date, self.record_type, self.success, self.username,
                self.keyboard_pwd)

    def summary(self) -> str:
        """One log-safe line: the code masked."""
        code = f" code {masked(self.keyboard_pwd)}" if self.keyboard_pwd else ""
        who = f" by {self.username!r}" if self.username else ""
        ok = "" if self.success else " (failed try)"
        return f"{self.meaning.description}{who}{code}{ok} at lock time {lock_time(self.lock_date)}"


def lock_time(ms: int) -> str:
    """A lock's clock (ms) as local time to the second; a time no calendar holds (a lock
    whose clock went wild) as the number it is."""
    try:
        return datetime.fromtimestamp(ms / 1000).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return f"{ms} ms"


@dataclass(frozen=True)
class Push:
    """One callback: the lock it is for, who administers it, and its records."""

    lock_id: int
    lock_mac: str  # upper case; always given, and it must be the lock's (lock/list)
    admin: str | None  # the account: not in the documented fields, checked when sent
    records: tuple[PushedRecord, ...]


def parse_push(form: Mapping[str, str]) -> Push:
    """The push in ``form`` (decoded form fields), or :class:`PushError`."""
    notify = form.get("notifyType")
    if notify is None:
        raise PushError("notifyType missing")
    if notify.strip() != NOTIFY_LOCK_RECORDS:
        raise PushError("notifyType is not 1 (lock records)")
    lock_id = _form_int(form, "lockId")
    if lock_id <= 0:
        raise PushError("lockId must be positive")
    if "lockMac" not in form:  # always sent (lockRecord/notify.md); checked by the receiver
        raise PushError("lockMac missing")
    lock_mac = _mac(form["lockMac"], "lockMac")
    if not lock_mac:
        raise PushError("lockMac is empty")
    admin = form.get("admin")
    if admin is not None:
        admin = _text(admin, "admin")
    raw = form.get("records")
    if raw is None:
        raise PushError("records missing")
    try:
        items = json.loads(raw)
    except (ValueError, RecursionError):
        raise PushError("records is not JSON") from None
    if not isinstance(items, list):
        raise PushError("records is not a JSON array")
    if not items:
        raise PushError("records is empty")
    if len(items) > MAX_RECORDS:
        raise PushError(f"more than {MAX_RECORDS} records")
    records = tuple(_record(item, index, lock_id, lock_mac) for index, item in enumerate(items))
    return Push(lock_id=lock_id, lock_mac=lock_mac, admin=admin, records=records)


def _form_int(form: Mapping[str, str], name: str) -> int:
    value = form.get(name)
    if value is None:
        raise PushError(f"{name} missing")
    if not _INT_TEXT.fullmatch(value.strip()):
        raise PushError(f"{name} is not a whole number")
    return int(value)


def _text(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise PushError(f"{name} is not text")
    if len(value) > MAX_TEXT:
        raise PushError(f"{name} is longer than {MAX_TEXT} characters")
    return value


def _mac(value: object, name: str) -> str:
    text = _text(value, name).strip()
    if text and not _MAC.fullmatch(text):
        raise PushError(f"{name} is not a MAC address")
    return text.upper()


def _int(item: Mapping[str, object], name: str, where: str, *, required: bool) -> int | None:
    value = item.get(name)
    if value is None:
        if required:
            raise PushError(f"{where}.{name} missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise PushError(f"{where}.{name} is not a whole number")
    if abs(value) >= 1 << 63:
        raise PushError(f"{where}.{name} is out of range")
    return value


def _record(item: object, index: int, lock_id: int, lock_mac: str) -> PushedRecord:
    where = f"records[{index}]"
    if not isinstance(item, dict):
        raise PushError(f"{where} is not an object")
    own_lock = _int(item, "lockId", where, required=False)
    if own_lock is not None and own_lock != lock_id:
        raise PushError(f"{where}.lockId differs from the form's lockId")
    own_mac = _mac(item.get("lockMac", ""), f"{where}.lockMac")
    if own_mac and lock_mac and own_mac != lock_mac:
        raise PushError(f"{where}.lockMac differs from the form's lockMac")
    record_type = _int(item, "recordType", where, required=True)
    success = _int(item, "success", where, required=True)
    if success not in (0, 1):
        raise PushError(f"{where}.success is not 0 or 1")
    lock_date = _int(item, "lockDate", where, required=True)
    if lock_date is None or lock_date <= 0:
        raise PushError(f"{where}.lockDate must be a positive time in milliseconds")
    server_date = _int(item, "serverDate", where, required=False)
    battery = _int(item, "electricQuantity", where, required=False)
    if battery is not None and not -1 <= battery <= 100:
        raise PushError(f"{where}.electricQuantity is not a percentage")
    code = item.get("keyboardPwd")
    if isinstance(code, int) and not isinstance(code, bool):
        code = str(code)  # card and fingerprint numbers may come as numbers
    username = item.get("username")
    return PushedRecord(
        lock_id=lock_id,
        record_type=record_type,  # type: ignore[arg-type]  # required above
        success=success == 1,
        lock_date=lock_date,
        server_date=server_date,
        username="" if username is None else _text(username, f"{where}.username"),
        keyboard_pwd="" if code is None else _text(code, f"{where}.keyboardPwd"),
        battery=None if battery is None or battery < 0 else battery,
        lock_mac=own_mac or lock_mac,
        record_type_from_lock=_int(item, "recordTypeFromLock", where, required=False),
    )
