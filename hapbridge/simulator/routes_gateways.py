"""/v3/gateway/*: the gateways of the account and which locks each one reaches."""

from __future__ import annotations

from typing import Any

from hapbridge.simulator.api import READ, Call, Route
from hapbridge.simulator.errors import ApiError
from hapbridge.simulator.params import paginate
from hapbridge.simulator.routes_passcodes import ORDER_BY, ordered
from hapbridge.simulator.world import SimGateway, World, now_ms

GATEWAY_PAGE_MAX = 200


def _gateway_item(world: World, gateway: SimGateway) -> dict[str, Any]:
    return {
        "gatewayId": gateway.gateway_id,
        "gatewayMac": gateway.mac,
        "gatewayName": gateway.name,
        "gatewayVersion": gateway.version,
        "lockNum": len(world.locks_of(gateway)),
        "isOnline": int(gateway.online),
        "networkName": gateway.network_name,
    }


async def list_gateways(call: Call) -> dict[str, Any]:
    """``orderBy`` is required (docs: gateway/list.md); newest first is by id here."""
    world = call.world
    order = call.params.choice("orderBy", ORDER_BY)
    return paginate(
        ordered(world.gateways.values(), order, newest=lambda g: g.gateway_id,
                name=lambda g: (g.name.casefold(), g.gateway_id)),
        call.params,
        GATEWAY_PAGE_MAX,
        lambda gateway: _gateway_item(world, gateway),
    )


async def gateway_locks(call: Call) -> dict[str, Any]:
    gateway = call.world.gateways.get(call.params.int("gatewayId"))
    if gateway is None:
        raise ApiError(-4037)
    updated = now_ms()
    return {
        "list": [
            {
                "lockId": lock.lock_id,
                "lockMac": lock.mac,
                "lockAlias": lock.alias,
                "lockName": lock.name,
                "rssi": gateway.rssi[lock.lock_id],
                "updateDate": updated,
            }
            for lock in call.world.locks_of(gateway)
        ]
    }


async def lock_gateways(call: Call) -> dict[str, Any]:
    """As documented: the signal and when it was measured, no online flag (that is only in
    ``gateway/list``)."""
    lock = call.lock()
    updated = now_ms()
    return {
        "list": [
            {
                "gatewayId": gateway.gateway_id,
                "gatewayMac": gateway.mac,
                "gatewayName": gateway.name,
                "rssi": gateway.rssi[lock.lock_id],
                "rssiUpdateDate": updated,
            }
            for gateway in call.world.gateways_of(lock.lock_id)
        ]
    }


ROUTES = (
    Route("/v3/gateway/list", list_gateways, READ),
    Route("/v3/gateway/listLock", gateway_locks, READ),
    Route("/v3/gateway/listByLock", lock_gateways, READ),
)
