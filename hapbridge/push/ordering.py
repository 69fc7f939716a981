"""Which pushed records may change what a lock shows: the gate in front of the record, pure.

Pushes are not ordered: a gateway uploads a backlog after an outage, the cloud may send a
record twice, one push may carry several records. A duplicate never counts twice; a record
far in the future (a lock whose clock jumped) is ignored, since it would otherwise win
every comparison until the clock caught up; a failed try (success 0) changes nothing.

The bolt is ordered by the lock's record, against polls and commands too
(``tracked_lock.Report.newer_than``: the one rule); here a record's bolt change only passes
the gate, oldest first within a push. The door and the battery, which no other source
reports, are ordered here by the lock's clock, per aspect (a late door record must not be
lost because a newer bolt record came first). One :class:`RecordOrder` per lock, owned by
the lock's record.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from hapbridge.push.records import PushedRecord
from hapbridge.ttlock.record_types import AUTO_LOCK, Alert, DoorChange, LockChange

DAY_MS = 86_400_000
REMEMBERED = 256  # record keys kept to spot duplicates (a push backlog is far smaller)


class Aspect(Enum):
    """What only pushes report (the bolt is the record's: ``Report.newer_than``)."""

    DOOR = "door"
    BATTERY = "battery"


class Verdict(Enum):
    APPLIED = "applied"  # a bolt change for the record, or the newest door or battery
    NOTED = "noted"  # nothing to change (an alert alone)
    STALE = "stale"  # older than what is shown for every aspect it touches
    DUPLICATE = "duplicate"
    FUTURE = "future"  # lock time more than the tolerance ahead of now
    FAILED_TRY = "failed try"
    UNKNOWN_TYPE = "unknown type"


@dataclass(frozen=True)
class Judgement:
    """What one record does: its bolt change (for the record to order), the door and battery
    it changes (None = unchanged) and any alert."""

    record: PushedRecord
    verdict: Verdict
    lock: LockChange | None = None
    door: DoorChange | None = None
    battery: int | None = None
    alert: Alert | None = None
    confirms_auto_lock: bool = False

    @property
    def changes_state(self) -> bool:
        return self.verdict is Verdict.APPLIED


class RecordOrder:
    """The newest time applied per aspect of one lock, and the records already seen."""

    def __init__(self, *, future_tolerance_ms: int = DAY_MS) -> None:
        self.future_tolerance_ms = future_tolerance_ms
        self._newest: dict[Aspect, tuple[int, int]] = {}
        self._seen: OrderedDict[tuple[object, ...], None] = OrderedDict()

    def newest(self, aspect: Aspect) -> int | None:
        """The lock time (ms) of the record the aspect shows, if a record set it."""
        at = self._newest.get(aspect)
        return None if at is None else at[0]

    def judge_push(self, records: Iterable[PushedRecord], now_ms: int) -> list[Judgement]:
        """Judge a push's records oldest first, so the newest of them is what stays shown."""
        ordered = sorted(records, key=lambda rec: (rec.lock_date, rec.server_date or 0))
        return [self.judge(record, now_ms) for record in ordered]

    def judge(self, record: PushedRecord, now_ms: int) -> Judgement:
        """Judge one record and remember it (applied aspects, its key)."""
        if record.key in self._seen:
            return Judgement(record, Verdict.DUPLICATE)
        if record.lock_date > now_ms + self.future_tolerance_ms:
            return Judgement(record, Verdict.FUTURE)  # not remembered: it never counted
        self._remember(record)
        meaning = record.meaning
        if not record.success:
            return Judgement(record, Verdict.FAILED_TRY)
        if not meaning.known:
            return Judgement(record, Verdict.UNKNOWN_TYPE)
        at = (record.lock_date, record.server_date or 0)
        wanted = {Aspect.DOOR: meaning.door, Aspect.BATTERY: record.battery}
        applied = {aspect: value for aspect, value in wanted.items()
                   if value is not None and self._take(aspect, at)}
        touched = meaning.lock is not None or any(value is not None for value in wanted.values())
        if applied or meaning.lock is not None:
            verdict = Verdict.APPLIED
        elif touched and meaning.changes_state:
            verdict = Verdict.STALE
        else:
            verdict = Verdict.NOTED  # an alert, or only an older battery figure
        return Judgement(
            record,
            verdict,
            lock=meaning.lock,
            door=applied.get(Aspect.DOOR),  # type: ignore[arg-type]
            battery=applied.get(Aspect.BATTERY),  # type: ignore[arg-type]
            alert=meaning.alert,
            confirms_auto_lock=meaning.code == AUTO_LOCK,
        )

    def _take(self, aspect: Aspect, at: tuple[int, int]) -> bool:
        """Whether a record at ``at`` is the newest for ``aspect`` (ties: the later one)."""
        current = self._newest.get(aspect)
        if current is not None and at < current:
            return False
        self._newest[aspect] = at
        return True

    def _remember(self, record: PushedRecord) -> None:
        self._seen[record.key] = None
        while len(self._seen) > REMEMBERED:
            self._seen.popitem(last=False)
