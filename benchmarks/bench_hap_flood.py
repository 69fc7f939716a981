"""A hostile device on the network against the HAP server (everything on 127.0.0.1).

1. Idle flood: 1,100 connections that never send a byte (issue 9's attack), under three
   limit settings: the defaults (all from one address), the per-address cap lifted (as if
   from many addresses: the bridge-wide cap and eviction act), and every cap lifted with
   the open-files limit at 1,024 (the descriptor reserve acts). Figures: connections the
   bridge still holds, answered 503, and whether a paired controller still opens a session
   and unlocks (with the time it takes).
2. Log volume: bytes logged for 1,000 malformed requests, at the bridge's normal level
   (INFO, HAP-python at WARNING) and at DEBUG.
3. Pipelining floods that never read (attack trial 1): four unverified connections from
   another process pipelining ``GET /`` as fast as they can; then a paired session
   pipelining ``GET /accessories`` without reading. Figures: the owner's encrypted read
   latency meanwhile, the bridge's RSS, what it still holds, when the non-reader is gone.
4. Pair-setup M1 flood from seven loopback addresses (5 each): the owner's pair-setup with
   the right code from an eighth.

Targets: a paired controller unlocks in every flood; at most one short line per kind a
minute (a few hundred bytes for 1,000 bad requests).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import logging
import os
import resource
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiohomekit.controller.ip import IpPairing  # noqa: E402

from hapbridge.bridge.hap_connections import ConnectionLimits  # noqa: E402
from hapbridge.bridge.server import BridgeServer  # noqa: E402
from hapbridge.simulator import SimConfig, SimulatorServer  # noqa: E402
from tests.bridge_helpers import (  # noqa: E402
    TARGET,
    accessories,
    char_iid,
    pair,
    start_bridge,
    wait_for,
)
from tests.hap_session import LOOPBACK, RawHap  # noqa: E402

FLOOD = 1100
FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


@contextlib.contextmanager
def captured_log(level: int) -> Iterator[io.StringIO]:
    """The bridge's log as ``hapbridge run`` writes it (HAP-python at WARNING unless DEBUG)."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    saved = root.level, [(name, logging.getLogger(name).level) for name in ("pyhap", "httpx")]
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("pyhap", "httpx"):
        logging.getLogger(name).setLevel(logging.DEBUG if level == logging.DEBUG
                                         else logging.WARNING)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        for name, lvl in saved[1]:
            logging.getLogger(name).setLevel(lvl)


# The attacker is another process (its sockets are not the bridge's descriptors): it opens
# N idle connections, waits, says how many it holds and how many the bridge closed, and
# keeps them until its stdin closes.
FLOODER = r"""
import resource, socket, sys, time
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
port, count = int(sys.argv[1]), int(sys.argv[2])
socks, failed = [], 0
for _ in range(count):
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", port))
        socks.append(s)
    except OSError:
        failed += 1
        s.close()
time.sleep(1.0)
closed = 0
for s in socks:
    s.setblocking(False)
    try:
        s.recv(4096)  # an answer (503) or EOF: the bridge closed it
        closed += 1
    except BlockingIOError:
        pass  # still open, nothing said
    except OSError:
        closed += 1
print(len(socks), closed, failed, flush=True)
sys.stdin.read()
"""


async def unlock_through(sim: SimulatorServer, session: RawHap, aid: int, target: int) -> str:
    before = sim.world.calls["/v3/lock/unlock"]
    start = time.perf_counter()
    try:
        reply = await session.put_json("/characteristics", {"characteristics": [
            {"aid": aid, "iid": target, "value": 0}]})
        await wait_for(lambda: sim.world.calls["/v3/lock/unlock"] == before + 1, 10)
    except Exception as err:  # a figure, not a crash
        return f"no ({type(err).__name__}: {err})"
    return f"yes, {1000 * (time.perf_counter() - start):.0f} ms (HTTP {reply.status})"


async def paired_lock(server: BridgeServer) -> tuple[IpPairing, int, int]:
    """A paired controller, the first lock's aid and its LockTargetState iid."""
    owner = await pair(server, "bench")
    accs = await accessories(owner)
    aid = next(a["aid"] for a in accs if a["aid"] != 1)
    return owner, aid, char_iid(accs, aid, TARGET)


async def idle_flood(sim: SimulatorServer, storage: Path, label: str,
                     limits: ConnectionLimits, nofile: int | None) -> None:
    server = await start_bridge(sim, storage, options={"hap_limits": limits})
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    flooder = None
    try:
        owner, aid, target = await paired_lock(server)
        await owner.close()
        early = await (await RawHap(server.port).open()).verify(owner.pairing_data)
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard))
        with captured_log(logging.INFO) as log:
            flooder = await asyncio.create_subprocess_exec(
                sys.executable, "-c", FLOODER, str(server.port), str(FLOOD),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
            assert flooder.stdout is not None
            line = (await asyncio.wait_for(flooder.stdout.readline(), 60)).decode().split()
            opened, closed, failed = (int(x) for x in line)
            assert server.driver is not None
            held = len(server.driver.http_server.connections)
            unlock = await unlock_through(sim, early, aid, target)
            try:
                late = await (await RawHap(server.port).open()).verify(owner.pairing_data)
                await late.close()
                fresh = "opens"
            except Exception as err:  # a figure, not a crash
                fresh = f"refused ({type(err).__name__})"
            await asyncio.sleep(0.3)  # the lock's state confirmed before the stop
        print(f"{label}: {FLOOD} idle connections ({opened} connected, {failed} not) -> the "
              f"bridge holds {held}, closed {closed}; an open controller session unlocks: "
              f"{unlock}; a new session {fresh}; log {len(log.getvalue())} bytes")
        if os.environ.get("BENCH_SHOW_LOG"):
            print(log.getvalue()[:3000])
    finally:
        if flooder is not None:
            assert flooder.stdin is not None
            flooder.stdin.close()
            await flooder.wait()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        await server.stop()


BAD_REQUESTS = [
    ("POST", "/pair-setup", b"\x06\x05\x01"),  # a truncated TLV
    ("GET", "/nowhere/{n}", None),
    ("POST", "/pairings", b"\x00\x01\x04"),  # without a session
    ("PUT", "/characteristics", b"{garbage"),
]


async def log_volume(sim: SimulatorServer, storage: Path) -> None:
    server = await start_bridge(sim, storage)
    try:
        for level in (logging.INFO, logging.DEBUG):
            with captured_log(level) as log:
                raw = await RawHap(server.port).open()
                for n in range(1000):
                    method, path, body = BAD_REQUESTS[n % len(BAD_REQUESTS)]
                    try:
                        await raw.request(method, path.format(n=n), body)
                    except (OSError, ValueError, asyncio.IncompleteReadError):
                        await raw.close()  # the server dropped it: go on with a new one
                        raw = await RawHap(server.port).open()
                await raw.close()
                await asyncio.sleep(0.1)
            name = logging.getLevelName(level)
            hap = [line for line in log.getvalue().splitlines()
                   if " pyhap" in line or " hapbridge.bridge.hap" in line or " asyncio" in line]
            print(f"log at {name}: 1000 malformed requests -> {sum(map(len, hap))} bytes in "
                  f"{len(hap)} lines from the HAP layer")
    finally:
        await server.stop()


# Pipelines GET / on N connections with a 4 KiB receive window, never reads, holds them.
PIPELINER = r"""
import socket, sys, time
port, count, total = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
chunk = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 1000
socks = []
for _ in range(count):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.settimeout(2)
    socks.append(s)
sent = 0
deadline = time.monotonic() + 5
for s in socks:
    try:
        for _ in range(total // 1000):
            s.sendall(chunk)
            sent += len(chunk)
            if time.monotonic() > deadline:
                break
    except OSError:
        pass  # closed by the bridge: the point
print(sent, flush=True)
sys.stdin.read()
"""


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return 0.0


async def read_ms(session: RawHap, aid: int, iid: int) -> float:
    start = time.perf_counter()
    await session.request("GET", f"/characteristics?id={aid}.{iid}")
    return 1000 * (time.perf_counter() - start)


async def pipelining(sim: SimulatorServer, storage: Path) -> None:
    server = await start_bridge(sim, storage)
    attacker = None
    try:
        owner, aid, target = await paired_lock(server)
        session = await (await RawHap(server.port).open()).verify(owner.pairing_data)
        idle = statistics.median([await read_ms(session, aid, target) for _ in range(20)])
        rss_before = rss_mib()
        attacker = await asyncio.create_subprocess_exec(
            sys.executable, "-c", PIPELINER, str(server.port), "4", "400000",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        during: list[float] = []
        end = time.monotonic() + 3
        while time.monotonic() < end:
            during.append(await read_ms(session, aid, target))
            await asyncio.sleep(0.05)
        assert server.driver is not None
        http = server.driver.http_server
        print(f"4 unverified connections pipelining GET / (never reading): owner read idle "
              f"{idle:.1f} ms, meanwhile median {statistics.median(during):.1f} ms, max "
              f"{max(during):.1f} ms over {len(during)} reads; RSS {rss_before:.0f} -> "
              f"{rss_mib():.0f} MiB; the bridge holds {len(http.connections)} connections, "
              f"{len(http.closing)} closing")
        attacker.stdin.close()  # type: ignore[union-attr]
        await attacker.wait()
        attacker = None

        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (LOOPBACK, server.port))
        hog = RawHap(server.port)
        hog.reader, hog.writer = await asyncio.open_connection(sock=sock)
        await hog.verify(owner.pairing_data)
        protocol = http.connections[hog.writer.get_extra_info("sockname")]
        started = time.monotonic()
        sending = asyncio.ensure_future(hog.send_raw(
            b"GET /accessories HTTP/1.1\r\nHost: x\r\n\r\n" * 20_000))
        during = []
        while not protocol.aborted and time.monotonic() - started < 30:
            during.append(await read_ms(session, aid, target))
            await asyncio.sleep(0.1)
        gone = time.monotonic() - started
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError, OSError):
            await sending
        await hog.close()
        print(f"a paired session pipelining GET /accessories (never reading): "
              f"{protocol.requests} answered in all (reading paused at the high-water mark "
              f"while they went unread), aborted after {gone:.1f} s "
              f"(stalled_write {http.limits.stalled_write:.0f} s); owner read meanwhile median "
              f"{statistics.median(during):.1f} ms, max {max(during):.1f} ms; RSS "
              f"{rss_mib():.0f} MiB")
        await session.close()
        await owner.close()
    finally:
        if attacker is not None:
            attacker.stdin.close()  # type: ignore[union-attr]
            await attacker.wait()
        await server.stop()


async def m1_flood(sim: SimulatorServer, storage: Path) -> None:
    from aiohomekit.protocol.tlv import TLV
    server = await start_bridge(sim, storage)
    try:
        busy = 0
        start = time.perf_counter()
        for host in range(2, 9):
            for _ in range(5):
                reader, writer = await asyncio.open_connection(
                    LOOPBACK, server.port, local_addr=(f"127.0.0.{host}", 0))
                raw = RawHap(server.port, reader, writer)
                reply = await raw.post_tlv("/pair-setup", [(TLV.kTLVType_State, TLV.M1),
                                                           (TLV.kTLVType_Method, b"\x00")])
                busy += TLV.kTLVType_Error in reply.tlv()
                await raw.close()
        flood = time.perf_counter() - start
        start = time.perf_counter()
        try:
            owner = await pair(server, "bench")
            await owner.close()
            result = f"pairs in {1000 * (time.perf_counter() - start):.0f} ms"
        except Exception as err:  # a figure, not a crash
            result = f"fails ({type(err).__name__})"
        print(f"M1 flood, 7 addresses x 5 in {flood:.2f} s ({busy} answered Busy): the owner's "
              f"pair-setup with the right code from another address {result}")
    finally:
        await server.stop()


async def main() -> None:
    async with SimulatorServer(SimConfig(locks=2, command_seconds=0.05)) as sim:
        with tempfile.TemporaryDirectory() as tmp:
            base = ConnectionLimits()
            await idle_flood(sim, Path(tmp, "a"), "defaults, one address", base, None)
            await idle_flood(sim, Path(tmp, "b"), "many addresses (per-address cap lifted)",
                             dataclasses.replace(base, max_unverified_per_address=FLOOD * 2),
                             None)
            await idle_flood(sim, Path(tmp, "c"), "all caps lifted, bridge's ulimit -n 1024",
                             dataclasses.replace(base, max_unverified=FLOOD * 2,
                                                 max_unverified_per_address=FLOOD * 2),
                             1024)
            await log_volume(sim, Path(tmp, "d"))
            await pipelining(sim, Path(tmp, "e"))
            await m1_flood(sim, Path(tmp, "f"))


if __name__ == "__main__":
    asyncio.run(main())
