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

Work is bounded too: before pair-verify a connection gets a few requests, then it is closed;
each connection has a few requests answered per turn of the event loop (pipelined ones wait
for the next turn, reading paused meanwhile), and none while its peer leaves answers unread
beyond the transport's high-water mark; a peer that does not read for seconds is aborted.
A connection we close keeps its unsent answers a moment at most, then it is aborted (RST,
kernel buffers freed): until then it still counts against the caps.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import h11
from pyhap.hap_handler import HAPResponse
from pyhap.hap_protocol import HIGH_WRITE_BUFFER_SIZE, HAPServerProtocol
from pyhap.hap_server import HAPServer

from hapbridge.bridge.hap_requests import GuardedRequestHandler, install_quiet_filter, quiet_pyhap
from hapbridge.log_limit import RateLimitedLog

try:  # POSIX
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from hapbridge.bridge.hap_driver import PrivateStateDriver

_LOGGER = logging.getLogger(__name__)
_RESET_ON_CLOSE = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close sends RST, drops buffers

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
    # Requests before pair-verify completes: pair-setup and pair-verify take five.
    unverified_requests: int = 16
    requests_per_turn: int = 8  # answered per event-loop turn, per connection
    write_buffer_high: int = HIGH_WRITE_BUFFER_SIZE  # unsent bytes before reading pauses
    stalled_write: float = 10.0  # seconds a peer may leave that much unread: then aborted
    close_drain: float = 2.0  # seconds a closed connection's last answers get to go out

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
        self.requests = 0  # answered on this connection
        self.write_paused_at: float | None = None  # the peer is not reading our answers
        self.aborted = False
        self._next_turn: asyncio.Handle | None = None
        self._abort_timer: asyncio.TimerHandle | None = None

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
        transport.set_write_buffer_limits(high=self.server.limits.write_buffer_high)
        assert self.peername is not None
        self.connections[self.peername] = self
        self.handler = GuardedRequestHandler(self.server.accessory_handler, self.peername,
                                             self.server.noise)

    def connection_lost(self, exc: BaseException | None) -> None:
        self.server.closing.discard(self)
        for handle in (self._next_turn, self._abort_timer):
            if handle is not None:
                handle.cancel()
        if not self.refused:
            with quiet_pyhap():
                super().connection_lost(exc)

    def pause_writing(self) -> None:
        """Answers pile up unread: no more requests are read or answered until they go."""
        self.write_paused_at = time.monotonic()
        self._transport.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused_at = None
        if not self._transport.is_closing():
            self._transport.resume_reading()
            self._schedule_turn()

    def data_received(self, data: bytes) -> None:
        if self.refused or self._transport.is_closing():
            return
        with quiet_pyhap():
            super().data_received(data)

    def _process_events(self) -> None:
        """HAP-python's loop over pipelined requests, with a budget per turn: the rest wait
        in h11's buffer (reading paused) for the next turn, so one connection cannot hold
        the event loop, and none is answered while the peer leaves answers unread."""
        if self._transport.is_closing():
            return
        start = self.requests
        try:
            while self.response is None and self.write_paused_at is None:
                if self.requests - start >= self.server.limits.requests_per_turn:
                    self._transport.pause_reading()
                    self._schedule_turn()
                    return
                if not self._process_one_event():
                    return
                if self.conn.our_state is h11.MUST_CLOSE:
                    self.finish_and_close()
                    return
        except h11.ProtocolError as err:
            self._handle_invalid_conn_state(err)

    def _schedule_turn(self) -> None:
        if self._next_turn is None:
            self._next_turn = self.loop.call_soon(self._take_turn)

    def _take_turn(self) -> None:
        self._next_turn = None
        if self._transport.is_closing() or self.write_paused_at is not None:
            return
        self._transport.resume_reading()
        with quiet_pyhap():
            self._process_events()

    def _process_one_event(self) -> bool:
        # Nothing more is read from a connection that is being closed (a removed
        # controller's pipelined requests included).
        if self._transport.is_closing():
            return False
        return super()._process_one_event()

    def _process_response(self, response: HAPResponse) -> None:
        self.requests += 1
        super()._process_response(response)
        assert self.handler is not None
        if self.close_after_response or self.handler.hang_up:
            self.close()
        elif not self.verified and self.requests >= self.server.limits.unverified_requests:
            self.server.noise.log("budget", logging.DEBUG, "HAP: closed a connection from %s "
                                  "after %d requests without pair-verify", self.host,
                                  self.requests)
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
        """HAP-python's close (its answers still go out), bounded: what is unsent after
        ``close_drain`` is dropped with the connection, which counts until then."""
        if self._event_timer is not None:
            self._event_timer.cancel()
            self._event_timer = None
        self._event_queue.clear()
        was_open = not self._transport.is_closing()
        super().close()  # also when already closing: it leaves the connections then
        if was_open and not self.aborted and self._transport.get_write_buffer_size():
            self.server.closing.add(self)
            self._abort_timer = self.loop.call_later(self.server.limits.close_drain,
                                                     self.abort)

    def abort(self) -> None:
        """Drop the connection now, with whatever it has not sent (the peer gets a reset):
        a peer that does not read must not keep a descriptor or buffers of ours."""
        if self.aborted:
            return
        self.aborted = True
        if not self._transport.is_closing():
            self.close()
        sock = self._transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
        self._transport.abort()

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
            self.abort()
        elif (self.write_paused_at is not None
              and time.monotonic() - self.write_paused_at > limits.stalled_write):
            self.server.noise.log("stalled", logging.DEBUG, "HAP: aborted a connection from "
                                  "%s that leaves its answers unread", self.host)
            self.abort()


class GuardedHAPServer(HAPServer):
    """HAP-python's server with :class:`GuardedProtocol` connections and their limits."""

    accessory_handler: PrivateStateDriver
    connections: dict[Any, GuardedProtocol]  # type: ignore[assignment]

    def __init__(self, addr_port: tuple[Any, int | None], driver: PrivateStateDriver,
                 limits: ConnectionLimits) -> None:
        super().__init__(addr_port, driver)
        self.limits = limits
        self.noise = RateLimitedLog(_LOGGER)
        # Closed, still sending their last answers (at most ``close_drain``): counted by the
        # caps until the transport is gone.
        self.closing: set[GuardedProtocol] = set()
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
        unverified += self.closing
        same = [c for c in unverified if c.host == newcomer.host]
        if len(same) >= limits.max_unverified_per_address:
            self._make_room(same, f"{len(same)} from {newcomer.host}")
        elif len(unverified) >= limits.max_unverified:
            self._make_room(unverified, f"{len(unverified)} in all")
        return True

    def _make_room(self, candidates: list[GuardedProtocol], count: str) -> None:
        # One already closed goes first, a pair-setup waiting for the owner's code last.
        oldest = min(candidates, key=lambda c: (c not in self.closing, c.pairing,
                                                c.last_activity or 0.0))
        if oldest not in self.closing:
            self.noise.log("evicted", logging.WARNING,
                           "closed a HomeKit connection from %s that had not completed "
                           "pair-verify, to make room (%s at once)", oldest.host, count)
        oldest.abort()

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
