"""HAP connections with limits: who may hold a socket, for how long, and how many.

HAP-python 5.2 closes an idle connection after 90 hours and accepts any number: a device on
the network holding ~1,000 idle sockets exhausts the process's file descriptors and with
them the bridge's own cloud calls. Here a connection that has not completed pair-verify
(anyone can open one) must show activity every few seconds and complete pair-verify within
a minute (a pair-setup waiting for the owner to type the code: five minutes); a single
address holds a handful of them, the whole bridge a few dozen (beyond, the longest idle one
makes room for the newcomer). Near the process's open-files limit, new connections are
refused before the bridge's own sockets starve. A verified session (a paired controller)
is closed after hours of silence, and at once when its controller is removed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyhap.hap_handler import HAPResponse
from pyhap.hap_protocol import HIGH_WRITE_BUFFER_SIZE, HAPServerProtocol
from pyhap.hap_server import HAPServer

from hapbridge.bridge.hap_requests import GuardedRequestHandler, install_quiet_filter, quiet_pyhap
from hapbridge.bridge.log_limit import RateLimitedLog

try:  # POSIX
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from hapbridge.bridge.hap_driver import PrivateStateDriver

_LOGGER = logging.getLogger(__name__)

# asyncio accepts up to ``backlog`` sockets in a row before any is admitted or refused:
# kept well below ConnectionLimits.fd_reserve, so a burst cannot overshoot into the reserve.
ACCEPT_BACKLOG = 32
REFUSED = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
           b"Connection: close\r\n\r\n")
BAD_HTTP = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


@dataclass(frozen=True)
class ConnectionLimits:
    """Defaults for a home; tests shorten the times."""

    unverified_idle: float = 15.0  # seconds without a byte before pair-verify completes
    unverified_lifetime: float = 60.0  # seconds to complete pair-verify at all
    # iOS starts pair-setup (M1) before it asks the owner for the code: a connection waiting
    # for M3 gets this long instead.
    pairing_window: float = 300.0
    verified_idle: float = 12 * 3600.0  # a paired controller silent this long is closed
    max_unverified: int = 32  # connections without pair-verify, the whole bridge
    max_unverified_per_address: int = 8
    fd_reserve: int = 128  # descriptors kept free for the cloud client, storage and mDNS

    @property
    def sweep_interval(self) -> float:
        return max(0.05, min(5.0, self.unverified_idle / 3))


def open_files_limit() -> int | None:
    """The soft RLIMIT_NOFILE, or None when unlimited or unknown."""
    if resource is None:
        return None
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


class GuardedProtocol(HAPServerProtocol):
    """One HAP connection: admitted by the server's limits, served by our request handler."""

    handler: GuardedRequestHandler | None

    def __init__(self, loop: asyncio.AbstractEventLoop, server: GuardedHAPServer) -> None:
        super().__init__(loop, server.connections, server.accessory_handler)
        self.server = server
        self.refused = False
        self.connected_at = 0.0
        self.close_after_response = False

    @property
    def verified(self) -> bool:
        return self.hap_crypto is not None

    @property
    def pairing(self) -> bool:
        """In pair-setup, waiting for the owner to type the code (M2 sent, M3 not yet)."""
        return self.handler is not None and self.handler.awaiting_code

    @property
    def host(self) -> str:
        return str(self.peername[0]) if self.peername else "?"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """HAP-python's, without its INFO line per connection, behind the server's limits."""
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.peername = transport.get_extra_info("peername")
        if not self.server.admit(self, transport):
            self.refused = True
            transport.write(REFUSED)
            transport.close()
            return
        self.last_activity = self.connected_at = time.time()
        transport.set_write_buffer_limits(high=HIGH_WRITE_BUFFER_SIZE)
        assert self.peername is not None
        self.connections[self.peername] = self
        self.handler = GuardedRequestHandler(self.server.accessory_handler, self.peername,
                                             self.server.noise)

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self.refused:
            with quiet_pyhap():
                super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.refused or self._transport.is_closing():
            return
        with quiet_pyhap():
            super().data_received(data)

    def _process_one_event(self) -> bool:
        # Nothing more is read from a connection that is being closed (a removed
        # controller's pipelined requests included).
        if self._transport.is_closing():
            return False
        return super()._process_one_event()

    def _process_response(self, response: HAPResponse) -> None:
        super()._process_response(response)
        if self.close_after_response:
            self.close()

    def _handle_invalid_conn_state(self, message: str | Exception) -> bool:
        """Not HTTP at all: a 400, one rate-limited debug line, and the connection closed."""
        self.server.noise.log("not-http", logging.DEBUG,
                              "HAP: closed a connection from %s that sent no valid HTTP",
                              self.host)
        if not self._transport.is_closing():
            self.write(BAD_HTTP)
        self.close()
        return False

    def close(self) -> None:
        if self._event_timer is not None:
            self._event_timer.cancel()
            self._event_timer = None
        self._event_queue.clear()
        super().close()

    def revoke(self) -> None:
        """The controller of this session was removed: no event from now on, no request
        served, the connection closed (after the answer to the removal, when it asked)."""
        assert self.handler is not None
        self.handler.revoked = True
        self.accessory_driver.connection_lost(self.peername)  # its subscriptions go now
        if self.handler.dispatching:
            self.close_after_response = True
        else:
            self.close()

    def check_idle(self, now: float) -> None:
        assert self.last_activity is not None
        limits = self.server.limits
        idle = now - self.last_activity
        if self.verified:
            expired = idle > limits.verified_idle
        elif self.pairing:
            expired = now - self.connected_at > limits.pairing_window + limits.unverified_lifetime
        else:
            expired = (idle > limits.unverified_idle
                       or now - self.connected_at > limits.unverified_lifetime)
        if expired:
            self.server.noise.log("idle", logging.DEBUG, "HAP: closed an idle %s connection "
                                  "from %s", "verified" if self.verified else "unverified",
                                  self.host)
            self.close()


class GuardedHAPServer(HAPServer):
    """HAP-python's server with :class:`GuardedProtocol` connections and their limits."""

    accessory_handler: PrivateStateDriver
    connections: dict[Any, GuardedProtocol]  # type: ignore[assignment]

    def __init__(self, addr_port: tuple[Any, int | None], driver: PrivateStateDriver,
                 limits: ConnectionLimits) -> None:
        super().__init__(addr_port, driver)
        self.limits = limits
        self.noise = RateLimitedLog(_LOGGER)
        install_quiet_filter()

    async def async_start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.server = await loop.create_server(
            lambda: GuardedProtocol(loop, self), self._addr_port[0], self._addr_port[1],
            backlog=ACCEPT_BACKLOG)
        self.async_cleanup_connections()

    def async_cleanup_connections(self) -> None:
        now = time.time()
        for connection in list(self.connections.values()):
            connection.check_idle(now)
        assert self.loop is not None
        self._connection_cleanup = self.loop.call_later(
            self.limits.sweep_interval, self.async_cleanup_connections)

    def admit(self, newcomer: GuardedProtocol, transport: asyncio.Transport) -> bool:
        """Whether a new connection may stay (refusals logged, rate-limited).

        Only the open-files limit refuses. At a cap on connections without pair-verify, the
        longest idle one (from the same address, at the per-address cap) is closed to make
        room: a flood then churns its own sockets, and the newest connection, a controller
        about to verify, is the last to go.
        """
        limits = self.limits
        sock = transport.get_extra_info("socket")
        limit = open_files_limit()
        # POSIX hands out the lowest free descriptor: every one below this socket's is in
        # use, so its number is how many the process holds at least.
        if sock is not None and limit is not None and sock.fileno() >= limit - limits.fd_reserve:
            self.noise.log("refused", logging.WARNING,
                           "refused a HomeKit connection from %s: the bridge is near its "
                           "open-files limit (%d); raise it (ulimit -n) if this is not an "
                           "attack", newcomer.host, limit)
            return False
        unverified = [c for c in self.connections.values() if not c.verified]
        same = [c for c in unverified if c.host == newcomer.host]
        if len(same) >= limits.max_unverified_per_address:
            self._make_room(same, f"{len(same)} from {newcomer.host}")
        elif len(unverified) >= limits.max_unverified:
            self._make_room(unverified, f"{len(unverified)} in all")
        return True

    def _make_room(self, candidates: list[GuardedProtocol], count: str) -> None:
        # A pair-setup waiting for the owner's code goes last.
        oldest = min(candidates, key=lambda c: (c.pairing, c.last_activity or 0.0))
        self.noise.log("evicted", logging.WARNING,
                       "closed a HomeKit connection from %s that had not completed "
                       "pair-verify, to make room (%s at once)", oldest.host, count)
        oldest.close()

    def end_removed_sessions(self) -> int:
        """Close every session whose controller is no longer paired; how many."""
        paired = self.accessory_handler.state.paired_clients
        ended = 0
        for connection in list(self.connections.values()):
            handler = connection.handler
            if handler is None or handler.client_uuid is None or handler.revoked:
                continue
            if handler.client_uuid not in paired:
                connection.revoke()
                ended += 1
        return ended
