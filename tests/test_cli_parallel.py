"""Work over several locks: gateways side by side (one command each at a time), progress
only on a terminal, and Ctrl-C that stops cleanly and tells the truth.

The Ctrl-C and terminal tests run the real ``hapbridge`` in a child process (a pty for its
stderr where a terminal is needed) against the simulator on this test's loop, with slow
gateways, and compare what the command printed with what the simulated cloud holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import pty
import re
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hapbridge.cli.admin.progress import Progress, clip
from hapbridge.simulator import SimConfig, SimulatorServer
from hapbridge.simulator.world import SimLock

from . import test_cli_admin as admin
from .test_cli_admin import Run, lock_named, ms, write_config

ROOT = Path(__file__).resolve().parent.parent
config_file = admin.config_file
hb = admin.hb
ANSI = re.compile(r"\x1b\[")
GATEWAY_LOCKS = 9  # three gateways, three locks behind each
SLOW = 1.0  # seconds per gateway command in the Ctrl-C tests: time to press it mid-run


@pytest.fixture
def sim_config() -> SimConfig:
    # Front Door, Back Door, Garage, Office, Room 101..105 round-robin over 3 gateways,
    # then a Wi-Fi lock (Room 106) and a lock without a gateway (Room 107)
    return SimConfig(locks=GATEWAY_LOCKS, gateways=3, wifi_locks=1, orphan_locks=1,
                     command_seconds=0.2)


def gateway_locks(sim: SimulatorServer) -> list[SimLock]:
    return [lock for lock in sim.world.locks.values() if lock.gateway_id is not None]


@dataclass
class Flight:
    """What the simulated gateways carried: most commands at once, per gateway and in all."""

    now: int = 0
    most: int = 0
    per_gateway: dict[int, int] | None = None
    most_on_one: int = 0


@pytest.fixture
def flight(sim: SimulatorServer, monkeypatch: pytest.MonkeyPatch) -> Flight:
    seen = Flight(per_gateway={})
    remote = sim.physics.remote

    async def counted(lock: SimLock, **kwargs: Any) -> None:
        assert seen.per_gateway is not None
        key = lock.gateway_id if lock.gateway_id is not None else -lock.lock_id
        seen.now += 1
        seen.per_gateway[key] = seen.per_gateway.get(key, 0) + 1
        seen.most = max(seen.most, seen.now)
        seen.most_on_one = max(seen.most_on_one, seen.per_gateway[key])
        try:
            await remote(lock, **kwargs)
        finally:
            seen.now -= 1
            seen.per_gateway[key] -= 1

    monkeypatch.setattr(sim.physics, "remote", counted)
    return seen


# -- parallel, and clean when not a terminal ----------------------------------------------


async def test_gateways_work_side_by_side_and_rows_keep_the_given_order(
    hb: Run, sim: SimulatorServer, flight: Flight
) -> None:
    # Given so that completion order differs: the first two share a gateway, the third
    # (another gateway) finishes before the second; the Wi-Fi lock and the orphan come last.
    locks = gateway_locks(sim)
    first, second = locks[0], locks[3]
    assert first.gateway_id == second.gateway_id != locks[1].gateway_id
    given = [first, second, locks[1], locks[2], locks[4], lock_named(sim, "Room 106"),
             lock_named(sim, "Room 107")]
    result = await hb("passcodes", "add", *[lock.alias for lock in given], "--code", "582913")
    assert result.code == 1  # the orphan: no gateway
    rows = result.out.splitlines()[2:]
    assert [row.split()[0] for row in rows] == [str(lock.lock_id) for lock in given]
    assert all(row.endswith("added") for row in rows[:-1])
    assert "failed: the lock is not connected to any gateway" in rows[-1]
    for lock in given[:-1]:
        assert any(p.code == "582913" for p in sim.world.passcodes[lock.lock_id].values())
    # three gateways and the Wi-Fi lock at once, never two commands on one gateway
    assert flight.most == 4 and flight.most_on_one == 1
    assert sim.world.errcodes[-3003] == 0
    # not a terminal: nothing on stderr but the one error line, no escape anywhere
    assert result.err.splitlines() == [
        "hapbridge: error: the passcode was not added to 1 of 7 locks (see above)"]
    assert not ANSI.search(result.out + result.err)


async def test_non_terminal_runs_print_nothing_extra(
    hb: Run, sim: SimulatorServer, flight: Flight
) -> None:
    for lock in gateway_locks(sim):  # one long-expired code each, for the sweep
        sim.world.add_passcode(lock.lock_id, "7100" + str(lock.lock_id % 10), type=3,
                               start_date=ms(datetime.now() - timedelta(days=5)),
                               end_date=ms(datetime.now() - timedelta(days=4)))
    state = await hb("locks", "--state", "--csv")
    assert state.code == 0 and state.err == ""
    assert state.out.splitlines()[0].startswith("lock_id,alias,battery,gateway,online,state")
    ids = [line.split(",")[0] for line in state.out.splitlines()[1:]]
    assert ids == [str(lock_id) for lock_id in sorted(sim.world.locks)]  # the cloud's order
    assert flight.most_on_one == 1 and flight.most == 4

    cleanup = await hb("passcodes", "cleanup", "--json")
    assert cleanup.code == 0 and cleanup.err == ""
    assert [row["lock_id"] for row in cleanup.json()] == [
        lock.lock_id for lock in gateway_locks(sim)]
    assert all(row["action"] == "deleted" for row in cleanup.json())

    records = await hb("records", "--limit", "5")
    assert records.code == 0 and records.err == ""
    assert not ANSI.search(state.out + cleanup.out + records.out)
    assert sim.world.errcodes[-3003] == 0


# -- the real thing: a child process, a terminal, Ctrl-C ----------------------------------


@dataclass(frozen=True)
class Child:
    code: int
    out: str
    err: str


@contextlib.contextmanager
def terminal() -> Iterator[tuple[int, int]]:
    """A pty: (our end, the child's end)."""
    ours, theirs = pty.openpty()
    try:
        yield ours, theirs
    finally:
        for fd in (ours, theirs):
            with contextlib.suppress(OSError):
                os.close(fd)


def _read_all(fd: int) -> bytes:
    """Everything written to the pty until the child's end closes (EIO on Linux)."""
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


Until = Callable[[], bool]


async def run_child(
    config: Path, storage: Path, *argv: str, tty: bool = False,
    interrupt_when: Until | None = None, presses: int = 1,
) -> Child:
    """``hapbridge`` in a child process; SIGINT (``presses`` times) once ``interrupt_when``
    holds. With ``tty`` its stderr is a terminal (stdout stays a pipe)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TERM": "xterm"}
    with terminal() as (ours, theirs):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hapbridge", "-c", str(config), "-U", str(storage), *argv,
            cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE,
            stderr=theirs if tty else asyncio.subprocess.PIPE)
        os.close(theirs)
        reader = asyncio.create_task(asyncio.to_thread(_read_all, ours)) if tty else None
        try:
            if interrupt_when is not None:
                for _ in range(400):  # at most 20 s
                    if interrupt_when() or proc.returncode is not None:
                        break
                    await asyncio.sleep(0.05)
                assert interrupt_when(), "the run never got that far"
                for _ in range(presses):
                    proc.send_signal(signal.SIGINT)
                    await asyncio.sleep(0.2)
            out, err = await asyncio.wait_for(proc.communicate(), 30)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        err_text = (await reader).decode() if reader is not None else err.decode()
    assert proc.returncode is not None
    return Child(proc.returncode, out.decode(), err_text)


@pytest.fixture
def child(sim: SimulatorServer, tmp_path: Path) -> Callable[..., Awaitable[Child]]:
    config = write_config(tmp_path / "child.json", sim)

    def start(*argv: str, **kwargs: Any) -> Awaitable[Child]:
        return run_child(config, tmp_path / "child-storage", *argv, **kwargs)

    return start


def holders(sim: SimulatorServer, code: str) -> set[int]:
    """The locks that hold ``code``, as the cloud has it."""
    return {lock_id for lock_id, codes in sim.world.passcodes.items()
            if any(p.code == code for p in codes.values())}


@pytest.fixture
def added_codes(sim: SimulatorServer) -> Callable[[], set[int]]:
    """The locks that got a passcode since the fixture was made."""
    before = {lock_id: set(codes) for lock_id, codes in sim.world.passcodes.items()}

    def now() -> set[int]:
        return {lock_id for lock_id, codes in sim.world.passcodes.items()
                if set(codes) - before.get(lock_id, set())}

    return now


def result_rows(out: str) -> dict[int, str]:
    """``passcodes add``'s table: lock id -> RESULT."""
    rows = {}
    for line in out.splitlines()[2:]:
        lock_id, *_middle, = line.split()
        rows[int(lock_id)] = line.split("  ")[-1].strip()
    return rows


async def test_progress_on_a_terminal_shows_a_line_per_lock(
    sim: SimulatorServer, child: Callable[..., Awaitable[Child]]
) -> None:
    locks = gateway_locks(sim)[:4]
    result = await child("passcodes", "add", *[str(lock.lock_id) for lock in locks],
                         "--code", "582913", tty=True)
    assert result.code == 0, result.err
    assert result.err.startswith("Adding the passcode to 4 locks, through 3 gateways side "
                                 "by side (one command at a time on each)")
    lines = [line.rsplit("\x1b[K", 1)[-1] for line in result.err.splitlines()]
    done = [line for line in lines if line.startswith("[")]
    assert [line[:5] for line in done] == ["[1/4]", "[2/4]", "[3/4]", "[4/4]"]
    for lock in locks:
        assert sum(f"{lock.alias} ({lock.lock_id}): added (" in line for line in done) == 1
    assert "in flight: " in result.err  # the status line, redrawn in place...
    assert "in flight" not in result.err.rsplit("\r\x1b[K", 1)[1]  # ...and erased
    assert re.search(r"\n4 of 4 locks done in \d+\.\d s\r?\n$", result.err)
    # stdout is a pipe: the same table as ever, in the order given, no escapes
    assert not ANSI.search(result.out)
    assert list(result_rows(result.out)) == [lock.lock_id for lock in locks]
    assert holders(sim, "582913") == {lock.lock_id for lock in locks}


async def test_ctrl_c_mid_run_waits_for_the_commands_in_flight_and_tells_the_truth(
    sim: SimulatorServer, child: Callable[..., Awaitable[Child]],
    added_codes: Callable[[], set[int]],
) -> None:
    sim.config.command_seconds = SLOW
    locks = gateway_locks(sim)
    result = await child("passcodes", "add", *[lock.alias for lock in locks],
                         interrupt_when=lambda: len(added_codes()) >= 3)
    assert result.code == 130, result.err
    assert "Traceback" not in result.err
    first = result.out.splitlines()[0]
    code = re.fullmatch(r"Passcode (\d{6}) \(chosen at random\), permanent", first)
    assert code is not None, first
    rows = result_rows(result.out)
    assert list(rows) == [lock.lock_id for lock in locks]  # every lock, in the order given
    added = {lock_id for lock_id, text in rows.items() if text == "added"}
    # what the command says is exactly what the cloud holds, the random code included
    assert added == holders(sim, code[1]) == added_codes()
    assert 3 <= len(added) < len(locks)  # the ones in flight were awaited, not all ran
    assert {text for lock_id, text in rows.items() if lock_id not in added} == {
        "not tried (interrupted)"}
    last = result.err.splitlines()[-1]
    assert last.startswith(f"hapbridge: interrupted: the passcode was added to {len(added)} "
                           f"of {len(locks)} locks (see above); not tried: ")


async def test_second_ctrl_c_abandons_the_commands_in_flight_and_says_so(
    sim: SimulatorServer, child: Callable[..., Awaitable[Child]],
    added_codes: Callable[[], set[int]],
) -> None:
    sim.config.command_seconds = SLOW
    calls = sim.world.calls
    locks = gateway_locks(sim)
    result = await child("passcodes", "add", *[lock.alias for lock in locks], "--json",
                         interrupt_when=lambda: calls["/v3/keyboardPwd/add"] >= 3, presses=2)
    assert result.code == 130, result.err
    data = json.loads(result.out)
    assert data["interrupted"] is True
    by_lock = {row["lock_id"]: row for row in data["results"]}
    abandoned = {lock_id for lock_id, row in by_lock.items()
                 if (row["error"] or "").startswith("unknown: abandoned in flight")}
    added = {lock_id for lock_id, row in by_lock.items() if row["ok"]}
    assert abandoned and not added & abandoned
    await asyncio.sleep(SLOW + 0.2)  # what the gateways were carrying has landed
    # "added" only where it is; the code may be on an abandoned lock, never elsewhere
    assert added <= holders(sim, data["code"]) <= added | abandoned
    assert "abandoned in flight (it may have been added): " in result.err.splitlines()[-1]
    assert "Traceback" not in result.err


async def test_ctrl_c_stops_a_cleanup_after_the_deletions_in_flight(
    sim: SimulatorServer, child: Callable[..., Awaitable[Child]]
) -> None:
    sim.config.command_seconds = SLOW
    expired = {}
    for lock in gateway_locks(sim)[:3]:  # one gateway each, two codes each
        expired[lock.lock_id] = {
            sim.world.add_passcode(lock.lock_id, f"71{n}{lock.lock_id % 10}", type=3,
                                   start_date=ms(datetime.now() - timedelta(days=5)),
                                   end_date=ms(datetime.now() - timedelta(days=4))).passcode_id
            for n in range(2)}
    calls = sim.world.calls
    result = await child("passcodes", "cleanup", "--json",
                         interrupt_when=lambda: calls["/v3/keyboardPwd/delete"] >= 3)
    assert result.code == 130, result.err
    rows = json.loads(result.out)
    actions = {row["passcode_id"]: row["action"] for row in rows}
    assert set(actions) == set().union(*expired.values())
    left = {pid for codes in sim.world.passcodes.values() for pid in codes}
    for passcode_id, action in actions.items():
        assert action in ("deleted", "not deleted (interrupted)")
        assert (passcode_id in left) == (action != "deleted")
    assert list(actions.values()).count("deleted") == 3  # the three in flight, no more
    assert "hapbridge: interrupted: deleted 3 passcodes (see above)" in result.err


async def test_ctrl_c_stops_a_read_at_once(
    sim: SimulatorServer, child: Callable[..., Awaitable[Child]]
) -> None:
    sim.config.command_seconds = SLOW
    calls = sim.world.calls
    result = await child("locks", "--state",
                         interrupt_when=lambda: calls["/v3/lock/queryOpenState"] >= 3)
    assert result.code == 130, result.err
    lines = result.out.splitlines()
    assert lines[0].split()[-1] == "STATE" and len(lines) == 1 + len(sim.world.locks)
    assert result.err.splitlines()[-1].startswith("hapbridge: interrupted: the state of ")
    assert "Traceback" not in result.err


async def test_lock_run_restores_ctrl_c_afterwards() -> None:
    """In this (main) thread: Ctrl-C during the run is the run's; after it, Python's again."""
    from hapbridge.cli.admin.parallel import LockRun, Step, cloud_carriers
    from hapbridge.ttlock.models import Lock

    before = signal.getsignal(signal.SIGINT)
    locks = [Lock.from_api({"lockId": n, "lockAlias": f"L{n}"}) for n in (1, 2)]
    started: list[int] = []

    async def work(lock: Lock) -> Step:
        started.append(lock.lock_id)
        if lock.lock_id == 1:
            os.kill(os.getpid(), signal.SIGINT)
        await asyncio.sleep(0.05)
        return Step(True, "done")

    run = LockRun(locks, {1: ("gateway", 9), 2: ("gateway", 9)}, changes=True)
    await run.each(work, title="test")
    assert run.interrupted and run.finished == {1} and started == [1]
    assert [lock.lock_id for lock in run.not_started] == [2]
    assert signal.getsignal(signal.SIGINT) is before
    assert cloud_carriers(locks) == {1: ("cloud", 1), 2: ("cloud", 2)}



class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_keeps_names_from_the_cloud_off_the_terminal_controls(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TERM", "xterm")
    screen = FakeTerminal()
    progress = Progress(2, stream=screen)
    progress.begin("Adding")
    evil = "Door\x1b[2J\x1b]0;pwned\x07"
    progress.started(f"{evil} (1)", evil)
    progress.finished(f"{evil} (1)", "added")
    progress.end()
    text = screen.getvalue()
    assert "\x1b[2J" not in text and "\x1b]" not in text and "\x07" not in text
    assert "[1/2] Door [2J ]0;pwned  (1): added (" in text
    assert text.endswith("\r\x1b[K1 of 2 locks done in 0.0 s\n")  # no status line left
    assert clip("x" * 100, 20) == "x" * 19 + "…" and clip("前門" * 20, 9) == "前門前門…"

    piped = io.StringIO()  # not a terminal: not one byte
    quiet = Progress(5, stream=piped)
    quiet.begin("Adding")
    quiet.started("A (1)")
    quiet.finished("A (1)", "added")
    quiet.say("Ctrl-C: stopping")
    quiet.end()
    assert piped.getvalue() == ""
    alone = FakeTerminal()  # one lock: its answer follows at once, no progress
    single = Progress(1, stream=alone)
    single.begin("Adding")
    single.finished("A (1)", "added")
    assert alone.getvalue() == ""
