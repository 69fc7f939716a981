"""The admin commands end to end: ``main(argv)`` against the simulated cloud over HTTP.

``main`` runs its own event loop (``asyncio.run``), so each invocation runs in a thread
while the simulator keeps serving on the test's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from hapbridge.cli.main import main
from hapbridge.errors import HapbridgeError
from hapbridge.simulator import SimConfig, SimulatorServer
from hapbridge.simulator.world import SimLock
from hapbridge.ttlock import TTLockClient
from hapbridge.ttlock.auth import TokenManager
from hapbridge.ttlock.errors import TransportError

HOUR_MS = 3_600_000
BERLIN = timezone(timedelta(hours=1))  # the simulated locks' timezoneRawOffset


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


Run = Callable[..., Awaitable[Result]]


@pytest.fixture
def sim_config() -> SimConfig:
    # 5 Bluetooth locks alternating over 2 gateways, then a Wi-Fi lock, then an orphan:
    # Front Door, Back Door, Garage, Office, Room 101 | Room 102 (Wi-Fi) | Room 103 (orphan)
    return SimConfig(locks=5, gateways=2, wifi_locks=1, orphan_locks=1, command_seconds=0.05)


def write_config(path: Path, sim: SimulatorServer, **platform: Any) -> Path:
    block = {
        "platform": "TTLock",
        "clientid": sim.config.client_id,
        "clientsecret": sim.config.client_secret,
        "username": sim.config.username,
        "password": sim.config.password,
        "baseUrl": sim.url,
        "maximumApiRetry": 4,
        "retryDelay": 0.01,
        **platform,
    }
    path.write_text(json.dumps({"bridge": {"name": "Test"}, "platforms": [block]}))
    path.chmod(0o600)  # as it should be: no "readable by other users" warning
    return path


@pytest.fixture
def config_file(sim: SimulatorServer, tmp_path: Path) -> Path:
    return write_config(tmp_path / "config.json", sim)


@pytest.fixture
def hb(config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    """``await hb("locks", "--json")``: run the CLI on the simulator's config."""

    async def run(*argv: str, config: Path | None = None) -> Result:
        args = ["-c", str(config or config_file), "-U", str(tmp_path / "storage"), *argv]
        code = await asyncio.to_thread(main, args)
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


def lock_named(sim: SimulatorServer, alias: str) -> SimLock:
    return next(lock for lock in sim.world.locks.values() if lock.alias == alias)


def json_failure(result: Result, code: int = 1) -> dict[str, Any]:
    """A failed single action with --json: its object on stdout, the same message as the one
    ``hapbridge: error:`` line on stderr, and the exit code."""
    assert result.code == code, result.err
    data = result.json()
    assert isinstance(data, dict) and data["ok"] is False
    assert result.err.splitlines() == [f"hapbridge: error: {data['error']}"]
    return data


def ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def later(**delta: float) -> str:
    """A local ISO time (to the minute) relative to now, as a user types it."""
    return (datetime.now() + timedelta(**delta)).strftime("%Y-%m-%dT%H:%M")


@contextlib.contextmanager
def machine_zone(name: str) -> Iterator[None]:
    """This machine's time zone is ``name`` for the duration."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", name)
        time.tzset()
        yield
    time.tzset()


@pytest.fixture
def new_york() -> Iterator[None]:
    """Local time far from UTC, to prove times are read and shown as local time."""
    with machine_zone("America/New_York"):
        yield


@pytest.fixture
def utc_machine() -> Iterator[None]:
    """A Raspberry Pi on UTC, while the simulated locks report UTC+01:00."""
    with machine_zone("UTC"):
        yield


# -- help ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--help"], ["check", "locks", "unlock", "gateways", "passcodes", "records", "usage"]),
        (["passcodes", "--help"], ["list", "add", "random", "change", "delete", "cleanup",
                                   "2026-12-24T15:00"]),
        (["passcodes", "add", "--help"], ["--code", "--start", "--end", "random"]),
        (["passcodes", "cleanup", "--help"], ["--expired-for", "--dry-run"]),
    ],
)
def test_help_explains_the_commands(
    argv: list[str], expected: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0
    out = capsys.readouterr().out
    for word in expected:
        assert word in out


@pytest.mark.parametrize("argv", [["check"], ["locks"], ["gateways"], ["passcodes"],
                                  ["passcodes", "add"], ["passcodes", "random"], ["usage"]])
def test_help_fits_the_terminal_and_keeps_examples_whole(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    out = capsys.readouterr().out
    prose, _, examples = out.partition("\nexample")
    assert max(len(line) for line in prose.splitlines()) <= 80
    assert examples.splitlines()[1].startswith("  hapbridge ")  # each example on its line


@pytest.mark.parametrize(
    ("argv", "corrected"),
    [
        (["locks", "-U", "/tmp/x"], "hapbridge -U /tmp/x locks"),
        (["passcodes", "list", "Room 12", "-D", "--config=/etc/c.json"],
         "hapbridge -D --config=/etc/c.json passcodes list 'Room 12'"),
        (["-D", "unlock", "Garage", "-c"], "hapbridge -D -c CONFIG unlock Garage"),
    ],
)
def test_global_options_after_the_command_say_where_they_go(
    argv: list[str], corrected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"hapbridge: error: global options go before the command: {corrected}"
    ]


# -- locks --------------------------------------------------------------------------------


async def test_locks_table(hb: Run) -> None:
    result = await hb("locks")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == ["ID", "ALIAS", "BATTERY", "GATEWAY", "ONLINE"]
    assert len(lines) == 1 + 7
    assert any("Front Door" in line and "yes" in line for line in lines)
    orphan = next(line for line in lines if "Room 103" in line)
    assert orphan.split()[-1] == "no"


async def test_table_of_wide_and_odd_aliases_stays_aligned(
    hb: Run, sim: SimulatorServer
) -> None:
    # terminal columns: CJK and emoji take 2, a combining accent 0; tabs, newlines a space
    shown = {"前門 A": 6, "Cafe\u0301 🚪 B": 9}
    lock_named(sim, "Front Door").alias = "前門\tA"
    lock_named(sim, "Garage").alias = "Cafe\u0301 🚪\nB"
    result = await hb("locks")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert len(lines) == 1 + 7  # each row on one line
    for alias, columns in shown.items():
        assert sum(alias in line for line in lines) == 1
        lines = [line.replace(alias, "x" * columns) for line in lines]  # now 1 char, 1 column
    gateway_at = lines[0].index("GATEWAY")
    for line in lines[1:]:
        assert line[gateway_at - 2:gateway_at] == "  " and line[gateway_at] != " ", line


async def test_locks_json_with_state(hb: Run, sim: SimulatorServer) -> None:
    garage = lock_named(sim, "Garage")
    garage.state = 1
    result = await hb("locks", "--state", "--json")
    assert result.code == 0, result.err
    rows = {row["alias"]: row for row in result.json()}
    assert rows["Garage"]["state"] == "unlocked"
    assert rows["Front Door"]["state"] == "locked"
    assert rows["Room 102"]["wifi"] is True and rows["Room 102"]["state"] == "locked"
    assert rows["Room 103"]["state"] is None and rows["Room 103"]["online"] is False
    assert rows["Garage"]["lock_id"] == garage.lock_id
    assert rows["Garage"]["battery"] == garage.battery
    gateway = sim.world.gateways[garage.gateway_id or 0]
    assert rows["Garage"]["gateway"] == gateway.name
    assert sim.world.errcodes[-3003] == 0  # the bridge's dispatcher: one query per gateway


async def test_locks_show_by_alias_without_secrets(hb: Run, sim: SimulatorServer) -> None:
    garage = lock_named(sim, "Garage")
    for argv in (("locks", "show", "gARAGE"), ("locks", "show", str(garage.lock_id), "--json")):
        result = await hb(*argv)
        assert result.code == 0, result.err
        for secret in (garage.lock_data, garage.admin_pwd, garage.lock_key, garage.aes_key,
                       sim.config.password, sim.config.client_secret):
            assert secret not in result.out + result.err
    detail = result.json()
    assert detail["lock_id"] == garage.lock_id and detail["model"] == garage.model_num
    assert [g["gateway_id"] for g in detail["gateways"]] == [garage.gateway_id]
    assert detail["gateways"][0]["online"] is True


async def test_locks_show_takes_online_from_the_gateway_list(
    hb: Run, sim: SimulatorServer
) -> None:
    """gateway/listByLock has no online flag (documented): it comes from gateway/list."""
    garage = lock_named(sim, "Garage")
    sim.world.gateways[garage.gateway_id or 0].online = False
    detail = (await hb("locks", "show", "Garage", "--json")).json()
    assert detail["gateways"][0]["online"] is False


async def test_unknown_lock_is_one_line(hb: Run) -> None:
    result = await hb("locks", "show", "Frnt Door")
    assert result.code == 2  # a mistake in the command line: nothing was done
    assert result.err.strip().splitlines() == [
        "hapbridge: error: no lock 'Frnt Door' in this account: did you mean 'Front Door'? "
        "('hapbridge locks' lists them)"
    ]
    assert result.out == ""


async def test_suggestion_ignores_case(hb: Run) -> None:
    result = await hb("locks", "show", "FRONT DOR")
    assert result.code == 2
    assert "did you mean 'Front Door'?" in one_error_line(result)


async def test_alias_matches_whatever_the_accents_encoding(
    hb: Run, sim: SimulatorServer
) -> None:
    office = lock_named(sim, "Office")
    office.alias = "Cafe\u0301"  # "Café" as the app may store it: e + combining accent
    result = await hb("unlock", "CAF\u00c9")  # typed precomposed, in capitals
    assert result.code == 0, result.err
    assert office.state == 1


async def test_ambiguous_alias_lists_candidates_and_does_nothing(
    hb: Run, sim: SimulatorServer
) -> None:
    first, second = lock_named(sim, "Garage"), lock_named(sim, "Office")
    second.alias = "GARAGE"
    result = await hb("unlock", "garage")
    assert result.code == 2
    assert "ambiguous" in result.err
    assert f"{first.lock_id} (Garage)" in result.err and f"{second.lock_id} (GARAGE)" in result.err
    assert sim.world.calls["/v3/lock/unlock"] == 0
    # the id still picks one
    assert (await hb("unlock", str(second.lock_id))).code == 0
    assert second.state == 1 and first.state == 0


def one_error_line(result: Result) -> str:
    """The single stderr line of a failed command (no traceback, no warning after it)."""
    assert result.code != 0, result.out
    lines = result.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("hapbridge: error: "), result.err
    return lines[0]


@pytest.mark.parametrize(
    "argv",
    [
        ("locks",),
        ("locks", "show", "Garage"),
        ("locks", "--state"),
        ("passcodes", "add", "Garage", "Office", "--start", "2030-12-24T15:00",
         "--end", "2030-12-27T11:00"),
    ],
)
async def test_wrong_password_is_one_line(
    hb: Run, sim: SimulatorServer, tmp_path: Path, argv: tuple[str, ...]
) -> None:
    bad = write_config(tmp_path / "bad.json", sim, password="wrong")
    result = await hb(*argv, config=bad)
    assert "wrong TTLock account or password" in one_error_line(result)


async def test_a_failed_listing_stops_its_sibling_before_the_client_closes(
    hb: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []

    async def failing_list(self: TTLockClient, **_: Any) -> list[Any]:
        raise HapbridgeError("the cloud is down")

    async def slow_gateway_list(self: TTLockClient) -> list[Any]:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            events.append("gateway listing cancelled")
            raise
        return []  # pragma: no cover

    real_aclose = TTLockClient.aclose

    async def recording_aclose(self: TTLockClient) -> None:
        events.append("client closed")
        await real_aclose(self)

    monkeypatch.setattr(TTLockClient, "list_locks", failing_list)
    monkeypatch.setattr(TTLockClient, "list_gateways", slow_gateway_list)
    monkeypatch.setattr(TTLockClient, "aclose", recording_aclose)
    result = await hb("locks")
    assert one_error_line(result) == "hapbridge: error: the cloud is down"
    assert events == ["gateway listing cancelled", "client closed"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("records", "Garage", "--since", "99999999999d"), "too long"),
        (("records", "Garage", "--since", "0001-01-01"), "out of range"),
        (("passcodes", "cleanup", "--expired-for", "99999999w"), "too long"),
        (("passcodes", "add", "Garage", "--start", "now", "--end", "9999-12-31T23:59-12:00"),
         "out of range"),
        (("passcodes", "add", "Garage", "--start", "9999-12-31T23:00", "--end",
          "9999-12-31T23:59"), "out of range"),
        (("passcodes", "random", "Garage", "--type", "one-time", "--start", "0001-01-01"),
         "out of range"),
        (("locks", "show", "²"), "no lock '²'"),
        (("unlock", "3" * 5000), "no lock"),
        (("gateways", "show", "①"), "no gateway '①'"),
    ],
)
async def test_user_mistakes_are_one_line(
    hb: Run, argv: tuple[str, ...], message: str
) -> None:
    assert message in one_error_line(await hb(*argv))


async def test_impossible_port_in_base_url_is_a_config_error(
    hb: Run, sim: SimulatorServer, tmp_path: Path
) -> None:
    bad = write_config(tmp_path / "port.json", sim, baseUrl="http://127.0.0.1:99999")
    line = one_error_line(await hb("locks", config=bad))
    assert "baseUrl must have a port from 1 to 65535" in line


# -- lock / unlock ------------------------------------------------------------------------


async def test_unlock_then_lock(hb: Run, sim: SimulatorServer) -> None:
    front = lock_named(sim, "Front Door")
    result = await hb("unlock", "front door")
    assert result.code == 0, result.err
    # success means the gateway took the command, not that the bolt moved: no "unlocked"
    assert result.out.strip() == (
        f"Front Door ({front.lock_id}): unlock command delivered to the gateway"
    )
    assert front.state == 1
    result = await hb("lock", "Front Door", "--json")
    assert result.json() == {"lock_id": front.lock_id, "alias": "Front Door", "action": "lock",
                             "ok": True, "delivered_to": "gateway"}
    assert front.state == 0


async def test_unlock_wifi_lock_says_how_it_went(hb: Run, sim: SimulatorServer) -> None:
    wifi = lock_named(sim, "Room 102")
    result = await hb("unlock", "Room 102")
    assert result.code == 0, result.err
    assert result.out.strip() == (
        f"Room 102 ({wifi.lock_id}): unlock command delivered to the lock over its Wi-Fi"
    )
    assert (await hb("lock", "Room 102", "--json")).json()["delivered_to"] == "wifi"


async def test_unlock_retries_a_busy_gateway(hb: Run, sim: SimulatorServer) -> None:
    garage = lock_named(sim, "Garage")
    sim.config.busy_rate = 1.0  # busy until it has answered -3003 once (not a time window:
    # how soon the command arrives depends on the machine's load)

    async def relent() -> None:
        while not sim.world.errcodes[-3003]:
            await asyncio.sleep(0.001)
        sim.config.busy_rate = 0.0

    watcher = asyncio.create_task(relent())
    result = await hb("unlock", "Garage")
    await watcher
    assert result.code == 0, result.err
    assert sim.world.errcodes[-3003] >= 1
    assert garage.state == 1


async def test_unlock_gives_up_on_a_gateway_that_stays_busy(
    hb: Run, sim: SimulatorServer
) -> None:
    sim.config.busy_rate = 1.0
    result = await hb("unlock", "Garage")
    assert result.code == 1
    assert "gateway is busy" in result.err
    assert sim.world.calls["/v3/lock/unlock"] == 5  # first attempt + maximumApiRetry 4


async def test_unlock_offline_gateway_is_not_retried(hb: Run, sim: SimulatorServer) -> None:
    garage = lock_named(sim, "Garage")
    sim.world.gateways[garage.gateway_id or 0].online = False
    result = await hb("unlock", "Garage")
    assert result.code == 1
    assert "gateway is offline" in result.err
    assert sim.world.calls["/v3/lock/unlock"] == 1
    assert garage.state == 0


@pytest.mark.parametrize("action", ["unlock", "lock"])
async def test_unlock_json_failure_prints_the_object(
    hb: Run, sim: SimulatorServer, action: str
) -> None:
    garage = lock_named(sim, "Garage")
    success = (await hb(action, "Garage", "--json")).json()
    sim.world.gateways[garage.gateway_id or 0].online = False
    data = json_failure(await hb(action, "Garage", "--json"))
    assert data == {"lock_id": garage.lock_id, "alias": "Garage", "action": action,
                    "ok": False, "delivered_to": None, "errcode": -3002,
                    "error": data["error"]}
    assert "gateway is offline" in data["error"]
    assert set(data) == set(success) | {"error", "errcode"}


async def test_unlock_json_failure_when_busy_after_retries(
    hb: Run, sim: SimulatorServer
) -> None:
    sim.config.busy_rate = 1.0
    data = json_failure(await hb("unlock", "Garage", "--json"))
    assert data["errcode"] == -3003 and "gateway is busy" in data["error"]
    assert sim.world.calls["/v3/lock/unlock"] == 5


async def test_unlock_json_without_gateway(hb: Run, sim: SimulatorServer) -> None:
    orphan = lock_named(sim, "Room 103")
    data = json_failure(await hb("unlock", "Room 103", "--json"))
    assert data["lock_id"] == orphan.lock_id and data["errcode"] == -2012


async def test_usage_mistakes_with_json_print_no_json(hb: Run, sim: SimulatorServer) -> None:
    for argv in (("unlock", "Nowhere", "--json"),
                 ("passcodes", "delete", "Nowhere", "1", "--json"),
                 ("passcodes", "change", "Garage", "1", "--code", "12", "--json"),
                 # past only in the lock's time zone: known after lock/detail, still a mistake
                 ("passcodes", "random", "Garage", "--type", "period",
                  "--start", later(days=-0.1), "--end", later(days=1), "--json")):
        result = await hb(*argv)
        assert result.code == 2 and result.out == ""
        assert len(result.err.splitlines()) == 1
        assert result.err.startswith("hapbridge: error: ")
    assert sim.world.calls["/v3/lock/unlock"] == 0


async def test_unlock_lock_without_gateway(hb: Run) -> None:
    result = await hb("unlock", "Room 103")
    assert result.code == 1
    assert "not connected to any gateway" in result.err


# -- gateways -----------------------------------------------------------------------------


async def test_gateways_list_and_show(hb: Run, sim: SimulatorServer) -> None:
    result = await hb("gateways", "--json")
    assert result.code == 0, result.err
    rows = result.json()
    assert {row["gateway_id"] for row in rows} == set(sim.world.gateways)
    gateway = next(iter(sim.world.gateways.values()))
    table = await hb("gateways")
    assert gateway.name in table.out and table.out.splitlines()[0].startswith("    ID  NAME")

    result = await hb("gateways", "show", gateway.name.lower(), "--json")
    assert result.code == 0, result.err
    shown = result.json()
    assert shown["gateway_id"] == gateway.gateway_id and shown["online"] is True
    assert {lk["lock_id"]: lk["rssi"] for lk in shown["lock_list"]} == gateway.rssi
    assert shown["locks"] == len(gateway.rssi)  # the count, as in the listing
    table = await hb("gateways", "show", str(gateway.gateway_id))
    assert "RSSI" in table.out and "SIGNAL" in table.out

    missing = await hb("gateways", "show", "nope")
    assert missing.code == 2 and "no gateway 'nope'" in missing.err


@pytest.mark.parametrize(("rssi", "word", "warned"), [(-82, "fair", False), (-90, "weak", True)])
async def test_weak_signal_means_the_same_in_gateways_show_and_check(
    hb: Run, sim: SimulatorServer, rssi: int, word: str, warned: bool
) -> None:
    front = lock_named(sim, "Front Door")
    gateway = sim.world.gateways[front.gateway_id or 0]
    gateway.rssi[front.lock_id] = rssi
    shown = (await hb("gateways", "show", str(gateway.gateway_id), "--json")).json()
    signal = next(lk["signal"] for lk in shown["lock_list"] if lk["lock_id"] == front.lock_id)
    assert signal.split(":")[0] == word
    checks = (await hb("check", "--json")).json()["checks"]
    finding = next(c for c in checks if c["topic"] == f"lock Front Door ({front.lock_id})")
    assert (finding["status"] == "warn") is warned
    assert ("weak" in finding["detail"]) is warned


async def test_gateway_show_prints_the_lock_count_and_the_locks(
    hb: Run, sim: SimulatorServer
) -> None:
    gateway = next(iter(sim.world.gateways.values()))
    result = await hb("gateways", "show", str(gateway.gateway_id))
    assert result.code == 0, result.err
    assert ["locks:", str(len(gateway.rssi))] in [line.split() for line in result.out.splitlines()]
    assert sum(str(lock_id) in result.out for lock_id in gateway.rssi) == len(gateway.rssi)


# -- passcodes ----------------------------------------------------------------------------


async def test_passcodes_list_every_page_with_status(hb: Run, sim: SimulatorServer) -> None:
    garage = lock_named(sim, "Garage")
    sim.world.passcodes[garage.lock_id].clear()
    now = ms(datetime.now())
    for index in range(130):
        sim.world.add_passcode(garage.lock_id, f"{100000 + index}", name=f"Guest {index}",
                               type=3, start_date=now - 10 * HOUR_MS,
                               end_date=now + (HOUR_MS if index % 2 else -HOUR_MS))
    result = await hb("passcodes", "list", "Garage", "--json")
    assert result.code == 0, result.err
    rows = result.json()
    assert len(rows) == 130  # two pages of 100
    assert sum(row["expired"] for row in rows) == 65
    assert {row["status"] for row in rows} == {"expired", "active"}
    assert all(row["type"] == "period" for row in rows)

    found = await hb("passcodes", "list", "Garage", "--search", "Guest 12", "--json")
    assert {row["name"] for row in found.json()} == {"Guest 12", *{f"Guest 12{i}" for i in
                                                                   range(10)}}
    table = await hb("passcodes", "list", "Garage", "--search", "100006")
    assert table.out.splitlines()[0].split()[:3] == ["ID", "CODE", "NAME"]
    assert "100006" in table.out and "expired" in table.out


async def test_add_reads_times_in_each_locks_time_zone(
    hb: Run, sim: SimulatorServer, new_york: None
) -> None:
    # The machine is in New York; the entrance reports Berlin (UTC+01:00), the room New York
    # (-05:00, this machine's standard offset, so local time with its daylight saving).
    room, entrance = lock_named(sim, "Room 101"), lock_named(sim, "Front Door")
    room.timezone_raw_offset = -5 * HOUR_MS
    result = await hb("passcodes", "add", "room 101", "Front Door", "--code", "482915",
                      "--name", "Smith", "--start", "2030-12-24T15:00",
                      "--end", "2030-12-27T11:00", "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert data["code"] == "482915" and data["type"] == "period"
    assert data["start"] is None  # not one time: it differs per lock
    assert [r["lock_id"] for r in data["results"]] == [room.lock_id, entrance.lock_id]
    assert [r["time_zone"] for r in data["results"]] == ["local", "UTC+01:00"]
    assert data["results"][1]["start"] == "2030-12-24T09:00:00-05:00"  # JSON: local ISO
    expected = {room.lock_id: ("2030-12-24T20:00+00:00", "2030-12-27T16:00+00:00"),
                entrance.lock_id: ("2030-12-24T14:00+00:00", "2030-12-27T10:00+00:00")}
    for lock, res in zip((room, entrance), data["results"], strict=True):
        stored = sim.world.passcodes[lock.lock_id][res["passcode_id"]]
        assert stored.code == "482915" and stored.name == "Smith" and stored.type == 3
        start, end = expected[lock.lock_id]  # 15:00 at each lock
        assert (stored.start_date, stored.end_date) == (
            ms(datetime.fromisoformat(start)), ms(datetime.fromisoformat(end)))
    assert sim.world.calls["/v3/lock/detail"] == 2  # one per lock

    text = await hb("passcodes", "add", "room 101", "Front Door", "--code", "582916",
                    "--start", "2030-12-24T15:00", "--end", "2030-12-27T11:00")
    assert text.code == 0, text.err
    lines = text.out.splitlines()
    assert lines[0] == ("Passcode 582916, valid from 2030-12-24 15:00 to 2030-12-27 11:00, "
                        "times in each lock's own time zone")
    assert lines[1].split()[:3] == ["LOCK", "ALIAS", "TIME"]
    assert "UTC+01:00" in lines[3] and "local" in lines[2]

    # listings show each lock's times as they were typed, and say in which zone
    listed = await hb("passcodes", "list", "Room 101", "--search", "Smith")
    assert "2030-12-24 15:00" in listed.out and "2030-12-27 11:00" in listed.out
    assert "pending" in listed.out and "VALID FROM (local)" in listed.out
    listed = await hb("passcodes", "list", "Front Door", "--search", "Smith")
    assert "VALID FROM (UTC+01:00)" in listed.out.splitlines()[0]
    assert "2030-12-24 15:00" in listed.out and "09:00" not in listed.out
    data = (await hb("passcodes", "list", "Front Door", "--search", "Smith", "--json")).json()
    assert data[0]["start"] == "2030-12-24T09:00:00-05:00" and data[0]["time_zone"] == "UTC+01:00"


async def test_times_with_an_offset_are_shown_as_typed(
    hb: Run, sim: SimulatorServer, new_york: None
) -> None:
    garage = lock_named(sim, "Garage")
    result = await hb("passcodes", "add", "Garage", "--code", "314159",
                      "--start", "2030-12-24T15:00+01:00", "--end", "2030-12-27T11:00+01:00")
    assert result.code == 0, result.err
    assert result.out.splitlines()[0] == (
        "Passcode 314159, valid from 2030-12-24 15:00 to 2030-12-27 11:00, "
        "times in the offset you gave (UTC+01:00)")
    (stored,) = sim.world.passcodes[garage.lock_id].values()
    assert stored.start_date == ms(datetime.fromisoformat("2030-12-24T14:00+00:00"))
    assert sim.world.calls["/v3/lock/detail"] == 0  # an explicit offset needs no zone


async def test_passcode_times_follow_the_lock_on_a_utc_machine(
    hb: Run, sim: SimulatorServer, utc_machine: None
) -> None:
    garage = lock_named(sim, "Garage")
    result = await hb("passcodes", "random", "Garage", "--type", "period",
                      "--start", "2030-12-24T15:00", "--end", "2030-12-27T11:00")
    assert result.code == 0, result.err
    assert result.out.rstrip().endswith(
        "period, from 2030-12-24 15:00 to 2030-12-27 11:00, "
        "times in the lock's time zone (UTC+01:00)")
    generated = max(sim.world.passcodes[garage.lock_id].values(), key=lambda p: p.passcode_id)
    assert generated.start_date == ms(datetime(2030, 12, 24, 15, tzinfo=BERLIN))

    changed = await hb("passcodes", "change", "Garage", str(generated.passcode_id),
                       "--start", "2030-12-24T16:00", "--end", "2030-12-28T11:00")
    assert changed.code == 0, changed.err
    assert changed.out.strip().endswith(
        "now valid from 2030-12-24 16:00 to 2030-12-28 11:00, "
        "times in the lock's time zone (UTC+01:00)")
    assert generated.end_date == ms(datetime(2030, 12, 28, 11, tzinfo=BERLIN))

    # an explicit offset is taken as typed: no need to ask the lock's zone
    details = sim.world.calls["/v3/lock/detail"]
    explicit = await hb("passcodes", "change", "Garage", str(generated.passcode_id),
                        "--start", "2030-12-24T15:00Z", "--end", "2030-12-28T11:00Z")
    assert explicit.code == 0, explicit.err
    assert "time zone" not in explicit.out
    assert generated.end_date == ms(datetime.fromisoformat("2030-12-28T11:00+00:00"))
    assert sim.world.calls["/v3/lock/detail"] == details


async def test_add_without_code_picks_a_random_permanent_code(
    hb: Run, sim: SimulatorServer
) -> None:
    garage = lock_named(sim, "Garage")
    before = set(sim.world.passcodes[garage.lock_id])
    result = await hb("passcodes", "add", "Garage")
    assert result.code == 0, result.err
    first = result.out.splitlines()[0]
    assert first.startswith("Passcode ") and "(chosen at random)" in first
    assert "permanent" in first
    code = first.split()[1]
    (new_id,) = set(sim.world.passcodes[garage.lock_id]) - before
    stored = sim.world.passcodes[garage.lock_id][new_id]
    assert stored.code == code and len(code) == 6 and stored.type == 2
    assert len(set(code)) > 1


async def test_add_failure_on_one_lock_keeps_the_others(hb: Run, sim: SimulatorServer) -> None:
    garage = lock_named(sim, "Garage")
    result = await hb("passcodes", "add", "Room 103", "Garage", "--code", "4829")
    assert result.code == 1
    assert "not added to 1 of 2 locks" in result.err
    lines = result.out.splitlines()
    assert "failed: the lock is not connected to any gateway" in next(
        line for line in lines if "Room 103" in line)
    assert "added" in next(line for line in lines if "Garage" in line)
    assert any(p.code == "4829" for p in sim.world.passcodes[garage.lock_id].values())


async def test_add_duplicate_code(hb: Run, sim: SimulatorServer) -> None:
    garage = lock_named(sim, "Garage")
    sim.world.add_passcode(garage.lock_id, "482915", name="Existing")
    result = await hb("passcodes", "add", "Garage", "--code", "482915", "--json")
    assert result.code == 1
    (row,) = result.json()["results"]
    assert row["ok"] is False and "already exists" in row["error"]
    assert "not added to 1 of 1 lock" in result.err


@pytest.mark.parametrize(
    ("extra", "message", "typed"),
    [
        (["--code", "12a4"], "digits only", True),
        (["--code", "123"], "4 to 9 digits", True),
        (["--code", "1234567890"], "4 to 9 digits", True),
        (["--start", "+1"], "--start needs --end", True),
        (["--start", "24/12/2030", "--end", "+2"], "not a time", True),
        # past in every time zone, or wrong in any: refused before the first call
        (["--start", "2020-01-01T10:00", "--end", "2020-01-02T10:00"], "in the past", True),
        (["--start", "+1", "--end", "+0"], "must be after --start", True),
        (["--start", "now", "--end", "2020-01-05"], "in the past", True),
        (["--code", "271828", "--name", "Smith\nJones"], "printable", True),
        (["--code", "271828", "--name", "  "], "cannot be empty", True),
        # past in some zones only: needs the lock's zone (lock/detail), still before a command
        (["--start", "-0.1", "--end", "+1"], "in the past", False),
    ],
)
async def test_add_refuses_bad_input_before_any_command(
    hb: Run, sim: SimulatorServer, extra: list[str], message: str, typed: bool
) -> None:
    argv = [later(days=float(x)) if x[:1] in "+-" and x[1:2].isdigit() else x for x in extra]
    result = await hb("passcodes", "add", "Garage", *argv)
    assert result.code == 2
    assert message in result.err and result.err.startswith("hapbridge: error: ")
    assert len(result.err.splitlines()) == 1
    if typed:
        assert sum(sim.world.calls.values()) == 0  # not even a login
    assert sim.world.calls["/v3/keyboardPwd/add"] == 0


@pytest.mark.parametrize(("start", "noted"), [("10:00", True), ("10:30", False)])
async def test_random_code_hour_note_follows_utc_in_a_half_hour_zone(
    hb: Run, sim: SimulatorServer, start: str, noted: bool
) -> None:
    lock_named(sim, "Garage").timezone_raw_offset = 19_800_000  # UTC+05:30, as in India
    day = (datetime.now() + timedelta(days=3)).strftime("%Y-%m-%d")
    result = await hb("passcodes", "random", "Garage", "--type", "permanent",
                      "--start", f"{day}T{start}")
    assert result.code == 0, result.err
    # 10:00 there is 04:30 UTC, which the cloud cuts to the hour; 10:30 is 05:00 UTC
    assert ("counts these times to the hour" in result.err) is noted


async def test_random_codes(hb: Run, sim: SimulatorServer) -> None:
    garage = lock_named(sim, "Garage")
    result = await hb("passcodes", "random", "Garage", "--type", "one-time", "--start", "now",
                      "--name", "Plumber", "--json")
    assert result.code == 0, result.err
    data = result.json()
    stored = sim.world.passcodes[garage.lock_id][data["passcode_id"]]
    assert stored.code == data["code"] and stored.type == 1 and stored.name == "Plumber"
    assert sim.world.calls["/v3/lock/unlock"] == 0

    tomorrow = (datetime.now() + timedelta(days=1)).strftime("%Y-%m-%d")
    last = (datetime.now() + timedelta(days=30)).strftime("%Y-%m-%d")
    daily = await hb("passcodes", "random", "Garage", "--type", "daily",
                     "--start", f"{tomorrow}T08:00", "--end", f"{last}T18:00")
    assert daily.code == 0, daily.err
    assert "daily" in daily.out
    assert any(p.type == 6 for p in sim.world.passcodes[garage.lock_id].values())

    # a cleaner's code valid from today, whatever the hour now: its hours repeat daily
    today = datetime.now(BERLIN).strftime("%Y-%m-%d")
    from_today = await hb("passcodes", "random", "Garage", "--type", "daily",
                          "--start", f"{today}T00:00", "--end", f"{last}T18:00")
    assert from_today.code == 0, from_today.err
    yesterday = (datetime.now(BERLIN) - timedelta(days=1)).strftime("%Y-%m-%d")
    before = await hb("passcodes", "random", "Garage", "--type", "daily",
                      "--start", f"{yesterday}T08:00", "--end", f"{last}T18:00")
    assert before.code == 2 and "is before today" in before.err, before.err

    # an offline gateway does not matter: the code comes from the cloud
    sim.world.gateways[garage.gateway_id or 0].online = False
    weekend = await hb("passcodes", "random", "Garage", "--type", "weekend",
                       "--start", f"{tomorrow}T10:00", "--end", f"{last}T22:00")
    assert weekend.code == 0, weekend.err

    for argv, message in [
        (["--type", "daily", "--start", "now"], "needs --end"),
        (["--type", "permanent", "--start", "now", "--end", later(days=1)], "takes no --end"),
        (["--type", "period", "--start", later(days=2), "--end", later(days=1)], "after"),
        # the daily window of a repeating code opens at --start's hour, closes at --end's
        (["--type", "daily", "--start", f"{tomorrow}T20:00", "--end", f"{last}T18:00"],
         "the daily window 20:00 to 18:00 ends before it starts"),
        (["--type", "monday", "--start", f"{tomorrow}T09:10", "--end", f"{last}T09:40"],
         "the daily window 09:00 to 09:00"),
    ]:
        bad = await hb("passcodes", "random", "Garage", *argv)
        assert bad.code == 2 and message in bad.err


async def test_change_passcode(hb: Run, sim: SimulatorServer, utc_machine: None) -> None:
    garage = lock_named(sim, "Garage")
    code = sim.world.add_passcode(garage.lock_id, "5829", name="Old", type=3,
                                  start_date=ms(datetime.now()) - HOUR_MS,
                                  end_date=ms(datetime.now()) + HOUR_MS)
    end = later(days=3)
    result = await hb("passcodes", "change", "Garage", str(code.passcode_id), "--name", "New",
                      "--code", "918273", "--start", "2020-01-01T00:00", "--end", end)
    assert result.code == 0, result.err
    assert "Changed the name and code and validity" in result.out
    assert (code.name, code.code) == ("New", "918273")
    assert code.end_date == ms(datetime.fromisoformat(end).replace(tzinfo=BERLIN))

    nothing = await hb("passcodes", "change", "Garage", str(code.passcode_id))
    assert nothing.code == 2 and "nothing to change" in nothing.err
    unknown = await hb("passcodes", "change", "Garage", "999", "--name", "x")
    assert unknown.code == 2 and "no passcode 999 on Garage" in unknown.err
    assert "passcodes list Garage" in unknown.err
    bad = await hb("passcodes", "change", "Garage", str(code.passcode_id), "--code", "12")
    assert bad.code == 2 and "4 to 9 digits" in bad.err


async def test_delete_passcode(hb: Run, sim: SimulatorServer) -> None:
    garage = lock_named(sim, "Garage")
    code = sim.world.add_passcode(garage.lock_id, "5829")
    result = await hb("passcodes", "delete", "Garage", str(code.passcode_id))
    assert result.code == 0, result.err
    assert code.passcode_id not in sim.world.passcodes[garage.lock_id]
    again = await hb("passcodes", "delete", "Garage", str(code.passcode_id))
    assert again.code == 2 and f"no passcode {code.passcode_id} on Garage" in again.err


async def test_delete_passcode_json_failure(hb: Run, sim: SimulatorServer) -> None:
    garage = lock_named(sim, "Garage")
    code = sim.world.add_passcode(garage.lock_id, "5829")
    # an unknown ID is a typing mistake, as for every other ID: the line alone, exit 2
    unknown = await hb("passcodes", "delete", "Garage", "999", "--json")
    assert unknown.code == 2 and unknown.out == "" and "no passcode 999" in unknown.err

    sim.world.gateways[garage.gateway_id or 0].online = False
    offline = json_failure(
        await hb("passcodes", "delete", "Garage", str(code.passcode_id), "--json"))
    assert offline["deleted"] is False and offline["errcode"] == -3002
    assert "gateway is offline" in offline["error"]
    assert code.passcode_id in sim.world.passcodes[garage.lock_id]

    sim.world.gateways[garage.gateway_id or 0].online = True
    done = await hb("passcodes", "delete", "Garage", str(code.passcode_id), "--json")
    assert done.code == 0, done.err
    assert done.json() == {"lock_id": garage.lock_id, "alias": "Garage",
                           "passcode_id": code.passcode_id, "deleted": True}


async def test_change_passcode_json_failure(hb: Run, sim: SimulatorServer) -> None:
    garage = lock_named(sim, "Garage")
    end = later(days=3)
    unknown = await hb("passcodes", "change", "Garage", "999", "--name", "x",
                       "--start", "now", "--end", end, "--json")
    assert unknown.code == 2 and unknown.out == "" and "no passcode 999" in unknown.err
    code = sim.world.add_passcode(garage.lock_id, "5829")
    sim.world.gateways[garage.gateway_id or 0].online = False
    data = json_failure(await hb("passcodes", "change", "Garage", str(code.passcode_id),
                                 "--name", "x", "--start", "now", "--end", end, "--json"))
    assert data["changed"] == [] and data["passcode_id"] == code.passcode_id
    assert data["end"] == datetime.fromisoformat(end).replace(tzinfo=BERLIN).astimezone(
    ).isoformat()
    assert set(data) == {"lock_id", "alias", "passcode_id", "changed", "ok", "start", "end",
                         "time_zone", "error", "errcode"}
    assert data["lock_id"] == garage.lock_id


async def test_random_passcode_json_failure(hb: Run, sim: SimulatorServer) -> None:
    garage = lock_named(sim, "Garage")
    sim.config.scripted_errcodes["/v3/keyboardPwd/get"] = [-2018]
    data = json_failure(await hb("passcodes", "random", "Garage", "--type", "one-time",
                                 "--start", "now", "--json"))
    assert data["errcode"] == -2018 and "permission denied" in data["error"]
    assert (data["lock_id"], data["passcode_id"], data["code"]) == (garage.lock_id, None, None)
    assert data["type"] == "one-time" and data["start"] is not None


# -- cleanup ------------------------------------------------------------------------------


def seed_expiring(sim: SimulatorServer, alias: str) -> dict[str, int]:
    """Codes that ended 3 days ago, 2 hours ago, end tomorrow, and a permanent one."""
    lock = lock_named(sim, alias)
    now = ms(datetime.now())
    made = {
        "old": sim.world.add_passcode(lock.lock_id, "71001", name="old", type=3,
                                      start_date=now - 96 * HOUR_MS,
                                      end_date=now - 72 * HOUR_MS),
        "recent": sim.world.add_passcode(lock.lock_id, "71002", name="recent", type=3,
                                         start_date=now - 48 * HOUR_MS,
                                         end_date=now - 2 * HOUR_MS),
        "future": sim.world.add_passcode(lock.lock_id, "71003", name="future", type=3,
                                         start_date=now - HOUR_MS,
                                         end_date=now + 24 * HOUR_MS),
        "permanent": sim.world.add_passcode(lock.lock_id, "71004", name="permanent"),
    }
    return {name: p.passcode_id for name, p in made.items()}


def remaining(sim: SimulatorServer, alias: str) -> set[int]:
    return set(sim.world.passcodes[lock_named(sim, alias).lock_id])


async def test_cleanup_dry_run_deletes_nothing(hb: Run, sim: SimulatorServer) -> None:
    garage = seed_expiring(sim, "Garage")
    office = seed_expiring(sim, "Office")
    before = {alias: remaining(sim, alias) for alias in ("Garage", "Office")}
    result = await hb("passcodes", "cleanup", "--dry-run")
    assert result.code == 0, result.err
    assert "would delete" in result.out and "Would delete 2 passcodes" in result.out
    assert "dry run: nothing deleted" in result.out
    assert "71001" in result.out and "71002" not in result.out
    assert {alias: remaining(sim, alias) for alias in ("Garage", "Office")} == before
    assert sim.world.calls["/v3/keyboardPwd/delete"] == 0

    data = (await hb("passcodes", "cleanup", "--dry-run", "--json")).json()
    assert {row["passcode_id"] for row in data} == {garage["old"], office["old"]}
    assert {row["action"] for row in data} == {"would delete"}


async def test_cleanup_deletes_only_long_expired_codes(hb: Run, sim: SimulatorServer) -> None:
    garage = seed_expiring(sim, "Garage")
    office = seed_expiring(sim, "Office")
    result = await hb("passcodes", "cleanup", "Garage", "--json")
    assert result.code == 0, result.err
    assert [(row["passcode_id"], row["action"]) for row in result.json()] == [
        (garage["old"], "deleted")
    ]
    left = remaining(sim, "Garage")
    assert garage["old"] not in left
    assert {garage["recent"], garage["future"], garage["permanent"]} <= left
    assert office["old"] in remaining(sim, "Office")  # not named: untouched

    result = await hb("passcodes", "cleanup", "--expired-for", "1h")
    assert result.code == 0, result.err
    assert "Deleted 3 passcodes" in result.out  # both ended 2 h ago, and Office's old one
    assert {garage["future"], garage["permanent"]} == remaining(sim, "Garage") & set(
        garage.values())
    assert {office["future"], office["permanent"]} == remaining(sim, "Office") & set(
        office.values())


async def test_cleanup_reports_a_failing_lock_and_goes_on(
    hb: Run, sim: SimulatorServer
) -> None:
    seed_expiring(sim, "Garage")
    office = seed_expiring(sim, "Office")
    garage = lock_named(sim, "Garage")
    sim.world.gateways[garage.gateway_id or 0].online = False
    result = await hb("passcodes", "cleanup", "Garage", "Office")
    assert result.code == 1
    assert "failed: the gateway is offline" in result.out
    assert office["old"] not in remaining(sim, "Office")
    assert "cleanup steps failed" in result.err


async def test_cleanup_bad_duration(hb: Run) -> None:
    result = await hb("passcodes", "cleanup", "--expired-for", "24")
    assert result.code == 2 and "24h" in result.err


# -- records ------------------------------------------------------------------------------


async def test_records(hb: Run, sim: SimulatorServer) -> None:
    garage = lock_named(sim, "Garage")
    sim.world.records[garage.lock_id].clear()
    now = ms(datetime.now())
    sim.world.add_record(garage.lock_id, 8, lock_date=now - 5 * HOUR_MS)
    sim.world.add_record(garage.lock_id, 4, keyboard_pwd="482915", lock_date=now - 3 * HOUR_MS)
    sim.world.add_record(garage.lock_id, 45, lock_date=now - 2 * HOUR_MS)
    sim.world.add_record(garage.lock_id, 1, username="anna", lock_date=now - HOUR_MS)

    table = await hb("records", "Garage")
    assert table.code == 0, table.err
    lines = table.out.splitlines()
    assert lines[0].split() == ["TIME", "(UTC+01:00)", "EVENT", "BY", "PASSCODE", "OK"]
    assert "unlock by app" in lines[1] and "anna" in lines[1]  # newest first
    assert "unlock by passcode" in table.out and "482915" in table.out
    assert "auto-lock" in table.out and "unlock by fingerprint" in table.out

    data = (await hb("records", "Garage", "--limit", "2", "--json")).json()
    assert [row["record_type"] for row in data] == [1, 45]
    assert data[0]["username"] == "anna" and data[0]["passcode"] is None  # null, not ""
    assert data[1]["username"] is None
    since = (await hb("records", "Garage", "--since", "4h", "--json")).json()
    assert [row["event"] for row in since] == ["unlock by app", "auto-lock",
                                               "unlock by passcode"]
    since = (await hb("records", "Garage", "--since", later(hours=-4), "--json")).json()
    assert len(since) == 3

    bad = await hb("records", "Garage", "--since", "yesterday")
    assert bad.code == 2 and "not a time" in bad.err


# -- usage --------------------------------------------------------------------------------


async def test_usage_reads_the_persisted_counter_without_a_call(
    hb: Run, sim: SimulatorServer
) -> None:
    await hb("locks")
    await hb("unlock", "Garage")
    calls = sum(sim.world.calls.values())
    result = await hb("usage", "--json", "--no-cloud")
    assert result.code == 0, result.err
    assert sum(sim.world.calls.values()) == calls  # no cloud call
    data = result.json()
    assert data["total"] == calls
    assert data["by_endpoint"]["/v3/lock/unlock"] == 1
    assert data["budget"] == 30000
    assert data["cloud"] is None
    table = await hb("usage", "--no-cloud")
    assert f"{calls} of 30000" in table.out and "/v3/lock/list" in table.out


# -- check --------------------------------------------------------------------------------


async def test_check_names_the_lock_without_gateway(hb: Run, sim: SimulatorServer) -> None:
    result = await hb("check")
    assert result.code == 1
    assert "ok    credentials: logged in as" in result.out
    assert "7 locks, 2 gateways (2 online)" in result.out
    orphan = lock_named(sim, "Room 103")
    assert f"FAIL  lock Room 103 ({orphan.lock_id}): no gateway reaches this lock" in result.out
    assert "fix: add a gateway" in result.out


async def test_check_all_well(hb: Run, sim: SimulatorServer) -> None:
    sim.world.remove_lock(lock_named(sim, "Room 103").lock_id)
    result = await hb("check")
    assert result.code == 0, result.out
    assert "All is well" in result.out and "FAIL" not in result.out
    data = (await hb("check", "--json")).json()
    assert data["ok"] is True
    topics = [check["topic"] for check in data["checks"]]
    assert topics[:6] == ["config", "network", "credentials", "region", "clock", "account"]


async def test_a_config_others_can_read_is_a_warning_line_and_in_check(
    hb: Run, config_file: Path
) -> None:
    config_file.chmod(0o644)
    listed = await hb("locks")
    assert listed.code == 0, listed.err
    assert listed.err.splitlines() == [
        f"hapbridge: warning: {config_file} holds your TTLock secrets and is readable by "
        f"other users: chmod 600 {config_file}"]
    checked = await hb("check", "--json")
    warned = [c for c in checked.json()["checks"] if c["status"] == "warn"]
    assert any("readable by other users" in c["detail"] for c in warned), warned
    assert "hapbridge: warning" not in checked.err  # listed once, in its place


async def test_check_skips_locks_left_out_of_homekit(
    hb: Run, sim: SimulatorServer, tmp_path: Path
) -> None:
    """A Bluetooth-only lock kept out of HomeKit on purpose must not fail a nightly check."""
    orphan = lock_named(sim, "Room 103")
    config = write_config(tmp_path / "exclude.json", sim, exclude=["room 103"])
    result = await hb("check", config=config)
    assert result.code == 0, result.out
    assert f"ok    lock Room 103 ({orphan.lock_id}): left out of HomeKit" in result.out


async def test_check_offline_gateway(hb: Run, sim: SimulatorServer) -> None:
    garage = lock_named(sim, "Garage")
    gateway = sim.world.gateways[garage.gateway_id or 0]
    gateway.online = False
    data = (await hb("check", "--json")).json()
    assert data["ok"] is False
    failing = {c["topic"]: c for c in data["checks"] if c["status"] == "fail"}
    assert failing[f"gateway {gateway.name} ({gateway.gateway_id})"]["detail"] == "offline"
    assert "is offline" in failing[f"lock Garage ({garage.lock_id})"]["detail"]


async def test_check_bad_password(hb: Run, sim: SimulatorServer, tmp_path: Path) -> None:
    bad = write_config(tmp_path / "bad.json", sim, password="wrong")
    result = await hb("check", config=bad)
    assert result.code == 1
    # init's words (the README's troubleshooting table), for the config's cloud
    from hapbridge.cli.setup.troubleshoot import Where, explain
    from hapbridge.ttlock.errors import CredentialsError

    expected = explain(CredentialsError("x", errcode=10007), Where(sim.url, None, True))
    assert f"FAIL  credentials: {expected}" in result.out, result.out
    assert "does not know this account with this password" in result.out
    assert 'check "baseUrl" in the config' in result.out
    assert "wrong" not in result.out  # the password is not echoed


async def test_check_network_failure_is_not_a_password_verdict(
    hb: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unreachable(_self: object) -> None:
        raise TransportError("cannot reach the TTLock cloud (connection refused)")

    monkeypatch.setattr(TokenManager, "login", unreachable)
    result = await hb("check")
    assert result.code == 1
    assert "FAIL  network: cannot reach the TTLock cloud" in result.out
    assert "credentials" not in result.out


async def test_check_clock_rejected(hb: Run, sim: SimulatorServer) -> None:
    sim.config.max_clock_skew = -1  # every `date` is "off": 80000
    result = await hb("check")
    assert result.code == 1
    assert "FAIL  clock:" in result.out and "NTP" in result.out


async def test_check_missing_config(hb: Run, tmp_path: Path) -> None:
    result = await hb("check", config=tmp_path / "missing.json")
    assert result.code == 1
    assert result.out.startswith("FAIL  config:") and "no config file" in result.out
    assert "init' (it asks for your TTLock credentials" in result.out


# -- secrets ------------------------------------------------------------------------------


async def test_no_secret_in_any_output(hb: Run, sim: SimulatorServer, tmp_path: Path) -> None:
    outputs = []
    for argv in (("locks", "--json"), ("locks", "show", "Garage"), ("check",),
                 ("passcodes", "list", "Garage"), ("usage",)):
        result = await hb(*argv)
        assert result.out + result.err, argv  # a command that printed nothing proves nothing
        outputs.append(result.out + result.err)
    tokens = json.loads((tmp_path / "storage" / "tokens.json").read_text())
    assert tokens  # else no token would be looked for
    secrets = [sim.config.password, sim.config.client_secret]
    for entry in tokens.values():
        secrets += [entry["access_token"], entry["refresh_token"]]
    for lock in sim.world.locks.values():
        secrets += [lock.lock_data, lock.admin_pwd, lock.lock_key, lock.aes_key]
    text = "\n".join(outputs)
    for secret in secrets:
        assert secret not in text
