"""The storage directory: small JSON files, written atomically and private to their owner.

Tokens, pairings, accessory IDs and the setup code live here; losing or leaking any of them
hurts the user, so every write goes through a temp file + fsync + rename, with mode 0600.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from hapbridge.errors import HapbridgeError

DIR_MODE = 0o700
FILE_MODE = 0o600


class StorageError(HapbridgeError):
    """The storage directory or one of its files cannot be used."""


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (mode 0700) if needed and return it."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    except OSError as err:
        raise StorageError(
            f"cannot create storage directory {path}: {err.strerror}; choose another with -U"
        ) from None
    return path


def write_private(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` with ``data``, readable by the owner only."""
    ensure_private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class Storage:
    """JSON documents by name inside one private directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser()

    def path(self, name: str) -> Path:
        return self.root / name

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
            raise StorageError(f"cannot read {path}: {err.strerror}") from None
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            raise StorageError(
                f"{path} is corrupt (line {err.lineno}, column {err.colno}); "
                "restore it from a backup or delete it to start over"
            ) from None

    def write_json(self, name: str, data: Any) -> None:
        ensure_private_dir(self.root)
        payload = json.dumps(data, indent=2, sort_keys=True).encode("utf-8") + b"\n"
        write_private(self.path(name), payload)
