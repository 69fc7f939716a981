"""The account's reach for the admin commands: the bridge's model.

``gateway/list`` plus one ``gateway/listLock`` per gateway (1 + G calls). For the listings
(``gateway_reach``) a gateway whose lock list fails fails the command, where the bridge
would keep its locks' last routes; work that only needs to order its commands
(``reach_so_far``) goes on with what answered.
"""

from __future__ import annotations

import asyncio

from hapbridge.cli.admin.common import together
from hapbridge.ttlock import TTLockClient
from hapbridge.ttlock.reach import Reach


async def gateway_reach(client: TTLockClient) -> Reach:
    gateways = await client.list_gateways()
    lists = await together(*(client.gateway_locks(gw.gateway_id) for gw in gateways))
    return Reach.from_answers(gateways, list(lists))


async def reach_so_far(client: TTLockClient) -> Reach:
    """The reach with the gateways that answered (``failed`` names the others)."""
    gateways = await client.list_gateways()
    answers = await asyncio.gather(*(client.gateway_locks(gw.gateway_id) for gw in gateways),
                                   return_exceptions=True)
    return Reach.from_answers(gateways, answers)
