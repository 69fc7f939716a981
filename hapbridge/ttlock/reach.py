"""Which gateway carries each lock, how well, and whether it is online: one model for all.

The bridge (routes and No Response), ``check``, ``locks`` and ``gateways show`` all read the
account's reach from here, so they agree on which gateway a lock uses and why it cannot be
reached. It is built from ``gateway/list`` (the only answer with an online flag) and one
``gateway/listLock`` per gateway (which locks, with their signal): 1 + G calls, fewer than
one ``gateway/listByLock`` per lock in any home with more locks than gateways. The cloud
sends a remote command through the gateway with the best signal, so an online gateway with
the strongest signal is the one a lock is carried by.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from enum import Enum

from hapbridge.ttlock.models import Gateway, GatewayLock

# Below about -85 dBm gateway commands become unreliable (the docs: < -85 is weak).
WEAK_RSSI = -85
Carrier = Hashable  # what carries a lock's remote commands: a gateway, or the lock itself


class Cause(Enum):
    """Why remote control of a lock cannot work now (or may not work well)."""

    GATEWAY_OFFLINE = "gateway offline"
    NO_GATEWAY = "no gateway"
    GATEWAY_UNLISTED = "no gateway lists it"
    LOCK_SILENT = "lock silent"
    NOT_LISTED = "not listed"
    WEAK_SIGNAL = "weak signal"

    @property
    def advice(self) -> str:
        """What the user can do about it: each sentence written here only."""
        return ADVICE[self]


ADVICE: dict[Cause, str] = {
    Cause.GATEWAY_OFFLINE: "check the gateway's power and Wi-Fi, then its status in the "
                           "TTLock app",
    Cause.NO_GATEWAY: "add a gateway within Bluetooth range of the lock in the TTLock app",
    Cause.GATEWAY_UNLISTED: "check the gateway in the TTLock app",
    Cause.LOCK_SILENT: "check the lock's batteries and its distance to the gateway",
    Cause.NOT_LISTED: "check in the TTLock app that the lock is still on this account",
    Cause.WEAK_SIGNAL: "move the gateway closer to the lock",
}
# Errcodes that name a cause; any other unreachable answer means the lock did not answer.
CAUSE_BY_ERRCODE = {-3002: Cause.GATEWAY_OFFLINE}


@dataclass(frozen=True)
class Link:
    """One gateway that reaches a lock, with the signal between them."""

    gateway: Gateway
    rssi: int | None

    @property
    def online(self) -> bool:
        return self.gateway.online

    @property
    def weak(self) -> bool:
        return is_weak(self.rssi)


def is_weak(rssi: int | None) -> bool:
    """Whether gateway commands to the lock may fail for want of signal."""
    return rssi is not None and rssi < WEAK_RSSI


def _rank(link: Link) -> tuple[bool, float, int]:
    """Online first, then the strongest signal (no reading ranks below every real one)."""
    return (link.online, float("-inf") if link.rssi is None else link.rssi,
            link.gateway.gateway_id)


@dataclass
class Reach:
    """The account's gateways, which lock each reaches, and which did not answer."""

    gateways: list[Gateway] = field(default_factory=list)
    links: dict[int, list[Link]] = field(default_factory=dict)  # lockId -> best first
    failed: dict[int, BaseException] = field(default_factory=dict)  # gatewayId -> why
    passing: set[int] = field(default_factory=set)  # failed for a reason that may pass

    @classmethod
    def from_answers(
        cls, gateways: Sequence[Gateway],
        answers: Sequence[list[GatewayLock] | BaseException],
    ) -> Reach:
        """From each gateway's ``listLock`` answer, or the error it failed with."""
        reach = cls(list(gateways))
        for gateway, answer in zip(gateways, answers, strict=True):
            if isinstance(answer, BaseException):
                if not isinstance(answer, Exception):
                    raise answer  # cancellation
                reach.failed[gateway.gateway_id] = answer
                if getattr(answer, "retryable", False):  # a TTLockError that may pass
                    reach.passing.add(gateway.gateway_id)
                continue
            for item in answer:
                reach.links.setdefault(item.lock_id, []).append(Link(gateway, item.rssi))
        for links in reach.links.values():
            links.sort(key=_rank, reverse=True)
        return reach

    @property
    def complete(self) -> bool:
        """No try later can tell more (every gateway answered, or failed for good)."""
        return not self.passing

    def of(self, lock_id: int) -> list[Link]:
        return self.links.get(lock_id, [])

    def best(self, lock_id: int) -> Link | None:
        """The link the cloud will use: online first, then the strongest signal."""
        links = self.of(lock_id)
        return links[0] if links else None

    def names(self, lock_id: int) -> str:
        return ", ".join(link.gateway.name or str(link.gateway.gateway_id)
                         for link in self.of(lock_id))

    def online(self, lock_id: int, *, wifi: bool, has_gateway: bool) -> bool | None:
        """Whether remote commands can reach the lock now; None when nobody can tell (a
        Wi-Fi lock talks to the cloud itself, and no answer has its online flag)."""
        if (link := self.best(lock_id)) is not None:
            return link.online
        return None if wifi or has_gateway else False

    def cause(self, lock_id: int, *, wifi: bool, has_gateway: bool) -> Cause | None:
        """Why remote control cannot work now, as far as the gateways tell."""
        link = self.best(lock_id)
        if link is not None:
            return None if link.online else Cause.GATEWAY_OFFLINE
        if wifi:
            return None
        return Cause.GATEWAY_UNLISTED if has_gateway else Cause.NO_GATEWAY

    def carrier(self, lock_id: int, *, wifi: bool, previous: Carrier | None) -> Carrier:
        """What carries the lock's commands: its gateway; the last one when that gateway
        did not answer this time; a Wi-Fi lock itself; else the lock alone."""
        if (link := self.best(lock_id)) is not None:
            return gateway_carrier(link.gateway.gateway_id)
        if (isinstance(previous, tuple) and previous[0] == "gateway"
                and previous[1] in self.failed):
            return previous
        return lone_carrier(lock_id, wifi=wifi)


def gateway_carrier(gateway_id: int) -> Carrier:
    return ("gateway", gateway_id)


def lone_carrier(lock_id: int, *, wifi: bool) -> Carrier:
    """A lock without a known gateway carries its own commands (a Wi-Fi lock really does)."""
    return ("wifi" if wifi else "lock", lock_id)
