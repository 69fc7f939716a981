"""Several bridges in one process, against the simulated cloud (everything on 127.0.0.1).

1. Startup: time from process start until every bridge listens (advertised just before)
   and until a *paired* controller per bridge has listed all its locks, peak RSS, and the
   cloud calls made before the locks were published; N = 149 (one bridge), 400 (3) and
   1,000 (7). The bridge runs as a real ``hapbridge run`` process; every bridge was paired
   by a previous run.
2. Scene across two bridges behind one gateway: five locks of bridge 1 and five of bridge 2,
   one HomeKit write per bridge at the same moment: successes and -3003 ("gateway busy").

Targets: startup at 1,000 locks < 2 s and < 150 MB; calls before publishing the same for
every N; the scene 10/10 with zero -3003.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiohomekit.controller import Controller  # noqa: E402
from aiohomekit.controller.ip import IpPairing  # noqa: E402

from benchmarks.bench_bridge import calls_before_publishing, rss_mb, spawn  # noqa: E402
from hapbridge.bridge.placement import MAX_LOCKS  # noqa: E402
from hapbridge.simulator import SimConfig, SimulatorServer  # noqa: E402
from tests.bridge_helpers import (  # noqa: E402
    LOOPBACK,
    TARGET,
    accessories,
    char_iid,
    free_ports,
    pair,
    pair_process,
    start_bridge,
    stop_process,
    wait_for,
    wait_port,
    write_config,
)

UNSECURED = 0


def bridges_for(locks: int) -> int:
    return -(-locks // MAX_LOCKS)


async def bench_startup(locks: int) -> dict[str, Any]:
    sim = SimulatorServer(SimConfig(locks=locks, gateways=max(1, locks // 15),
                                    command_seconds=1.0))
    await sim.start(LOOPBACK, 0)
    count = bridges_for(locks)
    with tempfile.TemporaryDirectory() as tmp:
        storage, port = Path(tmp), free_ports(count)
        write_config(storage, sim, port, "Bench Bridge")
        proc = spawn(storage)  # first run: log in, place the locks, pair every bridge
        try:
            pairings = []
            for number in range(1, count + 1):
                await wait_port(port + number - 1)
                name = "Bench Bridge" if number == 1 else f"Bench Bridge {number}"
                pairings.append(await pair_process(storage, port + number - 1, name, number))
        finally:
            stop_process(proc)
        sim.world.calls.clear()

        started = time.monotonic()
        proc = spawn(storage)
        try:
            async def listed(number: int, data: dict[str, Any]) -> int:
                await wait_port(port + number - 1)
                pairing = IpPairing(Controller(), data)
                try:
                    return len(await pairing.list_accessories_and_characteristics()) - 1
                finally:
                    await pairing.close()

            await asyncio.gather(*(wait_port(port + n) for n in range(count)))
            up = time.monotonic() - started
            counts = await asyncio.gather(*(listed(n, d) for n, d in
                                            enumerate(pairings, start=1)))
            served = time.monotonic() - started
            calls_at_served = sum(sim.world.calls.values())
            rss_served = rss_mb(proc.pid)
            assert sum(counts) == locks, counts
            await asyncio.sleep(3)  # background details, gateway map and first state polls
            rss_later = rss_mb(proc.pid)
        finally:
            stop_process(proc)
        log = (storage / "bridge.log").read_text(errors="replace")
        advertised = len(re.findall(r"serving \d+ locks", log))
        published_after = calls_before_publishing(storage)
    await sim.stop()
    return {"locks": locks, "bridges": count, "advertised": advertised, "up_s": up,
            "served_s": served,
            "calls": calls_at_served, "published_after": published_after,
            "rss_mb": rss_served, "rss_3s_mb": rss_later}


async def bench_scene(command_seconds: float) -> dict[str, Any]:
    """Ten locks behind one gateway, five on each of two bridges, in one moment."""
    sim = SimulatorServer(SimConfig(locks=MAX_LOCKS + 5, gateways=1,
                                    command_seconds=command_seconds))
    await sim.start(LOOPBACK, 0)
    with tempfile.TemporaryDirectory() as tmp:
        server = await start_bridge(sim, Path(tmp) / "storage", port=free_ports(2))
        try:
            hub = server.hub
            assert hub is not None
            await wait_for(lambda: hub.routes.ready.is_set(), 10)
            await asyncio.sleep(2 * command_seconds * 10)  # the start-up polls are done
            writes = []
            for number in (1, 2):
                pairing = await pair(server, f"scene-{number}", number=number)
                accs = await accessories(pairing)
                aids = [a["aid"] for a in accs if a["aid"] != 1][:5]
                writes.append((pairing, [(aid, char_iid(accs, aid, TARGET), UNSECURED)
                                         for aid in aids]))
            sim.world.errcodes.clear()
            started = time.monotonic()
            answers = await asyncio.gather(*(p.put_characteristics(w) for p, w in writes))
            records = [r for r in hub.registry.records.values()
                       if (r.bridge, r.accessory.aid) in
                       {(n, aid) for n, (_p, w) in enumerate(writes, start=1)
                        for aid, _i, _v in w}]
            await wait_for(lambda: all(r.accessory.current_state == UNSECURED
                                       for r in records), 30 * command_seconds + 10)
            took = time.monotonic() - started
            for pairing, _w in writes:
                await pairing.close()
        finally:
            await server.stop()
    busy = sim.world.errcodes[-3003]
    await sim.stop()
    return {"successes": sum(1 for a in answers if a == {}) * 5, "busy_3003": busy,
            "scene_s": took}


async def run(args: argparse.Namespace) -> int:
    failures: list[str] = []
    print("startup of several bridges (real process, a paired controller per bridge)")
    print(f"{'locks':>6} {'bridges':>8} {'all up':>8} {'served':>9} {'calls to publish':>17} "
          f"{'calls by served':>16} {'peak RSS':>10} {'RSS +3s':>9}")
    publish_calls = set()
    for locks in args.sizes:
        r = await bench_startup(locks)
        print(f"{r['locks']:>6} {r['advertised']:>3}/{r['bridges']:<4} "
              f"{r['up_s']:>7.3f}s {r['served_s']:>8.3f}s {r['published_after']!s:>17} "
              f"{r['calls']:>16} "
              f"{r['rss_mb']:>8.1f}MB {r['rss_3s_mb']:>7.1f}MB")
        publish_calls.add(r["published_after"])
        if r["advertised"] != r["bridges"]:
            failures.append(f"{locks} locks: {r['advertised']} of {r['bridges']} bridges up")
        if locks >= 1000 and (r["served_s"] >= 2.0 or r["rss_3s_mb"] >= 150):
            failures.append(f"startup with {locks} locks")
    if len(publish_calls) != 1 or None in publish_calls:
        failures.append(f"calls before publishing vary with the locks: {sorted(publish_calls)}")
    scene = await bench_scene(args.command_seconds)
    print(f"scene of 10 locks on one gateway across bridges 1 and 2 "
          f"({args.command_seconds:g} s per command): {scene['successes']}/10 ok, "
          f"{scene['busy_3003']} x -3003, {scene['scene_s']:.2f} s")
    if scene["successes"] != 10 or scene["busy_3003"]:
        failures.append("scene across bridges")
    print("all targets met" if not failures else f"targets missed: {', '.join(failures)}")
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[149, 400, 1000])
    parser.add_argument("--command-seconds", type=float, default=0.3)
    args = parser.parse_args()
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
