"""The gateway map applied to the records: each lock's carrier, and the causes it explains.

Reads the account's reach (``gateway/list`` + one ``listLock`` per gateway) and sets each
record's carrier, which the dispatcher looks up when a job starts. A gateway whose lock
list fails leaves its locks on their last route. The map also clears No Response for locks
that had it only because their gateway was offline (or missing) and now is online: without
state polling nothing else would.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from hapbridge.bridge.cloud_api import CloudApi
from hapbridge.bridge.cloud_health import CloudHealth
from hapbridge.bridge.log_text import describe, plural
from hapbridge.bridge.registry import LockRegistry
from hapbridge.ttlock.models import Gateway, GatewayLock
from hapbridge.ttlock.reach import Cause, Reach

_LOGGER = logging.getLogger(__name__)

MAP_CAUSES = (Cause.GATEWAY_OFFLINE, Cause.NO_GATEWAY)  # what only the map sets and clears


class GatewayRoutes:
    def __init__(self, client: CloudApi, health: CloudHealth, registry: LockRegistry,
                 changed: Callable[[], None]) -> None:
        self._client = client
        self._health = health
        self._registry = registry
        self._changed = changed  # routes are known (or changed): queued work may start
        self.gateways: dict[int, Gateway] = {}
        self.ready = asyncio.Event()  # the first map was tried

    async def refresh(self) -> bool:
        """Read and apply the map (1 + G calls); False when a try later may complete it."""
        try:
            gateways = await self._health.watch(self._client.list_gateways())
        except Exception as err:
            routed = any(r.carrier is not None for r in self._registry.records.values())
            _LOGGER.warning("cannot read the gateway list (%s): %s until it works",
                            describe(err), "locks keep their last gateway" if routed
                            else "commands run one at a time per lock")
            self._mapped()
            return False
        async def locks_of(gateway: Gateway) -> list[GatewayLock]:
            return await self._health.watch(self._client.gateway_locks(gateway.gateway_id))

        answers = await asyncio.gather(*(locks_of(g) for g in gateways),
                                       return_exceptions=True)
        self.gateways = {g.gateway_id: g for g in gateways}
        reach = Reach.from_answers(gateways, answers)
        for gateway_id, err in reach.failed.items():
            _LOGGER.warning("cannot read the locks of gateway %s (%s); they keep their last "
                            "route", self.gateways[gateway_id].name or gateway_id,
                            describe(err))
        self._apply(reach)
        self._mapped()
        behind = sum(1 for r in self._registry.records.values()
                     if isinstance(r.carrier, tuple) and r.carrier[0] == "gateway")
        _LOGGER.info("%s; %d locks behind a gateway, %d on their own",
                     plural(len(gateways), "gateway"), behind,
                     len(self._registry.records) - behind)
        return reach.complete

    def _apply(self, reach: Reach) -> None:
        registry = self._registry
        for lock_id, record in registry.records.items():
            lock = record.listing
            previous = record.carrier
            record.carrier = reach.carrier(lock_id, wifi=lock.wifi, previous=previous)
            cause = reach.cause(lock_id, wifi=lock.wifi, has_gateway=lock.has_gateway)
            link = reach.best(lock_id)
            if link is not None or record.carrier != previous:
                record.link = link  # a silent gateway's locks keep theirs
            if cause is Cause.GATEWAY_OFFLINE and link is not None:
                name = link.gateway.name or link.gateway.gateway_id
                registry.set_cause(lock_id, cause,
                                   f"its gateway {name} is offline: {cause.advice}")
            elif cause is Cause.NO_GATEWAY and record.carrier[0] == "lock":
                registry.set_cause(lock_id, cause,
                                   f"it is not connected to any gateway: {cause.advice}")
            elif cause is None:
                registry.set_cause(lock_id, None, "is reachable again: its gateway is online"
                                   if link is not None else "", only=MAP_CAUSES)

    def _mapped(self) -> None:
        self.ready.set()
        self._changed()
