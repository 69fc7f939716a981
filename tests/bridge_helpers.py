"""Bridge test plumbing: a bridge on 127.0.0.1 against the simulator, and a real controller.

The controller is aiohomekit (what Home Assistant uses), paired without mDNS by handing it
the service description the bridge would advertise. Everything binds 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohomekit.controller import Controller
from aiohomekit.controller.ip import IpDiscovery, IpPairing
from aiohomekit.model.characteristics import CharacteristicsTypes
from aiohomekit.zeroconf import HomeKitService

from hapbridge.bridge.server import BridgeServer, ServerOptions
from hapbridge.config import AppConfig, BridgeConfig, PlatformConfig
from hapbridge.simulator import SimulatorServer
from hapbridge.storage import Storage
from hapbridge.ttlock import Credentials, RetryPolicy, TTLockClient

LOOPBACK = "127.0.0.1"
CURRENT = CharacteristicsTypes.LOCK_MECHANISM_CURRENT_STATE
TARGET = CharacteristicsTypes.LOCK_MECHANISM_TARGET_STATE
BATTERY = CharacteristicsTypes.BATTERY_LEVEL
NAME = CharacteristicsTypes.NAME
SERIAL = CharacteristicsTypes.SERIAL_NUMBER


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def sim_app_config(sim: SimulatorServer, *, base_url: str | None = None,
                   **platform: Any) -> AppConfig:
    cfg = sim.config
    return AppConfig(
        bridge=BridgeConfig(name="Test Bridge", bind=(LOOPBACK,)),
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
    **platform: Any,
) -> BridgeServer:
    """A started bridge on 127.0.0.1 with fast retries; stop it with ``await server.stop()``."""
    config = sim_app_config(sim, base_url=base_url, **platform)
    storage = Storage(storage_dir)
    client = TTLockClient(
        Credentials(config.platform.client_id, config.platform.client_secret,
                    config.platform.username, config.platform.password),
        config.platform.api_url,
        storage=storage,
        retry=RetryPolicy(max_retries=2, base_delay=0.02, max_delay=0.05),
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


def service_of(server: BridgeServer) -> HomeKitService:
    """What the bridge advertises over mDNS, built directly (no multicast needed)."""
    driver = server.driver
    assert driver is not None
    return HomeKitService(
        name=server.config.bridge.name, id=driver.state.mac.lower(), model="TTLock Bridge",
        feature_flags=0, status_flags=0 if driver.state.paired else 1,
        config_num=driver.state.config_version, state_num=1, category=2,
        protocol_version="1.1", type="_hap._tcp.local.", address=LOOPBACK,
        addresses=[LOOPBACK], port=server.port,
    )


async def pair(server: BridgeServer, alias: str = "test") -> IpPairing:
    assert server.identity is not None
    discovery = IpDiscovery(Controller(), service_of(server))
    try:
        finish = await discovery.async_start_pairing(alias)
        pairing = await finish(server.identity.pincode)
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
