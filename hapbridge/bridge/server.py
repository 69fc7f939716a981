"""The running bridge: HAP-python's driver, the Bridge accessory, the hub, clean shutdown.

Everything runs on the caller's event loop (``asyncio.run``), never on a loop HAP-python
makes for itself, so the cloud client, the hub and the HAP server share one loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import ipaddress
import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyhap.accessory import Bridge
from pyhap.accessory_driver import AccessoryDriver
from pyhap.state import State

from hapbridge import __version__
from hapbridge.bridge.identity import Identity
from hapbridge.bridge.lock_hub import RECONNECT_FIRST, RECONNECT_MAX, STARTUP_TIMEOUT, LockHub
from hapbridge.bridge.network import resolve_bind
from hapbridge.bridge.setup_code import setup_text
from hapbridge.config import AppConfig
from hapbridge.errors import HapbridgeError
from hapbridge.storage import FILE_MODE, Storage, write_private
from hapbridge.ttlock.client import TTLockClient

_LOGGER = logging.getLogger(__name__)

STATE_FILE = "accessory.state"


class PrivateStateDriver(AccessoryDriver):
    """HAP-python's driver, writing its state file (pairings, keys) atomically with 0600."""

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
    """Load the persisted pairings into ``state``; False when there is nothing to load."""
    try:
        with path.open(encoding="utf-8") as handle:
            encoder.load_into(handle, state)
    except FileNotFoundError:
        return False
    with contextlib.suppress(OSError):
        os.chmod(path, FILE_MODE)
    return True


def is_paired(storage: Storage) -> bool:
    """Whether the stored state holds a pairing (for ``pair-info``; no driver needed)."""
    data = storage.read_json(STATE_FILE) or {}
    return bool(data.get("paired_clients"))


@dataclass(frozen=True)
class ServerOptions:
    """Overrides for tests, the demo and the benchmark; defaults come from the config."""

    port: int | None = None
    bind: tuple[str, ...] | None = None
    print_setup: bool = True
    startup_timeout: float = STARTUP_TIMEOUT
    reconnect_delays: tuple[float, float] = (RECONNECT_FIRST, RECONNECT_MAX)
    async_zeroconf: Any = None  # a shared AsyncZeroconf instance (tests)


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
        self.addresses: list[str] = []

    @property
    def port(self) -> int:
        assert self.driver is not None
        return int(self.driver.state.port)

    @property
    def paired(self) -> bool:
        return self.driver is not None and self.driver.state.paired

    async def start(self) -> None:
        bridge_config = self.config.bridge
        self.addresses = resolve_bind(self.options.bind or bridge_config.bind)
        self.identity = identity = Identity.load(self.storage, bridge_config)
        driver = self._make_driver(identity)
        bridge = TTLockBridge(driver, bridge_config.name)
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
        )
        await self.hub.load()
        driver.add_accessory(bridge)
        self.driver, self.bridge = driver, bridge
        try:
            await driver.async_start()
        except OSError as err:
            self.driver = None  # nothing to stop
            raise HapbridgeError(
                f"cannot listen on {', '.join(self.addresses)} port {driver.state.port}: "
                f"{err.strerror or err}; is another bridge running? Choose another bridge.port"
            ) from None
        self.hub.start()
        _LOGGER.info("bridge %r (%s) serving %d locks on %s port %d%s",
                     bridge_config.name, identity.mac, len(self.hub.accessories),
                     ", ".join(self.addresses), self.port,
                     "" if driver.state.paired else " - not paired yet")

    def _make_driver(self, identity: Identity) -> PrivateStateDriver:
        ipv4 = [a for a in self.addresses if ipaddress.ip_address(a).version == 4]
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
            interface_choice=ipv4 or None,
            async_zeroconf_instance=self.options.async_zeroconf,
        )
        driver.state.setup_id = identity.setup_id
        path = Path(driver.persist_file)
        if load_pairing_state(path, driver.state, driver.encoder) and (
            driver.state.mac.upper() != identity.mac.upper()
        ):
            _LOGGER.warning(
                "the bridge username changed from %s to %s: that is a new HomeKit bridge, "
                "pair it again (and remove the old one from the Home app)",
                driver.state.mac, identity.mac,
            )
            driver.state = State(address=self.addresses, mac=identity.mac,
                                 pincode=identity.pincode.encode(), port=port)
            driver.state.setup_id = identity.setup_id
        return driver

    async def stop(self) -> None:
        if self.hub is not None:
            await self.hub.stop()
        if self.driver is not None and self.driver.aio_stop_event is not None:
            await self.driver.async_stop()
        await self.client.aclose()


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
        await server.start()
        await stopping.wait()
        _LOGGER.info("stopping the bridge")
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        await server.stop()
