"""The API call counter: no I/O on the event loop, never an error, merged across processes."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

import pytest

from hapbridge.storage import Storage
from hapbridge.ttlock.usage import USAGE_FILE, UsageCounter, current_month


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    return Storage(tmp_path / "store")


def saved(storage: Storage) -> dict[str, int]:
    data = storage.read_json(USAGE_FILE)
    assert data["month"] == current_month()
    return dict(data["calls"])


async def test_record_writes_off_the_event_loop(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    writers: list[int] = []
    real = Storage.write_json

    def spy(self: Storage, name: str, data: object) -> None:
        writers.append(threading.get_ident())
        real(self, name, data)

    monkeypatch.setattr(Storage, "write_json", spy)
    counter = UsageCounter(storage, flush_interval=0)
    counter.record("/v3/lock/list")
    assert writers == []  # record() itself only counts
    await counter.aflush()
    assert writers and threading.get_ident() not in writers
    assert saved(storage) == {"/v3/lock/list": 1}


async def test_flush_at_most_every_interval(storage: Storage) -> None:
    counter = UsageCounter(storage, flush_interval=3600)
    for _ in range(5):
        counter.record("/v3/lock/list")
    await asyncio.sleep(0.05)
    assert storage.read_json(USAGE_FILE) is None
    await counter.aclose()
    assert saved(storage) == {"/v3/lock/list": 5}


async def test_flush_failure_warns_once_and_never_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    counter = UsageCounter(Storage(blocker), flush_interval=0)
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            counter.record("/v3/lock/list")
            await asyncio.sleep(0.05)
        counter.flush()
        await counter.aclose()
    assert counter.total == 3
    assert caplog.text.count("API call counts not saved") == 1
    assert "Traceback" not in caplog.text


def test_two_counters_on_one_storage_add_up(storage: Storage) -> None:
    bridge = UsageCounter(storage)
    cli = UsageCounter(storage)
    for _ in range(3):
        bridge.record("/v3/lock/queryOpenState")
    cli.record("/v3/lock/list")
    cli.record("/v3/lock/queryOpenState")
    bridge.flush()
    cli.flush()
    assert saved(storage) == {"/v3/lock/queryOpenState": 4, "/v3/lock/list": 1}
    assert cli.total == 5
    bridge.record("/v3/lock/list")
    bridge.flush()
    bridge.flush()  # nothing new: nothing added twice
    assert saved(storage) == {"/v3/lock/queryOpenState": 4, "/v3/lock/list": 2}
    assert bridge.total == 6 and bridge.session_total == 4
    assert UsageCounter(storage).total == 6


def test_concurrent_flushes_lose_nothing(storage: Storage) -> None:
    counters = [UsageCounter(storage) for _ in range(4)]

    def work(counter: UsageCounter) -> None:
        for _ in range(25):
            counter.record("/v3/lock/list")
            counter.flush()

    threads = [threading.Thread(target=work, args=(c,)) for c in counters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert saved(storage) == {"/v3/lock/list": 100}


def test_a_new_month_starts_from_zero(storage: Storage) -> None:
    storage.write_json(USAGE_FILE, {"month": "2000-01", "calls": {"/v3/lock/list": 99}})
    counter = UsageCounter(storage)
    assert counter.total == 0
    counter.record("/v3/lock/list")
    counter.flush()
    assert saved(storage) == {"/v3/lock/list": 1}


@pytest.mark.parametrize(
    "document",
    [[1], "x", {"month": "MONTH", "calls": None}, {"month": "MONTH", "calls": {"a": "x"}},
     {"month": "MONTH"}, {"month": "MONTH", "calls": [1]}],
)
def test_wrong_shape_file_counts_from_zero(
    storage: Storage, caplog: pytest.LogCaptureFixture, document: object
) -> None:
    if isinstance(document, dict):
        document = {**document, "month": current_month()}
    storage.write_json(USAGE_FILE, document)
    with caplog.at_level(logging.WARNING):
        counter = UsageCounter(storage)
        assert counter.total == 0
        counter.record("/v3/lock/list")
        counter.flush()
    assert "unexpected shape" in caplog.text
    assert saved(storage) == {"/v3/lock/list": 1}


def test_corrupt_file_counts_from_zero(
    storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    storage.root.mkdir(mode=0o700)
    storage.path(USAGE_FILE).write_text("{broken")
    with caplog.at_level(logging.WARNING):
        counter = UsageCounter(storage)
    assert counter.total == 0 and "corrupt" in caplog.text
