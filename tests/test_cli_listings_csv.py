"""``--csv`` beside ``--json`` on the listings that lacked it: locks, gateways, gateways
show, passage-mode show. The same rows as JSON, one header line, nothing else on stdout."""

from __future__ import annotations

import csv
import io

import pytest

from hapbridge.simulator import SimulatorServer

from . import test_cli_admin as admin
from .test_cli_admin import Result, Run, lock_named

config_file = admin.config_file
hb = admin.hb
sim_config = admin.sim_config


def rows_of(result: Result) -> list[dict[str, str]]:
    assert result.code == 0, result.err
    return list(csv.DictReader(io.StringIO(result.out)))


async def test_locks_csv_has_the_json_rows(hb: Run, sim: SimulatorServer) -> None:
    lock_named(sim, "Garage").alias = "=Garage"  # a formula to a spreadsheet
    table = rows_of(await hb("locks", "--csv"))
    data = (await hb("locks", "--json")).json()
    assert [row["lock_id"] for row in table] == [str(row["lock_id"]) for row in data]
    assert list(table[0])[:5] == ["lock_id", "alias", "battery", "gateway", "online"]
    by_alias = {row["alias"]: row for row in table}
    assert "'=Garage" in by_alias and by_alias["Front Door"]["online"] == "true"
    assert by_alias["Room 102"]["gateway"] == "wifi" and by_alias["Room 102"]["online"] == ""
    assert by_alias["Room 102"]["wifi"] == "true" and by_alias["Front Door"]["wifi"] == "false"
    assert by_alias["Room 103"]["gateway"] == "" and by_alias["Room 103"]["online"] == "false"

    state = rows_of(await hb("locks", "--state", "--csv"))
    assert {row["alias"]: row["state"] for row in state}["Front Door"] == "locked"
    with pytest.raises(SystemExit) as info:
        await hb("locks", "--csv", "--json")
    assert info.value.code == 2
    show = await hb("locks", "--csv", "show", "Garage")
    assert show.code == 2 and "--csv is for the listing" in show.err and show.out == ""


async def test_gateways_and_gateways_show_csv(hb: Run, sim: SimulatorServer) -> None:
    listed = rows_of(await hb("gateways", "--csv"))
    assert [row["name"] for row in listed] == [g.name for g in sim.world.gateways.values()]
    assert list(listed[0])[:6] == ["gateway_id", "name", "model", "locks", "online",
                                   "network"]
    assert [row["mac"] for row in listed] == [g.mac for g in sim.world.gateways.values()]
    gateway = next(iter(sim.world.gateways.values()))
    for argv in (["gateways", "show", gateway.name, "--csv"],
                 ["gateways", "--csv", "show", str(gateway.gateway_id)]):
        shown = rows_of(await hb(*argv))
        assert {row["gateway_id"] for row in shown} == {str(gateway.gateway_id)}
        assert {row["gateway"] for row in shown} == {gateway.name}
        assert [int(row["lock_id"]) for row in shown] == list(gateway.rssi)
        assert {row["rssi"] for row in shown} == {str(v) for v in gateway.rssi.values()}
        assert all(row["signal"] for row in shown)


async def test_passage_mode_show_csv(hb: Run, sim: SimulatorServer) -> None:
    front = lock_named(sim, "Front Door")
    empty = await hb("passage-mode", "show", "Front Door", "--csv")
    assert empty.code == 0, empty.err
    assert empty.out.splitlines() == ["lock_id,alias,enabled,auto_unlock,period,days,hours"]
    assert "has no passage-mode periods (passage mode off)" in empty.err
    done = await hb("passage-mode", "set", "Front Door", "--period", "mon-fri 08:00-18:00",
                    "--period", "sat all-day")
    assert done.code == 0, done.err
    rows = rows_of(await hb("passage-mode", "show", "Front Door", "--csv"))
    assert [r["period"] for r in rows] == ["1", "2"]
    assert sorted((r["lock_id"], r["enabled"], r["days"], r["hours"]) for r in rows) == [
        (str(front.lock_id), "true", "Mon-Fri", "08:00-18:00"),
        (str(front.lock_id), "true", "Sat", "all day"),
    ]
