"""The storage directory: atomic, durable, private writes and one-line errors."""

from __future__ import annotations

import errno
import logging
import os
import stat
from pathlib import Path

import pytest

from hapbridge.storage import Storage, StorageError, write_private


def test_write_json_round_trip_private(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "store")
    storage.write_json("a.json", {"b": [1, 2]})
    assert storage.read_json("a.json") == {"b": [1, 2]}
    assert stat.S_IMODE(storage.path("a.json").stat().st_mode) == 0o600
    assert stat.S_IMODE(storage.root.stat().st_mode) == 0o700
    assert [p.name for p in storage.root.iterdir()] == ["a.json"]  # no temp file left


def test_rename_is_followed_by_a_directory_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    write_private(tmp_path / "pairings.json", b"{}")
    assert synced == ["file", "dir"]


def test_a_fresh_mkdir_is_made_private_quietly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``mkdir -p ~/.hapbridge`` (mode 755, nothing in it): tightened without a warning."""
    root = tmp_path / "loose"
    root.mkdir()
    root.chmod(0o755)
    Storage(root).write_json("tokens.json", {"secret": "value-xyz"})
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_an_open_dir_with_readable_files_is_tightened_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "loose"
    root.mkdir()
    root.chmod(0o755)
    (root / "config.json").write_text('{"password": "value-xyz"}')
    (root / "config.json").chmod(0o644)
    Storage(root).write_json("tokens.json", {"secret": "value-xyz"})
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warned) == 1 and "config.json" in warned[0] and "loose" in warned[0]
    assert "value-xyz" not in caplog.text


def test_shared_sticky_dir_is_left_alone(tmp_path: Path) -> None:
    root = tmp_path / "shared"
    root.mkdir()
    root.chmod(0o1777)
    Storage(root).write_json("x.json", {})
    assert stat.S_IMODE(root.stat().st_mode) == 0o1777


@pytest.mark.parametrize("failing", ["replace", "fdopen"])
def test_write_failure_is_one_line_storage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    def no_space(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, failing, no_space)
    storage = Storage(tmp_path / "full")
    with pytest.raises(StorageError) as caught:
        storage.write_json("usage.json", {})
    message = str(caught.value)
    assert "\n" not in message
    assert str(storage.path("usage.json")) in message and "No space left" in message
    assert "-U" in message
    assert not [p for p in storage.root.iterdir() if p.name.startswith(".usage")]


def test_unwritable_root_is_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StorageError, match="cannot create storage directory"):
        Storage(blocker).write_json("x.json", {})


def test_locked_serialises_holders(tmp_path: Path) -> None:
    import fcntl

    storage = Storage(tmp_path / "lock")
    with storage.locked("usage.json"):
        fd = os.open(storage.path(".usage.json.lock"), os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    fd = os.open(storage.path(".usage.json.lock"), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released on exit
    finally:
        os.close(fd)
