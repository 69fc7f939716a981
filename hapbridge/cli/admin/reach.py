"""The account's reach for the admin commands: the bridge's model, read all or nothing.

``gateway/list`` plus one ``gateway/listLock`` per gateway (1 + G calls); a gateway whose
lock list fails fails the command, where the bridge would keep its locks' last routes.
"""

from __future__ import annotations

from hapbridge.cli.admin.common import together
from hapbridge.ttlock import TTLockClient
from hapbridge.ttlock.reach import Reach


async def gateway_reach(client: TTLockClient) -> Reach:
    gateways = await client.list_gateways()
    lists = await together(*(client.gateway_locks(gw.gateway_id) for gw in gateways))
    return Reach.from_answers(gateways, list(lists))
