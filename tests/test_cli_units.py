"""Pure parts of the admin CLI: time parsing, passcode rules, LOCK resolution, tables."""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from hapbridge.cli.admin import register
from hapbridge.cli.admin.codes import (
    is_trivial,
    random_code,
    status,
    type_name,
    validate_code,
    validate_window,
)
from hapbridge.cli.admin.common import single_error, together
from hapbridge.cli.admin.errors import AdminUsageError, AmbiguousError, NotFoundError
from hapbridge.cli.admin.lock_ref import match_lock, match_locks
from hapbridge.cli.admin.output import Column, jsonable, render_table
from hapbridge.cli.admin.timeparse import (
    LOCAL,
    format_duration,
    format_time,
    iso_time,
    lock_zone,
    parse_duration,
    parse_since,
    parse_time,
    read_time,
)
from hapbridge.cli.main import build_parser
from hapbridge.errors import HapbridgeError
from hapbridge.ttlock.models import Lock, Passcode

NOW = datetime(2026, 12, 20, 12, 0).astimezone()


def clock() -> datetime:
    return NOW


# -- times --------------------------------------------------------------------------------


def test_parse_time_reads_local_iso_and_dates() -> None:
    parsed = parse_time("2026-12-24T15:00")
    assert parsed.tzinfo is not None
    assert parsed == datetime(2026, 12, 24, 15, 0).astimezone()
    assert parse_time("2026-12-24") == datetime(2026, 12, 24).astimezone()
    assert parse_time("2026-12-24 15:00") == parsed  # a space works as well as the T
    assert parse_time("now", clock=clock) == NOW


def test_parse_time_keeps_an_explicit_offset() -> None:
    parsed = parse_time("2026-12-24T15:00+00:00")
    assert parsed == datetime(2026, 12, 24, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", ["24/12/2026", "tomorrow", "2026-13-01", ""])
def test_parse_time_refuses_with_an_example(text: str) -> None:
    with pytest.raises(AdminUsageError, match="2026-12-24T15:00"):
        parse_time(text, option="--start")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", timedelta(hours=24)),
        ("90m", timedelta(minutes=90)),
        ("7d", timedelta(days=7)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("2w", timedelta(weeks=2)),
        ("0", timedelta(0)),
        ("30s", timedelta(seconds=30)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["24", "h", "1x", "-1h", "", "1d-2h"])
def test_parse_duration_needs_a_unit(text: str) -> None:
    with pytest.raises(AdminUsageError, match="24h"):
        parse_duration(text, option="--expired-for")


def test_parse_since_takes_a_time_or_a_duration_ago() -> None:
    assert parse_since("24h", clock=clock) == NOW - timedelta(hours=24)
    assert parse_since("2026-12-01T08:00", clock=clock) == datetime(2026, 12, 1, 8).astimezone()


@pytest.mark.parametrize(
    ("option", "text"),
    [
        ("--since", "0001-01-01"),  # astimezone(): year 0 in UTC+x
        ("--end", "9999-12-31T23:59-12:00"),  # past the last representable UTC time
        ("--start", "1969-12-31T23:00+00:00"),  # before the cloud's milliseconds begin
        ("--start", "9999-06-01"),
    ],
)
def test_times_out_of_range_are_usage_errors(option: str, text: str) -> None:
    with pytest.raises(AdminUsageError, match="out of range"):
        parse_time(text, option=option)
    with pytest.raises(AdminUsageError, match="out of range"):
        read_time(text, option=option).at(lock_zone(14 * 3_600_000))


@pytest.mark.parametrize("text", ["99999999999d", "99999999w", "36501d", "9" * 5000 + "s"])
def test_durations_beyond_a_century_are_usage_errors(text: str) -> None:
    with pytest.raises(AdminUsageError, match="too long"):
        parse_duration(text, option="--expired-for")
    with pytest.raises(AdminUsageError, match="too long"):
        parse_since(text, clock=clock)


def test_since_before_1970_is_out_of_range() -> None:
    assert parse_since("36500d", clock=lambda: datetime(2100, 1, 1, tzinfo=UTC)).year == 2000
    with pytest.raises(AdminUsageError, match="--since: '36500d' is out of range"):
        parse_since("36500d", clock=clock)


# -- the lock's time zone -----------------------------------------------------------------

BERLIN_RAW_MS = 3_600_000  # timezoneRawOffset: the standard offset, no daylight saving


def test_lock_zone_reads_naive_times_at_the_lock() -> None:
    zone = lock_zone(BERLIN_RAW_MS, local_standard_ms=0)  # a UTC Raspberry Pi
    assert zone.label == "the lock's time zone (UTC+01:00)" and zone.name == "UTC+01:00"
    start = parse_time("2026-12-24T15:00", zone=zone)
    assert start == datetime(2026, 12, 24, 14, 0, tzinfo=UTC)
    assert format_time(start, zone) == "2026-12-24 15:00"  # shown as typed
    # an explicit offset wins over the lock's zone, and "now" is now wherever the lock is
    assert parse_time("2026-12-24T15:00+00:00", zone=zone) == datetime(2026, 12, 24, 15,
                                                                       tzinfo=UTC)
    assert parse_time("now", zone=zone, clock=clock) == NOW
    assert not read_time("now").needs_zone and not read_time("2026-12-24T15:00Z").needs_zone
    assert read_time("2026-12-24").needs_zone


@pytest.mark.parametrize(
    ("offset_ms", "expected"),
    [(-12_600_000, "UTC-03:30"), (19_800_000, "UTC+05:30"), (0, "UTC+00:00"),
     (-36_000_000, "UTC-10:00")],
)
def test_lock_zone_offsets(offset_ms: int, expected: str) -> None:
    zone = lock_zone(offset_ms, local_standard_ms=7_200_000)
    assert zone.name == expected and expected in zone.label
    assert zone.tz == timezone(timedelta(milliseconds=offset_ms))


def test_lock_zone_falls_back_to_local_time() -> None:
    # same standard offset as this machine: local time, with its daylight-saving rules
    same = lock_zone(BERLIN_RAW_MS, local_standard_ms=BERLIN_RAW_MS)
    assert same.tz is None and same.name == "local" and "the lock's time zone too" in same.label
    for unknown in (None, 86_400_000, -90_000_000):
        zone = lock_zone(unknown, local_standard_ms=0)
        assert zone.tz is None and "reports no time zone" in zone.label
    assert parse_time("2026-12-24T15:00", zone=same) == parse_time("2026-12-24T15:00")
    assert parse_time("2026-12-24T15:00", zone=LOCAL) == datetime(2026, 12, 24, 15).astimezone()


def test_formatting_is_local_and_round_trips() -> None:
    when = datetime(2026, 12, 24, 15, 0).astimezone()
    assert format_time(when) == "2026-12-24 15:00"
    assert format_time(when.astimezone(UTC)) == "2026-12-24 15:00"  # shown in local time
    assert format_time(None) == "-"
    assert datetime.fromisoformat(iso_time(when) or "") == when
    assert format_duration(timedelta(days=1, hours=2, minutes=3)) == "1d 2h"
    assert format_duration(timedelta(0)) == "0s"


# -- passcodes ----------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["1234", "482915", "123456789", "0042"])
def test_validate_code_accepts_4_to_9_digits(code: str) -> None:
    assert validate_code(code) == code


@pytest.mark.parametrize(
    ("code", "reason"),
    [("123", "4 to 9"), ("1234567890", "4 to 9"), ("12a4", "digits only"),
     ("١٢٣٤", "digits only"), ("12 34", "digits only"), ("", "digits only")],
)
def test_validate_code_refuses(code: str, reason: str) -> None:
    with pytest.raises(AdminUsageError, match=reason):
        validate_code(code)


@pytest.mark.parametrize(
    "code", ["1234", "1111", "000000", "987654", "890123", "121212", "123123", "4321",
             "2580", "0852", "147258", "258369", "112233", "998877", "11223344"]
)
def test_trivial_codes(code: str) -> None:
    assert is_trivial(code)


@pytest.mark.parametrize("code", ["482915", "1357", "902184", "1122", "582914"])
def test_non_trivial_codes(code: str) -> None:
    assert not is_trivial(code)


def test_random_codes_are_6_digits_and_never_trivial() -> None:
    codes = {random_code() for _ in range(300)}
    assert len(codes) > 290
    for code in codes:
        assert len(code) == 6 and code.isdigit() and code[0] != "0"
        assert not is_trivial(code)


def test_window_rules() -> None:
    start, end = NOW + timedelta(hours=1), NOW + timedelta(days=2)
    validate_window(start, end, now=NOW, future_start=True)
    validate_window(None, None, now=NOW, future_start=True)
    validate_window(NOW - timedelta(seconds=30), end, now=NOW, future_start=True)  # grace
    with pytest.raises(AdminUsageError, match="go together"):
        validate_window(start, None, now=NOW, future_start=True)
    with pytest.raises(AdminUsageError, match="must be after"):
        validate_window(end, start, now=NOW, future_start=True)
    with pytest.raises(AdminUsageError, match="in the past"):
        validate_window(NOW - timedelta(days=1), end, now=NOW, future_start=True)
    # changing a running code keeps its past start
    validate_window(NOW - timedelta(days=1), end, now=NOW, future_start=False)
    with pytest.raises(AdminUsageError, match="never work"):
        validate_window(NOW - timedelta(days=2), NOW - timedelta(days=1), now=NOW,
                        future_start=False)


def passcode(end: datetime | None, start: datetime | None = None) -> Passcode:
    return Passcode(passcode_id=1, lock_id=2, code="4829", name="x", type=3, start=start,
                    end=end, created=None, is_custom=True)


def test_status_and_type_names() -> None:
    assert status(passcode(None), NOW) == "active"
    assert status(passcode(NOW - timedelta(minutes=1)), NOW) == "expired"
    assert status(passcode(NOW + timedelta(days=1), NOW + timedelta(hours=1)), NOW) == "pending"
    assert type_name(1) == "one-time" and type_name(14) == "sunday" and type_name(99) == "type 99"


# -- LOCK resolution ----------------------------------------------------------------------


def lock(lock_id: int, alias: str) -> Lock:
    return Lock(lock_id=lock_id, alias=alias, name="", mac="", battery=80, feature_value="0",
                has_gateway=True)


LOCKS = [lock(3000001, "Front Door"), lock(3000002, "Room 101"), lock(3000003, "room 12"),
         lock(3000004, "Room 12"), lock(3000005, "3000001")]


def test_match_by_id_then_alias_ignoring_case() -> None:
    assert match_lock(LOCKS, "3000002").alias == "Room 101"
    assert match_lock(LOCKS, "front door").lock_id == 3000001
    assert match_lock(LOCKS, "  FRONT DOOR ").lock_id == 3000001
    assert match_lock(LOCKS, "3000001").alias == "Front Door"  # an id wins over an alias


def test_alias_match_ignores_how_accents_are_encoded() -> None:
    cafes = [lock(3000001, "Cafe\u0301"), lock(3000002, "Straße")]
    assert match_lock(cafes, "CAF\u00c9").lock_id == 3000001
    assert match_lock(cafes, "STRASSE").lock_id == 3000002
    with pytest.raises(NotFoundError, match="did you mean 'Cafe\u0301'"):
        match_lock(cafes, "Cafés")


def test_numeric_alias_is_found_when_no_id_matches() -> None:
    rooms = [lock(3000001, "101"), lock(3000002, "102")]
    assert match_lock(rooms, "102").lock_id == 3000002


def test_ambiguous_alias_lists_candidates() -> None:
    with pytest.raises(AmbiguousError) as info:
        match_lock(LOCKS, "ROOM 12")
    message = str(info.value)
    assert "3000003 (room 12)" in message and "3000004 (Room 12)" in message
    assert "lock id" in message


def test_unknown_lock_suggests_a_near_alias() -> None:
    with pytest.raises(NotFoundError, match="did you mean 'Front Door'"):
        match_lock(LOCKS, "Frnt Door")
    with pytest.raises(NotFoundError, match="did you mean 'Front Door'"):
        match_lock(LOCKS, "FRONT DOR")
    with pytest.raises(NotFoundError, match="hapbridge locks"):
        match_lock(LOCKS, "9999999")


@pytest.mark.parametrize("ref", ["²", "①", "٣", "3" * 5000])
def test_digit_like_refs_are_names_not_ids(ref: str) -> None:
    # str.isdigit() accepts these, int() refuses them: never a ValueError traceback
    with pytest.raises(NotFoundError, match="no lock"):
        match_lock(LOCKS, ref)
    assert match_lock([*LOCKS, lock(3000009, "²")], "²").lock_id == 3000009


def test_match_locks_keeps_order_and_drops_repeats() -> None:
    chosen = match_locks(LOCKS, ["Room 101", "front door", "3000002"])
    assert [lk.lock_id for lk in chosen] == [3000002, 3000001]


# -- output -------------------------------------------------------------------------------


def test_table_aligns_columns_and_numbers() -> None:
    rows = [{"id": 7, "alias": "Front Door", "ok": True, "end": None},
            {"id": 12345, "alias": "Garage", "ok": False, "end": None}]
    text = render_table([Column("id", "ID", right=True), Column("alias", "ALIAS"),
                         Column("ok", "OK"), Column("end", "END")], rows)
    assert text.splitlines() == [
        "   ID  ALIAS       OK   END",
        "    7  Front Door  yes  -",
        "12345  Garage      no   -",
    ]


def test_table_pads_by_terminal_columns() -> None:
    rows = [{"id": 1, "alias": "東京 Room"}, {"id": 22, "alias": "Cafe\u0301"},
            {"id": 333, "alias": "🚪 Door"}, {"id": 4, "alias": "Tab\there\nand\rthere"}]
    text = render_table([Column("alias", "ALIAS"), Column("id", "ID", right=True)], rows)
    assert text.splitlines() == [  # 23 terminal columns each; the widest alias takes 18
        "ALIAS" + " " * 16 + "ID",
        "東京 Room" + " " * 13 + "1",  # 東京 takes 4 columns: 9 in all
        "Cafe\u0301" + " " * 17 + "22",  # the accent takes none: 4
        "🚪 Door" + " " * 13 + "333",  # the emoji takes 2: 7
        "Tab here and there    4",
    ]


def test_jsonable_uses_local_iso_times() -> None:
    when = datetime(2026, 12, 24, 15, 0).astimezone()
    data = jsonable({"when": when, "gap": timedelta(hours=1), "list": (1, None)})
    assert json.loads(json.dumps(data)) == {"when": iso_time(when), "gap": 3600.0,
                                            "list": [1, None]}


# -- parser -------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="hapbridge")
    register(root.add_subparsers(dest="command"))
    return root


def test_parser_shapes() -> None:
    args = parser().parse_args(["passcodes", "add", "Room 12", "Main", "--start", "x",
                                "--end", "y"])
    assert args.locks == ["Room 12", "Main"] and args.passcodes_command == "add"
    args = parser().parse_args(["locks", "show", "Garage", "--json"])
    assert args.lock == "Garage" and args.json
    args = parser().parse_args(["locks", "--state"])
    assert args.state and args.locks_command is None
    args = parser().parse_args(["passcodes", "cleanup", "--dry-run"])
    assert args.locks == [] and args.expired_for == "24h"


def test_random_type_choices(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["passcodes", "random", "X", "--type", "yearly", "--start", "now"])
    assert "one-time" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--bogus"], "hapbridge: error: unrecognized arguments: --bogus; see 'hapbridge --help'"),
        (["passcodes", "add"], "hapbridge: error: passcodes add: the following arguments are "
                               "required: LOCK; see 'hapbridge passcodes add --help'"),
    ],
)
def test_argument_mistakes_are_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    with pytest.raises(SystemExit) as stopped:
        build_parser().parse_args(argv)
    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines() == [expected]


def test_json_flag_before_or_after_a_subcommand() -> None:
    assert parser().parse_args(["locks", "--json", "show", "X"]).json
    assert parser().parse_args(["locks", "show", "X", "--json"]).json
    assert not parser().parse_args(["locks", "show", "X"]).json
    assert parser().parse_args(["gateways", "--json", "show", "1"]).json


# -- running calls together ---------------------------------------------------------------


async def test_together_returns_results_in_order() -> None:
    async def value(x: int, delay: float) -> int:
        await asyncio.sleep(delay)
        return x

    assert await together(value(1, 0.02), value(2, 0)) == (1, 2)
    assert await together(*(value(i, 0) for i in range(3))) == (0, 1, 2)
    assert await together() == ()


async def test_together_stops_the_others_before_raising_one_error() -> None:
    events: list[str] = []

    async def fails() -> None:
        await asyncio.sleep(0)
        raise HapbridgeError("wrong password")

    async def slow() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            events.append("sibling cancelled")
            raise
        events.append("sibling finished")  # pragma: no cover

    with pytest.raises(HapbridgeError, match="wrong password") as info:
        await together(fails(), slow())
    events.append("caller sees the error")
    # the sibling was stopped *before* the error reached the caller (who closes the client)
    assert events == ["sibling cancelled", "caller sees the error"]
    assert not isinstance(info.value, BaseExceptionGroup)


async def test_together_reports_the_first_of_several_errors() -> None:
    async def fails(message: str, delay: float) -> None:
        await asyncio.sleep(delay)
        raise HapbridgeError(message)

    with pytest.raises(HapbridgeError, match=r"^first$"):
        await together(fails("second", 0.01), fails("first", 0))


def test_single_error_keeps_bugs_whole() -> None:
    user = HapbridgeError("offline")
    nested = ExceptionGroup("outer", [ExceptionGroup("inner", [user]), HapbridgeError("b")])
    assert single_error(nested) is user
    mixed = ExceptionGroup("mixed", [user, KeyError("bug")])
    assert single_error(mixed) is mixed


@pytest.mark.parametrize(("argv", "expected"), [
    (["locks", "--bogus"], "hapbridge: error: locks: unrecognized arguments: --bogus; see "
                           "'hapbridge locks --help'"),
    (["passcodes", "add", "X", "--bogus"], "hapbridge: error: passcodes add: unrecognized "
     "arguments: --bogus; see 'hapbridge passcodes add --help'"),
])
def test_an_unknown_option_points_to_its_commands_help(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    from hapbridge.cli.main import main

    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines() == [expected]
