"""Admin CLI benchmark: work over several locks, gateways side by side.

The same nine locks, once behind three gateways (three each) and once behind a single
gateway, where the simulator's one-command-per-gateway rule makes any run serial. Each
command is a real ``hapbridge`` child process against the simulated cloud on 127.0.0.1 with
``command_seconds`` per gateway command; wall time from start to exit, the median of a few
runs. Measured: ``passcodes add`` to the nine locks, ``locks --state``, and ``passcodes
cleanup`` of one expired code per lock; and the -3003 answers (none expected: the CLI never
sends a gateway a second command while one is in flight).

Target: three gateways take about a third of the serial time (ratio <= 0.45, the process
start and the cloud calls around the commands included).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hapbridge.simulator import SimConfig, SimulatorServer  # noqa: E402

LOCKS = 9
TARGET_RATIO = 0.45


def write_config(path: Path, sim: SimulatorServer) -> Path:
    path.write_text(json.dumps({"bridge": {"name": "Bench"}, "platforms": [{
        "platform": "TTLock", "clientid": sim.config.client_id,
        "clientsecret": sim.config.client_secret, "username": sim.config.username,
        "password": sim.config.password, "baseUrl": sim.url}]}))
    path.chmod(0o600)
    return path


async def timed(config: Path, storage: Path, *argv: str) -> float:
    began = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hapbridge", "-c", str(config), "-U", str(storage), *argv,
        cwd=ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {err.decode().strip()}")
    return time.monotonic() - began


def seed_expired(sim: SimulatorServer) -> None:
    past = int((datetime.now() - timedelta(days=4)).timestamp() * 1000)
    for lock_id in sim.world.locks:
        sim.world.add_passcode(lock_id, f"71{lock_id % 100:02d}", type=3,
                               start_date=past - 3_600_000, end_date=past)


async def measure(gateways: int, command_seconds: float, runs: int,
                  work: Path) -> dict[str, float | int]:
    sim = SimulatorServer(SimConfig(locks=LOCKS, gateways=gateways,
                                    command_seconds=command_seconds))
    await sim.start("127.0.0.1", 0)
    try:
        config = write_config(work / f"config-{gateways}.json", sim)
        storage = work / f"storage-{gateways}"
        await timed(config, storage, "locks")  # log in once: the token is stored
        ids = [str(lock_id) for lock_id in sim.world.locks]
        figures: dict[str, float | int] = {}
        adds, states, sweeps = [], [], []
        for run in range(runs):
            adds.append(await timed(config, storage, "passcodes", "add", *ids,
                                    "--code", f"5829{run:02d}"))
            states.append(await timed(config, storage, "locks", "--state"))
            seed_expired(sim)
            sweeps.append(await timed(config, storage, "passcodes", "cleanup"))
        figures["add"] = statistics.median(adds)
        figures["state"] = statistics.median(states)
        figures["cleanup"] = statistics.median(sweeps)
        figures["busy"] = sim.world.errcodes[-3003]
        return figures
    finally:
        await sim.stop()


async def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        parallel = await measure(3, args.command_seconds, args.runs, work)
        serial = await measure(1, args.command_seconds, args.runs, work)
    print(f"{LOCKS} locks, {args.command_seconds:.1f} s per gateway command, median of "
          f"{args.runs} runs (whole process, start to exit)")
    print(f"{'command':<24}{'3 gateways':>12}{'1 gateway':>12}{'ratio':>8}")
    worst = 0.0
    for key, name in (("add", "passcodes add (9 locks)"), ("state", "locks --state"),
                      ("cleanup", "passcodes cleanup")):
        ratio = float(parallel[key]) / float(serial[key])
        worst = max(worst, ratio)
        print(f"{name:<24}{parallel[key]:>11.2f}s{serial[key]:>11.2f}s{ratio:>8.2f}")
    print(f"-3003 answers: {parallel['busy']} with 3 gateways, {serial['busy']} with 1")
    ok = worst <= TARGET_RATIO and parallel["busy"] == serial["busy"] == 0
    print(f"target: ratio <= {TARGET_RATIO} and no -3003: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--command-seconds", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
