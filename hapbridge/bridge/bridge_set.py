"""The HomeKit bridges of one process: their storage, names, ports and shared mDNS.

An account with more than 149 locks gets more bridges (placement.py says which lock goes
where). Every bridge is its own HomeKit accessory server (HAP port, mDNS record, pairings,
setup code and QR code, MAC), paired once; all of them share the process's one event loop,
one zeroconf instance, and the one hub (cloud client, token, budget, gateway queues).

Storage: bridge 1 is the storage directory itself (``bridge.json``, ``accessory.state``,
``pair-setup-attempts.json``: a one-bridge storage of an older version is bridge 1 as it
is); bridge N >= 2 keeps the same files in ``bridges/N/``. ``locks.json``, tokens and usage
stay shared at the top.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pyhap.accessory import Bridge

from hapbridge.bridge.identity import IDENTITY_FILE, Identity
from hapbridge.config import MAX_BRIDGES, BridgeConfig
from hapbridge.config_values import MDNS_LABEL_BYTES, MDNS_SUFFIX_BYTES
from hapbridge.errors import ConfigError
from hapbridge.storage import Storage, ensure_private_dir

_LOGGER = logging.getLogger(__name__)

BRIDGES_DIR = "bridges"


def bridge_storage(storage: Storage, number: int) -> Storage:
    """Where bridge ``number`` keeps its identity, pairings and wrong-code count."""
    if number == 1:
        return storage
    ensure_private_dir(storage.root)
    ensure_private_dir(storage.path(BRIDGES_DIR))  # 0700 too, not the umask's mode
    return Storage(storage.path(BRIDGES_DIR) / str(number))


def known_bridges(storage: Storage) -> list[int]:
    """Bridge 1 and every bridge N that has run before (has ``bridges/N/bridge.json``)."""
    numbers = [1]
    try:
        entries = list(storage.path(BRIDGES_DIR).iterdir())
    except OSError:
        return numbers
    for entry in entries:
        if (entry.name.isdigit() and 2 <= int(entry.name) <= MAX_BRIDGES
                and (entry / IDENTITY_FILE).exists()):
            numbers.append(int(entry.name))
    return sorted(numbers)


@dataclass(frozen=True)
class BridgeSpec:
    """What the config says of bridge ``number`` (or derives for it)."""

    number: int
    name: str
    port: int
    port_source: str  # what to change when the port is taken (one line names it)
    config: BridgeConfig  # its username and pin, for Identity.load

    @property
    def label(self) -> str:
        return f"bridge {self.number}"


def bridge_spec(config: BridgeConfig, number: int, port: int | None = None) -> BridgeSpec:
    """Bridge ``number``'s name, port and setup code: from ``bridge.bridges`` when it says,
    else derived (the name with the number, the port next to bridge 1's). ``port``
    (``--port``) moves bridge 1, and the derived ports with it."""
    base, base_source = (port, "--port") if port else (config.port, "bridge.port")
    if number == 1:
        return BridgeSpec(1, config.name, base, base_source, config)
    child = config.child(number)
    name = child.name if child and child.name else derived_name(config.name, number)
    pin = child.pin if child else None
    own = dataclasses.replace(config, name=name, username=None, pin=pin, bridges=())
    if child and child.port:
        return BridgeSpec(number, name, child.port, f"bridge.bridges port of bridge {number}",
                          own)
    taken = {c.port for c in config.bridges if c.port}
    derived = base + number - 1
    while derived in taken:
        derived += 1
    return BridgeSpec(number, name, derived,
                      f"{base_source} (bridge {number} uses it + {derived - base}: or set its "
                      "port in bridge.bridges)", own)


def derived_name(name: str, number: int) -> str:
    """"TTLock Bridge" -> "TTLock Bridge 2", shortened to fit the mDNS label."""
    suffix = f" {number}"
    room = MDNS_LABEL_BYTES - MDNS_SUFFIX_BYTES - len(suffix)
    while len(name.encode("utf-8")) > room:
        name = name[:-1]
    return f"{name.rstrip()}{suffix}"


class SharedZeroconf:
    """One zeroconf instance for every driver: a driver's stop closes only its record
    (HAP-python closes the advertiser it is given; Home Assistant wraps it the same way)."""

    def __init__(self, zeroconf: Any) -> None:
        self.real = zeroconf

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    async def async_close(self) -> None:
        """Not this driver's to close: the bridge set closes the real one."""


@dataclass
class BridgeUnit:
    """One running HomeKit bridge: the registry's Host (placement.py)."""

    spec: BridgeSpec
    storage: Storage
    identity: Identity
    driver: Any
    accessory: Bridge
    started: bool = False

    @property
    def number(self) -> int:
        return self.spec.number

    @property
    def port(self) -> int:
        return int(self.driver.state.port)

    @property
    def paired(self) -> bool:
        return bool(self.driver.state.paired)

    def layout_changed(self) -> None:
        if self.started:  # one not started yet publishes its layout when it starts
            self.driver.config_changed()


class BridgeSet:
    """The bridges, made on first use (``make``) and started by ``start_one``; one made
    while the others run is started at once (a new lock beyond the last bridge's room)."""

    def __init__(
        self,
        config: BridgeConfig,
        storage: Storage,
        *,
        port: int | None,
        make: Callable[[BridgeSpec, Storage, Identity], BridgeUnit],
        check_port: Callable[[BridgeSpec], None],
        start_one: Callable[[BridgeUnit], Awaitable[None]],
    ) -> None:
        self.config = config
        self.storage = storage
        self._port = port
        self._make = make
        self._check_port = check_port
        self._start_one = start_one
        self._starting: set[asyncio.Task[None]] = set()
        self._identities: dict[int, Identity] = {}
        self.units: dict[int, BridgeUnit] = {}
        self.running = False

    def spec(self, number: int) -> BridgeSpec:
        return bridge_spec(self.config, number, self._port)

    def identity(self, number: int) -> Identity:
        """Bridge ``number``'s identity (made and saved on first use): placement's maps."""
        if number not in self._identities:
            spec = self.spec(number)
            self._identities[number] = Identity.load(bridge_storage(self.storage, number),
                                                     spec.config)
        return self._identities[number]

    def check_ports(self, numbers: list[int]) -> None:
        """Each known bridge's port is free (one line naming the bridge, else)."""
        ports: dict[int, int] = {}
        for number in numbers:
            spec = self.spec(number)
            if spec.port in ports:
                raise ConfigError(f"bridge {number} would use port {spec.port}, as bridge "
                                  f"{ports[spec.port]} does: set its port in bridge.bridges")
            ports[spec.port] = number
            self._check_port(spec)

    def host(self, number: int) -> BridgeUnit:
        unit = self.units.get(number)
        if unit is None:
            spec = self.spec(number)
            if not self.running:
                self._check_port(spec)  # at start: a taken port is the start's one line
            unit = self._make(spec, bridge_storage(self.storage, number),
                              self.identity(number))
            self.units[number] = unit
            if self.running:
                _LOGGER.info("bridge %d (%r) is needed for new locks: starting it on port %d",
                             number, spec.name, spec.port)
                task = asyncio.create_task(self._start_later(unit),
                                           name=f"hapbridge-bridge-{number}")
                self._starting.add(task)
                task.add_done_callback(self._starting.discard)
        return unit

    async def _start_later(self, unit: BridgeUnit) -> None:
        try:
            await self._start_one(unit)
        except Exception as err:  # one line: the other bridges keep running
            _LOGGER.error("bridge %d did not start (%s); its locks show in HomeKit after a "
                          "restart that fixes it", unit.number, err)

    async def cancel_starts(self) -> None:
        """The process stops: a bridge still starting stops starting."""
        self.running = False
        tasks = list(self._starting)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def ordered(self) -> list[BridgeUnit]:
        return [self.units[number] for number in sorted(self.units)]
