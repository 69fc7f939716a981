"""The client's settings and access calls: passage mode on a cloud that only has the older
endpoints, the month's count, and the typed results (no numbers kept for credentials)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from hapbridge.simulator import SimConfig, SimulatorServer
from hapbridge.simulator import server as server_module
from hapbridge.storage import Storage
from hapbridge.ttlock import RetryPolicy, TTLockClient
from hapbridge.ttlock.access_models import FINGERPRINT
from hapbridge.ttlock.errors import AccessError, UnknownError
from hapbridge.ttlock.passage import PassageMode, PassagePeriod

from .conftest import credentials_for

NEW_PASSAGE = ("/v3/lock/configurePassageMode", "/v3/lock/getPassageModeConfiguration")


@pytest.fixture
async def old_cloud(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SimulatorServer]:
    """A cloud without the current passage-mode endpoints (they answer HTTP 404)."""
    routes = tuple(r for r in server_module.ROUTES if r.path not in NEW_PASSAGE)
    monkeypatch.setattr(server_module, "ROUTES", routes)
    async with SimulatorServer(SimConfig(command_seconds=0.05)) as started:
        yield started


def client_on(server: SimulatorServer, tmp_path: Path) -> TTLockClient:
    return TTLockClient(credentials_for(server.config), server.url,
                        storage=Storage(tmp_path / "storage"),
                        retry=RetryPolicy(max_retries=2, base_delay=0.01, max_delay=0.05))


def gateway_lock(server: SimulatorServer) -> int:
    return next(lid for lid, lock in server.world.locks.items() if lock.gateway_id)


async def test_passage_mode_falls_back_to_the_older_endpoints(
    old_cloud: SimulatorServer, tmp_path: Path
) -> None:
    lock_id = gateway_lock(old_cloud)
    async with client_on(old_cloud, tmp_path) as client:
        weekdays = PassagePeriod((1, 2, 3, 4, 5), 480, 1080)
        await client.set_passage_mode(lock_id, PassageMode(True, (weekdays,), True))
        assert old_cloud.world.calls["/v3/lock/configPassageMode"] == 1
        assert await client.passage_mode(lock_id) == PassageMode(True, (weekdays,), True)
        # two periods cannot be said in the flat form: the refusal is raised, not halved
        with pytest.raises(Exception, match="HTTP 404"):
            await client.set_passage_mode(
                lock_id, PassageMode(True, (weekdays, PassagePeriod((6, 7))), False))
        assert old_cloud.world.calls["/v3/lock/configPassageMode"] == 1
        with pytest.raises(ValueError, match="at most 5"):
            await client.set_passage_mode(lock_id, PassageMode(True, (weekdays,) * 6))


async def test_an_errcode_from_the_new_endpoint_is_not_retried_on_the_old(
    client: TTLockClient, sim: SimulatorServer
) -> None:
    lock_id = gateway_lock(sim)
    sim.world.gateways_of(lock_id)[0].online = False
    with pytest.raises(Exception, match="offline"):
        await client.set_passage_mode(lock_id, PassageMode(True, (PassagePeriod(),)))
    assert sim.world.calls["/v3/lock/configPassageMode"] == 0


async def test_month_count_reads_the_answer_it_gets(
    client: TTLockClient, sim: SimulatorServer
) -> None:
    # the cloud counts the request that asks (and the login before it)
    assert await client.month_request_count() == sum(sim.world.calls.values())


async def forward(sim: SimulatorServer, request: httpx.Request) -> httpx.Response:
    """``request`` as the simulator answers it."""
    async with httpx.AsyncClient(base_url=sim.url) as real:
        return await real.request(
            request.method, request.url.path, params=request.url.params,
            content=request.content,
            headers={"content-type": request.headers.get("content-type", "")})


def proxied(sim: SimulatorServer, tmp_path: Path, handler: Callable[
        [httpx.Request], Awaitable[httpx.Response]]) -> TTLockClient:
    return TTLockClient(credentials_for(sim.config), sim.url, storage=Storage(tmp_path / "s"),
                        retry=RetryPolicy(max_retries=2, base_delay=0.01, max_delay=0.05),
                        transport=httpx.MockTransport(handler))


def answering(sim: SimulatorServer, tmp_path: Path, body: dict[str, object]) -> TTLockClient:
    """A client whose month-count question gets ``body``; everything else reaches ``sim``."""
    async def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v3/app/getMonthRequestCount":
            return httpx.Response(200, json=body)
        return await forward(sim, request)

    return proxied(sim, tmp_path, answer)


@pytest.mark.parametrize(("body", "expected"), [
    ({"requestCount": 17}, 17), ({"total": "9"}, 9), ({"count": None, "total": 3}, 3),
])
async def test_month_count_shapes(
    sim: SimulatorServer, tmp_path: Path, body: dict[str, object], expected: int
) -> None:
    async with answering(sim, tmp_path, body) as client:
        assert await client.month_request_count() == expected


async def test_month_count_without_a_number_is_an_unreadable_answer(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    async with answering(sim, tmp_path, {"month": "2026-12"}) as client:
        with pytest.raises(UnknownError, match="unexpected answer"):
            await client.month_request_count()


async def test_credentials_keep_no_numbers(client: TTLockClient, sim: SimulatorServer) -> None:
    lock_id = gateway_lock(sim)
    enrolled = sim.world.add_credential("fingerprint", lock_id, "Mum")
    (item, *_) = [c for c in await client.list_credentials(FINGERPRINT, lock_id)
                  if c.credential_id == enrolled.credential_id]
    assert item.name == "Mum" and enrolled.number not in repr(item)
    with pytest.raises(AccessError, match="no such fingerprint"):
        await client.rename_credential(FINGERPRINT, lock_id, 1, "x")


async def test_a_lost_qr_code_answer_is_looked_up_not_added_twice(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    lock_id = next(lid for lid, lock in sim.world.locks.items()
                   if int(lock.feature_value, 16) >> 44 & 1)
    lost: list[str] = []

    async def lose_the_first_answer(request: httpx.Request) -> httpx.Response:
        answer = await forward(sim, request)
        if request.url.path == "/v3/qrCode/add" and not lost:
            lost.append("add")  # it ran, but the answer does not come back
            return httpx.Response(502, text="bad gateway")
        return answer

    async with proxied(sim, tmp_path, lose_the_first_answer) as client:
        created = await client.add_qr_code(lock_id, name="Smith")
    (code,) = sim.world.qr_codes[lock_id].values()  # one code, not two
    assert created.qr_code_id == code.qr_code_id and created.link == code.link
    assert sim.world.calls["/v3/qrCode/add"] == 1 and sim.world.calls["/v3/qrCode/list"] == 1
