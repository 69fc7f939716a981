"""/v3/key/send, /v3/lock/listKey, /v3/key/delete (docs: ekey/send.md, listByLock.md,
delete.md): app access for another TTLock account.

The receiver must be an existing account (-4064): an app account of the seeded world, or
one made by ``user/register`` (the prefixed name). With ``createUser=1`` a phone number or
an e-mail address without one gets one. Not to oneself (-2019) nor
to the administrator (-2020); one eKey per account and lock: a second replaces the first.
No gateway is involved: the receiver's app fetches the key from the cloud.
"""

from __future__ import annotations

import re
from typing import Any

from hapbridge.simulator.api import OK, READ, WRITE, Call, Route
from hapbridge.simulator.errors import ApiError
from hapbridge.simulator.params import paginate
from hapbridge.simulator.routes_passcodes import ORDER_BY, ordered
from hapbridge.simulator.world import SimEKey

KEY_PAGE_MAX = 200
CREATE_USER = 1
PHONE_OR_EMAIL = re.compile(r"\+?[0-9]{6,15}|[^@\s]+@[^@\s]+\.[^@\s]+")


def key_item(key: SimEKey) -> dict[str, Any]:
    return {
        "keyId": key.key_id,
        "lockId": key.lock_id,
        "username": key.username,
        "uid": key.uid,
        "keyName": key.name,
        "keyStatus": key.key_status,
        "startDate": key.start_date,
        "endDate": key.end_date,
        "keyRight": 0,
        "remoteEnable": 1 if key.remote_enable else 2,
        "senderUsername": key.sender,
        "remarks": key.remarks,
        "date": key.date,
    }


async def send(call: Call) -> dict[str, Any]:
    lock = call.lock()
    params = call.params
    receiver = params.str("receiverUsername").strip()
    name = params.str("keyName")
    start, end = params.int("startDate"), params.int("endDate")
    if (start or end) and not (start and end and start < end):
        raise ApiError(-3, "startDate must be before endDate (both 0 for a permanent eKey)")
    if receiver.casefold() == call.config.username.casefold():
        raise ApiError(-2019)
    root = call.physics.world  # the application's: seeded app accounts, registered users
    # account names match without regard to case, as e-mail addresses do: the key goes to
    # the account as it is spelt there
    folded = receiver.casefold()
    spelt = next((name for names in (call.world.accounts, root.accounts, root.users)
                  for name in names if name.casefold() == folded), None)
    known = spelt is not None
    receiver = spelt or receiver
    creatable = (params.int("createUser", 2) == CREATE_USER
                 and PHONE_OR_EMAIL.fullmatch(receiver) is not None)
    if not known and not creatable:
        raise ApiError(-4064)
    if not known:
        root.add_account(receiver)
    key = call.world.add_ekey(
        lock.lock_id, receiver, name=name, start_date=start, end_date=end,
        sender=call.config.username, remarks=params.str("remarks", ""),
        remote_enable=params.choice("remoteEnable", (1, 2), 2) == 1,
    )
    return {"keyId": key.key_id}


async def list_keys(call: Call) -> dict[str, Any]:
    """``searchStr`` matches key names fuzzily; the administrator's own key is not listed."""
    lock = call.lock()
    needle = call.params.str("searchStr", "").casefold()
    order = call.params.choice("orderBy", ORDER_BY)
    keys = [key for key in call.world.ekeys.values()
            if key.lock_id == lock.lock_id and needle in key.name.casefold()]
    found = ordered(keys, order, newest=lambda k: (k.date, k.key_id),
                    name=lambda k: (k.name.casefold(), k.key_id))
    return paginate(found, call.params, KEY_PAGE_MAX, key_item)


async def delete(call: Call) -> dict[str, Any]:
    key = call.world.ekeys.get(call.params.int("keyId"))
    if key is None:
        raise ApiError(-1008)
    del call.world.ekeys[key.key_id]
    return OK


ROUTES = (
    Route("/v3/key/send", send, WRITE),
    Route("/v3/lock/listKey", list_keys, READ),
    Route("/v3/key/delete", delete, WRITE),
)
