"""Shared fixtures: a simulated TTLock cloud on 127.0.0.1 and clients pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from hapbridge.simulator import SimConfig, SimulatorServer
from hapbridge.storage import Storage
from hapbridge.ttlock import Credentials, RetryPolicy, TTLockClient

FAST = {"command_seconds": 0.05}


@pytest.fixture
def sim_config() -> SimConfig:
    """Override in a module (or mutate) for other worlds; commands are fast in tests."""
    return SimConfig(**FAST)


@pytest.fixture
async def sim(sim_config: SimConfig) -> AsyncIterator[SimulatorServer]:
    server = SimulatorServer(sim_config)
    await server.start("127.0.0.1", 0)
    try:
        yield server
    finally:
        await server.stop()


def credentials_for(config: SimConfig, **override: str) -> Credentials:
    values = {
        "client_id": config.client_id,
        "client_secret": config.client_secret,
        "username": config.username,
        "password": config.password,
    }
    values.update(override)
    return Credentials(**values)


@pytest.fixture
async def make_client(
    sim: SimulatorServer, tmp_path: Path
) -> AsyncIterator[Callable[..., TTLockClient]]:
    """Build clients on the simulator; all are closed at teardown."""
    made: list[TTLockClient] = []

    def factory(
        *, storage: Storage | None = None, retries: int = 3, delay: float = 0.01, **creds: Any
    ) -> TTLockClient:
        client = TTLockClient(
            credentials_for(sim.config, **creds),
            sim.url,
            storage=storage if storage is not None else Storage(tmp_path / "storage"),
            retry=RetryPolicy(max_retries=retries, base_delay=delay, max_delay=0.1),
        )
        made.append(client)
        return client

    yield factory
    for client in made:
        await client.aclose()


@pytest.fixture
async def client(make_client: Callable[..., TTLockClient]) -> TTLockClient:
    return make_client()


@pytest.fixture
async def paired(bridge: Any) -> AsyncIterator[Any]:
    """A controller paired with the module's ``bridge`` fixture (each module defines its own
    bridge: plain, with a push receiver ...)."""
    from tests.bridge_helpers import pair  # aiohomekit: only for the modules that pair

    pairing = await pair(bridge)
    yield pairing
    await pairing.close()
