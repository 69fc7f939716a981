"""/v3/qrCode/add, list, getData, delete (docs: qrCode/*.md): QR-code access for locks
with featureValue bit 44 (others answer -4043).

A random QR code is the cloud's (``addType`` 0, the default): no gateway, so adding and
deleting (``deleteType`` 0) never wait for one. ``qrCodeContent`` is what the lock's
camera reads; getData leaves it out outside the code's validity, as the docs say.
"""

from __future__ import annotations

import json
from typing import Any

from hapbridge.simulator.api import OK, READ, WRITE, Call, Route
from hapbridge.simulator.errors import ApiError
from hapbridge.simulator.params import paginate
from hapbridge.simulator.world import SimLock, SimQrCode, now_ms
from hapbridge.ttlock.models import Feature, has_feature

QR_PAGE_MAX = 200
PERIOD, PERMANENT, CYCLIC = 1, 2, 4
NORMAL, EXPIRED, PENDING = 1, 2, 3
CLOUD = 0


def _supports_qr(lock: SimLock) -> None:
    if not has_feature(lock.feature_value, Feature.QR_CODE):
        raise ApiError(-4043, "the lock does not support QR codes")


def _status(code: SimQrCode, now: int) -> int:
    if code.end_date and code.end_date <= now:
        return EXPIRED
    if code.start_date and code.start_date > now:
        return PENDING
    return NORMAL


def qr_item(code: SimQrCode) -> dict[str, Any]:
    return {
        "qrCodeId": code.qr_code_id,
        "lockId": code.lock_id,
        "type": code.type,
        "qrCodeNumber": str(code.number),
        "name": code.name,
        "startDate": code.start_date,
        "endDate": code.end_date,
        "createDate": code.create_date,
        "status": _status(code, now_ms()),
        "creator": code.creator,
        "link": code.link,
        "qrCodeVersion": 1,
    }


def _code(call: Call, lock: SimLock | None = None) -> SimQrCode:
    wanted = call.params.int("qrCodeId")
    locks = [lock.lock_id] if lock else list(call.world.qr_codes)
    for lock_id in locks:
        if (code := call.world.qr_codes[lock_id].get(wanted)) is not None:
            return code
    raise ApiError(-3, "qrCodeId: no such QR code")


async def add(call: Call) -> dict[str, Any]:
    lock = call.lock()
    _supports_qr(lock)
    params = call.params
    kind = params.choice("type", (PERIOD, PERMANENT, CYCLIC))
    start, end = params.int("startDate", 0), params.int("endDate", 0)
    if kind in (PERIOD, CYCLIC) and not (start and end and start < end):
        raise ApiError(-3, "a period QR code needs startDate before endDate")
    if kind == CYCLIC:
        try:
            cyclic = json.loads(params.str("cyclicConfig"))
        except ValueError:
            raise ApiError(-3, "cyclicConfig must be JSON") from None
        if not isinstance(cyclic, list) or not cyclic:
            raise ApiError(-3, "cyclicConfig must list the week days")
    if params.choice("addType", (CLOUD, 1, 2), CLOUD) == 2:
        await call.physics.remote(lock)
    code = call.world.add_qr_code(
        lock.lock_id, name=params.str("name", ""), type=kind,
        start_date=start if kind != PERMANENT else 0, end_date=end if kind != PERMANENT else 0,
        creator=call.config.username,
    )
    return {"qrCodeId": code.qr_code_id, "qrCodeNumber": code.number, "link": code.link}


async def list_codes(call: Call) -> dict[str, Any]:
    lock = call.lock()
    name = call.params.str("name", "").casefold()
    codes = sorted((code for code in call.world.qr_codes[lock.lock_id].values()
                    if name in code.name.casefold()),
                   key=lambda code: code.qr_code_id, reverse=True)
    return paginate(codes, call.params, QR_PAGE_MAX, qr_item)


async def get_data(call: Call) -> dict[str, Any]:
    code = _code(call)
    lock = call.world.locks[code.lock_id]
    status = _status(code, now_ms())
    answer = {
        "lockAlias": lock.alias, "type": code.type, "qrCodeNumber": code.number,
        "name": code.name, "startDate": code.start_date, "endDate": code.end_date,
        "status": status,
    }
    if status == NORMAL:
        answer["qrCodeContent"] = code.content
    return answer


async def delete(call: Call) -> dict[str, Any]:
    lock = call.lock()
    code = _code(call, lock)
    if call.params.choice("deleteType", (CLOUD, 1, 2), CLOUD) == 2:
        await call.physics.remote(lock)
    call.world.qr_codes[lock.lock_id].pop(code.qr_code_id, None)
    return OK


ROUTES = (
    Route("/v3/qrCode/add", add, WRITE),
    Route("/v3/qrCode/list", list_codes, READ),
    Route("/v3/qrCode/getData", get_data, READ),
    Route("/v3/qrCode/delete", delete, WRITE),
)
