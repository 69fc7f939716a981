"""What happened to each lock, and how the bridge learnt it: ``STORAGE/events.jsonl``.

Every state change the bridge applies is one JSON line, with its source (HomeKit, a push,
a poll, the auto-lock model, a command) and, when a record says so, who and how: so a user
can watch ``hapbridge events --follow`` and see a keypad unlock arrive. The file is bounded
(rotated to ``events.jsonl.1`` .. ``.N`` past ``max_bytes``) and private (0600): it names
guests. Passcode digits never go in it. Writing never raises: a full disk must not stop
the bridge, it costs a warning.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from hapbridge.storage import FILE_MODE, StorageError, ensure_private_dir

_LOGGER = logging.getLogger(__name__)

EVENTS_FILE = "events.jsonl"
MAX_BYTES = 1_000_000  # ~5,000 events per file
KEEP = 3  # rotated files kept besides the current one
FOLLOW_POLL = 0.25  # seconds between looks at a followed file


class Source(StrEnum):
    HOMEKIT = "homekit"
    PUSH = "push"
    POLL = "poll"
    AUTO_LOCK = "auto-lock"
    COMMAND = "command"
    CACHE = "cache"  # locks.json shown at a quick restart (the bridge's records only)


@dataclass(frozen=True)
class Event:
    lock_id: int
    change: str  # "unlocked", "locked", "door open", "battery 80%", "alert: tamper"...
    source: Source
    lock_name: str = ""
    who: str = ""  # the record's username: app account, passcode, card or finger name
    how: str = ""  # the record's method: keypad, card, app, auto-lock...
    at: float = field(default_factory=time.time)  # unix seconds, the bridge's clock
    lock_time: int | None = None  # ms, the lock's clock, when a record gave it

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"at": round(self.at, 3), "lockId": self.lock_id,
                                "lockName": self.lock_name, "change": self.change,
                                "source": str(self.source)}
        for key, value in (("who", self.who), ("how", self.how), ("lockTime", self.lock_time)):
            if value:
                data[key] = value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Event:
        """An event read back; KeyError/TypeError/ValueError when the line is not one."""
        lock_time = data.get("lockTime")
        return cls(
            lock_id=int(data["lockId"]),
            change=str(data["change"]),
            source=Source(data["source"]),
            lock_name=str(data.get("lockName") or ""),
            who=str(data.get("who") or ""),
            how=str(data.get("how") or ""),
            at=float(data["at"]),
            lock_time=None if lock_time is None else int(lock_time),
        )


def rotated(path: Path, index: int) -> Path:
    return path.with_name(f"{path.name}.{index}")


class EventLog:
    """Appends events to one file, rotating it when it grows past ``max_bytes``."""

    def __init__(self, path: Path, *, max_bytes: int = MAX_BYTES, keep: int = KEEP) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.keep = keep
        self._failing = False

    def append(self, event: Event) -> None:
        line = (json.dumps(event.to_json(), ensure_ascii=False) + "\n").encode("utf-8")
        try:
            ensure_private_dir(self.path.parent)
            with contextlib.suppress(FileNotFoundError):
                if self.path.stat().st_size + len(line) > self.max_bytes:
                    self._rotate()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
            try:
                os.fchmod(fd, FILE_MODE)
                os.write(fd, line)
            finally:
                os.close(fd)
        except (OSError, StorageError) as err:
            if not self._failing:
                reason = err.strerror if isinstance(err, OSError) else None
                _LOGGER.warning("cannot write the event log %s (%s): events are not kept "
                                "until it works again", self.path, reason or err)
            self._failing = True
            return
        self._failing = False

    def _rotate(self) -> None:
        oldest = rotated(self.path, self.keep)
        with contextlib.suppress(FileNotFoundError):
            oldest.unlink()
        for index in range(self.keep - 1, 0, -1):
            with contextlib.suppress(FileNotFoundError):
                os.replace(rotated(self.path, index), rotated(self.path, index + 1))
        if self.keep > 0:
            os.replace(self.path, rotated(self.path, 1))
        else:
            self.path.unlink()


def _parse(line: bytes) -> Event | None:
    try:
        data = json.loads(line)
        return Event.from_json(data) if isinstance(data, dict) else None
    except (ValueError, KeyError, TypeError):
        return None  # a torn or foreign line: skipped, never fatal


@dataclass(frozen=True)
class Position:
    """Where a reader stopped in the current file: ``follow`` goes on from there."""

    offset: int
    inode: int | None


def snapshot(path: Path, *, keep: int = KEEP) -> tuple[list[Event], Position]:
    """Every complete event in the rotated files and the current one, oldest first, and
    the position after the last one (a line being written is left to ``follow``)."""
    events: list[Event] = []
    for file in (rotated(path, i) for i in range(keep, 0, -1)):
        try:
            data = file.read_bytes()
        except FileNotFoundError:
            continue
        events.extend(event for line in data.splitlines() if (event := _parse(line)))
    try:
        with path.open("rb") as handle:
            inode = os.fstat(handle.fileno()).st_ino
            data = handle.read()
    except FileNotFoundError:
        return events, Position(0, None)
    complete = data.rfind(b"\n") + 1
    events.extend(event for line in data[:complete].splitlines() if (event := _parse(line)))
    return events, Position(complete, inode)


def read_events(path: Path, *, keep: int = KEEP) -> list[Event]:
    return snapshot(path, keep=keep)[0]


def follow(
    path: Path,
    *,
    since: Position | None = None,
    stop: Callable[[], bool] = lambda: False,
    poll: float = FOLLOW_POLL,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Event]:
    """Events appended to ``path`` after ``since`` (default: from now on), across
    rotations, until ``stop()``."""
    start = since or _end_of(path)
    position, inode = start.offset, start.inode
    pending = b""
    while not stop():
        try:
            info = path.stat()
        except FileNotFoundError:
            position, inode, pending = 0, None, b""
            sleep(poll)
            continue
        if info.st_ino != inode or info.st_size < position:  # rotated or truncated
            if inode is not None and info.st_ino != inode:
                yield from _rest_of_rotated(path, inode, position, pending)
            position, inode, pending = 0, info.st_ino, b""
        if info.st_size > position:
            with path.open("rb") as handle:
                handle.seek(position)
                chunk = handle.read()
            position += len(chunk)
            *lines, pending = (pending + chunk).split(b"\n")
            yield from (event for line in lines if (event := _parse(line)))
            continue
        sleep(poll)


def _rest_of_rotated(path: Path, inode: int, position: int, pending: bytes) -> Iterator[Event]:
    """What was appended to the followed file after the last look, before it was rotated."""
    old = rotated(path, 1)
    try:
        with old.open("rb") as handle:
            if os.fstat(handle.fileno()).st_ino != inode:
                return
            handle.seek(position)
            chunk = handle.read()
    except FileNotFoundError:
        return
    yield from (event for line in (pending + chunk).split(b"\n") if (event := _parse(line)))


def _end_of(path: Path) -> Position:
    try:
        info = path.stat()
    except FileNotFoundError:
        return Position(0, None)
    return Position(info.st_size, info.st_ino)
