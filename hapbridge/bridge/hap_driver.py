"""One HomeKit bridge's HAP-python pieces: the driver, the Bridge accessory, its state file.

The driver writes its state file (pairings, keys) atomically with 0600, and at once when a
pairing changes; pair-setup uses SRP with fixed widths; its HAP server is hap_connections'
(limits, HAP's status codes, the attempt counter of hap_requests/pairing_attempts). Pairing
data is never deleted: a state file that must go is moved aside with a timestamp.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

from pyhap.accessory import Bridge
from pyhap.accessory_driver import AccessoryDriver
from pyhap.const import CLIENT_PROP_PERMS
from pyhap.state import State

from hapbridge.bridge.hap_connections import ConnectionLimits, GuardedHAPServer
from hapbridge.bridge.pairing_attempts import PairingAttempts
from hapbridge.bridge.pairing_srp import FixedWidthSrpServer, install
from hapbridge.bridge.setup_code import setup_text
from hapbridge.storage import FILE_MODE, Storage, StorageError, write_private

_LOGGER = logging.getLogger(__name__)

STATE_FILE = "accessory.state"


class PrivateStateDriver(AccessoryDriver):
    """HAP-python's driver: state file (pairings, keys) written atomically with 0600,
    pair-setup SRP with fixed widths so that no pairing fails at random, and the HAP server
    of hap_connections/hap_requests (limits, HAP's status codes, the attempt counter)."""

    # A plain attribute on every HAP-python 5.x: 5.2 made it a read-only property over
    # ``_srp_verifier``, which shadowing here keeps assignable without touching private names.
    srp_verifier: FixedWidthSrpServer | None = None
    # HAP-python's own pair-setup lockout (5 wrong codes lock out everyone, the owner too)
    # is replaced by PairingAttempts, which the request handler consults.
    pairing_locked_out = False

    def __init__(self, *args: Any, limits: ConnectionLimits | None = None,
                 pairing_attempts: PairingAttempts | None = None, **kwargs: Any) -> None:
        install()
        super().__init__(*args, **kwargs)
        self.pairing_attempts = pairing_attempts
        # How the pairing lines name this bridge ("bridge 2 'TTLock Bridge 2'"), or "" when
        # it is the only one: asked at each line, as the process may grow a bridge meanwhile.
        self.named: Callable[[], str] = lambda: ""
        self.http_server = GuardedHAPServer((self.listen_address(), self.state.port), self,
                                            limits or ConnectionLimits())

    def register_failed_pairing_attempt(self) -> None:
        """Counted by the request handler, which knows the address (PairingAttempts)."""

    def setup_srp_verifier(self) -> None:
        self.srp_verifier = FixedWidthSrpServer(self.state.pincode)

    def pair(self, client_username_bytes: bytes, client_public: bytes,
             client_permissions: bytes) -> bool:
        """HAP-python logs pairings at debug level only; for a lock bridge who may open the
        doors is worth a line. A pairing that cannot be saved is refused, not kept in memory:
        it would be gone at the next start, and meanwhile block every new pair-setup."""
        try:
            paired = bool(super().pair(client_username_bytes, client_public,
                                       client_permissions))
        except StorageError as err:
            self.state.remove_paired_client(UUID(client_username_bytes.decode("utf-8")))
            _LOGGER.error("a HomeKit controller's pairing was refused: it cannot be saved "
                          "(%s)", err)
            return False
        if paired:
            count = len(self.state.paired_clients)
            if name := self.named():
                _LOGGER.info("%s: a HomeKit controller paired (%d now)", name, count)
            else:
                _LOGGER.info("a HomeKit controller paired with the bridge (%d now)", count)
        return paired

    def unpair(self, client_uuid: Any) -> None:
        """Also ends the sessions of every controller no longer paired (the removed one; all
        of them with the last admin): a person removed from the Home loses the door now.

        A controller paired without permissions (a state file written by HAP-python after a
        malformed add-pairing) has none to remove: HAP-python's State would raise after
        dropping its key, before the sessions are ended. It is given "user" first, and the
        sessions are ended whatever the removal raises."""
        self.state.client_properties.setdefault(client_uuid, {CLIENT_PROP_PERMS: 0})
        try:
            super().unpair(client_uuid)
        finally:
            ended = self.http_server.end_removed_sessions()
        count = len(self.state.paired_clients)
        if name := self.named():
            _LOGGER.info("%s: a HomeKit controller was removed (%d left, %d open sessions "
                         "closed)", name, count, ended)
        else:
            _LOGGER.info("a HomeKit controller was removed from the bridge (%d left, %d open "
                         "sessions closed)", count, ended)

    def async_persist(self) -> None:
        """Write now, not in an executor task as HAP-python does: a new pairing that a stop
        (or a crash) right after pair-setup loses leaves a Home that believes it is paired
        with a bridge that forgot it. Pairing changes are rare; one small fsync'd write."""
        self.persist()

    def persist(self) -> None:
        buffer = io.StringIO()
        self.encoder.persist(buffer, self.state)
        write_private(Path(self.persist_file), buffer.getvalue().encode("utf-8"))


class TTLockBridge(Bridge):
    """The bridge accessory; prints our setup message (QR + code) instead of pyhap's."""

    number = 1  # which of the process's bridges (bridge_set.py)

    async def stop(self) -> None:
        """Nothing to await: the lock accessories hold no resources (the hub stops their
        timers). HAP-python awaits one task per accessory here, in turn: with 1,000 locks
        on a busy loop that made a stop take seconds."""

    def setup_message(self) -> None:
        state = self.driver.state
        print(setup_text(self.display_name, state.pincode.decode(), state.setup_id,
                         paired=state.paired, bridge=self.number if self.number > 1 else None),
              flush=True)


def load_pairing_state(path: Path, state: State, encoder: Any) -> bool:
    """Load the persisted pairings into ``state``; False when there is nothing to load.

    A damaged file is a one-line StorageError with the way out, never a traceback.
    """
    try:
        with path.open(encoding="utf-8") as handle:
            encoder.load_into(handle, state)
    except FileNotFoundError:
        return False
    except OSError as err:
        raise StorageError(f"cannot read {path}: {err.strerror or err}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as err:  # JSONDecodeError too
        raise StorageError(
            f"{path} (the HomeKit pairings) is damaged ({type(err).__name__}: {err}); restore "
            "it from a backup, or run 'hapbridge reset-pairing' and pair again"
        ) from None
    with contextlib.suppress(OSError):
        os.chmod(path, FILE_MODE)
    return True


def move_aside(path: Path) -> Path:
    """Rename ``path`` to ``<name>.bak-<timestamp>`` (never over an older backup)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    backup = path.with_name(f"{path.name}.bak-{stamp}")
    count = 1
    while backup.exists():
        backup = path.with_name(f"{path.name}.bak-{stamp}-{count}")
        count += 1
    try:
        os.replace(path, backup)
    except OSError as err:
        raise StorageError(f"cannot move {path} aside: {err.strerror or err}") from None
    return backup


def is_paired(storage: Storage) -> bool:
    """Whether the stored state holds a pairing (for ``pair-info``; no driver needed)."""
    data = storage.read_json(STATE_FILE)
    return isinstance(data, dict) and bool(data.get("paired_clients"))
