"""/v3/fingerprint/* and /v3/identityCard/* list, rename, delete (docs: fingerprint/*.md,
card/*.md).

Enrolment happens at the lock (the app's job); tests seed them with
``world.add_credential``. Renaming is the cloud's alone; deleting with ``deleteType=2``
goes through the gateway, with 1 (the default) the app already removed it over Bluetooth.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hapbridge.simulator.api import OK, READ, WRITE, Call, Handler, Route
from hapbridge.simulator.errors import ApiError
from hapbridge.simulator.params import paginate
from hapbridge.simulator.routes_passcodes import ORDER_BY, ordered
from hapbridge.simulator.world import SimCredential

PAGE_MAX = 200


def fingerprint_item(item: SimCredential) -> dict[str, Any]:
    return {
        "fingerprintId": item.credential_id, "lockId": item.lock_id,
        "fingerprintNumber": item.number, "fingerprintType": item.type,
        "fingerprintName": item.name, "startDate": item.start_date, "endDate": item.end_date,
        "createDate": item.create_date, "senderUsername": item.sender,
    }


def card_item(item: SimCredential) -> dict[str, Any]:
    return {
        "cardId": item.credential_id, "lockId": item.lock_id, "cardNumber": item.number,
        "cardName": item.name, "cardType": item.type, "startDate": item.start_date,
        "endDate": item.end_date, "createDate": item.create_date,
        "senderUsername": item.sender,
    }


class Kind:
    """What differs between fingerprints and cards: names of things, store, errcode."""

    def __init__(self, store: str, prefix: str, missing: int) -> None:
        self.store, self.prefix, self.missing = store, prefix, missing

    def items(self, call: Call, lock_id: int) -> dict[int, SimCredential]:
        store: dict[int, dict[int, SimCredential]] = getattr(call.world, self.store)
        return store[lock_id]

    def one(self, call: Call) -> tuple[int, SimCredential]:
        lock = call.lock()
        item = self.items(call, lock.lock_id).get(call.params.int(f"{self.prefix}Id"))
        if item is None:
            raise ApiError(self.missing)
        return lock.lock_id, item


FINGERPRINT = Kind("fingerprints", "fingerprint", -1023)
CARD = Kind("cards", "card", -1021)


def _list(kind: Kind, render: Callable[[SimCredential], dict[str, Any]]) -> Handler:
    async def handler(call: Call) -> dict[str, Any]:
        lock = call.lock()
        needle = call.params.str("searchStr", "").casefold()
        order = call.params.choice("orderBy", ORDER_BY)
        found = ordered(
            (item for item in kind.items(call, lock.lock_id).values()
             if needle in item.name.casefold()),
            order, newest=lambda i: (i.create_date, i.credential_id),
            name=lambda i: (i.name.casefold(), i.credential_id))
        return paginate(found, call.params, PAGE_MAX, render)
    return handler


def _rename(kind: Kind) -> Handler:
    async def handler(call: Call) -> dict[str, Any]:
        _, item = kind.one(call)
        item.name = call.params.str(f"{kind.prefix}Name")
        return OK
    return handler


def _delete(kind: Kind) -> Handler:
    async def handler(call: Call) -> dict[str, Any]:
        lock_id, _ = kind.one(call)
        await call.carry_if_remote(call.world.locks[lock_id], "deleteType", default=1)
        _, item = kind.one(call)  # it may have gone while the gateway worked
        del kind.items(call, lock_id)[item.credential_id]
        return OK
    return handler


ROUTES = (
    Route("/v3/fingerprint/list", _list(FINGERPRINT, fingerprint_item), READ),
    Route("/v3/fingerprint/rename", _rename(FINGERPRINT), WRITE),
    Route("/v3/fingerprint/delete", _delete(FINGERPRINT), WRITE),
    Route("/v3/identityCard/list", _list(CARD, card_item), READ),
    Route("/v3/identityCard/rename", _rename(CARD), WRITE),
    Route("/v3/identityCard/delete", _delete(CARD), WRITE),
)
