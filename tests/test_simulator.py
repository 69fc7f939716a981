"""The simulated TTLock cloud, checked over real HTTP with raw httpx (no hapbridge client).

These tests pin the contract of ttlock-api.md as the simulator plays it: answer shapes,
errcodes, gateway physics and state, so client tests built on it test something real.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from hapbridge.simulator import SimConfig, SimulatorServer

FAST = 0.05  # command_seconds in these tests


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


class Api:
    """Raw calls: a logged-in httpx client that adds clientId, accessToken and date."""

    def __init__(self, server: SimulatorServer, http: httpx.AsyncClient) -> None:
        self.server = server
        self.http = http
        self.token = ""
        self.refresh_token = ""

    @property
    def config(self) -> SimConfig:
        return self.server.config

    async def oauth(self, **form: Any) -> dict[str, Any]:
        response = await self.http.post("/oauth2/token", data=form)
        assert response.status_code == 200
        return response.json()

    async def login(self) -> dict[str, Any]:
        answer = await self.oauth(
            clientId=self.config.client_id,
            clientSecret=self.config.client_secret,
            username=self.config.username,
            password=md5(self.config.password),
        )
        self.token, self.refresh_token = answer["access_token"], answer["refresh_token"]
        return answer

    def common(self, **params: Any) -> dict[str, Any]:
        return {
            "clientId": self.config.client_id,
            "accessToken": self.token,
            "date": int(time.time() * 1000),
            **params,
        }

    async def raw(self, method: str, path: str, **params: Any) -> httpx.Response:
        if method == "GET":
            return await self.http.get(path, params=self.common(**params))
        return await self.http.post(path, data=self.common(**params))

    async def call(self, method: str, path: str, **params: Any) -> dict[str, Any]:
        response = await self.raw(method, path, **params)
        assert response.status_code == 200, response.text
        return response.json()

    async def get(self, path: str, **params: Any) -> dict[str, Any]:
        return await self.call("GET", path, **params)

    async def post(self, path: str, **params: Any) -> dict[str, Any]:
        return await self.call("POST", path, **params)


@pytest.fixture
def config() -> SimConfig:
    return SimConfig(
        locks=4, gateways=2, wifi_locks=1, orphan_locks=1, command_seconds=FAST, seed=7
    )


@pytest.fixture
async def server(config: SimConfig) -> AsyncIterator[SimulatorServer]:
    async with SimulatorServer(config) as started:
        yield started


@contextlib.asynccontextmanager
async def logged_in(server: SimulatorServer) -> AsyncIterator[Api]:
    """Raw calls to ``server``, logged in."""
    async with httpx.AsyncClient(base_url=server.url, timeout=5.0) as http:
        client = Api(server, http)
        await client.login()
        yield client


@pytest.fixture
async def api(server: SimulatorServer) -> AsyncIterator[Api]:
    async with logged_in(server) as client:
        yield client


def bt_lock(server: SimulatorServer, gateway_index: int = 0) -> int:
    """A Bluetooth lock behind the n-th gateway."""
    gateway_id = list(server.world.gateways)[gateway_index]
    return next(lid for lid, lock in server.world.locks.items() if lock.gateway_id == gateway_id)


def wifi_lock(server: SimulatorServer) -> int:
    return next(lid for lid, lock in server.world.locks.items() if lock.wifi)


def orphan_lock(server: SimulatorServer) -> int:
    return next(lid for lid, lock in server.world.locks.items() if not lock.has_gateway)


# -- OAuth ------------------------------------------------------------------------------


async def test_login_answers_tokens_for_the_md5_password(api: Api) -> None:
    answer = await api.login()
    assert set(answer) >= {"access_token", "refresh_token", "uid", "openid", "scope",
                           "token_type", "expires_in"}
    assert answer["expires_in"] == api.config.token_lifetime
    snake = await api.oauth(
        client_id=api.config.client_id,
        client_secret=api.config.client_secret,
        username=api.config.username,
        password=md5(api.config.password),
    )
    assert "access_token" in snake


async def test_login_refuses_bad_password_and_client(api: Api) -> None:
    cfg = api.config
    good = {"clientId": cfg.client_id, "clientSecret": cfg.client_secret,
            "username": cfg.username, "password": md5(cfg.password)}
    assert (await api.oauth(**{**good, "password": md5("wrong")}))["errcode"] == 10007
    assert (await api.oauth(**{**good, "password": cfg.password}))["errcode"] == 10007
    assert (await api.oauth(**{**good, "username": "x@y.z"}))["errcode"] == 10007
    assert (await api.oauth(**{**good, "clientSecret": "nope"}))["errcode"] == 10001
    assert (await api.oauth(**{**good, "clientId": "nope"}))["errcode"] == 10001
    assert api.server.world.errcodes[10007] == 3


async def test_refresh_token_is_single_use_and_retires_the_old_access_token(api: Api) -> None:
    cfg = api.config
    old_access, refresh = api.token, api.refresh_token
    form = {"clientId": cfg.client_id, "clientSecret": cfg.client_secret,
            "grant_type": "refresh_token", "refresh_token": refresh}
    answer = await api.oauth(**form)
    assert "uid" not in answer
    assert answer["access_token"] != old_access
    assert (await api.oauth(**form))["errcode"] == 10011
    assert (await api.get("/v3/lock/list", pageNo=1, pageSize=10))["errcode"] == 10003
    api.token = answer["access_token"]
    assert (await api.get("/v3/lock/list", pageNo=1, pageSize=10))["total"] == 6
    api.server.world.revoke_refresh_tokens()
    form["refresh_token"] = answer["refresh_token"]
    assert (await api.oauth(**form))["errcode"] == 10011


async def test_common_parameters_are_checked(api: Api) -> None:
    api.server.world.expire_all_tokens()
    assert (await api.get("/v3/lock/list", pageNo=1, pageSize=10))["errcode"] == 10004
    await api.login()
    stale = int((time.time() - 301) * 1000)
    assert (await api.get("/v3/lock/list", date=stale))["errcode"] == 80000
    assert (await api.get("/v3/lock/list", clientId="other"))["errcode"] == 10000
    assert (await api.get("/v3/lock/list", accessToken="unknown"))["errcode"] == 10003


async def test_json_bodies_unknown_paths_and_methods(api: Api) -> None:
    response = await api.http.post("/v3/lock/unlock", json=api.common(lockId=bt_lock(api.server)))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "x-www-form-urlencoded" in response.json()["error_description"]
    assert (await api.raw("GET", "/v3/lock/nothing")).status_code == 404
    assert (await api.raw("GET", "/v3/keyboardPwd/add")).status_code == 405


# -- lists --------------------------------------------------------------------------------


async def test_lock_list_pages_2500_locks_quickly() -> None:
    async with (
        SimulatorServer(SimConfig(locks=2500, gateways=3, command_seconds=FAST)) as server,
        httpx.AsyncClient(base_url=server.url, timeout=5.0) as http,
    ):
        api = Api(server, http)
        await api.login()
        started = time.perf_counter()
        pages = [await api.get("/v3/lock/list", pageNo=n, pageSize=1000) for n in (1, 2, 3)]
        assert time.perf_counter() - started < 2.0
        assert [len(p["list"]) for p in pages] == [1000, 1000, 500]
        assert {p["pages"] for p in pages} == {3} and {p["total"] for p in pages} == {2500}
        ids = {item["lockId"] for p in pages for item in p["list"]}
        aliases = {item["lockAlias"] for p in pages for item in p["list"]}
        assert len(ids) == len(aliases) == 2500
        assert min(ids) == 3_000_001
        item = pages[0]["list"][0]
        assert set(item) >= {"lockId", "lockName", "lockAlias", "lockMac", "electricQuantity",
                             "featureValue", "hasGateway", "lockData", "groupId", "date"}
        assert item["lockAlias"] == "Front Door"
        assert item["lockName"].startswith("S31_")
        assert (await api.get("/v3/lock/list", pageNo=1, pageSize=10,
                              lockAlias="room 1234"))["total"] == 1
        gateways = await api.get("/v3/gateway/list", pageNo=1, pageSize=200, orderBy=0)
        assert sum(g["lockNum"] for g in gateways["list"]) == 2500


async def test_page_sizes_above_the_maximum_are_refused(api: Api) -> None:
    lock_id = bt_lock(api.server)
    for path, limit, extra in (
        ("/v3/lock/list", 1000, {}),
        ("/v3/gateway/list", 200, {"orderBy": 0}),
        ("/v3/lock/listKeyboardPwd", 200, {"lockId": lock_id, "orderBy": 1}),
        ("/v3/lockRecord/list", 200, {"lockId": lock_id}),
        ("/v3/lock/listKey", 200, {"lockId": lock_id, "orderBy": 1}),
        ("/v3/fingerprint/list", 200, {"lockId": lock_id, "orderBy": 1}),
        ("/v3/identityCard/list", 200, {"lockId": lock_id, "orderBy": 1}),
        ("/v3/qrCode/list", 200, {"lockId": lock_id}),
    ):
        assert "list" in await api.get(path, pageNo=1, pageSize=limit, **extra)
        answer = await api.get(path, pageNo=1, pageSize=limit + 1, **extra)
        assert answer["errcode"] == -3, path
        assert "pageSize" in answer["description"]
    assert (await api.get("/v3/lock/list", pageNo=0, pageSize=10))["errcode"] == -3


async def test_lock_appears_and_disappears(api: Api) -> None:
    world = api.server.world
    lock = world.add_lock("Shed")
    listed = await api.get("/v3/lock/list", pageNo=1, pageSize=100)
    assert lock.lock_id in {item["lockId"] for item in listed["list"]}
    world.remove_lock(lock.lock_id)
    listed = await api.get("/v3/lock/list", pageNo=1, pageSize=100)
    assert lock.lock_id not in {item["lockId"] for item in listed["list"]}
    assert (await api.get("/v3/lock/detail", lockId=lock.lock_id))["errcode"] == -1003


async def test_detail_and_gateway_views(api: Api) -> None:
    lock_id = bt_lock(api.server)
    lock = api.server.world.locks[lock_id]
    detail = await api.get("/v3/lock/detail", lockId=lock_id)
    assert detail["lockId"] == lock_id and detail["hasGateway"] == 1
    assert detail["autoLockTime"] == -1 and detail["passageMode"] == 2
    assert set(detail) >= {"modelNum", "hardwareRevision", "firmwareRevision", "lockSound",
                           "timezoneRawOffset", "adminPwd", "lockKey", "aesKeyStr", "lockData"}
    by_lock = await api.get("/v3/gateway/listByLock", lockId=lock_id)
    assert [g["gatewayId"] for g in by_lock["list"]] == [lock.gateway_id]
    assert "isOnline" not in by_lock["list"][0]  # documented: online only in gateway/list
    assert by_lock["list"][0]["rssiUpdateDate"] > 0
    on_gateway = await api.get("/v3/gateway/listLock", gatewayId=lock.gateway_id)
    assert lock_id in {item["lockId"] for item in on_gateway["list"]}
    assert all(item["rssi"] < 0 for item in on_gateway["list"])
    assert (await api.get("/v3/gateway/listLock", gatewayId=1))["errcode"] == -4037
    wifi = await api.get("/v3/lock/detail", lockId=wifi_lock(api.server))
    assert int(wifi["featureValue"], 16) >> 56 & 1
    assert (await api.get("/v3/lock/detail", lockId=orphan_lock(api.server)))["hasGateway"] == 0


# -- remote commands ---------------------------------------------------------------------


async def test_unlock_through_the_gateway_changes_state_and_writes_a_record(api: Api) -> None:
    lock_id = bt_lock(api.server)
    lock = api.server.world.locks[lock_id]
    assert (await api.get("/v3/lock/queryOpenState", lockId=lock_id))["state"] == 0
    started = time.perf_counter()
    answer = await api.post("/v3/lock/unlock", lockId=lock_id)
    assert answer["errcode"] == 0
    assert time.perf_counter() - started >= FAST * 0.9
    assert lock.state == 1
    assert (await api.get("/v3/lock/queryOpenState", lockId=lock_id))["state"] == 1
    records = await api.get("/v3/lockRecord/list", lockId=lock_id, pageNo=1, pageSize=1)
    newest = records["list"][0]
    assert newest["recordType"] == 12 and newest["username"] == api.config.username
    assert (await api.get("/v3/lock/lock", lockId=lock_id))["errcode"] == 0  # GET works
    assert lock.state == 0
    lock.battery = 15
    answer = await api.get("/v3/lock/queryElectricQuantity", lockId=lock_id)
    assert answer == {"electricQuantity": 15}
    assert api.server.world.calls["/v3/lock/unlock"] == 1


async def test_a_wifi_lock_records_its_remote_unlock_as_by_app(api: Api) -> None:
    """A Wi-Fi lock has no gateway: its remote unlock is an app unlock (type 1)."""
    lock_id = wifi_lock(api.server)
    assert (await api.post("/v3/lock/unlock", lockId=lock_id))["errcode"] == 0
    records = await api.get("/v3/lockRecord/list", lockId=lock_id, pageNo=1, pageSize=1)
    assert records["list"][0]["recordType"] == 1


async def test_one_command_at_a_time_per_gateway(api: Api) -> None:
    api.config.command_seconds = 0.3
    first, same, other = bt_lock(api.server, 0), bt_lock(api.server, 0), bt_lock(api.server, 1)
    answers = await asyncio.gather(
        api.post("/v3/lock/unlock", lockId=first),
        _after(0.05, api.post("/v3/lock/unlock", lockId=same)),
        _after(0.05, api.post("/v3/lock/unlock", lockId=other)),
    )
    assert [a["errcode"] for a in answers] == [0, -3003, 0]
    assert api.server.world.errcodes[-3003] == 1
    assert (await api.post("/v3/lock/unlock", lockId=same))["errcode"] == 0


async def _after(delay: float, call: Any) -> Any:
    await asyncio.sleep(delay)
    return await call


async def test_unreachable_locks(api: Api) -> None:
    world = api.server.world
    lock_id = bt_lock(api.server)
    world.gateways_of(lock_id)[0].online = False
    assert (await api.post("/v3/lock/unlock", lockId=lock_id))["errcode"] == -3002
    assert (await api.post("/v3/lock/unlock", lockId=orphan_lock(api.server)))["errcode"] == -2012
    other = bt_lock(api.server, 1)
    world.locks[other].remote_unlock = False
    assert (await api.post("/v3/lock/unlock", lockId=other))["errcode"] == -4043
    assert (await api.post("/v3/lock/lock", lockId=other))["errcode"] == 0
    assert (await api.post("/v3/lock/unlock", lockId=1))["errcode"] == -1003


async def test_wifi_lock_carries_its_own_commands(api: Api) -> None:
    api.config.command_seconds = 0.3
    lock_id = wifi_lock(api.server)
    answers = await asyncio.gather(
        api.post("/v3/lock/unlock", lockId=lock_id),
        _after(0.05, api.get("/v3/lock/queryOpenState", lockId=lock_id)),
        _after(0.05, api.post("/v3/lock/unlock", lockId=bt_lock(api.server))),
    )
    assert [a.get("errcode", 0) for a in answers] == [0, -3037, 0]
    api.server.world.locks[lock_id].online = False
    api.config.command_seconds = FAST
    assert (await api.post("/v3/lock/unlock", lockId=lock_id))["errcode"] == -3036


async def test_auto_lock_after_auto_lock_time(api: Api) -> None:
    lock_id = bt_lock(api.server)
    lock = api.server.world.locks[lock_id]
    answer = await api.post("/v3/lock/setAutoLockTime", lockId=lock_id, seconds=1, type=2)
    assert answer["errcode"] == 0 and lock.auto_lock_time == 1
    assert (await api.get("/v3/lock/detail", lockId=lock_id))["autoLockTime"] == 1
    await api.post("/v3/lock/unlock", lockId=lock_id)
    assert lock.state == 1
    for _ in range(40):
        if lock.state == 0:
            break
        await asyncio.sleep(0.05)
    assert lock.state == 0
    records = await api.get("/v3/lockRecord/list", lockId=lock_id, pageNo=1, pageSize=1)
    assert records["list"][0]["recordType"] == 45
    assert (await api.post("/v3/lock/setAutoLockTime", lockId=lock_id,
                           seconds=5000, type=2))["errcode"] == -4082


async def test_passage_mode_holds_the_lock_open(api: Api) -> None:
    lock_id = bt_lock(api.server)
    lock = api.server.world.locks[lock_id]
    lock.auto_lock_time = 1
    answer = await api.post("/v3/lock/configPassageMode", lockId=lock_id, passageMode=1,
                            isAllDay=1, weekDays="[1,2,3,4,5,6,7]", autoUnlock=2, type=2)
    assert answer["errcode"] == 0
    config = await api.get("/v3/lock/getPassageModeConfig", lockId=lock_id)
    assert config["passageMode"] == 1 and config["weekDays"] == [1, 2, 3, 4, 5, 6, 7]
    assert (await api.get("/v3/lock/detail", lockId=lock_id))["passageMode"] == 1
    await api.post("/v3/lock/unlock", lockId=lock_id)
    assert not api.server.physics.auto_lock_pending(lock_id)  # all day, every day: open
    bad = await api.post("/v3/lock/configPassageMode", lockId=lock_id, passageMode=1,
                         isAllDay=1, weekDays="monday", type=2)
    assert bad["errcode"] == -3


# -- faults -------------------------------------------------------------------------------


async def test_fault_injection(api: Api) -> None:
    lock_id = bt_lock(api.server)
    api.config.busy_rate = 1.0
    assert (await api.post("/v3/lock/unlock", lockId=lock_id))["errcode"] == -3003
    api.config.busy_rate = 0.0
    api.config.error_5xx_rate = 1.0
    response = await api.raw("GET", "/v3/lock/list", pageNo=1, pageSize=10)
    assert response.status_code == 500
    with pytest.raises(ValueError):
        response.json()
    api.config.error_5xx_rate = 0.0
    api.config.latency = 0.1
    started = time.perf_counter()
    await api.get("/v3/lock/list", pageNo=1, pageSize=10)
    assert time.perf_counter() - started >= 0.09


# -- passcodes ----------------------------------------------------------------------------


async def test_passcode_add_change_delete(api: Api) -> None:
    lock_id = bt_lock(api.server)
    add = await api.post("/v3/keyboardPwd/add", lockId=lock_id, keyboardPwd="4321",
                         keyboardPwdName="Nanny", keyboardPwdType=2, addType=2)
    passcode_id = add["keyboardPwdId"]
    again = await api.post("/v3/keyboardPwd/add", lockId=lock_id, keyboardPwd="4321",
                           keyboardPwdType=2, addType=2)
    assert again["errcode"] == -3007
    for bad in ("123", "1234567890", "12a4"):
        answer = await api.post("/v3/keyboardPwd/add", lockId=lock_id, keyboardPwd=bad,
                                addType=2)
        assert answer["errcode"] == -3006, bad
    now = int(time.time() * 1000)
    period = await api.post("/v3/keyboardPwd/add", lockId=lock_id, keyboardPwd="55667",
                            keyboardPwdType=3, startDate=now + 10_000, endDate=now, addType=2)
    assert period["errcode"] == -3
    other = (await api.post("/v3/keyboardPwd/add", lockId=lock_id, keyboardPwd="55667",
                            keyboardPwdType=3, startDate=now, endDate=now + 3_600_000,
                            addType=2))["keyboardPwdId"]
    changed = await api.post("/v3/keyboardPwd/change", lockId=lock_id,
                             keyboardPwdId=passcode_id, keyboardPwdName="Nanny (weekdays)",
                             newKeyboardPwd="9876", changeType=2)
    assert changed["errcode"] == 0
    clash = await api.post("/v3/keyboardPwd/change", lockId=lock_id, keyboardPwdId=other,
                           newKeyboardPwd="9876", changeType=2)
    assert clash["errcode"] == -3007
    missing = await api.post("/v3/keyboardPwd/change", lockId=lock_id, keyboardPwdId=1,
                             keyboardPwdName="x", changeType=2)
    assert missing["errcode"] == -2009
    found = await api.get("/v3/lock/listKeyboardPwd", lockId=lock_id, pageNo=1, pageSize=100,
                          searchStr="9876", orderBy=1)
    assert [(p["keyboardPwdId"], p["keyboardPwdName"]) for p in found["list"]] == [
        (passcode_id, "Nanny (weekdays)")
    ]
    deleted = await api.post("/v3/keyboardPwd/delete", lockId=lock_id,
                             keyboardPwdId=passcode_id, deleteType=2)
    assert deleted["errcode"] == 0
    gone = await api.post("/v3/keyboardPwd/delete", lockId=lock_id, keyboardPwdId=passcode_id,
                          deleteType=2)
    assert gone["errcode"] == -2009
    orphan = await api.post("/v3/keyboardPwd/add", lockId=orphan_lock(api.server),
                            keyboardPwd="2468", keyboardPwdType=2, addType=2)
    assert orphan["errcode"] == -2012


async def test_passcode_search_across_pages(api: Api) -> None:
    lock_id = bt_lock(api.server)
    for n in range(150):
        answer = await api.post("/v3/keyboardPwd/add", lockId=lock_id, keyboardPwd=f"{n:04d}",
                                keyboardPwdName=f"Guest {n}", keyboardPwdType=2, addType=1)
        assert "keyboardPwdId" in answer
    pages = [await api.get("/v3/lock/listKeyboardPwd", lockId=lock_id, pageNo=n, pageSize=100,
                           searchStr="GUEST", orderBy=1) for n in (1, 2)]
    assert [len(p["list"]) for p in pages] == [100, 50]
    assert pages[0]["total"] == 150 and pages[0]["pages"] == 2
    assert pages[0]["list"][0]["keyboardPwdName"] == "Guest 149"  # newest first
    item = pages[0]["list"][0]
    assert set(item) >= {"keyboardPwdId", "lockId", "keyboardPwd", "keyboardPwdName",
                         "keyboardPwdType", "startDate", "endDate", "sendDate", "isCustom",
                         "status"}
    exact = await api.get("/v3/lock/listKeyboardPwd", lockId=lock_id, pageNo=1, pageSize=100,
                          searchStr="0042", orderBy=0)
    assert [p["keyboardPwdName"] for p in exact["list"]] == ["Guest 42"]


async def test_generated_passcodes(api: Api) -> None:
    lock_id = orphan_lock(api.server)  # no gateway needed
    hour = 3_600_000
    start = int(time.time() * 1000)
    one_time = await api.post("/v3/keyboardPwd/get", lockId=lock_id, keyboardPwdType=1,
                              keyboardPwdName="Plumber", startDate=start)
    assert one_time["keyboardPwd"].isdigit() and "keyboardPwdId" in one_time
    listed = await api.get("/v3/lock/listKeyboardPwd", lockId=lock_id, pageNo=1, pageSize=100,
                           searchStr="plumber", orderBy=1)
    item = listed["list"][0]
    assert item["isCustom"] == 0 and item["startDate"] % hour == 0
    assert item["endDate"] - item["startDate"] == 6 * hour
    period = await api.post("/v3/keyboardPwd/get", lockId=lock_id, keyboardPwdType=3,
                            startDate=start)
    assert period["errcode"] == -3
    period = await api.post("/v3/keyboardPwd/get", lockId=lock_id, keyboardPwdType=3,
                            startDate=start, endDate=start + 48 * hour)
    assert period["keyboardPwd"] != one_time["keyboardPwd"]


# -- records ------------------------------------------------------------------------------


async def test_records_page_newest_first(api: Api) -> None:
    lock_id = bt_lock(api.server)
    for _ in range(3):
        await api.post("/v3/lock/unlock", lockId=lock_id)
    total = len(api.server.world.records[lock_id])
    seen: list[dict[str, Any]] = []
    for page_no in range(1, 20):
        page = await api.get("/v3/lockRecord/list", lockId=lock_id, pageNo=page_no, pageSize=4)
        assert page["total"] == total
        seen.extend(page["list"])
        if page_no >= page["pages"]:
            break
    assert len(seen) == total
    dates = [r["lockDate"] for r in seen]
    assert dates == sorted(dates, reverse=True)
    assert set(seen[0]) >= {"recordId", "lockId", "recordType", "success", "username",
                            "keyboardPwd", "lockDate", "serverDate"}
    since = await api.get("/v3/lockRecord/list", lockId=lock_id, pageNo=1, pageSize=200,
                          startDate=seen[2]["lockDate"])
    assert [r["recordId"] for r in since["list"]] == [r["recordId"] for r in seen[:3]]


# -- lifecycle ----------------------------------------------------------------------------


async def test_stop_is_quick_with_a_command_in_flight(config: SimConfig) -> None:
    config.command_seconds = 5.0
    server = SimulatorServer(config)
    await server.start()
    async with httpx.AsyncClient(base_url=server.url, timeout=5.0) as http:
        api = Api(server, http)
        await api.login()
        server.world.locks[bt_lock(server)].auto_lock_time = 60
        in_flight = asyncio.create_task(api.raw("POST", "/v3/lock/unlock",
                                                lockId=bt_lock(server)))
        await asyncio.sleep(0.1)
        started = time.perf_counter()
        await server.stop()
        assert time.perf_counter() - started < 2.0
        with pytest.raises(httpx.HTTPError):
            await in_flight
    await server.stop()  # stopping twice is harmless


def test_simulator_command_stops_on_sigint_even_when_started_with_it_ignored() -> None:
    """A shell's background job inherits SIGINT ignored; the simulator must still stop."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    from pathlib import Path

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "hapbridge", "simulator", "--port", str(port), "--locks", "2"],
        cwd=Path(__file__).resolve().parent.parent, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        deadline = time.monotonic() + 20
        # until it listens (its signal handlers are in place before that)
        while proc.poll() is None and time.monotonic() < deadline:
            with socket.socket() as client:
                if client.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, output
    assert "Stopping the simulated cloud" in output and "Traceback" not in output, output


@pytest.mark.parametrize(("argv", "message"), [
    (["--port", "99999"], "--port: 99999 is out of range: 0 to 65535"),
    (["--locks", "-1"], "--locks: -1 is out of range"),
    (["--busy-rate", "2"], "--busy-rate: 2 is out of range: 0 to 1"),
    (["--latency", "x"], "--latency: 'x' is not a number"),
])
def test_simulator_command_refuses_numbers_out_of_range(argv: list[str], message: str) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "hapbridge", "simulator", *argv],
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.splitlines()
    assert message in line and "Traceback" not in done.stderr
    shown = subprocess.run([sys.executable, "-m", "hapbridge", "simulator", "--help"],
                           capture_output=True, text=True, timeout=30, check=False)
    assert "(default: 8080)" in shown.stdout
