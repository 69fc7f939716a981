"""The storage directory: small JSON files, written atomically and private to their owner.

Tokens, pairings, accessory IDs and the setup code live here; losing or leaking any of them
hurts the user, so every write goes through a temp file + fsync + rename + directory fsync,
with mode 0600 in a 0700 directory. Failures are one-line :class:`StorageError`\\ s naming the
path and the fix, never raw ``OSError`` tracebacks.
"""

from __future__ import annotations

import contextlib
import errno
import getpass
import json
import logging
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hapbridge.errors import HapbridgeError

try:  # POSIX; elsewhere cross-process locking degrades to none
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

_LOGGER = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600


class StorageError(HapbridgeError):
    """The storage directory or one of its files cannot be used."""


class InUseError(StorageError):
    """Another process holds the storage for itself (a running bridge)."""

    exit_code = 2


class AccessError(StorageError):
    """A file or directory this user may not open: a set-up to change, not a failure a
    retry (or a service manager's restart) can mend."""

    exit_code = 2


PERMISSION_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a uid without a passwd entry (containers)
        return f"uid {os.getuid()}"


def access_error(err: OSError, path: Path | str | None = None, *,
                 doing: str = "use") -> StorageError:
    """The one wording of an OSError on the storage or config: the path, the reason, and
    for a permission problem the user it was refused to (the fix depends on who runs it).

    The CLI's entry point sends every OSError that names a file through here.
    """
    where = Path(path if path is not None else (err.filename or "?"))
    reason = err.strerror or str(err)
    if err.errno in PERMISSION_ERRNOS:
        user = _user()
        return AccessError(
            f"cannot {doing} {where}: {reason} for user {user}; run as the user who owns it, "
            f"or give {user} access (chown/chmod), or choose another storage directory "
            "with -U (and config with -c)")
    if err.errno == errno.ENOENT:
        return AccessError(f"cannot {doing} {where}: {reason}; check the path, or choose "
                           "another storage directory with -U (and config with -c)")
    if err.errno == errno.ENOSPC:
        return StorageError(f"cannot {doing} {where}: {reason}; free some disk space, or choose "
                            "another storage directory with -U")
    return AccessError(f"cannot {doing} {where}: {reason}")


def _write_fix(path: Path, err: OSError) -> StorageError:
    return access_error(err, path, doing="write")


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (mode 0700) if needed and return it."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    except OSError as err:
        raise access_error(err, path, doing="create storage directory") from None
    return path


def check_writable_dir(path: Path) -> None:
    """Make ``path`` if needed and prove a file can be written there, before work that
    would be lost otherwise (init's login): a read-only or special file system (/proc)
    says so only when written to."""
    ensure_private_dir(path)
    try:
        fd, probe = tempfile.mkstemp(prefix=".hapbridge-write-test.", dir=path)
    except OSError as err:
        raise access_error(err, path, doing="write in") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)


def tighten_dir(path: Path) -> None:
    """Make an existing directory of ours 0700 if group or others can get in.

    Only a directory this user owns and that is not a shared sticky one (like /tmp) is
    changed: tightening someone else's directory would break them, not protect us.
    """
    try:
        info = path.stat()
    except OSError:
        return
    mode = stat.S_IMODE(info.st_mode)
    if not mode & 0o077:
        return
    if info.st_uid != os.getuid() or mode & stat.S_ISVTX:
        _LOGGER.warning("storage directory %s is accessible to other users (mode %o): "
                        "use a private directory with -U", path, mode)
        return
    try:
        os.chmod(path, DIR_MODE)
    except OSError as err:
        _LOGGER.warning("cannot make storage directory %s private (%s)", path, err.strerror)
        return
    exposed = _exposed_files(path)
    if exposed:
        _LOGGER.warning("storage directory %s was accessible to other users (mode %o), and so "
                        "were %s: changed the directory to %o; if others may have read them, "
                        "change the TTLock password and run 'hapbridge init --force'",
                        path, mode, ", ".join(exposed), DIR_MODE)
    else:
        # A directory made with a plain ``mkdir`` (mode 755) holding nothing others could
        # read: making it private is routine, not news.
        _LOGGER.debug("storage directory %s made private (mode %o to %o)", path, mode, DIR_MODE)


def _exposed_files(path: Path) -> list[str]:
    """The names of files in ``path`` that group or others may read."""
    try:
        entries = list(os.scandir(path))
    except OSError:
        return []
    exposed = []
    for entry in entries:
        with contextlib.suppress(OSError):
            if entry.is_file(follow_symlinks=False) and entry.stat().st_mode & 0o044:
                exposed.append(entry.name)
    return sorted(exposed)


def _fsync_dir(path: Path) -> None:
    """Persist a rename: without it a power cut can bring back the old file (or none)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot fsync a directory; the data itself is synced
        pass
    finally:
        os.close(fd)


def write_private(path: Path, data: bytes, *, make_dir: bool = True) -> None:
    """Atomically and durably replace ``path`` with ``data``, readable by the owner only.

    ``make_dir`` False: a file the user named (an image), whose directory is theirs to
    choose: a missing one is an error, never made."""
    if make_dir:
        ensure_private_dir(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as err:
        raise _write_fix(path, err) from None
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(err, OSError):
            raise _write_fix(path, err) from None
        raise
    _fsync_dir(path.parent)


class Storage:
    """JSON documents by name inside one private directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser()
        self._root_ready = False

    def path(self, name: str) -> Path:
        return self.root / name

    def _ensure_root(self) -> None:
        """Create the directory, or tighten an existing one, once per instance."""
        if not self._root_ready:
            ensure_private_dir(self.root)
            tighten_dir(self.root)
            self._root_ready = True

    def read_json(self, name: str) -> Any | None:
        """The document, or None when it does not exist yet.

        A corrupt file is an error, not a silent reset: it may hold pairings or AIDs.
        """
        path = self.path(name)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as err:
            raise access_error(err, path, doing="read") from None
        except UnicodeDecodeError:
            raise StorageError(f"cannot read {path}: not UTF-8 text") from None
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            raise StorageError(
                f"{path} is corrupt (line {err.lineno}, column {err.colno}); "
                "restore it from a backup or delete it to start over"
            ) from None

    def write_json(self, name: str, data: Any) -> None:
        self._ensure_root()
        payload = json.dumps(data, indent=2, sort_keys=True).encode("utf-8") + b"\n"
        write_private(self.path(name), payload)

    @contextlib.contextmanager
    def locked(self, name: str, *, timeout: float | None = None) -> Iterator[None]:
        """Hold an exclusive advisory lock for ``name`` (bridge and CLI share the directory).

        The lock lives on a separate ``.NAME.lock`` file because the document itself is
        replaced by rename, which would leave a lock on the old inode. Blocking: callers
        hold it only for a read-modify-write of a small file. With ``timeout``, a holder
        that takes longer (a hung process) is waited for that long, then gone on without:
        the lock protects a convenience, never correctness.
        """
        lock_path, fd = self._open_lock(name)
        try:
            if fcntl is not None:
                try:
                    _flock(fd, timeout)
                except OSError as err:  # e.g. a network file system without locks
                    _LOGGER.debug("cannot lock %s (%s); going on without", lock_path, err)
            yield
        finally:
            os.close(fd)  # closing releases the flock

    def _open_lock(self, name: str) -> tuple[Path, int]:
        """``.NAME.lock`` opened (made if needed): a separate file, because documents are
        replaced by rename, which would leave a lock on the old inode."""
        self._ensure_root()
        lock_path = self.path(f".{name}.lock")
        try:
            return lock_path, os.open(lock_path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        except OSError as err:
            raise _write_fix(lock_path, err) from None

    def hold(self, name: str, *, what: str,
             fix: str = "stop it first, or give this one a storage directory of its own "
                        "with -U") -> int:
        """Take ``.NAME.lock`` for as long as the returned fd stays open, without waiting;
        our pid goes in it so a refusal can name the holder. InUseError when held.

        ``what`` and ``fix`` make the refusal: "WHAT is using STORAGE (pid N): FIX".
        Without flock (a file system without locks) nothing is held and nothing refused.
        """
        lock_path, fd = self._open_lock(name)
        if fcntl is None:
            return fd
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            os.close(fd)
            pid = f" (pid {holder})" if holder.isdigit() else ""
            raise InUseError(f"{what} is using {self.root}{pid}: {fix}") from None
        except OSError as err:
            _LOGGER.debug("cannot lock %s (%s); going on without", lock_path, err)
            return fd
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as err:
            os.close(fd)
            raise _write_fix(lock_path, err) from None
        return fd


LOCK_POLL = 0.05  # seconds between tries of a lock that is held, with a timeout


def _flock(fd: int, timeout: float | None) -> None:
    """Take the lock; with ``timeout``, raise TimeoutError once that has passed."""
    if timeout is None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"still held after {timeout:.0f}s") from None
            time.sleep(LOCK_POLL)
