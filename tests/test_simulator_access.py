"""The simulated cloud's newer endpoints, over raw HTTP, against the docs mirror's shapes:
eKeys, QR codes, fingerprints and cards, passage mode (both generations), the month's
count, and the corrections (-1003, required orderBy, period by default, 0 = no bound)."""

from __future__ import annotations

import json
import time

from hapbridge.simulator.world import BIT_QR_CODE

from . import test_simulator as base
from .test_simulator import Api, bt_lock, orphan_lock

# the raw-HTTP fixtures of test_simulator
config = base.config
server = base.server
api = base.api

HOUR_MS = 3_600_000


def now_ms() -> int:
    return int(time.time() * 1000)


def qr_lock(api: Api) -> int:
    return next(lid for lid, lock in api.server.world.locks.items()
                if int(lock.feature_value, 16) >> BIT_QR_CODE & 1)


async def test_ekeys_follow_the_documented_rules(api: Api) -> None:
    lock_id = bt_lock(api.server)
    start = now_ms()
    sent = await api.post("/v3/key/send", lockId=lock_id, receiverUsername="guest@example.com",
                          keyName="Guest", startDate=start, endDate=start + HOUR_MS)
    assert set(sent) == {"keyId"}
    page = await api.get("/v3/lock/listKey", lockId=lock_id, pageNo=1, pageSize=20, orderBy=1)
    (item,) = page["list"]
    assert set(item) >= {"keyId", "lockId", "username", "uid", "keyName", "keyStatus",
                         "startDate", "endDate", "keyRight", "senderUsername", "date"}
    assert item["keyStatus"] == "110401" and item["senderUsername"] == api.config.username
    # one eKey per account and lock: the second replaces the first
    again = await api.post("/v3/key/send", lockId=lock_id, receiverUsername="guest@example.com",
                           keyName="Guest 2", startDate=0, endDate=0)
    page = await api.get("/v3/lock/listKey", lockId=lock_id, pageNo=1, pageSize=20, orderBy=1)
    assert [k["keyId"] for k in page["list"]] == [again["keyId"]]
    for receiver, extra, errcode in [
        ("nobody@example.com", {}, -4064),
        (api.config.username, {}, -2019),
        ("not an address", {"createUser": 1}, -4064),
    ]:
        answer = await api.post("/v3/key/send", lockId=lock_id, receiverUsername=receiver,
                                keyName="x", startDate=0, endDate=0, **extra)
        assert answer["errcode"] == errcode, receiver
    created = await api.post("/v3/key/send", lockId=lock_id, receiverUsername="+441234567890",
                             keyName="x", startDate=0, endDate=0, createUser=1)
    assert "keyId" in created and "+441234567890" in api.server.world.accounts
    assert (await api.post("/v3/key/delete", keyId=again["keyId"]))["errcode"] == 0
    assert (await api.post("/v3/key/delete", keyId=again["keyId"]))["errcode"] == -1008
    assert (await api.get("/v3/lock/listKey", lockId=lock_id, pageNo=1,
                          pageSize=20))["errcode"] == -3  # orderBy is required


async def test_qr_codes_for_locks_with_bit_44(api: Api) -> None:
    lock_id = qr_lock(api)
    start = now_ms()
    added = await api.post("/v3/qrCode/add", lockId=lock_id, name="Smith", type=1,
                           startDate=start, endDate=start + HOUR_MS)
    assert set(added) == {"qrCodeId", "qrCodeNumber", "link"}
    listed = await api.get("/v3/qrCode/list", lockId=lock_id, pageNo=1, pageSize=20)
    (item,) = listed["list"]
    assert set(item) >= {"qrCodeId", "lockId", "type", "qrCodeNumber", "name", "startDate",
                         "endDate", "createDate", "status", "creator", "link"}
    data = await api.get("/v3/qrCode/getData", qrCodeId=added["qrCodeId"])
    assert data["status"] == 1 and data["qrCodeContent"]
    later = await api.post("/v3/qrCode/add", lockId=lock_id, type=1,
                           startDate=start + HOUR_MS, endDate=start + 2 * HOUR_MS)
    pending = await api.get("/v3/qrCode/getData", qrCodeId=later["qrCodeId"])
    assert pending["status"] == 3 and "qrCodeContent" not in pending  # outside its validity
    api.server.world.gateways_of(lock_id)[0].online = False  # the cloud's code: no gateway
    permanent = await api.post("/v3/qrCode/add", lockId=lock_id, type=2)
    assert "qrCodeId" in permanent
    assert (await api.post("/v3/qrCode/delete", lockId=lock_id,
                           qrCodeId=permanent["qrCodeId"]))["errcode"] == 0
    other = bt_lock(api.server, 1)
    assert (await api.post("/v3/qrCode/add", lockId=other, type=2))["errcode"] == -4043
    assert (await api.post("/v3/qrCode/add", lockId=lock_id, type=1))["errcode"] == -3


async def test_fingerprints_and_cards(api: Api) -> None:
    world = api.server.world
    lock_id = bt_lock(api.server)
    finger = world.add_credential("fingerprint", lock_id, "Mum")
    card = world.add_credential("card", lock_id, "Cleaner")
    fingers = await api.get("/v3/fingerprint/list", lockId=lock_id, pageNo=1, pageSize=20,
                            orderBy=0)
    assert {"fingerprintId", "lockId", "fingerprintNumber", "fingerprintType",
            "fingerprintName", "startDate", "endDate", "createDate"} <= set(fingers["list"][0])
    cards = await api.get("/v3/identityCard/list", lockId=lock_id, pageNo=1, pageSize=20,
                          orderBy=1, searchStr="clean")
    assert [c["cardId"] for c in cards["list"]] == [card.credential_id]
    world.gateways_of(lock_id)[0].online = False
    renamed = await api.post("/v3/fingerprint/rename", lockId=lock_id,
                             fingerprintId=finger.credential_id, fingerprintName="Mother")
    assert renamed["errcode"] == 0 and finger.name == "Mother"  # the cloud's name: no gateway
    offline = await api.post("/v3/identityCard/delete", lockId=lock_id,
                             cardId=card.credential_id, deleteType=2)
    assert offline["errcode"] == -3002 and card.credential_id in world.cards[lock_id]
    by_app = await api.post("/v3/identityCard/delete", lockId=lock_id,
                            cardId=card.credential_id, deleteType=1)
    assert by_app["errcode"] == 0 and not world.cards[lock_id]
    assert (await api.post("/v3/identityCard/rename", lockId=lock_id, cardId=card.credential_id,
                           cardName="x"))["errcode"] == -1021
    assert (await api.post("/v3/fingerprint/delete", lockId=lock_id, fingerprintId=1,
                           deleteType=1))["errcode"] == -1023


async def test_passage_mode_current_and_older_endpoints(api: Api) -> None:
    lock_id = bt_lock(api.server)
    periods = [{"isAllDay": 2, "startTime": 480, "endTime": 1080, "weekDays": [1, 2]},
               {"isAllDay": 1, "startTime": 0, "endTime": 0, "weekDays": [6, 7]}]
    answer = await api.post("/v3/lock/configurePassageMode", lockId=lock_id, passageMode=1,
                            cyclicConfig=json.dumps(periods), autoUnlock=1, type=2)
    assert answer["errcode"] == 0
    config = await api.get("/v3/lock/getPassageModeConfiguration", lockId=lock_id)
    assert config == {"passageMode": 1, "autoUnlock": 1,
                      "cyclicConfig": [periods[1], periods[0]]}  # all-day first
    old = await api.get("/v3/lock/getPassageModeConfig", lockId=lock_id)
    assert old["isAllDay"] == 1 and old["weekDays"] == [6, 7]
    six = json.dumps(periods * 3)
    assert (await api.post("/v3/lock/configurePassageMode", lockId=lock_id, passageMode=1,
                           cyclicConfig=six, type=2))["errcode"] == -3
    backwards = json.dumps([{"isAllDay": 2, "startTime": 1080, "endTime": 480,
                             "weekDays": [1]}])
    assert (await api.post("/v3/lock/configurePassageMode", lockId=lock_id, passageMode=1,
                           cyclicConfig=backwards, type=2))["errcode"] == -3
    api.server.world.gateways_of(lock_id)[0].online = False
    assert (await api.post("/v3/lock/configurePassageMode", lockId=lock_id, passageMode=2,
                           type=2))["errcode"] == -3002
    by_app = await api.post("/v3/lock/configurePassageMode", lockId=lock_id, passageMode=2)
    assert by_app["errcode"] == 0  # type defaults to 1: the app did it over Bluetooth


async def test_the_month_count_and_the_corrections(api: Api) -> None:
    world = api.server.world
    count = (await api.get("/v3/app/getMonthRequestCount"))["count"]
    assert count == sum(world.calls.values())
    lock_id = bt_lock(api.server)
    removed = orphan_lock(api.server)
    world.remove_lock(removed)
    assert (await api.get("/v3/lock/detail", lockId=removed))["errcode"] == -1003
    assert (await api.get("/v3/gateway/list", pageNo=1, pageSize=20))["errcode"] == -3
    assert (await api.get("/v3/lock/listKeyboardPwd", lockId=lock_id, pageNo=1,
                          pageSize=20))["errcode"] == -3
    # keyboardPwd/add without a type is a period code, which needs its dates
    untyped = await api.post("/v3/keyboardPwd/add", lockId=lock_id, keyboardPwd="48213",
                             addType=2)
    assert untyped["errcode"] == -3
    start = now_ms()
    period = await api.post("/v3/keyboardPwd/add", lockId=lock_id, keyboardPwd="48213",
                            startDate=start, endDate=start + HOUR_MS, addType=2)
    assert world.passcodes[lock_id][period["keyboardPwdId"]].type == 3
    # a new name alone does not go through the gateway
    world.gateways_of(lock_id)[0].online = False
    renamed = await api.post("/v3/keyboardPwd/change", lockId=lock_id,
                             keyboardPwdId=period["keyboardPwdId"], keyboardPwdName="Smith",
                             changeType=2)
    assert renamed["errcode"] == 0
    moved = await api.post("/v3/keyboardPwd/change", lockId=lock_id,
                           keyboardPwdId=period["keyboardPwdId"], startDate=start,
                           endDate=start + 2 * HOUR_MS, changeType=2)
    assert moved["errcode"] == -3002
    # lockRecord/list: startDate=0 and endDate=0 mean no bound
    world.add_record(lock_id, 4, lock_date=start - 10 * HOUR_MS)
    unbounded = await api.get("/v3/lockRecord/list", lockId=lock_id, pageNo=1, pageSize=200,
                              startDate=0, endDate=0)
    assert unbounded["total"] == len(world.records[lock_id]) > 0


async def test_a_registered_account_can_receive_an_ekey(api: Api) -> None:
    registered = await api.http.post("/v3/user/register", data={
        "clientId": api.config.client_id, "clientSecret": api.config.client_secret,
        "username": "cleaner7", "password": "0" * 32, "date": now_ms()})
    name = registered.json()["username"]
    sent = await api.post("/v3/key/send", lockId=bt_lock(api.server), receiverUsername=name,
                          keyName="Cleaner", startDate=0, endDate=0)
    assert "keyId" in sent, sent
