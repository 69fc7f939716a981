"""The TTLock client against the simulated cloud over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import stat
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hapbridge.simulator import SimConfig, SimulatorServer
from hapbridge.storage import Storage
from hapbridge.ttlock import TTLockClient, password_md5
from hapbridge.ttlock.auth import TOKENS_FILE
from hapbridge.ttlock.errors import (
    BusyError,
    CredentialsError,
    NotSupportedError,
    PasscodeError,
    PermissionDeniedError,
    ServerError,
    TransportError,
    UnreachableError,
)
from hapbridge.ttlock.models import OpenState, PasscodeType
from hapbridge.ttlock.usage import USAGE_FILE

from .conftest import credentials_for

Factory = Callable[..., TTLockClient]


def first_lock_on_gateway(sim: SimulatorServer, count: int = 1) -> list[int]:
    gateway = next(iter(sim.world.gateways))
    ids = [lock.lock_id for lock in sim.world.locks.values() if lock.gateway_id == gateway]
    assert len(ids) >= count
    return ids[:count]


# -- passwords and login ---------------------------------------------------------------


def test_password_md5_plain_and_prehashed() -> None:
    assert password_md5("secret") == hashlib.md5(b"secret").hexdigest()
    hashed = hashlib.md5(b"secret").hexdigest()
    assert password_md5(hashed.upper()) == hashed


async def test_login_with_plain_password(client: TTLockClient, sim: SimulatorServer) -> None:
    locks = await client.list_locks()
    assert len(locks) == sim.config.locks
    assert client.tokens.logins == 1


async def test_login_with_md5_password(make_client: Factory, sim: SimulatorServer) -> None:
    md5 = hashlib.md5(sim.config.password.encode()).hexdigest()
    client = make_client(password=md5)
    assert await client.list_locks()


async def test_bad_password_is_a_credentials_error(make_client: Factory) -> None:
    client = make_client(password="wrong", retries=3)
    with pytest.raises(CredentialsError, match="wrong TTLock account or password"):
        await client.list_locks()


async def test_bad_client_secret(make_client: Factory, sim: SimulatorServer) -> None:
    client = make_client(client_secret="nope")
    with pytest.raises(CredentialsError, match="clientsecret"):
        await client.list_locks()
    assert sim.world.calls["/oauth2/token"] == 1  # configuration errors are not retried


async def test_token_persisted_private_and_reused(
    make_client: Factory, sim: SimulatorServer, tmp_path: Path
) -> None:
    storage = Storage(tmp_path / "store")
    await make_client(storage=storage).list_locks()
    token_file = storage.path(TOKENS_FILE)
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(storage.root.stat().st_mode) == 0o700
    second = make_client(storage=storage)
    await second.list_locks()
    assert second.tokens.logins == 0
    assert sim.world.calls["/oauth2/token"] == 1


# -- token lifecycle -------------------------------------------------------------------


async def test_expired_token_is_refreshed_and_call_retried(
    client: TTLockClient, sim: SimulatorServer
) -> None:
    await client.list_locks()
    sim.world.expire_all_tokens()
    assert await client.list_locks()
    assert client.tokens.refreshes == 1
    assert client.tokens.logins == 1
    assert sim.world.errcodes[10004] == 1


async def test_dead_refresh_token_falls_back_to_login(
    client: TTLockClient, sim: SimulatorServer
) -> None:
    await client.list_locks()
    sim.world.expire_all_tokens()
    sim.world.revoke_refresh_tokens()
    assert await client.list_locks()
    assert client.tokens.logins == 2
    assert sim.world.errcodes[10011] == 1


async def test_concurrent_callers_share_one_refresh(
    client: TTLockClient, sim: SimulatorServer
) -> None:
    await client.list_locks()
    sim.world.expire_all_tokens()
    results = await asyncio.gather(*(client.list_locks() for _ in range(8)))
    assert all(len(r) == sim.config.locks for r in results)
    assert client.tokens.refreshes == 1
    assert sim.world.calls["/oauth2/token"] == 2  # one login, one refresh


@pytest.mark.parametrize("sim_config", [SimConfig(command_seconds=0.05, token_lifetime=1)])
async def test_refresh_is_proactive_before_expiry(
    client: TTLockClient, sim: SimulatorServer
) -> None:
    await client.list_locks()
    await client.list_locks()
    assert client.tokens.refreshes >= 1
    assert sim.world.errcodes[10004] == 0


# -- pagination --------------------------------------------------------------------------


@pytest.mark.parametrize("sim_config", [SimConfig(command_seconds=0.05, locks=2500, gateways=3)])
async def test_all_pages_of_2500_locks(client: TTLockClient, sim: SimulatorServer) -> None:
    locks = await client.list_locks()
    assert len(locks) == 2500
    assert len({lock.lock_id for lock in locks}) == 2500
    assert sim.world.calls["/v3/lock/list"] == 3


# -- retries -----------------------------------------------------------------------------


async def test_busy_gateway_retries_then_succeeds(
    make_client: Factory, sim: SimulatorServer
) -> None:
    first, second = first_lock_on_gateway(sim, 2)
    client = make_client(retries=5, delay=0.02)
    await client.list_locks()
    await asyncio.gather(client.unlock(first), client.unlock(second))
    assert sim.world.errcodes[-3003] >= 1
    assert sim.world.locks[first].state == 1
    assert sim.world.locks[second].state == 1


async def test_busy_gives_up_after_configured_retries(
    make_client: Factory, sim: SimulatorServer
) -> None:
    (lock_id,) = first_lock_on_gateway(sim)
    client = make_client(retries=2)
    await client.list_locks()
    sim.config.busy_rate = 1.0
    with pytest.raises(BusyError, match="gateway is busy"):
        await client.unlock(lock_id)
    assert sim.world.calls["/v3/lock/unlock"] == 3  # first attempt + 2 retries


async def test_server_errors_are_retried(make_client: Factory, sim: SimulatorServer) -> None:
    client = make_client(retries=1)
    await client.list_locks()
    sim.config.error_5xx_rate = 1.0
    with pytest.raises(ServerError, match="HTTP 500"):
        await client.list_locks()
    assert sim.world.calls["/v3/lock/list"] == 3  # 1 good, then 1 + 1 retry


async def test_unreachable_is_not_retried(make_client: Factory, sim: SimulatorServer) -> None:
    (lock_id,) = first_lock_on_gateway(sim)
    client = make_client(retries=3)
    await client.list_locks()
    sim.world.gateways[sim.world.locks[lock_id].gateway_id].online = False
    with pytest.raises(UnreachableError, match="gateway is offline"):
        await client.unlock(lock_id)
    assert sim.world.calls["/v3/lock/unlock"] == 1


async def test_timeout_becomes_transport_error(sim: SimulatorServer, tmp_path: Path) -> None:
    from hapbridge.ttlock import RetryPolicy

    client = TTLockClient(
        credentials_for(sim.config), sim.url, storage=Storage(tmp_path),
        retry=RetryPolicy(max_retries=1, base_delay=0.01), timeout=0.2,
    )
    async with client:
        sim.config.latency = 1.0
        with pytest.raises(TransportError, match="did not answer in time"):
            await client.list_locks()


async def test_connection_refused_becomes_transport_error(tmp_path: Path) -> None:
    from hapbridge.ttlock import RetryPolicy

    client = TTLockClient(
        credentials_for(SimConfig()), "http://127.0.0.1:9", storage=Storage(tmp_path),
        retry=RetryPolicy(max_retries=0),
    )
    async with client:
        with pytest.raises(TransportError, match="cannot reach the TTLock cloud"):
            await client.list_locks()


# -- error kinds -------------------------------------------------------------------------


@pytest.mark.parametrize("sim_config", [SimConfig(command_seconds=0.05, orphan_locks=1)])
async def test_lock_without_gateway(client: TTLockClient, sim: SimulatorServer) -> None:
    orphan = next(lock for lock in sim.world.locks.values() if lock.gateway_id is None
                  and not lock.wifi)
    with pytest.raises(UnreachableError, match="not connected to any gateway"):
        await client.unlock(orphan.lock_id)


async def test_remote_unlock_off(client: TTLockClient, sim: SimulatorServer) -> None:
    (lock_id,) = first_lock_on_gateway(sim)
    sim.world.locks[lock_id].remote_unlock = False
    with pytest.raises(NotSupportedError, match="enable Remote Unlock in the TTLock app"):
        await client.unlock(lock_id)


async def test_unknown_lock_is_permission_denied(client: TTLockClient) -> None:
    with pytest.raises(PermissionDeniedError):
        await client.lock_detail(1)


# -- operations --------------------------------------------------------------------------


async def test_lock_unlock_and_state(client: TTLockClient, sim: SimulatorServer) -> None:
    (lock_id,) = first_lock_on_gateway(sim)
    await client.unlock(lock_id)
    assert (await client.query_open_state(lock_id)).state is OpenState.UNLOCKED
    await client.lock(lock_id)
    assert (await client.query_open_state(lock_id)).state is OpenState.LOCKED
    sim.world.locks[lock_id].battery = 42
    assert await client.query_battery(lock_id) == 42
    records = await client.list_records(lock_id, limit=5)
    assert records and records[0].record_type in (11, 12, 47)


async def test_gateways_and_their_locks(client: TTLockClient, sim: SimulatorServer) -> None:
    gateways = await client.list_gateways()
    assert {g.gateway_id for g in gateways} == set(sim.world.gateways)
    total = 0
    for gateway in gateways:
        locks = await client.gateway_locks(gateway.gateway_id)
        total += len(locks)
        for lock in locks:
            back = await client.lock_gateways(lock.lock_id)
            assert gateway.gateway_id in {g.gateway_id for g in back}
    assert total == sim.config.locks


async def test_detail_and_passage_mode(client: TTLockClient, sim: SimulatorServer) -> None:
    (lock_id,) = first_lock_on_gateway(sim)
    detail = await client.lock_detail(lock_id)
    assert detail.lock_id == lock_id and detail.mac == sim.world.locks[lock_id].mac
    assert not hasattr(detail, "lock_data")
    await client.set_auto_lock_time(lock_id, 7)
    assert (await client.lock_detail(lock_id)).auto_lock_time == 7
    await client.configure_passage_mode(lock_id, enabled=True, start_minute=480,
                                        end_minute=1080, week_days=[1, 2, 3])
    config = await client.get_passage_mode(lock_id)
    assert config.enabled and config.week_days == (1, 2, 3) and config.start_minute == 480


async def test_passcode_lifecycle(client: TTLockClient, sim: SimulatorServer) -> None:
    (lock_id,) = first_lock_on_gateway(sim)
    start = datetime.now(tz=UTC) + timedelta(hours=1)
    end = start + timedelta(days=2)
    pid = await client.add_passcode(lock_id, "482913", name="Guest Smith", start=start, end=end)
    with pytest.raises(PasscodeError, match="already exists"):
        await client.add_passcode(lock_id, "482913", name="Again")
    with pytest.raises(PasscodeError, match="4 to 9 digits"):
        await client.add_passcode(lock_id, "12", name="Short")
    found = await client.list_passcodes(lock_id, search="Smith")
    assert [p.passcode_id for p in found] == [pid]
    assert found[0].code == "482913" and found[0].type == PasscodeType.PERIOD
    assert found[0].end is not None and abs((found[0].end - end).total_seconds()) < 1
    await client.change_passcode(lock_id, pid, name="Guest Jones", code="730194")
    changed = await client.list_passcodes(lock_id, search="730194")
    assert changed[0].name == "Guest Jones"
    await client.delete_passcode(lock_id, pid)
    assert not await client.list_passcodes(lock_id, search="Jones")
    with pytest.raises(PasscodeError, match="no such passcode"):
        await client.delete_passcode(lock_id, pid)


async def test_generated_passcode(client: TTLockClient, sim: SimulatorServer) -> None:
    (lock_id,) = first_lock_on_gateway(sim)
    sim.world.gateways[sim.world.locks[lock_id].gateway_id].online = False  # not needed
    start = datetime.now(tz=UTC).replace(minute=0, second=0, microsecond=0)
    code = await client.generate_passcode(lock_id, PasscodeType.ONE_TIME, start=start,
                                          name="Cleaner")
    assert code.code.isdigit() and 4 <= len(code.code) <= 10
    listed = await client.list_passcodes(lock_id, search="Cleaner")
    assert listed[0].passcode_id == code.passcode_id


async def test_passcodes_listed_across_pages(client: TTLockClient, sim: SimulatorServer) -> None:
    (lock_id,) = first_lock_on_gateway(sim)
    start = datetime.now(tz=UTC).replace(minute=0, second=0, microsecond=0)
    for i in range(130):
        await client.generate_passcode(lock_id, PasscodeType.PERMANENT, start=start,
                                       name=f"bulk {i}")
    codes = await client.list_passcodes(lock_id)
    assert len([c for c in codes if c.name.startswith("bulk ")]) == 130
    assert sim.world.calls["/v3/lock/listKeyboardPwd"] == 2


# -- usage and secrets -------------------------------------------------------------------


async def test_usage_counted_by_endpoint_and_persisted(
    make_client: Factory, tmp_path: Path
) -> None:
    storage = Storage(tmp_path / "usage")
    client = make_client(storage=storage)
    await client.list_locks()
    await client.list_gateways()
    await client.aclose()
    assert client.usage.by_endpoint["/v3/lock/list"] == 1
    saved = storage.read_json(USAGE_FILE)
    assert saved["calls"]["/v3/gateway/list"] == 1
    assert stat.S_IMODE(storage.path(USAGE_FILE).stat().st_mode) == 0o600


UNIQUE_SECRETS = SimConfig(
    command_seconds=0.05, client_secret="cs-9f8e7d6c5b4a", password="pw-Zq8!x7Lm"
)


@pytest.mark.parametrize("sim_config", [UNIQUE_SECRETS])
async def test_secrets_never_logged(
    make_client: Factory, sim: SimulatorServer, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "hapbridge"):
        caplog.set_level(logging.DEBUG, logger=name)
    storage = Storage(tmp_path / "secrets")
    client = make_client(storage=storage, retries=1)
    (lock_id,) = first_lock_on_gateway(sim)
    await client.list_locks()
    await client.lock_detail(lock_id)
    await client.unlock(lock_id)
    sim.world.expire_all_tokens()
    await client.query_open_state(lock_id)
    errors: list[str] = []
    sim.config.busy_rate = 1.0
    try:
        await client.lock(lock_id)
    except BusyError as err:
        errors.append(str(err))
    sim.config.busy_rate = 0.0
    bad = make_client(storage=Storage(tmp_path / "bad"), password="not-the-password")
    try:
        await bad.list_locks()
    except CredentialsError as err:
        errors.append(str(err))

    tokens = storage.read_json(TOKENS_FILE)
    entry = next(iter(tokens.values()))
    lock = sim.world.locks[lock_id]
    secrets = [
        sim.config.client_secret,
        sim.config.password,
        hashlib.md5(sim.config.password.encode()).hexdigest(),
        "not-the-password",
        entry["access_token"],
        entry["refresh_token"],
        lock.lock_data,
        lock.admin_pwd,
    ]
    text = caplog.text + "\n".join(errors) + repr(client) + repr(client.tokens._credentials)
    assert "HTTP Request" in caplog.text  # the library did log its requests
    for secret in secrets:
        assert secret and secret not in text
