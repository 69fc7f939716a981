"""Push receiver benchmark (everything on 127.0.0.1).

The receiver runs in its own process, as in the bridge, with a sink that applies each push
through a RecordOrder and notes when it did. Measured:

1. A valid push: POST -> "success" answer, and POST -> the sink holding the records
   (median, p95), pushes sent one after another as the cloud sends them.
2. 1,000 hostile requests (wrong paths, malformed forms, other methods, oversize bodies),
   50 at a time: how long they take, the receiver's CPU per request, and the valid-push
   latency while they arrive against without them.

Targets: push -> sink < 5 ms median; a hostile request < 1 ms of receiver CPU; pushes during
the flood answered within 50 ms p95. (Phase 2 adds the HomeKit end-to-end figures.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from tests.push_helpers import a_record, push_form  # noqa: E402

LOCK = 3_000_001
CHILD = """
import asyncio, json, signal, sys, time
sys.path.insert(0, sys.argv[1])
from hapbridge.push.receiver import PushReceiver
from hapbridge.push.settings import CallbackSettings
from tests.push_helpers import ACCOUNT, SECRET, StateSink

class TimedSink(StateSink):
    def __init__(self):
        super().__init__({int(sys.argv[3])})
        self.times = []
    def accept(self, push):
        super().accept(push)
        self.times.append((push.records[0].lock_date, time.time()))

async def main():
    sink = TimedSink()
    receiver = PushReceiver(CallbackSettings(port=0), SECRET, sink, account=ACCOUNT)
    await receiver.start()
    print(receiver.urls.local, flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await receiver.stop()
    with open(sys.argv[2], "w") as out:
        json.dump({"times": sink.times, "refused": dict(receiver.refused),
                   "accepted": receiver.accepted}, out)

asyncio.run(main())
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


async def pushes(http: httpx.AsyncClient, url: str, count: int, start: int,
                 sent: dict[int, float]) -> list[float]:
    """``count`` valid pushes one after another: the answer times in ms."""
    answers = []
    for n in range(count):
        lock_date = start + n
        form = push_form(LOCK, a_record(LOCK, 4 if n % 2 else 11, lock_date))
        sent[lock_date] = time.time()
        began = time.perf_counter()
        answer = await http.post(url, data=form)
        answers.append((time.perf_counter() - began) * 1000)
        assert answer.text == "success", answer.status_code
    return answers


def hostile_requests(url: str) -> list[bytes]:
    """Raw HTTP/1.1 requests, one per kind: a flood costs the attacker nothing to build."""
    parts = urlsplit(url)
    secret_path = parts.path
    form = "Content-Type: application/x-www-form-urlencoded\r\n"

    def request(method: str, path: str, body: bytes = b"", headers: str = form,
                length: int | None = None) -> bytes:
        size = len(body) if length is None else length
        return (f"{method} {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n{headers}"
                f"Content-Length: {size}\r\nConnection: close\r\n\r\n").encode() + body

    return [
        request("POST", "/guess", b"notifyType=1"),
        request("POST", secret_path, b"notifyType=1&lockId=x&records=["),
        request("GET", secret_path, headers=""),
        request("POST", secret_path, b"notifyType=1", length=10_000_000),  # declared only
        request("POST", secret_path[:-2] + "xx", b"notifyType=1"),
    ]


async def flood(url: str, count: int, concurrency: int) -> tuple[float, dict[int, int]]:
    """``count`` hostile requests, each on its own connection, ``concurrency`` at a time."""
    parts = urlsplit(url)
    kinds = hostile_requests(url)
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)

    async def worker() -> None:
        while not queue.empty():
            n = queue.get_nowait()
            try:
                reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
                writer.write(kinds[n % len(kinds)])
                status_line = await reader.readline()
                writer.close()
                status = int(status_line.split()[1])
            except (OSError, IndexError, ValueError):
                status = 0
            statuses[status] = statuses.get(status, 0) + 1

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - began, statuses


def flood_process(url: str, count: int, concurrency: int,
                  results: multiprocessing.Queue[tuple[float, dict[int, int]]]) -> None:
    """The flood from its own process, so the valid pushes' client is not slowed by it."""
    results.put(asyncio.run(flood(url, count, concurrency)))


async def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        stats_file = Path(tmp) / "stats.json"
        command = [sys.executable, "-c", CHILD, str(ROOT), str(stats_file), str(LOCK)]
        child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout is not None
            url = child.stdout.readline().strip()
            sent: dict[int, float] = {}
            now = int(time.time() * 1000)
            async with httpx.AsyncClient(timeout=10) as http:
                await pushes(http, url, 20, now - 10_000_000, {})  # warm up
                cpu_idle = cpu_seconds(child.pid)
                idle = await pushes(http, url, args.pushes, now, sent)
                push_cpu = (cpu_seconds(child.pid) - cpu_idle) / args.pushes
                cpu_before = cpu_seconds(child.pid)
                results: multiprocessing.Queue[tuple[float, dict[int, int]]] = \
                    multiprocessing.Queue()
                flooder = multiprocessing.Process(
                    target=flood_process, args=(url, args.hostile, args.concurrency, results))
                flooder.start()
                during: list[float] = []
                start = now + args.pushes
                while flooder.is_alive() and results.empty():
                    during += await pushes(http, url, 1, start + len(during), sent)
                    await asyncio.sleep(0.005)
                flood_s, statuses = results.get(timeout=60)
                flooder.join(timeout=10)
                cpu_flood = cpu_seconds(child.pid) - cpu_before
        finally:
            child.send_signal(signal.SIGTERM)
            child.wait(timeout=20)
        stats = json.loads(stats_file.read_text())
    to_sink = [(at - sent[lock_date]) * 1000 for lock_date, at in stats["times"]
               if lock_date in sent]
    # the valid pushes sent meanwhile cost what they cost alone: take that out
    hostile_cpu_ms = max(0.0, cpu_flood - push_cpu * len(during)) / args.hostile * 1000
    print("valid push, one after another:")
    print(f"  POST -> 'success'     median {statistics.median(idle):.2f} ms, "
          f"p95 {p95(idle):.2f} ms ({len(idle)} pushes)")
    print(f"  POST -> sink has it   median {statistics.median(to_sink):.2f} ms, "
          f"p95 {p95(to_sink):.2f} ms")
    print(f"{args.hostile} hostile requests, {args.concurrency} at a time:")
    print(f"  took {flood_s:.2f} s ({args.hostile / flood_s:.0f}/s), answers {statuses}")
    print(f"  receiver CPU {cpu_flood * 1000:.0f} ms in all with {len(during)} valid pushes "
          f"meanwhile ({push_cpu * 1000:.2f} ms each): {hostile_cpu_ms:.3f} ms per hostile "
          "request")
    print(f"  valid push during the flood: median {statistics.median(during):.2f} ms, "
          f"p95 {p95(during):.2f} ms ({len(during)} pushes) against "
          f"{statistics.median(idle):.2f} / {p95(idle):.2f} ms without")
    print(f"receiver counted: accepted {stats['accepted']}, refused {stats['refused']}")
    failures = []
    if statistics.median(to_sink) >= 5:
        failures.append("push -> sink")
    if hostile_cpu_ms >= 1:
        failures.append("hostile request CPU")
    if during and p95(during) >= 50:
        failures.append("push during flood")
    print("all targets met" if not failures else f"targets missed: {', '.join(failures)}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=300)
    parser.add_argument("--hostile", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
