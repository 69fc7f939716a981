"""Which gateways reach which lock: the map behind 'gateway' and 'online' columns and check.

``gateway/list`` plus one ``gateway/listLock`` per gateway costs 1 + G calls, fewer than one
``listByLock`` per lock in any home or property with more locks than gateways.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hapbridge.cli.admin.common import together
from hapbridge.ttlock import TTLockClient
from hapbridge.ttlock.models import Gateway, Lock


@dataclass(frozen=True)
class Link:
    gateway: Gateway
    rssi: int | None


@dataclass
class Reach:
    gateways: list[Gateway]
    links: dict[int, list[Link]] = field(default_factory=dict)  # by lock id

    def of(self, lock_id: int) -> list[Link]:
        return self.links.get(lock_id, [])

    def online(self, lock: Lock) -> bool | None:
        """Whether remote commands can reach ``lock`` now; None when nobody can tell."""
        links = self.of(lock.lock_id)
        if links:
            return any(link.gateway.online for link in links)
        if lock.is_wifi:
            return None  # a Wi-Fi lock talks to the cloud itself; the list does not say
        return False if not lock.has_gateway else None

    def best(self, lock_id: int) -> Gateway | None:
        """The online gateway with the strongest signal (the one the cloud will likely use)."""
        online = [link for link in self.of(lock_id) if link.gateway.online]
        if not online:
            return None
        return max(online, key=lambda link: link.rssi if link.rssi is not None else -999).gateway

    def names(self, lock_id: int) -> str:
        return ", ".join(link.gateway.name or str(link.gateway.gateway_id)
                         for link in self.of(lock_id))


async def gateway_reach(client: TTLockClient) -> Reach:
    gateways = await client.list_gateways()
    lists = await together(*(client.gateway_locks(gw.gateway_id) for gw in gateways))
    reach = Reach(gateways)
    for gateway, locks in zip(gateways, lists, strict=True):
        for item in locks:
            reach.links.setdefault(item.lock_id, []).append(Link(gateway, item.rssi))
    return reach
