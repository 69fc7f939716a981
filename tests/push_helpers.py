"""A record sink like the bridge's: one RecordOrder per lock (the gate), the bolt ordered by
the record's rule (``Report.newer_than``), state as the records say."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from hapbridge.bridge.tracked_lock import Fact, Report, Source
from hapbridge.push.ordering import Judgement, RecordOrder
from hapbridge.push.records import Push
from hapbridge.ttlock.record_types import DoorChange, LockChange

ACCOUNT = "me@example.com"
MAC = "16:72:4C:CC:01:C4"
SECRET = "Zm9yLXRlc3RzLW9ubHktMTI4LWJpdHMtb3ItbW9yZQ"


@dataclass
class LockView:
    lock: LockChange | None = None
    door: DoorChange | None = None
    battery: int | None = None
    shown: Report | None = None
    judged: list[Judgement] = field(default_factory=list)


class StateSink:
    """Applies pushes as a lock record will; ``gate`` (when set) holds ``accept``."""

    def __init__(self, lock_ids: set[int], macs: dict[int, str] | None = None) -> None:
        self.macs = macs or {}  # lockId -> MAC as lock/list gives it; MAC for the rest
        self.locks = {lock_id: LockView() for lock_id in lock_ids}
        self.orders = {lock_id: RecordOrder() for lock_id in lock_ids}
        self.pushes: list[Push] = []
        self.gate: asyncio.Event | None = None
        self.arrived = asyncio.Event()

    def lock_mac(self, lock_id: int) -> str | None:
        return self.macs.get(lock_id, MAC) if lock_id in self.locks else None

    def accept(self, push: Push) -> Any:
        self.pushes.append(push)
        view = self.locks[push.lock_id]
        for judgement in self.orders[push.lock_id].judge_push(push.records,
                                                              int(time.time() * 1000)):
            view.judged.append(judgement)
            if judgement.lock is not None:
                report = Report(Fact.LOCK, 0, Source.PUSH, lock_date=judgement.record.lock_date)
                if report.newer_than(view.shown):
                    view.shown, view.lock = report, judgement.lock
            view.door = judgement.door or view.door
            view.battery = judgement.battery if judgement.battery is not None else view.battery
        self.arrived.set()
        return self.gate.wait() if self.gate is not None else None

    async def wait_for(self, count: int, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.pushes) < count:
                self.arrived.clear()
                await self.arrived.wait()


def push_form(lock_id: int, *records: dict[str, Any], admin: str | None = ACCOUNT,
              mac: str = MAC) -> dict[str, str]:
    values = {"notifyType": "1", "lockId": str(lock_id), "lockMac": mac,
              "records": json.dumps(list(records))}
    if admin is not None:
        values["admin"] = admin
    return values


def a_record(lock_id: int, record_type: int, lock_date: int, **fields: Any) -> dict[str, Any]:
    values = {"lockId": lock_id, "recordType": record_type, "recordTypeFromLock": 0,
              "success": 1, "username": "Guest", "keyboardPwd": "135790",
              "lockDate": lock_date, "serverDate": lock_date + 1200, "electricQuantity": 80,
              "lockMac": MAC}
    values.update(fields)
    return values
