"""Which queue carries each lock's work, decided from the cloud's gateway answers.

A gateway carries one command at a time, so locks behind the same gateway share a queue
and locks behind different gateways run side by side. This module only decides; the hub
fetches the answers and applies the routes and the No Response causes.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

from hapbridge.bridge.lock_cache import KnownLock
from hapbridge.bridge.log_text import describe
from hapbridge.ttlock.errors import TTLockError
from hapbridge.ttlock.models import Gateway, GatewayLock

_LOGGER = logging.getLogger(__name__)

QueueKey = Hashable
NO_RSSI = -200  # a link without a signal reading ranks below every real one


@dataclass(frozen=True)
class Link:
    """The gateway chosen for a lock: online ones first, then the strongest signal."""

    gateway_id: int
    online: bool
    rssi: int


@dataclass
class Reach:
    """Which gateway reaches each lock, and which gateways did not answer."""

    best: dict[int, Link] = field(default_factory=dict)  # lockId -> chosen link
    failed: set[int] = field(default_factory=set)  # gateways whose lock list failed
    passing: set[int] = field(default_factory=set)  # ... for a reason that may pass

    @classmethod
    def from_answers(
        cls, gateways: Sequence[Gateway],
        answers: Sequence[list[GatewayLock] | BaseException],
    ) -> Reach:
        """From each gateway's ``listLock`` answer (or its failure, logged here)."""
        reach = cls()
        for gateway, answer in zip(gateways, answers, strict=True):
            if isinstance(answer, BaseException):
                if not isinstance(answer, Exception):
                    raise answer  # cancellation
                reach.failed.add(gateway.gateway_id)
                if isinstance(answer, TTLockError) and answer.retryable:
                    reach.passing.add(gateway.gateway_id)
                _LOGGER.warning("cannot read the locks of gateway %s (%s); they keep their "
                                "last route", gateway.name or gateway.gateway_id,
                                describe(answer))
                continue
            for item in answer:
                link = Link(gateway.gateway_id, gateway.online,
                            item.rssi if item.rssi is not None else NO_RSSI)
                current = reach.best.get(item.lock_id)
                if current is None or _rank(link) > _rank(current):
                    reach.best[item.lock_id] = link
        return reach

    def route(self, lock: KnownLock, previous: QueueKey | None) -> QueueKey:
        """A gateway's queue; the last route when that gateway did not answer; a Wi-Fi
        lock's own queue; else a queue of the lock's own."""
        if (link := self.best.get(lock.lock_id)) is not None:
            return ("gateway", link.gateway_id)
        if (isinstance(previous, tuple) and previous[0] == "gateway"
                and previous[1] in self.failed):
            return previous
        return ("wifi", lock.lock_id) if lock.wifi else ("lock", lock.lock_id)


def _rank(link: Link) -> tuple[bool, int, int]:
    return (link.online, link.rssi, link.gateway_id)
