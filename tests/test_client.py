"""The TTLock client against the simulated cloud over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import socket
import stat
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest

from hapbridge.redact import install_log_redaction, redact
from hapbridge.simulator import SimConfig, SimulatorServer
from hapbridge.storage import Storage
from hapbridge.ttlock import RetryPolicy, TTLockClient, password_md5
from hapbridge.ttlock import auth as tokens_module
from hapbridge.ttlock.auth import TOKENS_FILE
from hapbridge.ttlock.errors import (
    ERRCODES,
    AuthError,
    BusyError,
    ConfigurationError,
    CredentialsError,
    NotSupportedError,
    PasscodeError,
    ServerError,
    TransportError,
    TTLockError,
    UnknownError,
    UnreachableError,
)
from hapbridge.ttlock.models import OpenState, PasscodeType
from hapbridge.ttlock.passage import PassageMode, PassagePeriod
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
        with pytest.raises(TransportError) as caught:
            await client.list_locks()
    message = str(caught.value)
    assert message.startswith("cannot connect to the TTLock cloud at http://127.0.0.1:9; ")
    assert "ConnectError" not in message and "curl -sI http://127.0.0.1:9" in message
    assert "answers only while it runs: start it again (make demo)" in message


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


async def test_unknown_lock_answers_lock_does_not_exist(client: TTLockClient) -> None:
    with pytest.raises(TTLockError) as info:  # the kind is the bridge's to choose
        await client.lock_detail(1)
    assert info.value.errcode == -1003


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
            assert all(g.rssi is not None and g.rssi_updated is not None for g in back)
    assert total == sim.config.locks


async def test_detail_and_passage_mode(client: TTLockClient, sim: SimulatorServer) -> None:
    (lock_id,) = first_lock_on_gateway(sim)
    detail = await client.lock_detail(lock_id)
    assert detail.lock_id == lock_id and detail.mac == sim.world.locks[lock_id].mac
    assert not hasattr(detail, "lock_data")
    await client.set_auto_lock_time(lock_id, 7)
    assert (await client.lock_detail(lock_id)).auto_lock_time == 7
    mode = PassageMode(enabled=True, periods=(
        PassagePeriod((1, 2, 3), 480, 1080), PassagePeriod((6, 7))), auto_unlock=True)
    await client.set_passage_mode(lock_id, mode)
    assert sim.world.calls["/v3/lock/configurePassageMode"] == 1
    read = await client.passage_mode(lock_id)
    assert read.enabled and read.auto_unlock
    assert read.periods == (PassagePeriod((6, 7)), PassagePeriod((1, 2, 3), 480, 1080))
    await client.set_passage_mode(lock_id, PassageMode(enabled=False))
    off = await client.passage_mode(lock_id)
    assert not off.enabled and len(off.periods) == 2  # the schedule is kept for next time


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
    for i in range(230):
        await client.generate_passcode(lock_id, PasscodeType.PERMANENT, start=start,
                                       name=f"bulk {i}")
    codes = await client.list_passcodes(lock_id)
    assert len([c for c in codes if c.name.startswith("bulk ")]) == 230
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
        lock.lock_key,
        lock.aes_key,
    ]
    text = caplog.text + "\n".join(errors) + repr(client) + repr(client.tokens._credentials)
    assert "HTTP Request" in caplog.text  # the library did log its requests
    for secret in secrets:
        assert secret and secret not in text


# -- every errcode of the table, answered over HTTP ------------------------------------

AUTH_CODES = {code for code, info in ERRCODES.items() if info.kind is AuthError}


@pytest.mark.parametrize("code", sorted(set(ERRCODES) - AUTH_CODES))
async def test_each_errcode_is_its_kind_with_its_advice(
    make_client: Factory, sim: SimulatorServer, code: int
) -> None:
    (lock_id,) = first_lock_on_gateway(sim)
    client = make_client(retries=2)
    await client.list_locks()
    info = ERRCODES[code]
    sim.config.scripted_errcodes["/v3/lock/detail"] = [code] * 3
    with pytest.raises(info.kind) as caught:
        await client.lock_detail(lock_id)
    assert caught.value.errcode == code
    assert str(caught.value) == f"{info.message} (TTLock error {code})"
    expected = 3 if info.kind.retryable else 1  # 1 + maximumApiRetry, or once
    assert sim.world.calls["/v3/lock/detail"] == expected


@pytest.mark.parametrize("code", [-3003, -3037, 1, 90000])
async def test_retryable_errcodes_succeed_when_they_pass(
    make_client: Factory, sim: SimulatorServer, code: int
) -> None:
    (lock_id,) = first_lock_on_gateway(sim)
    client = make_client(retries=3)
    sim.config.scripted_errcodes["/v3/lock/detail"] = [code, code]
    assert (await client.lock_detail(lock_id)).lock_id == lock_id
    assert sim.world.calls["/v3/lock/detail"] == 3


@pytest.mark.parametrize("code", sorted(AUTH_CODES))
async def test_refused_token_is_renewed_once_then_given_up(
    make_client: Factory, sim: SimulatorServer, code: int
) -> None:
    (lock_id,) = first_lock_on_gateway(sim)
    client = make_client(retries=3)
    await client.list_locks()
    sim.config.scripted_errcodes["/v3/lock/detail"] = [code]
    assert (await client.lock_detail(lock_id)).lock_id == lock_id
    assert client.tokens.refreshes == 1
    sim.config.scripted_errcodes["/v3/lock/detail"] = [code, code]
    with pytest.raises(AuthError):
        await client.lock_detail(lock_id)
    assert client.tokens.refreshes == 2  # one renewal per call, never a loop


async def test_unknown_errcode_keeps_the_clouds_words(
    make_client: Factory, sim: SimulatorServer
) -> None:
    (lock_id,) = first_lock_on_gateway(sim)
    sim.config.scripted_errcodes["/v3/lock/unlock"] = [-9999]
    with pytest.raises(UnknownError, match=r"TTLock error -9999: failed or means no"):
        await make_client().unlock(lock_id)
    assert sim.world.calls["/v3/lock/unlock"] == 1


async def test_invalid_parameter_says_which_and_why(
    make_client: Factory, sim: SimulatorServer
) -> None:
    (lock_id,) = first_lock_on_gateway(sim)
    start = datetime.now(tz=UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=2)
    with pytest.raises(UnknownError) as caught:
        await make_client().generate_passcode(
            lock_id, PasscodeType.PERIOD, start=start, end=start + timedelta(minutes=30)
        )
    assert str(caught.value) == (
        "the TTLock cloud rejected a parameter of the request "
        "(TTLock error -3: endDate must be at least an hour after startDate)"
    )


def answer_with(path: str, body: dict[str, object]) -> Hook:
    """``path`` answers ``body`` (HTTP 200) once, as the cloud would."""
    left = [1]

    async def hook(request: httpx.Request, forward: Forward) -> httpx.Response:
        if request.url.path == path and left[0] > 0:
            left[0] -= 1
            return httpx.Response(200, json=body)
        return await forward(request)

    return hook


@pytest.mark.parametrize(
    ("errcode", "expected"),
    [
        (-3, "the TTLock cloud rejected a parameter of the request "
             "(TTLock error -3: token *** refused, client_secret=***)"),
        (1, "the TTLock cloud reported a failure; try again "
            "(TTLock error 1: token *** refused, client_secret=***)"),
        (-2018, "permission denied: the account is not allowed to use this lock "
                "(is it the admin?) (TTLock error -2018)"),  # specific: nothing to add
        (-9999, "TTLock error -9999: odd: token *** refused, client_secret=***"),
    ],
)
async def test_the_clouds_description_without_secrets(
    tapped: Callable[..., TTLockClient], sim: SimulatorServer, errcode: int, expected: str
) -> None:
    (lock_id,) = first_lock_on_gateway(sim)

    async def echo_token(request: httpx.Request, forward: Forward) -> httpx.Response:
        if request.url.path != "/v3/lock/detail":
            return await forward(request)
        token = form_of(request)["accessToken"]
        return httpx.Response(200, json={
            "errcode": errcode, "errmsg": "odd",
            "description": f"token {token}\n\trefused, client_secret=abc123",
        })

    with pytest.raises(TTLockError) as caught:
        await tapped(echo_token, retries=0).lock_detail(lock_id)
    assert str(caught.value) == expected


async def test_a_skewed_clock_is_a_configuration_error(
    tapped: Callable[..., TTLockClient], sim: SimulatorServer
) -> None:
    client = tapped(clock=lambda: time.time() - 3600)
    with pytest.raises(ConfigurationError, match="80000"):
        await client.list_locks()
    assert sim.world.errcodes[80000] == 1  # not retried: the clock will not fix itself


async def test_every_attempt_carries_a_fresh_date(
    tapped: Callable[..., TTLockClient], sim: SimulatorServer
) -> None:
    (lock_id,) = first_lock_on_gateway(sim)
    dates: list[int] = []

    async def record_dates(request: httpx.Request, forward: Forward) -> httpx.Response:
        if request.url.path == "/v3/lock/unlock":
            dates.append(int(form_of(request)["date"]))
        return await forward(request)

    client = tapped(record_dates, retries=3)
    sim.config.scripted_errcodes["/v3/lock/unlock"] = [-3003, -3003]
    await client.unlock(lock_id)
    assert len(dates) == 3
    assert dates == sorted(set(dates))  # three different, increasing


@pytest.mark.parametrize(
    ("answer", "kind", "attempts"),
    [
        (httpx.Response(200, text="<html>maintenance</html>"), ServerError, 3),
        (httpx.Response(429, text="<html>slow down</html>"), ServerError, 3),
        (httpx.Response(200, json=[1, 2]), ServerError, 3),
    ],
    ids=["non-json-200", "http-429", "json-not-an-object"],
)
async def test_odd_answers_join_the_hierarchy(
    tapped: Callable[..., TTLockClient], sim: SimulatorServer,
    answer: httpx.Response, kind: type[Exception], attempts: int,
) -> None:
    sent: list[int] = []

    async def odd(request: httpx.Request, forward: Forward) -> httpx.Response:
        if request.url.path == "/v3/lock/list":
            sent.append(1)
            return answer
        return await forward(request)

    with pytest.raises(kind):
        await tapped(odd, retries=2).list_locks()
    assert len(sent) == attempts


async def test_an_http_refusal_echoing_the_token_does_not_repeat_it(
    tapped: Callable[..., TTLockClient], sim: SimulatorServer
) -> None:
    seen: list[str] = []

    async def echo(request: httpx.Request, forward: Forward) -> httpx.Response:
        if request.url.path == "/v3/lock/list":
            token = form_of(request)["accessToken"]
            seen.append(token)
            return httpx.Response(400, json={"error_description": f"bad\ttoken {token}"})
        return await forward(request)

    with pytest.raises(UnknownError) as caught:
        await tapped(echo).list_locks()
    assert seen and seen[0] not in str(caught.value)
    assert "\t" not in str(caught.value) and "HTTP 400" in str(caught.value)


async def test_http_401_on_a_call_renews_the_token(
    tapped: Callable[..., TTLockClient], sim: SimulatorServer
) -> None:
    refused: list[int] = []

    async def unauthorized_once(request: httpx.Request, forward: Forward) -> httpx.Response:
        if request.url.path == "/v3/lock/list" and not refused:
            refused.append(1)
            return httpx.Response(401, json={"error": "invalid_token"})
        return await forward(request)

    client = tapped(unauthorized_once)
    assert await client.list_locks()
    assert client.tokens.refreshes == 1


@pytest.mark.parametrize(
    ("path", "body", "call"),
    [
        ("/v3/lock/queryElectricQuantity", {}, "query_battery"),
        ("/v3/lock/queryOpenState", {"state": "open"}, "query_open_state"),
        ("/v3/lock/detail", {"lockAlias": "x"}, "lock_detail"),
        ("/v3/lock/getPassageModeConfiguration", {"passageMode": 1, "cyclicConfig": "[1,"},
         "passage_mode"),
        ("/v3/gateway/listByLock", {"list": [{"rssi": -50}]}, "lock_gateways"),
    ],
)
async def test_malformed_answers_are_ttlock_errors(
    tapped: Callable[..., TTLockClient], sim: SimulatorServer, path: str, body: object,
    call: str,
) -> None:
    (lock_id,) = first_lock_on_gateway(sim)

    async def malformed(request: httpx.Request, forward: Forward) -> httpx.Response:
        if request.url.path == path:
            return httpx.Response(200, json=body)
        return await forward(request)

    with pytest.raises(UnknownError, match=f"unexpected answer to {path}"):
        await getattr(tapped(malformed), call)(lock_id)


async def test_transport_errors_do_not_chain_the_request(
    tapped: Callable[..., TTLockClient], sim: SimulatorServer
) -> None:
    """httpx's exception holds the request (URL with the token, the login form): it must
    not ride along as the context of our error."""
    async def drop(request: httpx.Request, forward: Forward) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(TransportError) as caught:
        await tapped(drop, retries=0).list_locks()
    assert caught.value.__context__ is None and caught.value.__cause__ is None


# -- test plumbing: the real transport with a hook in front ------------------------------

Forward = Callable[[httpx.Request], Awaitable[httpx.Response]]
Hook = Callable[[httpx.Request, Forward], Awaitable[httpx.Response]]


async def forward_all(request: httpx.Request, forward: Forward) -> httpx.Response:
    return await forward(request)


class Tap(httpx.AsyncBaseTransport):
    """httpx's own transport, with a hook that may answer or fail instead of the cloud."""

    def __init__(self, hook: Hook) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._hook = hook

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._hook(request, self._inner.handle_async_request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def form_of(request: httpx.Request) -> dict[str, str]:
    if request.method == "GET":
        return dict(request.url.params)
    return dict(parse_qsl(request.content.decode()))


def is_refresh(request: httpx.Request) -> bool:
    return (request.url.path == "/oauth2/token"
            and form_of(request).get("grant_type") == "refresh_token")


def lose_answer(path: str, times: int = 1) -> Hook:
    """The cloud carries out the request, but its answer is lost ``times`` times."""
    left = [times]

    async def hook(request: httpx.Request, forward: Forward) -> httpx.Response:
        response = await forward(request)
        if request.url.path == path and left[0] > 0:
            left[0] -= 1
            await response.aread()
            await response.aclose()
            raise httpx.ReadTimeout("answer lost", request=request)
        return response

    return hook


@pytest.fixture
async def tapped(
    sim: SimulatorServer, tmp_path: Path
) -> AsyncIterator[Callable[..., TTLockClient]]:
    made: list[TTLockClient] = []

    def factory(
        hook: Hook = forward_all,
        *,
        retries: int = 3,
        storage: Storage | None = None,
        clock: Callable[[], float] = time.time,
        base_url: str | None = None,
    ) -> TTLockClient:
        client = TTLockClient(
            credentials_for(sim.config),
            base_url or sim.url,
            storage=storage or Storage(tmp_path / "tapped"),
            retry=RetryPolicy(max_retries=retries, base_delay=0.01, max_delay=0.05),
            clock=clock,
            transport=Tap(hook),
        )
        made.append(client)
        return client

    yield factory
    for client in made:
        await client.aclose()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- attempts are bounded; one login per renewal -----------------------------------------


async def test_wrong_password_costs_one_login_for_concurrent_calls(
    make_client: Factory, sim: SimulatorServer
) -> None:
    client = make_client(password="wrong", retries=3)
    results = await asyncio.gather(*(client.list_locks() for _ in range(5)),
                                   return_exceptions=True)
    assert all(isinstance(r, CredentialsError) for r in results)
    assert sim.world.calls["/oauth2/token"] == 1


async def test_closed_port_costs_one_plus_retries_attempts_and_no_api_calls(
    tapped: Callable[..., TTLockClient]
) -> None:
    attempts: list[str] = []

    async def count(request: httpx.Request, forward: Forward) -> httpx.Response:
        attempts.append(request.url.path)
        return await forward(request)

    client = tapped(count, retries=3, base_url=f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(TransportError, match="cannot connect to the TTLock cloud at"):
        await client.list_locks()
    assert attempts == ["/oauth2/token"] * 4
    assert client.usage.session == {}  # nothing reached a server: nothing against the limit


async def test_usage_counts_what_reached_the_server(
    tapped: Callable[..., TTLockClient], sim: SimulatorServer
) -> None:
    (lock_id,) = first_lock_on_gateway(sim)
    refused = [2]

    async def refuse_twice(request: httpx.Request, forward: Forward) -> httpx.Response:
        if request.url.path == "/v3/lock/unlock" and refused[0] > 0:
            refused[0] -= 1
            raise httpx.ConnectError("connection refused", request=request)
        return await forward(request)

    client = tapped(refuse_twice, retries=4)
    sim.config.scripted_errcodes["/v3/lock/unlock"] = [-3003]  # busy: it reached the cloud
    await client.unlock(lock_id)
    assert sim.world.calls["/v3/lock/unlock"] == 2
    assert client.usage.session["/v3/lock/unlock"] == 2


async def test_failed_refresh_is_shared_with_waiters(
    tapped: Callable[..., TTLockClient], sim: SimulatorServer
) -> None:
    refreshes: list[int] = []

    async def bad_refresh(request: httpx.Request, forward: Forward) -> httpx.Response:
        if is_refresh(request):
            refreshes.append(1)
            await asyncio.sleep(0.05)  # let every caller queue behind it
            return httpx.Response(200, json={"errcode": 10001, "errmsg": "bad client"})
        return await forward(request)

    client = tapped(bad_refresh)
    await client.list_locks()
    sim.world.expire_all_tokens()
    sim.config.client_secret = "changed"  # the password login fails too
    results = await asyncio.gather(*(client.list_locks() for _ in range(5)),
                                   return_exceptions=True)
    assert all(isinstance(r, CredentialsError) for r in results)
    assert len(refreshes) == 1
    assert sim.world.calls["/oauth2/token"] == 2  # the first login, then one fallback login


# -- refresh failures --------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(400, json={"error": "invalid_grant", "error_description": "expired"}),
        httpx.Response(200, json={"errcode": 10010, "errmsg": "invalid request"}),
        httpx.Response(200, json={"token_type": "Bearer"}),
    ],
    ids=["http-400-invalid-grant", "errcode-10010", "no-token"],
)
async def test_refresh_failure_falls_back_to_password_login(
    tapped: Callable[..., TTLockClient], sim: SimulatorServer, answer: httpx.Response
) -> None:
    async def refuse_refresh(request: httpx.Request, forward: Forward) -> httpx.Response:
        return answer if is_refresh(request) else await forward(request)

    client = tapped(refuse_refresh)
    await client.list_locks()
    sim.world.expire_all_tokens()
    assert await client.list_locks()
    assert client.tokens.logins == 2


SHORT_TOKENS = SimConfig(command_seconds=0.05, token_lifetime=1000, max_clock_skew=1e6)


@pytest.mark.parametrize("sim_config", [SHORT_TOKENS])
async def test_transient_refresh_failure_keeps_the_valid_token(
    tapped: Callable[..., TTLockClient], sim: SimulatorServer
) -> None:
    offset = [0.0]
    refreshes: list[int] = []

    async def refresh_down(request: httpx.Request, forward: Forward) -> httpx.Response:
        if is_refresh(request):
            refreshes.append(1)
            return httpx.Response(502, text="<html>bad gateway</html>")
        return await forward(request)

    client = tapped(refresh_down, retries=1, clock=lambda: time.time() + offset[0])
    await client.list_locks()
    offset[0] = 950  # within the refresh margin, not yet expired
    assert await client.list_locks()
    assert await client.list_locks()  # no second refresh attempt right away
    assert (client.tokens.logins, client.tokens.refreshes, len(refreshes)) == (1, 0, 1)

    offset[0] = 2000 + tokens_module.REFRESH_RETRY_SECONDS  # expired: no way around it
    with pytest.raises(ServerError, match="HTTP 502"):
        await client.list_locks()
    assert client.tokens.logins == 1  # a cloud outage is no reason for a password login


async def test_refused_token_with_refresh_briefly_down_is_renewed_on_retry(
    tapped: Callable[..., TTLockClient], sim: SimulatorServer
) -> None:
    """The cloud refuses the token (10004) and the refresh meets a 502 once: the retry must
    refresh again, not send the refused token a second time and give up."""
    failed: list[int] = []

    async def refresh_down_once(request: httpx.Request, forward: Forward) -> httpx.Response:
        if is_refresh(request) and not failed:
            failed.append(1)
            return httpx.Response(502, text="<html>bad gateway</html>")
        return await forward(request)

    client = tapped(refresh_down_once, retries=2)
    await client.list_locks()
    sim.world.expire_all_tokens()  # the client's clock still thinks the token is fine
    assert await client.list_locks()
    assert (len(failed), client.tokens.refreshes, client.tokens.logins) == (1, 1, 1)
    assert sim.world.errcodes[10004] == 1  # the refused token was sent once, not again


# -- tokens shared between processes -----------------------------------------------------


async def test_token_refreshed_by_another_process_is_adopted(
    make_client: Factory, sim: SimulatorServer, tmp_path: Path
) -> None:
    storage = Storage(tmp_path / "shared")
    bridge = make_client(storage=storage)
    await bridge.list_locks()
    cli = make_client(storage=Storage(tmp_path / "shared"))
    sim.world.expire_all_tokens()
    await cli.list_locks()  # refreshes: the bridge's tokens are retired
    assert cli.tokens.refreshes == 1
    assert await bridge.list_locks()
    assert (bridge.tokens.logins, bridge.tokens.refreshes) == (1, 0)
    assert sim.world.calls["/oauth2/token"] == 2  # one login, one refresh, nothing else


@pytest.mark.parametrize("forget_refresh", [False, True])
async def test_token_another_process_stored_but_the_cloud_forgot_is_renewed(
    make_client: Factory, sim: SimulatorServer, tmp_path: Path, forget_refresh: bool
) -> None:
    """A CLI command renews and stores its token, then the cloud forgets every access token
    (a restart, a revocation): the bridge's next call adopts the stored token, is refused
    again, and renews for itself (refresh, else login): the call succeeds, never fails."""
    storage = Storage(tmp_path / "shared")
    bridge = make_client(storage=storage)
    await bridge.list_locks()
    cli = make_client(storage=Storage(tmp_path / "shared"))
    sim.world.expire_all_tokens()
    await cli.list_locks()  # refreshes and writes tokens.json
    sim.world.access_tokens.clear()  # the cloud forgets both processes' tokens
    if forget_refresh:
        sim.world.revoke_refresh_tokens()
    (lock_id,) = first_lock_on_gateway(sim)
    await bridge.unlock(lock_id)
    assert (bridge.tokens.refreshes, bridge.tokens.logins) == ((0, 2) if forget_refresh
                                                              else (1, 1))
    assert sim.world.errcodes[10011] == (1 if forget_refresh else 0)
    assert sim.world.errcodes[10003] == 2  # ours, then the adopted one: never a third


async def test_two_processes_renewing_at_once_spend_one_refresh(
    tapped: Callable[..., TTLockClient], sim: SimulatorServer, tmp_path: Path
) -> None:
    """The bridge and a CLI command meet an expired token at the same moment: one refresh,
    the other adopts its token (no 10011, no password login)."""
    async def slow_refresh(request: httpx.Request, forward: Forward) -> httpx.Response:
        if is_refresh(request):
            await asyncio.sleep(0.2)  # the other one arrives while this one is refreshing
        return await forward(request)

    bridge = tapped(slow_refresh, storage=Storage(tmp_path / "shared"))
    await bridge.list_locks()
    cli = tapped(slow_refresh, storage=Storage(tmp_path / "shared"))  # its own manager
    sim.world.expire_all_tokens()
    assert all(await asyncio.gather(bridge.list_locks(), cli.list_locks()))
    refreshes = bridge.tokens.refreshes + cli.tokens.refreshes
    logins = bridge.tokens.logins + cli.tokens.logins
    assert (refreshes, logins, sim.world.errcodes[10011]) == (1, 1, 0)


@pytest.mark.parametrize("content", ['"x"', "[1]", '{"key": "x"}', "{not json"])
async def test_wrong_shape_tokens_file_means_login(
    make_client: Factory, tmp_path: Path, caplog: pytest.LogCaptureFixture, content: str
) -> None:
    storage = Storage(tmp_path / "odd")
    storage.root.mkdir(mode=0o700)
    storage.path(TOKENS_FILE).write_text(content)
    client = make_client(storage=storage)
    with caplog.at_level(logging.WARNING):
        assert await client.list_locks()
    assert client.tokens.logins == 1
    assert isinstance(storage.read_json(TOKENS_FILE), dict)
    if content != '{"key": "x"}':  # another key's junk is not ours to judge
        assert "logging in" in caplog.text


# -- HTTP answers that are not the API ---------------------------------------------------


async def test_wrong_base_path_is_a_configuration_error(
    make_client: Factory, sim: SimulatorServer, tmp_path: Path
) -> None:
    client = TTLockClient(
        credentials_for(sim.config), f"{sim.url}/wrong", storage=Storage(tmp_path),
        retry=RetryPolicy(max_retries=3, base_delay=0.01),
    )
    async with client:
        with pytest.raises(ConfigurationError, match=r"HTTP 404.*baseUrl"):
            await client.list_locks()
    assert client.usage.session_total == 1


async def test_redirect_is_a_configuration_error_without_the_query(
    tapped: Callable[..., TTLockClient],
) -> None:
    async def redirect(request: httpx.Request, forward: Forward) -> httpx.Response:
        target = f"https://euapi.ttlock.com{request.url.raw_path.decode()}?accessToken=s3cr3t"
        return httpx.Response(301, headers={"location": target}, text="Moved")

    client = tapped(redirect)
    with pytest.raises(ConfigurationError, match="HTTP 301") as caught:
        await client.list_locks()
    assert "https://euapi.ttlock.com" in str(caught.value)
    assert "s3cr3t" not in str(caught.value)
    assert client.usage.session_total == 1


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999", "ftp://127.0.0.1", "http://[::1"])
async def test_unusable_url_is_one_line(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigurationError, match="baseUrl"):
        client = TTLockClient(credentials_for(SimConfig()), url, storage=Storage(tmp_path),
                              retry=RetryPolicy(max_retries=2, base_delay=0.01))
        async with client:
            await client.list_locks()


# -- commands that must not run twice ----------------------------------------------------


async def test_add_passcode_with_lost_answer_finds_the_code(
    tapped: Callable[..., TTLockClient], sim: SimulatorServer
) -> None:
    (lock_id,) = first_lock_on_gateway(sim)
    client = tapped(lose_answer("/v3/keyboardPwd/add"))
    pid = await client.add_passcode(lock_id, "604213", name="Lost answer")
    assert sim.world.calls["/v3/keyboardPwd/add"] == 1
    codes = [p for p in sim.world.passcodes[lock_id].values() if p.code == "604213"]
    assert [p.passcode_id for p in codes] == [pid]


def fail_before_cloud(path: str, times: int = 1) -> Hook:
    """``path`` answers HTTP 500 ``times`` times without reaching the cloud (the command
    certainly did not run, but the client cannot know it from the answer)."""
    left = [times]

    async def hook(request: httpx.Request, forward: Forward) -> httpx.Response:
        if request.url.path == path and left[0] > 0:
            left[0] -= 1
            return httpx.Response(500, text="Internal Server Error")
        return await forward(request)

    return hook


async def test_add_passcode_sent_again_when_the_lookup_confirms_it_did_not_run(
    tapped: Callable[..., TTLockClient], sim: SimulatorServer
) -> None:
    (lock_id,) = first_lock_on_gateway(sim)
    client = tapped(fail_before_cloud("/v3/keyboardPwd/add"), retries=3)
    pid = await client.add_passcode(lock_id, "730519", name="Second try")
    assert sim.world.calls["/v3/keyboardPwd/add"] == 1  # the 500 never reached it
    assert sim.world.calls["/v3/lock/listKeyboardPwd"] == 1  # one lookup: not there
    codes = [p for p in sim.world.passcodes[lock_id].values() if p.code == "730519"]
    assert [p.passcode_id for p in codes] == [pid]


async def test_add_passcode_resent_within_the_retry_budget(
    tapped: Callable[..., TTLockClient], sim: SimulatorServer
) -> None:
    (lock_id,) = first_lock_on_gateway(sim)
    client = tapped(fail_before_cloud("/v3/keyboardPwd/add", times=10), retries=2)
    with pytest.raises(ServerError, match="HTTP 500"):
        await client.add_passcode(lock_id, "730519")
    assert sim.world.calls["/v3/lock/listKeyboardPwd"] == 3  # 1 + maximumApiRetry attempts
    assert not [p for p in sim.world.passcodes[lock_id].values() if p.code == "730519"]


async def test_add_passcode_not_sent_again_when_the_lookup_fails(
    tapped: Callable[..., TTLockClient], sim: SimulatorServer
) -> None:
    (lock_id,) = first_lock_on_gateway(sim)
    client = tapped(fail_before_cloud("/v3/keyboardPwd/add"), retries=3)
    sim.config.scripted_errcodes["/v3/lock/listKeyboardPwd"] = [-2018]
    with pytest.raises(ServerError, match="HTTP 500"):  # the add's failure, not the lookup's
        await client.add_passcode(lock_id, "730519")
    assert sim.world.calls["/v3/lock/listKeyboardPwd"] == 1
    assert sim.world.calls["/v3/keyboardPwd/add"] == 0


async def test_add_passcode_not_sent_again_when_the_code_has_another_name(
    tapped: Callable[..., TTLockClient], sim: SimulatorServer
) -> None:
    (lock_id,) = first_lock_on_gateway(sim)
    sim.world.add_passcode(lock_id, "730519", name="Someone else")
    client = tapped(fail_before_cloud("/v3/keyboardPwd/add"), retries=3)
    with pytest.raises(ServerError, match="HTTP 500"):
        await client.add_passcode(lock_id, "730519", name="Guest")
    assert sim.world.calls["/v3/keyboardPwd/add"] == 0


async def test_generated_passcode_not_sent_twice_after_lost_answer(
    tapped: Callable[..., TTLockClient], sim: SimulatorServer
) -> None:
    (lock_id,) = first_lock_on_gateway(sim)
    client = tapped(lose_answer("/v3/keyboardPwd/get"))
    start = datetime.now(tz=UTC).replace(minute=0, second=0, microsecond=0)
    with pytest.raises(TransportError, match="did not answer in time"):
        await client.generate_passcode(lock_id, PasscodeType.PERMANENT, start=start)
    assert sim.world.calls["/v3/keyboardPwd/get"] == 1


async def test_passcode_change_not_retried_after_5xx(
    make_client: Factory, sim: SimulatorServer
) -> None:
    (lock_id,) = first_lock_on_gateway(sim)
    client = make_client(retries=3)
    pid = await client.add_passcode(lock_id, "371940")
    sim.config.error_5xx_rate = 1.0
    with pytest.raises(ServerError):
        await client.change_passcode(lock_id, pid, name="x")
    assert sim.world.calls["/v3/keyboardPwd/change"] == 1


async def test_passcode_add_retried_when_gateway_busy(
    make_client: Factory, sim: SimulatorServer
) -> None:
    (lock_id,) = first_lock_on_gateway(sim)
    client = make_client(retries=2)
    await client.list_locks()
    sim.config.busy_rate = 1.0
    with pytest.raises(BusyError):
        await client.add_passcode(lock_id, "918273")
    assert sim.world.calls["/v3/keyboardPwd/add"] == 3  # busy: certainly not run


# -- paging ------------------------------------------------------------------------------


@pytest.mark.parametrize("sim_config", [SimConfig(command_seconds=0.05, locks=1500)])
async def test_server_ignoring_page_number_does_not_loop(
    tapped: Callable[..., TTLockClient], sim: SimulatorServer
) -> None:
    async def stuck_on_page_one(request: httpx.Request, forward: Forward) -> httpx.Response:
        if request.url.path != "/v3/lock/list":
            return await forward(request)
        url = request.url.copy_set_param("pageNo", "1")
        response = await forward(httpx.Request(request.method, url, headers=request.headers))
        body = json.loads(await response.aread())
        body["pages"] = body["total"] = 10**9
        return httpx.Response(200, json=body)

    client = tapped(stuck_on_page_one)
    locks = await asyncio.wait_for(client.list_locks(), 10)
    assert len(locks) == len({lock.lock_id for lock in locks}) == 1000
    assert sim.world.calls["/v3/lock/list"] == 2


async def test_records_paged_newest_first_are_not_duplicated(
    tapped: Callable[..., TTLockClient], sim: SimulatorServer
) -> None:
    (lock_id,) = first_lock_on_gateway(sim)
    for _ in range(300):
        sim.world.add_record(lock_id, 4)

    async def new_records_meanwhile(request: httpx.Request, forward: Forward) -> httpx.Response:
        if request.url.path == "/v3/lockRecord/list" and request.url.params["pageNo"] == "2":
            for _ in range(50):
                sim.world.add_record(lock_id, 12)
        return await forward(request)

    client = tapped(new_records_meanwhile)
    records = await client.list_records(lock_id)
    ids = [record.record_id for record in records]
    assert len(ids) == len(set(ids))
    assert len(ids) == len(sim.world.records[lock_id]) - 50  # all but the late arrivals


# -- closing -----------------------------------------------------------------------------


async def test_aclose_closes_http_even_if_saving_usage_fails(
    client: TTLockClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken() -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(client.usage, "aclose", broken)
    with pytest.raises(RuntimeError):
        await client.aclose()
    assert client._http.is_closed


async def test_calls_work_when_storage_cannot_be_written(
    make_client: Factory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    client = make_client(storage=Storage(blocker))
    client.usage._flush_interval = 0
    with caplog.at_level(logging.WARNING):
        assert await client.list_locks()
        assert await client.list_gateways()
        await client.aclose()
    assert "token not saved" in caplog.text
    assert caplog.text.count("API call counts not saved") == 1


# -- redaction ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '{"access_token": "abc123", "uid": 1}',
        "{'accessToken': 'abc123'}",
        "GET /v3/lock/list?clientId=c&accessToken=abc123&date=1",
        "refresh_token=abc123",
        '"clientSecret" : "abc 123"',
        "Password: abc123",
    ],
)
def test_redact_masks_quoted_and_bare_values(text: str) -> None:
    cleaned = redact(text)
    assert "abc" not in cleaned and "123" not in cleaned
    assert "***" in cleaned


def test_redact_keeps_other_values() -> None:
    assert redact('{"uid": 1, "lockAlias": "Front"}') == '{"uid": 1, "lockAlias": "Front"}'


@pytest.mark.parametrize("name", ["httpcore.http11", "httpcore.connection", "httpx.sub.child"])
def test_library_child_loggers_are_redacted(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger(name)
    install_log_redaction()
    with caplog.at_level(logging.DEBUG, logger=name):
        logger.debug("send_request_body.started request=%s", "accessToken=leaky-value")
    assert "leaky-value" not in caplog.text
    assert "accessToken=***" in caplog.text


async def test_malformed_lock_item_is_skipped_alone(
    client: TTLockClient, sim: SimulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    broken = next(iter(sim.world.locks.values()))
    broken.battery = "lots"  # type: ignore[assignment]  # what a cloud glitch might send
    with caplog.at_level(logging.WARNING, logger="hapbridge.ttlock"):
        listing = await client.lock_listing()
    assert {lock.lock_id for lock in listing.locks} == set(sim.world.locks) - {broken.lock_id}
    assert listing.unreadable == {broken.lock_id}
    assert f"(lockId {broken.lock_id}) is unreadable" in caplog.text
    assert len(await client.list_locks()) == len(sim.world.locks) - 1
