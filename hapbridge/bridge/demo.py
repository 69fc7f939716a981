"""``run --demo``: the bridge against an in-process simulated cloud, no account needed.

Commands take as long as a real gateway's (about 1.5 s) so the Home app shows "Unlocking..."
like it would with real locks; one lock auto-locks so that behaviour can be seen too.
The demo also writes a config for its cloud into its storage, so that the admin commands
(``hapbridge -U STORAGE/demo locks``) work against it while it runs: the URL changes at
each start (a free port), and the credentials are the simulator's own, nobody's secret.
Its cloud pushes every record to the demo bridge's own receiver (loopback, a free port), so
a keypad unlock made with ``POST /sim/event`` shows in Home as it happens.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shlex
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from hapbridge.config import AppConfig, BridgeConfig, PlatformConfig
from hapbridge.config_writer import NewConfig, write_config
from hapbridge.push.callback_url import callback_urls, path_secret
from hapbridge.push.settings import CallbackSettings
from hapbridge.simulator import SimConfig, SimulatorServer
from hapbridge.simulator.commands import DOOR_CLOSED_SENSOR
from hapbridge.simulator.world import SimLock, feature_value
from hapbridge.storage import Storage
from hapbridge.ttlock.record_types import DOOR_CLOSED, DOOR_OPEN

_LOGGER = logging.getLogger(__name__)

DEMO_LOCKS = 6
DEMO_GATEWAYS = 2
DEMO_COMMAND_SECONDS = 1.5
DEMO_AUTO_LOCK_SECONDS = 15
MAX_DEMO_LOCKS = 4000  # 27 bridges
LOCKS_PER_GATEWAY = 20  # a large demo account: a gateway per corridor, as in a hotel


def demo_sim_config(locks: int | None = None) -> SimConfig:
    """The demo's account: 6 locks on 2 gateways, or ``locks`` (``--demo-locks``) with a
    gateway per 20 (more than 149 make several bridges)."""
    count = DEMO_LOCKS if locks is None else locks
    gateways = DEMO_GATEWAYS if locks is None else max(1, -(-count // LOCKS_PER_GATEWAY))
    return SimConfig(locks=count, gateways=gateways, command_seconds=DEMO_COMMAND_SECONDS)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def demo_callback(sim: SimulatorServer, storage: Storage) -> CallbackSettings:
    """A receiver on loopback, and the simulated cloud pushing to it (as the developer
    platform would once its callback URL is pasted)."""
    settings = CallbackSettings(port=_free_port(), bind=("127.0.0.1",))
    url = callback_urls(settings, path_secret(storage)).local
    sim.config = dataclasses.replace(sim.config, callback_url=url)
    return settings


def demo_app_config(sim: SimulatorServer, bridge: BridgeConfig | None = None,
                    storage: Storage | None = None) -> AppConfig:
    """A config pointed at the simulator; the bridge block (name, port, bind, pin) may come
    from the user's config so the demo can be bound where they want. Never its ``username``:
    the demo would advertise the real bridge's HomeKit id. With ``storage``, the simulator
    pushes to the demo's own receiver."""
    sim_config = sim.config
    platform = PlatformConfig(
        passage_switch=True,  # a demo: its passage-mode switches open no real door
        name="TTLock demo",
        client_id=sim_config.client_id,
        client_secret=sim_config.client_secret,
        username=sim_config.username,
        password=sim_config.password,
        base_url=sim.url,
        callback=demo_callback(sim, storage) if storage is not None else None,
    )
    bridge = bridge or BridgeConfig(name="TTLock Demo Bridge")
    if bridge.username:
        _LOGGER.info("demo: ignoring bridge.username (the demo is a bridge of its own)")
    return AppConfig(bridge=dataclasses.replace(bridge, username=None), platform=platform,
                     path=None)


def write_admin_config(path: Path, sim: SimulatorServer,
                       callback: CallbackSettings | None = None) -> None:
    """A config for this demo's cloud and its receiver (so ``callback-url`` and ``check``
    see the receiver the demo runs), and the first lines saying how to use it."""
    sim_config = sim.config
    write_config(path, NewConfig(
        client_id=sim_config.client_id, client_secret=sim_config.client_secret,
        username=sim_config.username, password=sim_config.password, base_url=sim.url,
        bridge_name="TTLock Demo Bridge", how="run --demo (for its simulated cloud only)",
        callback=callback,
    ), private_dir=True)
    program = sys.argv[0] if Path(sys.argv[0]).name == "hapbridge" else "hapbridge"
    command = shlex.join([program, "-U", str(path.parent)])
    _LOGGER.info("demo: try the admin commands on it while it runs: %s locks (or events "
                 "--follow, passcodes list Garage, unlock Garage, records Garage, check)",
                 command)
    _LOGGER.info("demo: they use %s, written for this run's simulated cloud", path)


def show_door(sim: SimulatorServer, lock: SimLock) -> None:
    """The first lock gets a door sensor, and the log says how to open its door."""
    lock.feature_value = feature_value(wifi=lock.wifi, door_sensor=True)
    if lock.sensor_state is None:
        lock.sensor_state = DOOR_CLOSED_SENSOR
    event = json.dumps({"lockId": lock.lock_id, "recordType": DOOR_OPEN})
    _LOGGER.info("demo: open %s's door and watch its door sensor in Home: curl -X POST "
                 "%s/sim/event -d '%s' (recordType %d closes it)", lock.alias, sim.url,
                 event, DOOR_CLOSED)


@asynccontextmanager
async def demo_cloud(locks: int | None = None) -> AsyncIterator[SimulatorServer]:
    """A running simulated cloud on 127.0.0.1 (a random port), stopped on exit."""
    sim = SimulatorServer(demo_sim_config(locks))
    await sim.start("127.0.0.1", 0)
    locks = list(sim.world.locks.values())
    if len(locks) > 1:
        locks[1].auto_lock_time = DEMO_AUTO_LOCK_SECONDS
    _LOGGER.info(
        "demo: simulated TTLock cloud at %s with %d locks on %d gateways (%s auto-locks "
        "after %d s)", sim.url, len(locks), len(sim.world.gateways),
        locks[1].alias if len(locks) > 1 else "none", DEMO_AUTO_LOCK_SECONDS,
    )
    if locks:
        event = json.dumps({"lockId": locks[0].lock_id, "recordType": 4})
        _LOGGER.info("demo: make a keypad unlock happen at %s and watch it arrive in Home "
                     "live (pushed, no poll): curl -X POST %s/sim/event -d '%s'",
                     locks[0].alias, sim.url, event)
        show_door(sim, locks[0])
    try:
        yield sim
    finally:
        await sim.stop()
