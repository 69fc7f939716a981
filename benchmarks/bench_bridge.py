"""Bridge benchmark against the simulated cloud (everything on 127.0.0.1).

1. Startup: time from process start until the bridge answers a *paired* controller with all
   N locks, peak RSS, and the cloud calls made by then; N = 1, 50, 149. The bridge runs as a
   real ``hapbridge run`` process; it was paired (and logged in) by a previous run.
2. Latency: HomeKit write -> cloud request, and cloud success -> LockCurrentState event.
3. Scene: ten locks behind one gateway in one HomeKit write: successes, -3003 answers, and
   total time divided by ten single operations.

Targets: startup < 1.0 s and < 60 MB with a lock-independent call count; write -> cloud
< 10 ms; success -> event < 50 ms; scene 10/10, zero -3003, ratio < 1.2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiohomekit.controller import Controller  # noqa: E402
from aiohomekit.controller.ip import IpPairing  # noqa: E402

from hapbridge.simulator import SimConfig, SimulatorServer  # noqa: E402
from tests.bridge_helpers import (  # noqa: E402
    CURRENT,
    LOOPBACK,
    TARGET,
    EventLog,
    accessories,
    char_iid,
    free_port,
    pair,
    pair_process,
    spawn_bridge,
    start_bridge,
    stop_process,
    wait_for,
    wait_port,
    write_config,
)

UNSECURED, SECURED = 0, 1


# -- 1. startup of a real process -------------------------------------------------------------


# ``run`` without building the whole CLI (whose other commands may import more): shows what
# the bridge itself costs.
DIRECT = (
    "import argparse, asyncio, sys\n"
    "from hapbridge.cli.context import Context\n"
    "from hapbridge.cli.main import setup_logging\n"
    "from hapbridge.cli.run import _run\n"
    "args = argparse.Namespace(user_storage_path=sys.argv[1], config=None, debug=False,\n"
    "                          demo=False, bind=None, port=None)\n"
    "setup_logging(False)\n"
    "asyncio.run(_run(args, Context.from_args(args)))\n"
)
ENTRY = {
    "cli": ["-m", "hapbridge", "-U", "{storage}", "run"],
    "direct": ["-c", DIRECT, "{storage}"],
}


def spawn(storage: Path, entry: str = "cli") -> subprocess.Popen[bytes]:
    """The bridge process; its log goes to ``storage/bridge.log``."""
    return spawn_bridge(storage, [arg.replace("{storage}", str(storage))
                                  for arg in ENTRY[entry]])


def calls_before_publishing(storage: Path) -> int | None:
    """From the bridge's own log line: cloud calls made before the locks were published."""
    found = re.search(r"locks published after (\d+) cloud calls",
                      (storage / "bridge.log").read_text(errors="replace"))
    return int(found.group(1)) if found else None


def rss_mb(pid: int, field: str = "VmHWM") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def bench_startup(locks: int, entry: str = "cli") -> dict[str, Any]:
    sim = SimulatorServer(SimConfig(locks=locks, gateways=max(1, locks // 15),
                                    command_seconds=1.0))
    await sim.start(LOOPBACK, 0)
    with tempfile.TemporaryDirectory() as tmp:
        storage, port = Path(tmp), free_port()
        write_config(storage, sim, port, "Bench Bridge")
        proc = spawn(storage)  # first run: log in, allocate AIDs, get paired
        try:
            await wait_port(port)
            pairing_data = await pair_process(storage, port, "Bench Bridge")
        finally:
            stop_process(proc)
        sim.world.calls.clear()

        started = time.monotonic()
        proc = spawn(storage, entry)
        try:
            await wait_port(port)
            pairing = IpPairing(Controller(), pairing_data)
            accs = await pairing.list_accessories_and_characteristics()
            served = time.monotonic() - started
            calls_at_served = sum(sim.world.calls.values())
            rss_served = rss_mb(proc.pid)
            assert len(accs) == locks + 1, len(accs)
            await pairing.close()
            await asyncio.sleep(3)  # background details, gateway map and first state polls
            rss_later = rss_mb(proc.pid)
        finally:
            stop_process(proc)
        published_after = calls_before_publishing(storage)
    await sim.stop()
    return {"locks": locks, "served_s": served, "calls": calls_at_served,
            "published_after": published_after, "rss_mb": rss_served, "rss_3s_mb": rss_later}


# -- 2 and 3: latency and scene, in process ---------------------------------------------------


class CloudClock:
    """Times when the simulated cloud starts and finishes carrying a command."""

    def __init__(self, sim: SimulatorServer) -> None:
        self.starts: list[float] = []
        self.ends: list[float] = []
        original = sim.physics.remote

        async def remote(lock: Any, *, unlock: bool = False) -> None:
            self.starts.append(time.monotonic())
            await original(lock, unlock=unlock)
            self.ends.append(time.monotonic())

        sim.physics.remote = remote  # type: ignore[method-assign]


@dataclass
class Rig:
    sim: SimulatorServer
    pairing: IpPairing
    accs: list[dict[str, Any]]
    log: EventLog


@contextlib.asynccontextmanager
async def paired_rig(config: SimConfig, settle_s: float) -> AsyncIterator[Rig]:
    """Simulator + bridge + paired controller, every lock's first state known."""
    sim = SimulatorServer(config)
    await sim.start(LOOPBACK, 0)
    with tempfile.TemporaryDirectory() as tmp:
        server = await start_bridge(sim, Path(tmp))
        pairing = await pair(server)
        hub = server.hub
        assert hub is not None
        await wait_for(lambda: all(a.current_state != 3 for a in hub.accessories.values()),
                       settle_s)
        log = EventLog(pairing)
        try:
            yield Rig(sim, pairing, await accessories(pairing), log)
        finally:
            log.close()
            await pairing.close()
            await server.stop()
            await sim.stop()


async def bench_latency(iterations: int) -> dict[str, float]:
    async with paired_rig(SimConfig(locks=3, gateways=1, command_seconds=0.05), 10) as rig:
        sim, pairing, accs, log = rig.sim, rig.pairing, rig.accs, rig.log
        aid = min(a["aid"] for a in accs if a["aid"] != 1)
        current, target = char_iid(accs, aid, CURRENT), char_iid(accs, aid, TARGET)
        await pairing.subscribe([(aid, current)])
        clock = CloudClock(sim)
        to_cloud: list[float] = []
        to_event: list[float] = []
        for i in range(iterations):
            want = UNSECURED if i % 2 == 0 else SECURED
            seen = len(log.events)
            written = time.monotonic()
            await pairing.put_characteristics([(aid, target, want)])
            await wait_for(lambda seen=seen, want=want: any(
                k == (aid, current) and v == want for _t, k, v in log.events[seen:]), 5)
            event_at = next(t for t, k, v in log.events[seen:] if k == (aid, current))
            to_cloud.append(clock.starts[-1] - written)
            to_event.append(event_at - clock.ends[-1])
    return {
        "write_to_cloud_median_ms": statistics.median(to_cloud) * 1000,
        "write_to_cloud_p95_ms": _p95(to_cloud) * 1000,
        "success_to_event_median_ms": statistics.median(to_event) * 1000,
        "success_to_event_p95_ms": _p95(to_event) * 1000,
    }


async def bench_scene(command_seconds: float) -> dict[str, Any]:
    config = SimConfig(locks=10, gateways=1, command_seconds=command_seconds)
    async with paired_rig(config, 30) as rig:
        sim, pairing, accs, log = rig.sim, rig.pairing, rig.accs, rig.log
        locks = [a["aid"] for a in accs if a["aid"] != 1]
        keys = {aid: (char_iid(accs, aid, CURRENT), char_iid(accs, aid, TARGET)) for aid in locks}
        await pairing.subscribe([(aid, keys[aid][0]) for aid in locks])

        async def operate(aids: list[int], want: int) -> float:
            seen = len(log.events)
            start = time.monotonic()
            await pairing.put_characteristics([(aid, keys[aid][1], want) for aid in aids])
            await wait_for(lambda: all(any(k == (aid, keys[aid][0]) and v == want
                                           for _t, k, v in log.events[seen:]) for aid in aids),
                           command_seconds * 40 + 5)
            return time.monotonic() - start

        singles = [await operate([locks[i]], UNSECURED) for i in range(3)]
        for i in range(3):
            await operate([locks[i]], SECURED)
        busy_before = sim.world.errcodes[-3003]
        scene = await operate(locks, UNSECURED)
        successes = sum(1 for lock in sim.world.locks.values() if lock.state == 1)
        busy = sim.world.errcodes[-3003] - busy_before
    single = statistics.mean(singles)
    return {"successes": successes, "busy_3003": busy, "scene_s": scene, "single_s": single,
            "ratio": scene / (10 * single)}


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


async def run(args: argparse.Namespace) -> int:
    failures: list[str] = []
    print(f"startup (real process via {args.entry!r}, paired controller, simulated cloud)")
    print(f"{'locks':>6} {'served':>9} {'calls to publish':>17} {'calls by served':>16} "
          f"{'peak RSS':>10} {'RSS +3s':>9}")
    publish_calls = set()
    for locks in args.sizes:
        r = await bench_startup(locks, args.entry)
        print(f"{r['locks']:>6} {r['served_s']:>8.3f}s {r['published_after']!s:>17} "
              f"{r['calls']:>16} {r['rss_mb']:>8.1f}MB {r['rss_3s_mb']:>7.1f}MB")
        publish_calls.add(r["published_after"])
        if r["served_s"] >= 1.0 or r["rss_3s_mb"] >= 60:
            failures.append(f"startup with {locks} locks")
    if len(publish_calls) != 1 or None in publish_calls:
        failures.append(f"calls before publishing vary with the locks: {sorted(publish_calls)}")
    lat = await bench_latency(args.iterations)
    print(f"HomeKit write -> cloud request: median {lat['write_to_cloud_median_ms']:.1f} ms, "
          f"p95 {lat['write_to_cloud_p95_ms']:.1f} ms")
    print(f"cloud success -> LockCurrentState event: median "
          f"{lat['success_to_event_median_ms']:.1f} ms, "
          f"p95 {lat['success_to_event_p95_ms']:.1f} ms")
    if lat["write_to_cloud_p95_ms"] >= 10 or lat["success_to_event_p95_ms"] >= 50:
        failures.append("latency")
    scene = await bench_scene(args.command_seconds)
    print(f"scene of 10 locks on one gateway ({args.command_seconds:g} s per command): "
          f"{scene['successes']}/10 ok, {scene['busy_3003']} x -3003, "
          f"{scene['scene_s']:.2f} s vs 10 x {scene['single_s']:.2f} s single: "
          f"ratio {scene['ratio']:.2f}")
    if scene["successes"] != 10 or scene["busy_3003"] or scene["ratio"] >= 1.2:
        failures.append("scene")
    print("all targets met" if not failures else f"targets missed: {', '.join(failures)}")
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 50, 149])
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--command-seconds", type=float, default=0.5)
    parser.add_argument("--entry", choices=sorted(ENTRY), default="cli",
                        help="start 'hapbridge run' (cli) or only the bridge code (direct)")
    args = parser.parse_args()
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
