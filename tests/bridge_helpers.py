"""Bridge test plumbing: a bridge on 127.0.0.1 against the simulator, and a real controller.

The controller is aiohomekit (what Home Assistant uses), paired without mDNS by handing it
the service description the bridge would advertise. Everything binds 127.0.0.1 only.
``FakeCloud`` + ``make_hub`` drive a LockHub alone (no HAP server, no HTTP) for races that
need exact timing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from aiohomekit.controller import Controller
from aiohomekit.controller.ip import IpDiscovery, IpPairing
from aiohomekit.model.characteristics import CharacteristicsTypes
from aiohomekit.zeroconf import HomeKitService
from pyhap.accessory import Bridge
from pyhap.loader import get_loader

from hapbridge.bridge.identity import Identity
from hapbridge.bridge.lock_hub import LockHub
from hapbridge.bridge.server import BridgeServer, ServerOptions
from hapbridge.config import AppConfig, BridgeConfig, PlatformConfig
from hapbridge.simulator import SimulatorServer
from hapbridge.storage import Storage
from hapbridge.ttlock import Credentials, RetryPolicy, TTLockClient
from hapbridge.ttlock.models import (
    DoorSensor,
    Gateway,
    GatewayLock,
    Lock,
    LockDetail,
    LockListing,
    LockState,
    OpenState,
)
from hapbridge.ttlock.passage import PassageMode

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
CURRENT = CharacteristicsTypes.LOCK_MECHANISM_CURRENT_STATE
TARGET = CharacteristicsTypes.LOCK_MECHANISM_TARGET_STATE
BATTERY = CharacteristicsTypes.BATTERY_LEVEL
NAME = CharacteristicsTypes.NAME
SERIAL = CharacteristicsTypes.SERIAL_NUMBER


# Below the kernel's ephemeral range (32768 and up on Linux): a port handed out here is
# never taken meanwhile as the source port of an outgoing connection (the simulator's
# clients, aiohomekit), which the bridge would then meet as "port in use".
PORT_RANGE = (20_000, 32_000)


def free_port() -> int:
    for _attempt in range(200):
        port = random.randrange(*PORT_RANGE)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((LOOPBACK, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def free_ports(count: int) -> int:
    """A port P with P .. P+count-1 free (bridges take the ports next to bridge 1's)."""
    for _attempt in range(50):
        base = free_port()
        sockets = []
        try:
            for offset in range(count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(sock)
                sock.bind((LOOPBACK, base + offset))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return base
    raise RuntimeError("no run of free ports")


def sim_app_config(sim: SimulatorServer, *, base_url: str | None = None,
                   bridge: dict[str, Any] | None = None, **platform: Any) -> AppConfig:
    cfg = sim.config
    return AppConfig(
        bridge=BridgeConfig(name="Test Bridge", bind=(LOOPBACK,), **(bridge or {})),
        platform=PlatformConfig(
            client_id=cfg.client_id, client_secret=cfg.client_secret, username=cfg.username,
            password=cfg.password, base_url=base_url or sim.url, **platform,
        ),
        path=None,
    )


async def start_bridge(
    sim: SimulatorServer,
    storage_dir: Path,
    *,
    port: int | None = None,
    base_url: str | None = None,
    options: dict[str, Any] | None = None,
    bridge: dict[str, Any] | None = None,
    retry: RetryPolicy | None = None,
    **platform: Any,
) -> BridgeServer:
    """A started bridge on 127.0.0.1 with fast retries; stop it with ``await server.stop()``."""
    config = sim_app_config(sim, base_url=base_url, bridge=bridge, **platform)
    storage = Storage(storage_dir)
    client = TTLockClient(
        Credentials(config.platform.client_id, config.platform.client_secret,
                    config.platform.username, config.platform.password),
        config.platform.api_url,
        storage=storage,
        retry=retry or RetryPolicy(max_retries=2, base_delay=0.02, max_delay=0.05),
    )
    settings = {"port": port or free_port(), "bind": (LOOPBACK,), "print_setup": False,
                "startup_timeout": 3.0, "reconnect_delays": (0.1, 0.4), **(options or {})}
    server = BridgeServer(config, storage, client, ServerOptions(**settings))
    try:
        await server.start()
    except BaseException:
        await server.stop()
        raise
    return server


# -- a real ``hapbridge run`` process ----------------------------------------------------


def write_config(storage: Path, sim: SimulatorServer, port: int, name: str = "Test Bridge"
                 ) -> Path:
    """``storage/config.json`` (where ``run`` looks by default), bound to 127.0.0.1."""
    cfg = sim.config
    config = {
        "bridge": {"name": name, "port": port, "bind": [LOOPBACK]},
        "platforms": [{
            "platform": "TTLock", "clientid": cfg.client_id, "clientsecret": cfg.client_secret,
            "username": cfg.username, "password": cfg.password, "baseUrl": sim.url,
        }],
    }
    path = storage / "config.json"
    path.write_text(json.dumps(config))
    return path


def spawn_bridge(storage: Path, argv: list[str] | None = None) -> subprocess.Popen[bytes]:
    """``hapbridge -U storage run`` (or ``argv`` after the interpreter); its log goes to
    ``storage/bridge.log``."""
    argv = argv or ["-m", "hapbridge", "-U", str(storage), "run"]
    with (storage / "bridge.log").open("wb") as log:
        return subprocess.Popen([sys.executable, *argv], cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=log)


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _reader, writer = await asyncio.open_connection(LOOPBACK, port)
        except OSError:
            await asyncio.sleep(0.002)
            continue
        writer.close()
        return
    raise TimeoutError(f"nothing listens on port {port}")


async def pair_process(storage: Path, port: int, name: str = "Test Bridge", number: int = 1
                       ) -> dict[str, Any]:
    """Pair a controller with bridge ``number`` of a bridge process (listening on ``port``);
    its pairing data (for :func:`reconnect`)."""
    own = storage if number == 1 else storage / "bridges" / str(number)
    identity = json.loads((own / "bridge.json").read_text())
    service = HomeKitService(
        name=name, id=identity["mac"].lower(), model="TTLock Bridge",
        feature_flags=0, status_flags=1, config_num=1, state_num=1, category=2,
        protocol_version="1.1", type="_hap._tcp.local.", address=LOOPBACK,
        addresses=[LOOPBACK], port=port,
    )
    discovery = IpDiscovery(Controller(), service)
    try:
        finish = await discovery.async_start_pairing("test")
        pairing = await finish(identity["pincode"])
    finally:
        await discovery.close()
    data = dict(pairing.pairing_data)
    await pairing.close()
    return data


def service_of(server: BridgeServer, number: int = 1) -> HomeKitService:
    """What bridge ``number`` advertises over mDNS, built directly (no multicast needed)."""
    unit = server.unit(number)
    driver = unit.driver
    assert driver is not None and unit.started
    return HomeKitService(
        name=unit.spec.name, id=driver.state.mac.lower(), model="TTLock Bridge",
        feature_flags=0, status_flags=0 if driver.state.paired else 1,
        config_num=driver.state.config_version, state_num=1, category=2,
        protocol_version="1.1", type="_hap._tcp.local.", address=LOOPBACK,
        addresses=[LOOPBACK], port=unit.port,
    )


async def pair(server: BridgeServer, alias: str = "test", number: int = 1) -> IpPairing:
    """A controller paired with bridge ``number`` of ``server``."""
    discovery = IpDiscovery(Controller(), service_of(server, number))
    try:
        finish = await discovery.async_start_pairing(alias)
        pairing = await finish(server.unit(number).identity.pincode)
    finally:
        await discovery.close()
    return pairing


def reconnect(pairing: IpPairing) -> IpPairing:
    """A fresh controller session from saved pairing data (as after a restart)."""
    return IpPairing(Controller(), pairing.pairing_data)


async def accessories(pairing: IpPairing) -> list[dict[str, Any]]:
    return await pairing.list_accessories_and_characteristics()


def char_iid(accs: list[dict[str, Any]], aid: int, char_type: str) -> int:
    for acc in accs:
        if acc["aid"] != aid:
            continue
        for service in acc["services"]:
            for char in service["characteristics"]:
                if char["type"] == char_type:
                    return int(char["iid"])
    raise KeyError(f"aid {aid} has no {char_type}")


def char_value(accs: list[dict[str, Any]], aid: int, char_type: str) -> Any:
    for acc in accs:
        if acc["aid"] == aid:
            for service in acc["services"]:
                for char in service["characteristics"]:
                    if char["type"] == char_type:
                        return char.get("value")
    raise KeyError(f"aid {aid} has no {char_type}")


def aids_by_serial(accs: list[dict[str, Any]]) -> dict[str, int]:
    """Lock MAC (the serial number) -> AID, for the bridged locks."""
    return {char_value(accs, a["aid"], SERIAL): a["aid"] for a in accs if a["aid"] != 1}


async def wait_for(condition: Callable[[], bool], timeout: float = 5.0,
                   step: float = 0.02) -> None:
    """Poll ``condition`` until true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(step)


class EventLog:
    """Collects (aid, iid) -> value events a controller receives, with arrival times."""

    def __init__(self, pairing: IpPairing) -> None:
        self.events: list[tuple[float, tuple[int, int], Any]] = []
        self._unsubscribe = pairing.dispatcher_connect(self._on_event)

    def _on_event(self, data: dict[tuple[int, int], dict[str, Any]]) -> None:
        now = time.monotonic()
        for key, value in data.items():
            if "value" in value:
                self.events.append((now, key, value["value"]))

    def values(self, key: tuple[int, int]) -> list[Any]:
        return [value for _t, k, value in self.events if k == key]

    def close(self) -> None:
        self._unsubscribe()


# -- a hub without HAP server or HTTP -------------------------------------------------------


class CallCount:
    total = 0
    session_total = 0


class FakeCloud:
    """A scripted stand-in for TTLockClient (a :class:`CloudApi` like it): every call is
    logged, may take ``delay`` seconds, and raises ``fail[name]`` when set. Locks 1..n sit
    behind gateway 1 unless moved."""

    retry = RetryPolicy(max_retries=2, base_delay=0.01, max_delay=0.02)

    def __init__(self, locks: int = 2, delay: float = 0.0) -> None:
        self.locks = {i: Lock(lock_id=i, alias=f"Lock {i}", name=f"L{i}", mac=f"AA:00:{i:02X}",
                              battery=80, feature_value="0", has_gateway=True)
                      for i in range(1, locks + 1)}
        self.gateways = {1: Gateway(1, "GW:1", "Hall", 1, locks, True, "wifi")}
        self.behind = {1: list(self.locks)}  # gatewayId -> lock ids
        self.states: dict[int, OpenState] = {}
        self.auto_lock: dict[int, int] = {}
        self.passage: dict[int, PassageMode] = {}
        self.delay = delay
        self.delays: dict[str, float] = {}  # per call name, overrides ``delay``
        self.fail: dict[str, BaseException] = {}
        self.raw_items: list[Any] | None = None  # what the lock list pages hold, if set
        self.calls: list[tuple[str, int | None]] = []
        self.usage = CallCount()

    async def _call(self, name: str, lock_id: int | None = None) -> None:
        self.calls.append((name, lock_id))
        await asyncio.sleep(self.delays.get(name, self.delay))
        if (err := self.fail.get(name)) is not None:
            raise err

    def count(self, name: str, lock_id: int | None = None) -> int:
        return sum(1 for n, lid in self.calls if n == name and lock_id in (None, lid))

    async def lock_listing(self, *, retries: int | None = None) -> LockListing:
        await self._call("list_locks")
        if self.raw_items is not None:
            return LockListing.from_items(self.raw_items)
        return LockListing(list(self.locks.values()))

    async def list_locks(self) -> list[Lock]:
        return (await self.lock_listing()).locks

    async def lock_detail(self, lock_id: int) -> LockDetail:
        await self._call("lock_detail", lock_id)
        lock = self.locks[lock_id]
        return LockDetail(**lock.__dict__, model="SN9161", firmware_revision="6.1",
                          auto_lock_time=self.auto_lock.get(lock_id, -1))

    async def list_gateways(self) -> list[Gateway]:
        await self._call("list_gateways")
        return list(self.gateways.values())

    async def gateway_locks(self, gateway_id: int) -> list[GatewayLock]:
        await self._call("gateway_locks", gateway_id)
        return [GatewayLock(lid, f"Lock {lid}", "", -50) for lid in self.behind[gateway_id]]

    async def unlock(self, lock_id: int, *, retries: int | None = None) -> None:
        await self._call("unlock", lock_id)
        self.states[lock_id] = OpenState.UNLOCKED

    async def lock(self, lock_id: int, *, retries: int | None = None) -> None:
        await self._call("lock", lock_id)
        self.states[lock_id] = OpenState.LOCKED

    async def query_open_state(self, lock_id: int, *, retries: int | None = None) -> LockState:
        await self._call("query", lock_id)
        return LockState(self.states.get(lock_id, OpenState.LOCKED))

    async def passage_mode(self, lock_id: int) -> PassageMode:
        await self._call("passage_mode", lock_id)
        return self.passage.get(lock_id, PassageMode(enabled=False))

    async def set_passage_mode(self, lock_id: int, mode: PassageMode, *,
                               retries: int | None = None) -> None:
        await self._call("set_passage_mode", lock_id)
        self.passage[lock_id] = mode

    async def door_sensor(self, lock_id: int) -> DoorSensor | None:
        await self._call("door_sensor", lock_id)
        return None

    def move(self, lock_id: int, gateway_id: int) -> None:
        """The lock is now reached (only) through ``gateway_id``."""
        self.gateways.setdefault(gateway_id, dataclasses.replace(
            self.gateways[1], gateway_id=gateway_id, name=f"GW {gateway_id}"))
        for lock_ids in self.behind.values():
            if lock_id in lock_ids:
                lock_ids.remove(lock_id)
        self.behind.setdefault(gateway_id, []).append(lock_id)


async def apply_listing(hub: LockHub) -> None:
    """One lock-list sweep's reconciliation, as the hub's sweep does it."""
    await hub.refresh_list()


def make_hub(storage_dir: Path, cloud: FakeCloud, **platform: Any) -> LockHub:
    """A hub on ``cloud`` with a stub driver (nothing listens, events are not sent)."""
    storage = Storage(storage_dir)
    driver = SimpleNamespace(loader=get_loader(), aio_stop_event=None,
                             config_changed=lambda: None, publish=lambda *_a, **_k: None)
    return LockHub(
        client=cloud,
        storage=storage,
        identity=Identity.load(storage, BridgeConfig()),
        platform=PlatformConfig(client_id="id", client_secret="secret", username="user",
                                password="pw", **platform),
        driver=driver,
        bridge=Bridge(driver, "Test Bridge"),
        startup_timeout=1.0,
        reconnect_delays=(0.01, 0.05),
    )


async def started_hub(storage_dir: Path, cloud: FakeCloud, **platform: Any) -> LockHub:
    """A loaded and started hub whose startup polls are done."""
    hub = make_hub(storage_dir, cloud, **platform)
    await hub.load()
    hub.start()
    await wait_for(lambda: hub.routes.ready.is_set() and all(
        a.current_state != 3 for a in hub.accessories.values()))
    return hub
