"""The running bridge: HAP-python's driver, the Bridge accessory, the hub, clean shutdown.

Everything runs on the caller's event loop (``asyncio.run``), never on a loop HAP-python
makes for itself, so the cloud client, the hub and the HAP server share one loop. Pairing
data is never deleted: a state file that must go is moved aside with a timestamp.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from pyhap.accessory import Bridge
from pyhap.accessory_driver import AccessoryDriver
from pyhap.state import State

from accessories.homekit_name import homekit_name
from hapbridge import __version__
from hapbridge.bridge.hap_connections import ConnectionLimits, GuardedHAPServer
from hapbridge.bridge.identity import Identity
from hapbridge.bridge.lock_hub import (
    RECONNECT_FIRST,
    RECONNECT_MAX,
    RESTORE_MAX_AGE,
    STARTUP_TIMEOUT,
    LockHub,
)
from hapbridge.bridge.network import check_port_free, port_error, resolve_bind
from hapbridge.bridge.pairing_attempts import BASE_BACKOFF, PairingAttempts
from hapbridge.bridge.pairing_srp import FixedWidthSrpServer, install
from hapbridge.bridge.setup_code import setup_text
from hapbridge.config import AppConfig
from hapbridge.errors import HapbridgeError
from hapbridge.storage import FILE_MODE, Storage, StorageError, write_private
from hapbridge.ttlock.client import TTLockClient

if TYPE_CHECKING:
    from hapbridge.bridge.push_service import PushService

_LOGGER = logging.getLogger(__name__)

STATE_FILE = "accessory.state"
# Held by a running bridge for its whole life: two bridges on one storage would advertise
# the same HomeKit id and write each other's pairings; reset-pairing takes it too.
RUNNING_LOCK = "bridge"
RUNNING_WHAT = "a running hapbridge bridge"


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
            _LOGGER.info("a HomeKit controller paired with the bridge (%d now)",
                         len(self.state.paired_clients))
        return paired

    def unpair(self, client_uuid: Any) -> None:
        """Also ends the sessions of every controller no longer paired (the removed one; all
        of them with the last admin): a person removed from the Home loses the door now."""
        super().unpair(client_uuid)
        ended = self.http_server.end_removed_sessions()
        _LOGGER.info("a HomeKit controller was removed from the bridge (%d left, %d open "
                     "sessions closed)", len(self.state.paired_clients), ended)

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

    def setup_message(self) -> None:
        state = self.driver.state
        print(setup_text(self.display_name, state.pincode.decode(), state.setup_id,
                         paired=state.paired), flush=True)


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


@dataclass(frozen=True)
class ServerOptions:
    """Overrides for tests, the demo and the benchmark; defaults come from the config."""

    port: int | None = None
    bind: tuple[str, ...] | None = None
    print_setup: bool = True
    startup_timeout: float = STARTUP_TIMEOUT
    reconnect_delays: tuple[float, float] = (RECONNECT_FIRST, RECONNECT_MAX)
    # 0 for the demo: its simulated cloud starts afresh, so cached states mean nothing.
    restore_max_age: float = RESTORE_MAX_AGE
    async_zeroconf: Any = None  # a shared AsyncZeroconf instance (tests)
    hap_limits: ConnectionLimits = field(default_factory=ConnectionLimits)
    pair_setup_backoff: float = BASE_BACKOFF  # first wait of an address after wrong codes


class BridgeServer:
    """Start, run and stop one HomeKit bridge for one TTLock account."""

    def __init__(
        self,
        config: AppConfig,
        storage: Storage,
        client: TTLockClient,
        options: ServerOptions | None = None,
    ) -> None:
        self.config = config
        self.storage = storage
        self.client = client
        self.options = options or ServerOptions()
        self.identity: Identity | None = None
        self.driver: PrivateStateDriver | None = None
        self.bridge: TTLockBridge | None = None
        self.hub: LockHub | None = None
        self.pushes: PushService | None = None  # the push receiver, with a callback block
        self.addresses: list[str] = []
        self._running_fd: int | None = None

    @property
    def port(self) -> int:
        assert self.driver is not None
        return int(self.driver.state.port)

    @property
    def paired(self) -> bool:
        return self.driver is not None and self.driver.state.paired

    async def start(self) -> None:
        self._running_fd = self.storage.hold(RUNNING_LOCK, what=RUNNING_WHAT)
        bridge_config = self.config.bridge
        self.addresses = resolve_bind(
            self.options.bind or bridge_config.bind,
            source="--bind" if self.options.bind else "bridge.bind")
        port, port_source = ((self.options.port, "--port") if self.options.port
                             else (bridge_config.port, "bridge.port"))
        check_port_free(self.addresses, port, source=port_source)
        self.identity = identity = Identity.load(self.storage, bridge_config)
        driver = self._make_driver(identity)
        bridge = TTLockBridge(driver, homekit_name(bridge_config.name, "TTLock Bridge"))
        bridge.set_info_service(
            firmware_revision=__version__, manufacturer="hapbridge", model="TTLock Bridge",
            serial_number=identity.mac,
        )
        if not self.options.print_setup:
            bridge.setup_message = lambda: None  # type: ignore[method-assign]
        self.hub = LockHub(
            client=self.client, storage=self.storage, identity=identity,
            platform=self.config.platform, driver=driver, bridge=bridge,
            startup_timeout=self.options.startup_timeout,
            reconnect_delays=self.options.reconnect_delays,
            restore_max_age=self.options.restore_max_age,
        )
        await self.hub.load()
        if (callback := self.config.platform.callback) is not None:
            # Imported here: aiohttp is loaded only by a bridge that receives pushes.
            from hapbridge.bridge.push_service import PushService

            self.pushes = PushService(callback, self.storage, self.hub,
                                      self.config.platform.username)
            await self.pushes.start()
        driver.add_accessory(bridge)
        self.driver, self.bridge = driver, bridge
        try:
            await driver.async_start()
        except (asyncio.CancelledError, StorageError):
            # A signal during start-up, or a state file that cannot be written (already one
            # line): leave no listening socket behind.
            await self._abandon_start(driver)
            raise
        except Exception as err:
            listening = driver.http_server.server is not None
            await self._abandon_start(driver)
            if listening:
                raise HapbridgeError(
                    f"cannot advertise the bridge over mDNS on {', '.join(self.addresses)} "
                    f"({type(err).__name__}: {err}); bind an address of an interface with "
                    "multicast (bridge.bind)"
                ) from None
            if isinstance(err, OSError) and (failure := port_error(
                    err, ", ".join(self.addresses), port, source=port_source)):
                raise failure from None  # taken since check_port_free
            if isinstance(err, OSError):
                raise HapbridgeError(
                    f"cannot listen on {', '.join(self.addresses)} port {driver.state.port}: "
                    f"{err.strerror or err}; is another bridge running? Choose another "
                    "bridge.port"
                ) from None
            raise
        self.hub.start()
        if not driver.state.paired and driver.pairing_attempts is not None:
            driver.pairing_attempts.announce()
        _LOGGER.info("bridge %r (%s) serving %d locks on %s port %d%s",
                     bridge_config.name, identity.mac, len(self.hub.accessories),
                     ", ".join(self.addresses), self.port,
                     "" if driver.state.paired else " - not paired yet")

    async def _abandon_start(self, driver: PrivateStateDriver) -> None:
        """Undo a half-done ``async_start``: close the HAP socket and the mDNS instance the
        driver made, so a failed start leaks no listening port."""
        self.driver = None  # nothing left for stop() to stop
        http = driver.http_server
        if http.server is not None:
            http.async_stop()
        if driver.advertiser is not None and self.options.async_zeroconf is None:
            with contextlib.suppress(Exception):
                await driver.advertiser.async_close()

    def _make_driver(self, identity: Identity) -> PrivateStateDriver:
        port = self.options.port or self.config.bridge.port
        driver = PrivateStateDriver(
            loop=asyncio.get_running_loop(),
            address=self.addresses[0],
            listen_address=self.addresses if len(self.addresses) > 1 else self.addresses[0],
            advertised_address=self.addresses,
            port=port,
            persist_file=str(self.storage.path(STATE_FILE)),
            pincode=identity.pincode.encode(),
            mac=identity.mac,
            # mDNS on exactly the bound addresses (IPv6 too): None would let zeroconf pick
            # interfaces by itself. One it cannot use fails the start with one line.
            interface_choice=list(self.addresses),
            async_zeroconf_instance=self.options.async_zeroconf,
            limits=self.options.hap_limits,
            pairing_attempts=PairingAttempts(self.storage,
                                             base_backoff=self.options.pair_setup_backoff),
        )
        driver.state.setup_id = identity.setup_id
        path = Path(driver.persist_file)
        if load_pairing_state(path, driver.state, driver.encoder) and (
            driver.state.mac.upper() != identity.mac.upper()
        ):
            self._reconcile_mac(driver, identity, port)
        return driver

    def _reconcile_mac(self, driver: PrivateStateDriver, identity: Identity, port: int) -> None:
        """The pairing data belongs to another MAC than the identity.

        With ``bridge.username`` set, the configured MAC wins: the old state is moved aside
        (``driver.add_accessory`` would otherwise load it and bring the old MAC back) and a
        fresh one is made: a new HomeKit bridge. Without it, ``bridge.json`` was lost or
        replaced: the paired MAC is kept so the Home keeps working.
        """
        old = driver.state.mac
        if not self.config.bridge.username:
            _LOGGER.warning("bridge.json names MAC %s but the pairings belong to %s: keeping "
                            "%s so the paired Home keeps working", identity.mac, old, old)
            identity.mac = old
            identity.save()
            return
        backup = move_aside(Path(driver.persist_file))
        _LOGGER.warning(
            "bridge.username changed from %s to %s: that is a new HomeKit bridge, pair it "
            "again (and remove the old one from the Home app). The old pairings were moved to "
            "%s (put it back and remove bridge.username to return to them)",
            old, identity.mac, backup,
        )
        driver.state = State(address=self.addresses, mac=identity.mac,
                             pincode=identity.pincode.encode(), port=port)
        driver.state.setup_id = identity.setup_id

    async def stop(self) -> None:
        """HAP driver first, so no HomeKit write reaches the hub while it stops; then the hub
        (every task and timer); then the client they used."""
        try:
            if self.driver is not None and self.driver.aio_stop_event is not None:
                await self.driver.async_stop()
        finally:
            try:
                if self.pushes is not None:  # no push reaches the hub while it stops
                    await self.pushes.stop()
                if self.hub is not None:
                    await self.hub.stop()
            finally:
                try:
                    await self.client.aclose()
                finally:
                    if self._running_fd is not None:
                        os.close(self._running_fd)  # releases the storage
                        self._running_fd = None


async def serve_until_signalled(server: BridgeServer) -> None:
    """Run until SIGINT/SIGTERM, then stop cleanly (pairings and caches are saved)."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stopping.set)
            installed.append(sig)
    try:
        # A signal during start-up (the cloud can take STARTUP_TIMEOUT to answer) stops it
        # there, rather than after the bridge was published and advertised.
        starting = asyncio.ensure_future(server.start())
        signalled = asyncio.ensure_future(stopping.wait())
        await asyncio.wait({starting, signalled}, return_when=asyncio.FIRST_COMPLETED)
        if starting.done():
            signalled.cancel()
            starting.result()  # a failed start raises here
            await stopping.wait()
        else:
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
        _LOGGER.info("stopping the bridge")
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        await server.stop()
