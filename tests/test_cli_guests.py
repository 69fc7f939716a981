"""The guest tools' finer points: changing one end of a stay, trivial codes, records of
several locks, CSV, and output that stays clean when it is not a terminal."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

import pytest

from hapbridge.simulator import SimulatorServer

from . import test_cli_admin as admin
from .test_cli_admin import (
    BERLIN,
    HOUR_MS,
    Run,
    later,
    lock_named,
    ms,
)

# the CLI fixtures of test_cli_admin: the same simulated world and config
config_file = admin.config_file
hb = admin.hb
sim_config = admin.sim_config


async def test_change_end_alone_keeps_the_start(hb: Run, sim: SimulatorServer) -> None:
    garage = lock_named(sim, "Garage")
    start = ms(datetime.now()) - HOUR_MS
    code = sim.world.add_passcode(garage.lock_id, "582913", name="Smith", type=3,
                                  start_date=start, end_date=ms(datetime.now()) + HOUR_MS)
    end = later(days=3)
    result = await hb("passcodes", "change", "Garage", str(code.passcode_id), "--end", end)
    assert result.code == 0, result.err
    assert "Changed the validity" in result.out
    assert code.start_date == start
    assert code.end_date == ms(datetime.fromisoformat(end).replace(tzinfo=BERLIN))

    new_start = later(hours=2)
    moved = await hb("passcodes", "change", "Garage", str(code.passcode_id), "--start",
                     new_start, "--json")
    data = moved.json()
    assert data["ok"] and data["changed"] == ["validity"]
    assert code.start_date == ms(datetime.fromisoformat(new_start).replace(tzinfo=BERLIN))
    assert code.end_date == ms(datetime.fromisoformat(end).replace(tzinfo=BERLIN))

    late = await hb("passcodes", "change", "Garage", str(code.passcode_id), "--start",
                    later(days=5))
    assert late.code == 2, late.err
    assert "--start (" in late.err and "is not before the code's end (" in late.err
    assert "give --end too" in late.err
    early = await hb("passcodes", "change", "Garage", str(code.passcode_id), "--end",
                     later(hours=1.5))  # future, but before the start (2 h, lock's clock)
    assert early.code == 2 and "is not after the code's start" in early.err, early.err
    permanent = sim.world.add_passcode(garage.lock_id, "77441", name="Family")
    open_ended = await hb("passcodes", "change", "Garage", str(permanent.passcode_id),
                          "--start", later(hours=1))
    assert open_ended.code == 2 and "is permanent: give --end too" in open_ended.err
    limited = await hb("passcodes", "change", "Garage", str(permanent.passcode_id), "--end",
                       later(days=1))
    assert limited.code == 0, limited.err
    assert permanent.start_date > 0 and permanent.end_date > permanent.start_date
    missing = await hb("passcodes", "change", "Garage", "999", "--end", later(days=1))
    assert missing.code == 2 and "no passcode 999 on Garage" in missing.err


async def test_rename_alone_needs_no_gateway(hb: Run, sim: SimulatorServer) -> None:
    garage = lock_named(sim, "Garage")
    code = sim.world.add_passcode(garage.lock_id, "582913", name="Smith")
    sim.world.gateways_of(garage.lock_id)[0].online = False
    result = await hb("passcodes", "change", "Garage", str(code.passcode_id), "--name", "Jones")
    assert result.code == 0, result.err
    assert code.name == "Jones"


async def test_trivial_codes_are_warned_about(hb: Run, sim: SimulatorServer) -> None:
    garage = lock_named(sim, "Garage")
    added = await hb("passcodes", "add", "Garage", "--code", "123456", "--json")
    assert added.code == 0, added.err
    assert added.json()["code"] == "123456"  # stdout stays JSON; the warning is on stderr
    assert "warning: 123456 is among the first codes anyone tries" in added.err
    plain = await hb("passcodes", "add", "Garage", "--code", "582913")
    assert "warning" not in plain.err
    pid = next(p.passcode_id for p in sim.world.passcodes[garage.lock_id].values()
               if p.code == "582913")
    changed = await hb("passcodes", "change", "Garage", str(pid), "--code", "1111")
    assert changed.code == 0 and "warning: 1111" in changed.err


async def test_records_of_several_locks_and_all(hb: Run, sim: SimulatorServer) -> None:
    now = ms(datetime.now())
    garage, office = lock_named(sim, "Garage"), lock_named(sim, "Office")
    for lock in sim.world.locks.values():
        sim.world.records[lock.lock_id].clear()
    sim.world.add_record(garage.lock_id, 4, lock_date=now - 3 * HOUR_MS)
    sim.world.add_record(office.lock_id, 8, username="Anna", lock_date=now - 2 * HOUR_MS)
    sim.world.add_record(garage.lock_id, 45, lock_date=now - HOUR_MS)

    both = await hb("records", "Garage", "Office")
    assert both.code == 0, both.err
    lines = both.out.splitlines()
    assert lines[0].split() == ["TIME", "(UTC+01:00)", "LOCK", "EVENT", "BY", "PASSCODE", "OK"]
    assert ["Garage" in lines[1], "Office" in lines[2], "Garage" in lines[3]] == [True] * 3

    every = (await hb("records", "--json", "--limit", "2")).json()
    assert [(r["alias"], r["record_type"]) for r in every] == [("Garage", 45), ("Office", 8)]

    table = await hb("records", "--csv", "--since", "150m")
    rows = list(csv.DictReader(io.StringIO(table.out)))
    assert [(r["alias"], r["event"]) for r in rows] == [("Garage", "auto-lock"),
                                                       ("Office", "unlock by fingerprint")]
    assert datetime.fromisoformat(rows[0]["time"]).tzinfo is not None

    # one lock refused: named on stderr, the other's records still shown, exit 1
    sim.config.scripted_errcodes["/v3/lockRecord/list"] = [-2018]
    partial = await hb("records", "Garage", "Office")
    assert partial.code == 1
    refused = [line for line in partial.err.splitlines() if "cannot read its records" in line]
    assert len(refused) == 1 and "permission denied" in refused[0]
    shown = "Office" if refused[0].startswith("Garage") else "Garage"
    assert shown in partial.out and "could not be read" in partial.err


async def test_csv_keeps_names_text_for_spreadsheets(hb: Run, sim: SimulatorServer) -> None:
    garage = lock_named(sim, "Garage")
    sim.world.add_passcode(garage.lock_id, "582913", name="=HYPERLINK(\"x\")")
    result = await hb("passcodes", "list", "Garage", "--csv")
    assert result.code == 0, result.err
    rows = list(csv.DictReader(io.StringIO(result.out)))
    assert rows[0]["name"] == "'=HYPERLINK(\"x\")" and rows[0]["code"] == "582913"
    assert rows[0]["time_zone"] == "UTC+01:00"
    with pytest.raises(SystemExit) as info:
        await hb("passcodes", "list", "Garage", "--csv", "--json")
    assert info.value.code == 2


async def test_cleanup_csv_keeps_the_summary_off_stdout(hb: Run, sim: SimulatorServer) -> None:
    garage = lock_named(sim, "Garage")
    past = ms(datetime.now() - timedelta(days=3))
    sim.world.add_passcode(garage.lock_id, "582913", type=3, start_date=past - HOUR_MS,
                           end_date=past)
    result = await hb("passcodes", "cleanup", "Garage", "--dry-run", "--csv")
    assert result.code == 0, result.err
    rows = list(csv.DictReader(io.StringIO(result.out)))
    assert [row["action"] for row in rows] == ["would delete"]
    assert "Would delete 1 passcode" in result.err


def csv_header(out: str) -> list[str]:
    return next(csv.reader(io.StringIO(out)))


async def test_csv_headers_are_fixed_per_command(hb: Run, sim: SimulatorServer) -> None:
    """A script reads CSV columns by position: the header is the same with no rows as with
    some, and for one lock as for several."""
    empty = await hb("ekeys", "list", "Front Door", "--csv")
    assert empty.code == 0, empty.err
    sent = await hb("ekeys", "send", "Front Door", "cleaner@example.com")
    assert sent.code == 0, sent.err
    full = await hb("ekeys", "list", "Front Door", "--csv")
    assert csv_header(empty.out) == csv_header(full.out)
    assert len(full.out.splitlines()) == 2

    garage = lock_named(sim, "Garage")
    sim.world.add_record(garage.lock_id, 1, username="anna")
    one = await hb("records", "Garage", "--csv")
    two = await hb("records", "Garage", "Office", "--csv")
    nothing = await hb("records", "Office", "--csv")
    assert csv_header(one.out) == csv_header(two.out) == csv_header(nothing.out)
    for argv in (["qrcodes", "list", "Garage"], ["cards", "list", "Garage"],
                 ["fingerprints", "list", "Garage"], ["passcodes", "list", "Garage"],
                 ["passcodes", "cleanup", "Garage"]):
        result = await hb(*argv, "--csv")
        assert result.code == 0, result.err
        assert csv_header(result.out), argv  # a header even for no rows


async def test_cleanup_shows_ends_in_the_locks_zone_named_in_the_header(
    hb: Run, sim: SimulatorServer
) -> None:
    """cleanup shows a code's end as 'passcodes list' does: same clock, zone in the header."""
    garage = lock_named(sim, "Garage")
    end = datetime(2026, 1, 2, 23, 30, tzinfo=BERLIN)
    sim.world.add_passcode(garage.lock_id, "7310", type=3, start_date=ms(end) - HOUR_MS,
                           end_date=ms(end))
    swept = await hb("passcodes", "cleanup", "Garage", "--dry-run")
    listed = await hb("passcodes", "list", "Garage")
    assert swept.code == 0, swept.err
    assert "ENDED (UTC+01:00)" in swept.out.splitlines()[0]
    assert "2026-01-02 23:30" in swept.out and "2026-01-02 23:30" in listed.out


async def test_now_is_shown_on_the_locks_clock_with_its_zone(hb: Run) -> None:
    with admin.machine_zone("UTC"):
        result = await hb("passcodes", "random", "Garage", "--type", "one-time",
                          "--start", "now")
    assert result.code == 0, result.err
    assert "times in the lock's time zone (UTC+01:00)" in result.out, result.out
    before = datetime.now(BERLIN) - timedelta(minutes=2)
    hours = {(before + timedelta(minutes=m)).strftime("%Y-%m-%d %H") for m in (0, 4)}
    assert any(f"from {hour}:" in result.out for hour in hours), result.out  # the lock's hour
