"""Attack trial 1 on work and buffers, over real sockets: pipelined floods that never read
cannot stall the owner's session, and a connection the bridge gives up on is really gone
(aborted, uncounted by no cap). Small limits keep each case well under a second or two;
the figures are in benchmarks/bench_hap_flood.py."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohomekit.controller.ip import IpPairing

from hapbridge.bridge.hap_connections import ConnectionLimits, GuardedProtocol
from hapbridge.bridge.server import BridgeServer
from hapbridge.simulator import SimulatorServer
from tests.bridge_helpers import pair, start_bridge, wait_for
from tests.hap_session import LOOPBACK, RawHap

LIMITS = ConnectionLimits(unverified_idle=5.0, unverified_lifetime=10.0, verified_idle=30.0,
                          unverified_requests=16, requests_per_turn=8,
                          write_buffer_high=64 * 1024, stalled_write=0.3, close_drain=0.3)
GET_ROOT = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
BOUND = 1.0  # seconds: loose, the attack took the owner's read to 17 s


@pytest.fixture
async def bridge(sim: SimulatorServer, tmp_path: Path) -> AsyncIterator[BridgeServer]:
    server = await start_bridge(sim, tmp_path / "storage", options={"hap_limits": LIMITS})
    yield server
    await server.stop()


@pytest.fixture
async def owner(bridge: BridgeServer) -> AsyncIterator[IpPairing]:
    pairing = await pair(bridge)
    yield pairing
    await pairing.close()


def small_window_socket() -> socket.socket:
    """A peer that reads nothing, with a small receive window (as the attacker's)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    return sock


async def open_non_reader(port: int) -> RawHap:
    sock = small_window_socket()
    await asyncio.get_running_loop().sock_connect(sock, (LOOPBACK, port))
    raw = RawHap(port)
    raw.reader, raw.writer = await asyncio.open_connection(sock=sock)
    return raw


def server_side(bridge: BridgeServer, raw: RawHap) -> GuardedProtocol:
    assert bridge.driver is not None and raw.writer is not None
    local = raw.writer.get_extra_info("sockname")
    return bridge.driver.http_server.connections[local]


async def timed_read(session: RawHap) -> float:
    start = time.monotonic()
    assert (await session.request("GET", "/accessories")).status == 200
    return time.monotonic() - start


async def test_unverified_pipelining_is_cut_off_and_the_owner_is_answered(
        bridge: BridgeServer, owner: IpPairing) -> None:
    session = await (await RawHap(bridge.port).open()).verify(owner.pairing_data)
    flooders = [await open_non_reader(bridge.port) for _ in range(4)]
    for flooder in flooders:
        assert flooder.writer is not None
        flooder.writer.write(GET_ROOT * 20_000)  # 540 KB each, never a read
    await asyncio.sleep(0.05)
    assert await timed_read(session) < BOUND
    for flooder in flooders:  # each got its budget of answers, then the connection went
        assert flooder.reader is not None
        received = b""
        with contextlib.suppress(OSError):
            while chunk := await asyncio.wait_for(flooder.reader.read(65536), 2.0):
                received += chunk
        assert received.count(b"HTTP/1.1 404") <= LIMITS.unverified_requests
        await flooder.close()
    assert bridge.driver is not None
    server = bridge.driver.http_server
    await wait_for(lambda: not server.closing and all(
        c.verified for c in server.connections.values()), timeout=2.0)
    assert await timed_read(session) < BOUND
    await session.close()


async def test_a_session_that_never_reads_is_paused_then_aborted(
        bridge: BridgeServer, owner: IpPairing) -> None:
    """A paired controller pipelining big reads without reading the answers: the bridge stops
    reading it at the high-water mark, serves the owner meanwhile, and aborts it."""
    session = await (await RawHap(bridge.port).open()).verify(owner.pairing_data)
    hog = await (await open_non_reader(bridge.port)).verify(owner.pairing_data)
    protocol = server_side(bridge, hog)
    request = b"GET /accessories HTTP/1.1\r\nHost: x\r\n\r\n"
    sending = asyncio.ensure_future(hog.send_raw(request * 5_000))
    try:
        await wait_for(lambda: protocol.write_paused_at is not None or protocol.aborted,
                       timeout=3.0)
        assert await timed_read(session) < BOUND
        assert protocol.requests < 5_000  # it was not answered in one go
        await wait_for(lambda: protocol.aborted, timeout=3.0)
        assert bridge.driver is not None
        server = bridge.driver.http_server
        await wait_for(lambda: protocol.transport is not None and protocol.transport.is_closing()
                       and protocol not in server.closing
                       and protocol not in server.connections.values(), timeout=2.0)
    finally:
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError, OSError):
            await sending
        await hog.close()
    assert await timed_read(session) < BOUND
    await session.close()


async def test_a_closed_connection_counts_until_its_answers_are_gone(
        bridge: BridgeServer, owner: IpPairing) -> None:
    """HAP-python's close waits for the peer to read: ours gives it close_drain, counts it
    meanwhile against the caps, then aborts it."""
    assert bridge.driver is not None
    server = bridge.driver.http_server
    server.limits = dataclasses.replace(LIMITS, stalled_write=30.0, close_drain=0.5)
    hog = await (await open_non_reader(bridge.port)).verify(owner.pairing_data)
    protocol = server_side(bridge, hog)
    sending = asyncio.ensure_future(hog.send_raw(
        b"GET /accessories HTTP/1.1\r\nHost: x\r\n\r\n" * 5_000))
    try:
        await wait_for(lambda: protocol.write_paused_at is not None, timeout=3.0)
        protocol.close()  # as the idle sweep or a removal would
        assert protocol in server.closing and protocol not in server.connections.values()
        await wait_for(lambda: protocol.aborted and protocol not in server.closing,
                       timeout=2.0)
    finally:
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError, OSError):
            await sending
        await hog.close()
