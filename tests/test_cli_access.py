"""eKeys, QR codes, fingerprints and cards from the command line, against the simulated
cloud over HTTP (the fixtures of test_cli_admin)."""

from __future__ import annotations

import stat
import sys
from datetime import datetime
from pathlib import Path

import pytest

from hapbridge.simulator import SimulatorServer

from . import test_cli_admin as admin
from .test_cli_admin import (
    BERLIN,
    Run,
    json_failure,
    later,
    lock_named,
    machine_zone,
    ms,
)

# the CLI fixtures of test_cli_admin: the same simulated world and config
config_file = admin.config_file
hb = admin.hb
sim_config = admin.sim_config

# Seeded world: Front Door (QR), Back Door, Garage (QR), Office, Room 101 (QR) on two
# gateways | Room 102 (Wi-Fi) | Room 103 (no gateway). Accounts: cleaner@example.com,
# guest@example.com, +4915112345678.


# -- eKeys --------------------------------------------------------------------------------


async def test_ekey_send_list_delete(hb: Run, sim: SimulatorServer) -> None:
    front = lock_named(sim, "Front Door")
    sent = await hb("ekeys", "send", "Front Door", "cleaner@example.com", "--name", "Cleaner",
                    "--start", "now", "--end", later(days=7))
    assert sent.code == 0, sent.err
    assert "sent to cleaner@example.com ('Cleaner'), valid from" in sent.out
    (key,) = [k for k in sim.world.ekeys.values() if k.lock_id == front.lock_id]
    assert key.name == "Cleaner" and key.end_date > key.start_date > 0
    assert sim.world.calls["/v3/lock/unlock"] == 0

    listed = await hb("ekeys", "list", "Front Door")
    assert listed.code == 0, listed.err
    assert listed.out.splitlines()[0].split() == [
        "ID", "ACCOUNT", "NAME", "VALID", "FROM", "(UTC+01:00)", "VALID", "UNTIL",
        "(UTC+01:00)", "STATUS"]
    assert "cleaner@example.com" in listed.out and "normal" in listed.out

    # one eKey per account and lock: sending again replaces it
    again = await hb("ekeys", "send", "Front Door", "cleaner@example.com", "--json")
    data = again.json()
    assert data["ok"] and data["name"] == "cleaner@example.com" and data["end"] is None
    assert [k.key_id for k in sim.world.ekeys.values()] == [data["key_id"]]

    # key/delete takes the key alone: an id of another lock's key is refused here
    other = await hb("ekeys", "delete", "Back Door", str(data["key_id"]))
    assert other.code == 2 and "no eKey" in other.err
    assert data["key_id"] in sim.world.ekeys
    deleted = await hb("ekeys", "delete", "Front Door", str(data["key_id"]))
    assert deleted.code == 0, deleted.err
    assert not sim.world.ekeys
    empty = await hb("ekeys", "list", "Front Door")
    assert empty.out == "" and "no eKeys on Front Door" in empty.err


async def test_ekey_receivers_follow_the_platform_rules(hb: Run, sim: SimulatorServer) -> None:
    unknown = await hb("ekeys", "send", "Garage", "stranger@example.com", "--json")
    data = json_failure(unknown)
    assert data["errcode"] == -4064 and "register in the TTLock app" in data["error"]
    created = await hb("ekeys", "send", "Garage", "stranger@example.com", "--create-account")
    assert created.code == 0, created.err
    assert "last six characters: ask them to change it" in created.err
    assert "stranger@example.com" in sim.world.accounts
    myself = await hb("ekeys", "send", "Garage", sim.config.username)
    assert myself.code == 1 and "TTLock error -2019" in myself.err
    for argv, message in [
        (["with space"], "without spaces"),
        (["guest@example.com", "--start", "now"], "--start needs --end"),
        (["guest@example.com", "--end", later(days=-1)], "in the past"),
    ]:
        bad = await hb("ekeys", "send", "Garage", *argv)
        assert bad.code == 2 and message in bad.err, bad.err
    assert sim.world.calls["/v3/key/send"] == 3


async def test_a_typed_time_is_the_same_instant_for_passcode_ekey_and_qr_code(
    hb: Run, sim: SimulatorServer
) -> None:
    """On a UTC machine, for a lock in UTC+01:00: --start 15:00 is 15:00 at the door for all
    three, and every listing shows it as 15:00 under a header naming the zone."""
    room = lock_named(sim, "Room 101")
    start, end = "2030-12-24T15:00", "2030-12-27T11:00"
    window = ["--start", start, "--end", end]
    with machine_zone("UTC"):
        added = await hb("passcodes", "add", "Room 101", "--code", "4711042", *window)
        sent = await hb("ekeys", "send", "Room 101", "cleaner@example.com", *window)
        qr = await hb("qrcodes", "add", "Room 101", *window)
        for result in (added, sent, qr):
            assert result.code == 0, result.err
            assert "from 2030-12-24 15:00 to 2030-12-27 11:00" in result.out, result.out
            assert "times in the lock's time zone (UTC+01:00)" in result.out, result.out
        listings = [await hb(*argv) for argv in (["passcodes", "list", "Room 101"],
                                                 ["ekeys", "list", "Room 101"],
                                                 ["qrcodes", "list", "Room 101"])]
    expected = ms(datetime.fromisoformat(start).replace(tzinfo=BERLIN))
    (passcode,) = [p for p in sim.world.passcodes[room.lock_id].values()
                   if p.code == "4711042"]
    (key,) = [k for k in sim.world.ekeys.values() if k.lock_id == room.lock_id]
    (code,) = sim.world.qr_codes[room.lock_id].values()
    assert passcode.start_date == key.start_date == code.start_date == expected
    for listing in listings:
        header, *rows = listing.out.splitlines()
        assert "VALID FROM (UTC+01:00)" in header and "VALID UNTIL (UTC+01:00)" in header
        assert any("2030-12-24 15:00" in row for row in rows), listing.out


async def test_end_alone_starts_now_for_every_new_access(hb: Run, sim: SimulatorServer) -> None:
    end = later(days=2)
    for argv in (["passcodes", "add", "Garage"], ["ekeys", "send", "Garage", "guest@example.com"],
                 ["qrcodes", "add", "Garage"]):
        result = await hb(*argv, "--end", end, "--json")
        assert result.code == 0, result.err
        data = result.json()
        assert data.get("end") or data["results"][0]["end"], data


# -- QR codes -----------------------------------------------------------------------------


async def test_qr_code_add_writes_private_files_and_keeps_stdout_clean(
    hb: Run, sim: SimulatorServer, tmp_path: Path
) -> None:
    room = lock_named(sim, "Room 101")
    png, svg = tmp_path / "smith.png", tmp_path / "smith.svg"
    result = await hb("qrcodes", "add", "Room 101", "--name", "Smith", "--start", "now",
                      "--end", later(days=3), "--png", str(png), "--svg", str(svg))
    assert result.code == 0, result.err
    (code,) = sim.world.qr_codes[room.lock_id].values()
    assert code.name == "Smith" and code.type == 1
    assert f"Link for the guest: {code.link}" in result.out
    assert "\x1b" not in result.out  # not a terminal: no ANSI QR blocks
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert svg.read_text().lstrip().startswith("<?xml")
    for path in (png, svg):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert f"wrote {path}" in result.err
    assert sim.world.calls["/v3/lock/unlock"] == 0 and sim.world.calls["/v3/qrCode/add"] == 1

    listed = (await hb("qrcodes", "list", "Room 101", "--json")).json()
    assert [(c["qr_code_id"], c["name"], c["status"]) for c in listed] == [
        (code.qr_code_id, "Smith", "normal")]


async def test_qr_code_in_a_terminal_and_its_content(
    hb: Run, sim: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    garage = lock_named(sim, "Garage")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    shown = await hb("qrcodes", "add", "Garage")
    assert shown.code == 0, shown.err
    assert "permanent" in shown.out and "\x1b[7m" in shown.out  # the code itself
    (code,) = sim.world.qr_codes[garage.lock_id].values()
    data = (await hb("qrcodes", "show", "Garage", str(code.qr_code_id), "--content",
                     "--json")).json()
    assert data["ok"] and data["link"] == code.link and data["files"] == []
    assert code.content not in str(data)  # the lock's content is drawn, never printed


async def test_qr_codes_only_for_locks_with_a_camera(hb: Run, sim: SimulatorServer,
                                                     tmp_path: Path) -> None:
    result = await hb("qrcodes", "add", "Back Door", "--json")
    assert result.code == 2 and result.out == ""
    assert "does not read QR codes" in result.err
    listed = await hb("qrcodes", "list", "Back Door")
    assert listed.code == 2 and "does not read QR codes" in listed.err
    missing = tmp_path / "nonexistent"
    for argv, message in [
        (["--start", "now"], "--start needs --end"),
        (["--png", "x.svg"], "ending in .png"),
        (["--png", str(missing / "x.png")], f"--png: there is no directory {missing}"),
        (["--svg", "/proc/foo/x.svg"], "--svg: there is no directory /proc/foo"),
    ]:
        bad = await hb("qrcodes", "add", "Garage", *argv)
        assert bad.code == 2 and message in bad.err, bad.err
    assert not missing.exists()  # never created
    assert sim.world.calls["/v3/qrCode/add"] == 0  # refused before any cloud call


async def test_qr_code_delete(hb: Run, sim: SimulatorServer) -> None:
    front = lock_named(sim, "Front Door")
    code = sim.world.add_qr_code(front.lock_id, name="Old guest")
    missing = await hb("qrcodes", "delete", "Front Door", "1")
    assert missing.code == 2 and "no QR code 1" in missing.err
    deleted = await hb("qrcodes", "delete", "Front Door", str(code.qr_code_id))
    assert deleted.code == 0, deleted.err
    assert "link no longer works" in deleted.out
    assert not sim.world.qr_codes[front.lock_id]


# -- fingerprints and cards ---------------------------------------------------------------


async def test_fingerprints_list_rename_delete_without_numbers(
    hb: Run, sim: SimulatorServer
) -> None:
    front = lock_named(sim, "Front Door")
    (finger,) = sim.world.fingerprints[front.lock_id].values()
    listed = await hb("fingerprints", "list", "Front Door")
    assert listed.code == 0, listed.err
    assert "Family (right thumb)" in listed.out and finger.number not in listed.out
    as_json = await hb("fingerprints", "list", "Front Door", "--json")
    assert finger.number not in as_json.out and as_json.json()[0]["id"] == finger.credential_id

    commands = sim.world.calls["/v3/lock/unlock"]
    renamed = await hb("fingerprints", "rename", "Front Door", str(finger.credential_id),
                       "Anna")
    assert renamed.code == 0, renamed.err
    assert finger.name == "Anna"
    sim.world.gateways_of(front.lock_id)[0].online = False  # rename needs no gateway
    again = await hb("fingerprints", "rename", "Front Door", str(finger.credential_id), "Ann")
    assert again.code == 0, again.err
    gone = await hb("fingerprints", "delete", "Front Door", str(finger.credential_id), "--json")
    assert json_failure(gone)["errcode"] == -3002  # deleting goes through the gateway
    sim.world.gateways_of(front.lock_id)[0].online = True
    deleted = await hb("fingerprints", "delete", "Front Door", str(finger.credential_id))
    assert deleted.code == 0, deleted.err
    assert "('Ann')" in deleted.out and not sim.world.fingerprints[front.lock_id]
    assert sim.world.calls["/v3/lock/unlock"] == commands


async def test_cards(hb: Run, sim: SimulatorServer) -> None:
    back = lock_named(sim, "Back Door")
    (card,) = sim.world.cards[back.lock_id].values()
    listed = await hb("cards", "list", "Back Door", "--csv")
    assert listed.code == 0, listed.err
    header, row = listed.out.splitlines()
    assert header.startswith("id,name,type,start,end,status")
    assert "Cleaner card" in row and card.number not in listed.out
    missing = await hb("cards", "delete", "Back Door", "1")
    assert missing.code == 2 and "no card 1 on Back Door" in missing.err
    # the hint is the list command with this LOCK and this run's -U/-c
    assert "; the IDs: hapbridge -U " in missing.err
    assert missing.err.rstrip().endswith("cards list 'Back Door'")
    renamed = await hb("cards", "rename", "Back Door", "1", "X", "--json")
    assert renamed.code == 2 and renamed.out == "" and "no card 1" in renamed.err
    deleted = await hb("cards", "delete", "Back Door", str(card.credential_id))
    assert deleted.code == 0, deleted.err and not sim.world.cards[back.lock_id]


async def test_ekey_receiver_matches_without_regard_to_case(hb: Run,
                                                            sim: SimulatorServer) -> None:
    sent = await hb("ekeys", "send", "Garage", "CLEANER@EXAMPLE.COM", "--json")
    assert sent.code == 0, sent.err
    (key,) = sim.world.ekeys.values()
    assert key.username == "cleaner@example.com"  # the account as it is spelt
