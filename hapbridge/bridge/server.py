"""The running bridges of one account: their drivers started and stopped, the hub, signals.

Everything runs on the caller's event loop (``asyncio.run``), never on a loop HAP-python
makes for itself, so the cloud client, the hub and every bridge's HAP server share one
loop. The driver itself, the Bridge accessory and the state file are hap_driver's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyhap.state import State
from zeroconf.asyncio import AsyncZeroconf

from accessories.homekit_name import homekit_name
from hapbridge import __version__
from hapbridge.bridge.bridge_set import (
    BridgeSet,
    BridgeSpec,
    BridgeUnit,
    SharedZeroconf,
    known_bridges,
)
from hapbridge.bridge.hap_connections import ConnectionLimits
from hapbridge.bridge.hap_driver import (
    STATE_FILE,
    PrivateStateDriver,
    TTLockBridge,
    is_paired,
    load_pairing_state,
    move_aside,
)
from hapbridge.bridge.identity import IDENTITY_FILE, Identity
from hapbridge.bridge.lock_hub import (
    RECONNECT_FIRST,
    RECONNECT_MAX,
    RESTORE_MAX_AGE,
    STARTUP_TIMEOUT,
    LockHub,
)
from hapbridge.bridge.network import check_port_free, port_error, resolve_bind
from hapbridge.bridge.pairing_attempts import BASE_BACKOFF, PairingAttempts
from hapbridge.bridge.placement import Placement
from hapbridge.config import AppConfig
from hapbridge.errors import HapbridgeError
from hapbridge.storage import Storage, StorageError
from hapbridge.ttlock.client import TTLockClient

if TYPE_CHECKING:
    from hapbridge.bridge.push_service import PushService

__all__ = [  # hap_driver's names too: the CLI and the tests import them from here
    "RUNNING_LOCK", "RUNNING_WHAT", "STATE_FILE", "BridgeServer", "PrivateStateDriver",
    "ServerOptions", "TTLockBridge", "is_paired", "load_pairing_state", "move_aside",
    "serve_until_signalled",
]  # fmt: skip

_LOGGER = logging.getLogger(__name__)

# Held by a running bridge for its whole life: two bridges on one storage would advertise
# the same HomeKit id and write each other's pairings; reset-pairing takes it too.
RUNNING_LOCK = "bridge"
RUNNING_WHAT = "a running hapbridge bridge"


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
    """Start, run and stop the HomeKit bridges (as many as the locks need) of one TTLock
    account: one hub, one cloud client, one loop; ``driver``, ``bridge`` and ``identity``
    are bridge 1's."""

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
        self.hub: LockHub | None = None
        self.pushes: PushService | None = None  # the push receiver, with a callback block
        self.addresses: list[str] = []
        self.bridges = BridgeSet(
            config.bridge, storage, port=self.options.port, make=self._make_unit,
            check_port=self._check_port, start_one=self._start_unit)
        self._zeroconf: Any = None  # the one we made (a given one is the caller's)
        self._shared: SharedZeroconf | None = None
        self._running_fd: int | None = None

    @property
    def units(self) -> list[BridgeUnit]:
        return self.bridges.ordered()

    def unit(self, number: int) -> BridgeUnit:
        return self.bridges.units[number]

    @property
    def _first(self) -> BridgeUnit | None:
        return self.bridges.units.get(1)

    @property
    def identity(self) -> Identity | None:
        return self._first.identity if self._first else None

    @property
    def driver(self) -> PrivateStateDriver | None:
        first = self._first
        return first.driver if first is not None and first.started else None

    @property
    def bridge(self) -> TTLockBridge | None:
        return self._first.accessory if self._first else None  # type: ignore[return-value]

    @property
    def port(self) -> int:
        assert self._first is not None
        return self._first.port

    @property
    def paired(self) -> bool:
        return self.driver is not None and self.driver.state.paired

    async def start(self) -> None:
        self._running_fd = self.storage.hold(RUNNING_LOCK, what=RUNNING_WHAT)
        bridge_config = self.config.bridge
        self.addresses = resolve_bind(
            self.options.bind or bridge_config.bind,
            source="--bind" if self.options.bind else "bridge.bind")
        known = known_bridges(self.storage)
        self.bridges.check_ports(known)
        placement = Placement(self.bridges.identity, known, pins=bridge_config.bridges)
        first = self.bridges.host(1)
        self.hub = LockHub(
            client=self.client, storage=self.storage, identity=first.identity,
            platform=self.config.platform, driver=first.driver, bridge=first.accessory,
            startup_timeout=self.options.startup_timeout,
            reconnect_delays=self.options.reconnect_delays,
            restore_max_age=self.options.restore_max_age,
            placement=placement, hosts=self.bridges.host,
        )
        await self.hub.load()
        if (callback := self.config.platform.callback) is not None:
            # Imported here: aiohttp is loaded only by a bridge that receives pushes.
            from hapbridge.bridge.push_service import PushService

            self.pushes = PushService(callback, self.storage, self.hub,
                                      self.config.platform.username)
            await self.pushes.start()
        for number in placement.bridges:
            self.bridges.host(number)  # every bridge that has run keeps running
        await self._open_zeroconf()
        for unit in self.bridges.ordered():
            await self._start_unit(unit)
        self.bridges.running = True
        self.hub.start()
        for unit in self.bridges.ordered():
            _LOGGER.info("%s%r (%s) serving %d locks on %s port %d%s",
                         f"bridge {unit.number} " if len(self.bridges.units) > 1 else "bridge ",
                         unit.spec.name, unit.identity.mac,
                         len(self.hub.registry.on_bridge(unit.number)),
                         ", ".join(self.addresses), unit.port,
                         " - paired" if unit.paired else " - not paired yet")

    async def _open_zeroconf(self) -> None:
        """One mDNS responder for all the bridges, on exactly the bound addresses."""
        if self.options.async_zeroconf is not None:
            self._shared = SharedZeroconf(self.options.async_zeroconf)
            return
        try:
            self._zeroconf = AsyncZeroconf(interfaces=list(self.addresses))
        except Exception as err:
            raise HapbridgeError(
                f"cannot advertise the bridge over mDNS on {', '.join(self.addresses)} "
                f"({type(err).__name__}: {err}); bind an address of an interface with "
                "multicast (bridge.bind)"
            ) from None
        self._shared = SharedZeroconf(self._zeroconf)

    def _check_port(self, spec: BridgeSpec) -> None:
        check_port_free(self.addresses, spec.port, source=spec.port_source,
                        who=self._who(spec))

    def _who(self, spec: BridgeSpec) -> str:
        """How a message names the bridge: only when there is more than one."""
        many = spec.number > 1 or len(self.bridges.units) > 1 or bool(self.config.bridge.bridges)
        return f"{spec.label} ({spec.name}): " if many else ""

    async def _start_unit(self, unit: BridgeUnit) -> None:
        driver, spec = unit.driver, unit.spec
        driver.advertiser = self._shared
        driver.add_accessory(unit.accessory)
        try:
            await driver.async_start()
        except (asyncio.CancelledError, StorageError):
            # A signal during start-up, or a state file that cannot be written (already one
            # line): leave no listening socket behind.
            self._abandon_start(driver)
            raise
        except Exception as err:
            listening = driver.http_server.server is not None
            self._abandon_start(driver)
            if listening:
                raise HapbridgeError(
                    f"{self._who(spec)}cannot advertise the bridge over mDNS on "
                    f"{', '.join(self.addresses)} ({type(err).__name__}: {err}); bind an "
                    "address of an interface with multicast (bridge.bind)"
                ) from None
            if isinstance(err, OSError) and (failure := port_error(
                    err, ", ".join(self.addresses), spec.port, source=spec.port_source,
                    who=self._who(spec))):
                raise failure from None  # taken since check_port_free
            if isinstance(err, OSError):
                raise HapbridgeError(
                    f"{self._who(spec)}cannot listen on {', '.join(self.addresses)} port "
                    f"{spec.port}: {err.strerror or err}; is another bridge running? Choose "
                    f"another {spec.port_source}"
                ) from None
            raise
        unit.started = True
        await asyncio.to_thread(unit.identity.listening_on, unit.port)  # an fsync'd write
        if not driver.state.paired and driver.pairing_attempts is not None:
            driver.pairing_attempts.announce()

    @staticmethod
    def _abandon_start(driver: PrivateStateDriver) -> None:
        """Undo a half-done ``async_start``: close the HAP socket, so a failed start leaks
        no listening port (the shared mDNS instance is closed by stop())."""
        http = driver.http_server
        if http.server is not None:
            http.async_stop()

    def _named(self, spec: BridgeSpec) -> str:
        """How a pairing line names the bridge: as the start-up lines do, when there are
        several (else "", and the line says "the bridge")."""
        many = spec.number > 1 or len(self.bridges.units) > 1
        return f"{spec.label} {spec.name!r}" if many else ""

    def _make_unit(self, spec: BridgeSpec, storage: Storage, identity: Identity) -> BridgeUnit:
        driver = self._make_driver(identity, storage=storage, spec=spec)
        driver.named = lambda: self._named(spec)
        accessory = TTLockBridge(driver, homekit_name(spec.name, "TTLock Bridge"))
        accessory.number = spec.number
        accessory.set_info_service(
            firmware_revision=__version__, manufacturer="hapbridge", model="TTLock Bridge",
            serial_number=identity.mac,
        )
        if not self.options.print_setup:
            accessory.setup_message = lambda: None  # type: ignore[method-assign]
        return BridgeUnit(spec, storage, identity, driver, accessory)

    def _make_driver(self, identity: Identity, *, storage: Storage | None = None,
                     spec: BridgeSpec | None = None) -> PrivateStateDriver:
        storage = storage or self.storage
        spec = spec or self.bridges.spec(1)
        port = spec.port
        driver = PrivateStateDriver(
            loop=asyncio.get_running_loop(),
            address=self.addresses[0],
            listen_address=self.addresses if len(self.addresses) > 1 else self.addresses[0],
            advertised_address=self.addresses,
            port=port,
            persist_file=str(storage.path(STATE_FILE)),
            pincode=identity.pincode.encode(),
            mac=identity.mac,
            # mDNS on exactly the bound addresses (IPv6 too): None would let zeroconf pick
            # interfaces by itself. One it cannot use fails the start with one line.
            interface_choice=list(self.addresses),
            async_zeroconf_instance=self.options.async_zeroconf,
            limits=self.options.hap_limits,
            pairing_attempts=PairingAttempts(storage,
                                             base_backoff=self.options.pair_setup_backoff),
        )
        driver.state.setup_id = identity.setup_id
        path = Path(driver.persist_file)
        if load_pairing_state(path, driver.state, driver.encoder) and (
            driver.state.mac.upper() != identity.mac.upper()
        ):
            self._reconcile_mac(driver, identity, spec)
        return driver

    def _reconcile_mac(self, driver: PrivateStateDriver, identity: Identity,
                       spec: BridgeSpec) -> None:
        """The pairing data belongs to another MAC than the identity.

        With ``bridge.username`` set (bridge 1 only), the configured MAC wins: the old
        state is moved aside (``driver.add_accessory`` would otherwise load it and bring
        the old MAC back) and a fresh one is made: a new HomeKit bridge. Without it,
        ``bridge.json`` was lost or replaced: the paired MAC is kept so the Home keeps
        working.
        """
        old = driver.state.mac
        if not spec.config.username:
            _LOGGER.warning("%s names MAC %s but the pairings belong to %s: keeping "
                            "%s so the paired Home keeps working",
                            _relative(self.storage, Path(driver.persist_file).with_name(
                                IDENTITY_FILE)), identity.mac, old, old)
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
                             pincode=identity.pincode.encode(), port=spec.port)
        driver.state.setup_id = identity.setup_id

    async def stop(self) -> None:
        """HAP drivers first, so no HomeKit write reaches the hub while it stops; then the
        hub (every task and timer); then the client they used."""
        try:
            await self.bridges.cancel_starts()
            for unit in self.bridges.ordered():
                if unit.started and unit.driver.aio_stop_event is not None:
                    unit.started = False
                    with contextlib.suppress(Exception):
                        await unit.driver.async_stop()
            if self._zeroconf is not None:
                zeroconf, self._zeroconf = self._zeroconf, None
                with contextlib.suppress(Exception):
                    await zeroconf.async_close()
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


def _relative(storage: Storage, path: Path) -> str:
    """``bridge.json`` or ``bridges/2/bridge.json``: how messages name a storage file."""
    try:
        return str(path.relative_to(storage.root))
    except ValueError:
        return str(path)


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
        _LOGGER.info("stopping the bridge%s", "s" if len(server.units) > 1 else "")
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        await server.stop()
