"""passage-mode, autolock and usage's cloud count from the command line, against the
simulated cloud over HTTP (the fixtures of test_cli_admin)."""

from __future__ import annotations

import pytest

from hapbridge.cli.main import main
from hapbridge.simulator import SimulatorServer
from hapbridge.simulator.world import PassagePeriod as SimPeriod

from . import test_cli_admin as admin
from .test_cli_admin import (
    Run,
    json_failure,
    lock_named,
)

# the CLI fixtures of test_cli_admin: the same simulated world and config
config_file = admin.config_file
hb = admin.hb
sim_config = admin.sim_config


async def test_passage_mode_set_show_off(hb: Run, sim: SimulatorServer) -> None:
    entrance = lock_named(sim, "Front Door")
    result = await hb("passage-mode", "set", "Front Door", "--period", "mon-fri 08:00-18:00",
                      "--period", "sat 09:00-13:00", "--auto-unlock")
    assert result.code == 0, result.err
    assert result.out.splitlines()[0] == (
        f"Passage mode on for Front Door ({entrance.lock_id}), auto-unlock on")
    assert entrance.passage_mode and entrance.passage.auto_unlock
    assert [(p.week_days, p.start_minute, p.end_minute) for p in entrance.passage.periods] == [
        ([1, 2, 3, 4, 5], 480, 1080), ([6], 540, 780)]
    assert sim.world.calls["/v3/lock/configurePassageMode"] == 1
    assert sim.world.calls["/v3/lock/configPassageMode"] == 0

    shown = await hb("passage-mode", "show", "Front Door", "--json")
    data = shown.json()
    assert data["enabled"] and data["auto_unlock"]
    assert data["periods"][0] == {"week_days": [1, 2, 3, 4, 5], "all_day": False,
                                  "start": "08:00", "end": "18:00"}

    off = await hb("passage-mode", "off", "Front Door")
    assert off.code == 0, off.err
    assert "Passage mode off" in off.out and "schedule kept" in off.out
    assert not entrance.passage_mode and len(entrance.passage.periods) == 2
    # on again with the kept schedule; the auto-unlock switch as asked
    again = await hb("passage-mode", "set", "Front Door", "--no-auto-unlock")
    assert again.code == 0, again.err
    assert entrance.passage_mode and not entrance.passage.auto_unlock
    assert "1  Mon-Fri  08:00-18:00" in again.out


async def test_passage_mode_refuses_bad_periods_before_any_call(
    hb: Run, sim: SimulatorServer
) -> None:
    for spec, message in [
        ("mon-fri 18:00-08:00", "split one over midnight in two"),
        ("funday 08:00-18:00", "'funday' is not a day"),
        ("mon-fri", "give the days and then the hours"),
        ("mon 08:00-25:00", "25:00 is not a time of day"),
    ]:
        bad = await hb("passage-mode", "set", "Front Door", "--period", spec)
        assert bad.code == 2 and message in bad.err, (spec, bad.err)
    six = [arg for day in ("mon", "tue", "wed", "thu", "fri", "sat")
           for arg in ("--period", f"{day} all-day")]
    too_many = await hb("passage-mode", "set", "Front Door", *six)
    assert too_many.code == 2 and "at most 5 periods" in too_many.err
    fresh = await hb("passage-mode", "set", "Garage")
    assert fresh.code == 2 and "has no passage-mode schedule yet" in fresh.err
    assert sim.world.calls["/v3/lock/configurePassageMode"] == 0


async def test_passage_mode_goes_through_the_gateway(hb: Run, sim: SimulatorServer) -> None:
    garage = lock_named(sim, "Garage")
    garage.passage.periods = [SimPeriod(all_day=True)]
    sim.config.scripted_errcodes["/v3/lock/configurePassageMode"] = [-3003, -3003]
    busy = await hb("passage-mode", "off", "Garage")
    assert busy.code == 0, busy.err  # a busy gateway is retried
    assert sim.world.calls["/v3/lock/configurePassageMode"] == 3
    sim.world.gateways_of(garage.lock_id)[0].online = False
    offline = json_failure(await hb("passage-mode", "set", "Garage", "--json"))
    assert offline["errcode"] == -3002 and offline["enabled"] is None
    assert not garage.passage_mode


async def test_autolock(hb: Run, sim: SimulatorServer) -> None:
    front = lock_named(sim, "Front Door")
    result = await hb("autolock", "Front Door", "2m")
    assert result.code == 0, result.err
    assert front.auto_lock_time == 120
    assert result.out.strip() == (
        f"Auto-lock of Front Door ({front.lock_id}) set to 120 s after opening")
    shown = (await hb("autolock", "Front Door", "--json")).json()
    assert shown == {"lock_id": front.lock_id, "alias": "Front Door",
                     "auto_lock_seconds": 120, "ok": True}
    off = await hb("autolock", "Front Door", "off")
    assert off.code == 0 and front.auto_lock_time == -1 and "turned off" in off.out
    for bad, message in [("901", "1 to 900 seconds"), ("soon", "not a time the lock takes"),
                         ("abc", "give 1 to 900 seconds (30, 30s, 2m, 15m)")]:
        result = await hb("autolock", "Front Door", bad)
        assert result.code == 2 and message in result.err
        assert "24h" not in result.err and "2w" not in result.err  # not the lock's range
    assert sim.world.calls["/v3/lock/setAutoLockTime"] == 2


async def test_usage_shows_the_clouds_count(hb: Run, sim: SimulatorServer) -> None:
    await hb("locks")
    data = (await hb("usage", "--json")).json()
    assert data["cloud"]["count"] == sum(sim.world.calls.values())
    assert data["cloud"]["error"] is None and len(data["cloud"]["month"]) == 7
    assert data["by_endpoint"]["/v3/app/getMonthRequestCount"] == 1  # it counts itself
    table = await hb("usage")
    assert "The TTLock cloud counts" in table.out and "UTC+8" in table.out

    sim.config.scripted_errcodes["/v3/app/getMonthRequestCount"] = [90000, 90000]
    failed = await hb("usage")
    assert failed.code == 0  # our own count still stands
    assert "The TTLock cloud did not give its count" in failed.err
    csv = await hb("usage", "--csv", "--no-cloud")
    assert csv.out.splitlines()[0] == "endpoint,calls"


@pytest.mark.parametrize("argv", [
    ["ekeys"], ["ekeys", "send"], ["qrcodes"], ["qrcodes", "add"], ["fingerprints"],
    ["cards", "list"], ["passage-mode"], ["passage-mode", "set"], ["autolock"], ["records"],
    ["usage"],
])
def test_new_commands_help_fits_the_terminal(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    with pytest.raises(SystemExit) as info:
        main([*argv, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    prose, _, examples = out.partition("\nexample")
    assert max(len(line) for line in prose.splitlines()) <= 80
    assert examples.splitlines()[1].startswith("  hapbridge ")
