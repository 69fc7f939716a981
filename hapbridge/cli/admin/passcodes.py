"""``passcodes list|add|random|change|delete`` (and ``cleanup``, in cleanup.py)."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from hapbridge.cli.admin import cleanup
from hapbridge.cli.admin.codes import (
    NEEDS_END,
    RANDOM_TYPES,
    check_daily_window,
    random_code,
    status,
    trivial_warning,
    type_name,
    validate_code,
    validate_name,
)
from hapbridge.cli.admin.common import (
    JSON_FAILURE_HELP,
    LOCK_HELP,
    TIME_HELP,
    add_parser,
    together,
    with_client,
)
from hapbridge.cli.admin.errors import AdminUsageError, NoSuchItemError, PartialFailure
from hapbridge.cli.admin.lock_ref import find_on_lock, resolve_lock, resolve_locks
from hapbridge.cli.admin.output import (
    Column,
    add_json_flag,
    add_output_flags,
    emit,
    json_on_failure,
    note,
    print_json,
)
from hapbridge.cli.admin.parallel import interrupted
from hapbridge.cli.admin.passcode_add import add_to_locks, interrupted_summary
from hapbridge.cli.admin.timeparse import (
    LOCAL,
    Zone,
    format_time,
    now,
)
from hapbridge.cli.admin.validity import (
    ZONE_FIELD,
    Window,
    check_new_validity,
    lock_windows,
    shown_zone,
    typed_validity,
    validity_columns,
)
from hapbridge.ttlock import TTLockClient
from hapbridge.ttlock.errors import PasscodeError
from hapbridge.ttlock.models import Lock, Passcode, PasscodeType


def list_columns(zone: Zone) -> list[Column]:
    """The listing's columns; the time headers name the zone the times are shown in."""
    return [
        Column("passcode_id", "ID", right=True),
        Column("code", "CODE"),
        Column("name", "NAME"),
        Column("type", "TYPE"),
        *validity_columns(zone),
        Column("lock_id", "LOCK", table=False),
        Column("expired", "EXPIRED", table=False),
        Column("created", "CREATED", table=False),
        ZONE_FIELD,
    ]


ADD_COLUMNS = [
    Column("lock_id", "LOCK", right=True),
    Column("alias", "ALIAS"),
    Column("passcode_id", "PASSCODE ID", right=True),
    Column("result", "RESULT"),
]
ZONE_COLUMN = Column("time_zone", "TIME ZONE")
NO_SUCH_PASSCODE = -2009  # the cloud's errcode for a passcode id not on the lock

DESCRIPTION = """\
Passcodes (keypad codes) of a lock. 'add' and 'change' and 'delete' go through the
lock's gateway; 'random' asks the cloud for a code the lock computes itself (no gateway).
Times are ISO 8601 (2026-12-24T15:00) on the lock's clock: without an offset they are read in
the time zone the lock reports (local time when it reports none); 'list' shows them in that
zone too and names it in the headers."""

EPILOG = """\
examples:
  hapbridge passcodes list 'Room 12'
  hapbridge passcodes add 'Room 12' 'Main Entrance' --name 'Smith 24-27 Dec' \\
      --start 2026-12-24T15:00 --end 2026-12-27T11:00
  hapbridge passcodes add 'Room 12' --code 482915            (permanent)
  hapbridge passcodes random 'Room 12' --type one-time --start now
  hapbridge passcodes change 'Room 12' 4711 --end 2026-12-28T11:00   (keeps the start)
  hapbridge passcodes delete 'Room 12' 4711
  hapbridge passcodes cleanup --expired-for 24h --dry-run"""


def register(subparsers: Any) -> None:
    parser = add_parser(
        subparsers, "passcodes", help="passcodes: list, add, random, change, delete, cleanup",
        description=DESCRIPTION, epilog=EPILOG,
    )
    sub = parser.add_subparsers(dest="passcodes_command", metavar="SUBCOMMAND", required=True)

    cmd = add_parser(sub, "list", help="all passcodes of a lock, with validity and status",
                     description="All passcodes of a lock (every page): code, name, type, "
                     "validity, and whether each is active, pending or expired. Times are "
                     "shown in the lock's time zone, named in the headers (JSON and CSV "
                     "carry ISO 8601 with the offset, and time_zone).")
    cmd.add_argument("lock", metavar="LOCK", help=LOCK_HELP)
    cmd.add_argument("--search", metavar="TEXT",
                     help="only codes whose name contains TEXT or whose code is TEXT")
    add_output_flags(cmd)
    cmd.set_defaults(handler=with_client(list_passcodes))

    cmd = add_parser(
        sub, "add", help="add your own code to one or more locks (through the gateway)",
        description="Add one code to one or more locks (e.g. a room and the main entrance): "
        "permanent without dates, valid between --start and --end with them. Without --code a "
        "random 6-digit code is chosen and printed. Locks behind different gateways are done "
        "side by side. A failure on one lock does not stop the others; the exit code is "
        "nonzero if any failed. Ctrl-C waits for the commands in flight (twice: abandons "
        "them), prints the code and where it was added, and exits 130.",
        epilog="example:\n  hapbridge passcodes add 'Room 12' 'Main Entrance' "
        "--start 2026-12-24T15:00 --end 2026-12-27T11:00 --name Smith",
    )
    cmd.add_argument("locks", metavar="LOCK", nargs="+", help=LOCK_HELP)
    cmd.add_argument("--code", help="4 to 9 digits (default: a random 6-digit code)")
    cmd.add_argument("--name", help="a name to recognise the code by (e.g. the guest)")
    cmd.add_argument("--start", metavar="T", help=f"valid from: {TIME_HELP}")
    cmd.add_argument("--end", metavar="T", help=f"valid until: {TIME_HELP}")
    add_json_flag(cmd)
    cmd.set_defaults(handler=with_client(add_passcode))

    cmd = add_parser(
        sub, "random", help="a cloud-generated code (no gateway needed)",
        description="Ask the cloud for a code the lock accepts without a gateway. The cloud "
        "rounds times to the hour. one-time: usable once within 6 hours of --start; permanent: "
        "no --end; period and the repeating types (daily, weekend, workday, monday..sunday): "
        "need --end (for repeating types the hours of --start/--end give the daily window). "
        + JSON_FAILURE_HELP,
        epilog="examples:\n  hapbridge passcodes random 'Room 12' --type one-time --start now\n"
        "  hapbridge passcodes random 'Room 12' --type daily --start 2026-12-01T08:00 "
        "--end 2026-12-31T18:00 --name Cleaner",
    )
    cmd.add_argument("lock", metavar="LOCK", help=LOCK_HELP)
    cmd.add_argument("--type", required=True, choices=list(RANDOM_TYPES), metavar="TYPE",
                     help=f"one of: {', '.join(RANDOM_TYPES)}")
    cmd.add_argument("--name", help="a name to recognise the code by")
    cmd.add_argument("--start", metavar="T", required=True, help=f"valid from: {TIME_HELP}")
    cmd.add_argument("--end", metavar="T", help=f"valid until: {TIME_HELP}")
    add_json_flag(cmd)
    cmd.set_defaults(handler=with_client(random_passcode))

    cmd = add_parser(
        sub, "change", help="rename a code, change its digits or its validity (gateway)",
        description="Change a code's name, digits or validity (give at least one). --end "
        "alone keeps the start (extending a stay), --start alone keeps the end. A new name "
        f"alone needs no gateway. {JSON_FAILURE_HELP}",
        epilog="examples:\n  hapbridge passcodes change 'Room 12' 4711 --end 2026-12-28T11:00\n"
        "  hapbridge passcodes change 'Room 12' 4711 --name 'Smith (late)' "
        "--start 2026-12-24T15:00 --end 2026-12-28T11:00",
    )
    cmd.add_argument("lock", metavar="LOCK", help=LOCK_HELP)
    cmd.add_argument("passcode_id", metavar="PASSCODE_ID", type=int,
                     help="the ID column of 'passcodes list'")
    cmd.add_argument("--name", help="new name")
    cmd.add_argument("--code", help="new digits (4 to 9)")
    cmd.add_argument("--start", metavar="T", help=f"new start: {TIME_HELP}")
    cmd.add_argument("--end", metavar="T", help=f"new end: {TIME_HELP}")
    add_json_flag(cmd)
    cmd.set_defaults(handler=with_client(change_passcode))

    cmd = add_parser(sub, "delete", help="delete a code from a lock (through the gateway)",
                     description="Delete one code from a lock, through the lock's gateway. "
                     + JSON_FAILURE_HELP,
                     epilog="example:\n  hapbridge passcodes delete 'Room 12' 4711")
    cmd.add_argument("lock", metavar="LOCK", help=LOCK_HELP)
    cmd.add_argument("passcode_id", metavar="PASSCODE_ID", type=int,
                     help="the ID column of 'passcodes list'")
    add_json_flag(cmd)
    cmd.set_defaults(handler=with_client(delete_passcode))

    cleanup.register(sub)


def passcode_row(passcode: Passcode, when: datetime) -> dict[str, Any]:
    return {
        "passcode_id": passcode.passcode_id,
        "lock_id": passcode.lock_id,
        "code": passcode.code,
        "name": passcode.name,
        "type": type_name(passcode.type),
        "start": passcode.start,
        "end": passcode.end,
        "status": status(passcode, when),
        "expired": passcode.is_expired(when),
        "created": passcode.created,
    }


async def list_passcodes(args: argparse.Namespace, client: TTLockClient) -> int:
    lock = await resolve_lock(client, args.lock)
    zone, passcodes = await together(
        shown_zone(client, [lock]),
        client.list_passcodes(lock.lock_id, search=args.search),
    )
    when = now()
    rows = [{**passcode_row(p, when), "time_zone": zone.name} for p in passcodes]
    emit(args, list_columns(zone), rows, zone=zone,
         empty=f"no passcodes on {lock.alias} ({lock.lock_id})"
         + (f" matching {args.search!r}" if args.search else ""))
    return 0


async def add_passcode(args: argparse.Namespace, client: TTLockClient) -> int:
    # Everything the user typed is checked before the first (slow, gateway) call.
    code = validate_code(args.code) if args.code is not None else random_code()
    name = validate_name(args.name)
    start, end = typed_validity(args, future_start=True)
    check_new_validity(start, end)
    if args.code is not None and (warning := trivial_warning(code)):
        note(warning)
    locks = await resolve_locks(client, args.locks)
    windows = await lock_windows(client, locks, start, end, future_start=True,
                                 end_alone_starts_now=True)

    rows: list[dict[str, Any]] = [
        {"lock_id": lock.lock_id, "alias": lock.alias, "start": window.start,
         "end": window.end, "time_zone": window.time_zone}
        for lock, window in zip(locks, windows, strict=True)
    ]
    run = await add_to_locks(client, locks, rows, code, name)

    kind = "period" if end else "permanent"
    same = len({(w.start, w.end, w.zone) for w in windows}) == 1
    if args.json:
        print_json({"code": code, "name": name, "type": kind,
                    "start": windows[0].start if same else None,
                    "end": windows[0].end if same else None,
                    "interrupted": run.interrupted,
                    "results": [{k: v for k, v in r.items() if k != "result"} for r in rows]})
    else:
        chosen = " (chosen at random)" if args.code is None else ""
        label = f" '{name}'" if name else ""
        first = windows[0]
        validity = "permanent" if not end else f"valid {first.span()}" + (
            first.zone_note() if same else ", times in each lock's own time zone")
        print(f"Passcode {code}{chosen}{label}, {validity}")
        columns = ADD_COLUMNS if same else [*ADD_COLUMNS[:2], ZONE_COLUMN, *ADD_COLUMNS[2:]]
        emit(args, columns, rows)
    if run.interrupted:
        return interrupted(interrupted_summary(run, rows))
    failed = [r for r in rows if not r["ok"]]
    if failed:
        raise PartialFailure(
            f"the passcode was not added to {len(failed)} of {len(rows)} "
            f"lock{'s' if len(rows) > 1 else ''} (see above)"
        )
    return 0


async def random_passcode(args: argparse.Namespace, client: TTLockClient) -> int:
    kind = RANDOM_TYPES[args.type]
    name = validate_name(args.name)
    # A repeating code's --start gives its daily hours too: a cleaner's 08:00-18:00 code
    # valid from today must be typeable at 10:00, so its start may be earlier today.
    repeating = kind in NEEDS_END and kind is not PasscodeType.PERIOD
    start, end = typed_validity(args, future_start=not repeating)  # --start: required
    if kind in NEEDS_END and end is None:
        raise AdminUsageError(f"--type {args.type} needs --end")
    if kind not in NEEDS_END and end is not None:
        raise AdminUsageError(
            f"--type {args.type} takes no --end"
            + (" (it is usable once within 6 hours of --start)"
               if kind is PasscodeType.ONE_TIME else "")
        )
    lock = await resolve_lock(client, args.lock)
    failure: dict[str, Any] = {"lock_id": lock.lock_id, "alias": lock.alias,
                               "passcode_id": None, "code": None, "type": args.type,
                               "name": name, "start": None, "end": None, "time_zone": None}
    with json_on_failure(args, failure):
        (window,) = await lock_windows(client, [lock], start, end,
                                       future_start=not repeating, pair=False)
        assert window.start is not None
        if repeating:
            assert window.end is not None
            check_start_today(window.start, window.zone or LOCAL)
            check_daily_window(args.type, window.start, window.end, window.zone or LOCAL)
        failure.update(start=window.start, end=window.end, time_zone=window.time_zone)
        generated = await client.generate_passcode(lock.lock_id, kind, start=window.start,
                                                   end=window.end, name=name)
    if args.json:
        print_json({"lock_id": lock.lock_id, "alias": lock.alias,
                    "passcode_id": generated.passcode_id, "code": generated.code,
                    "type": args.type, "name": name, "start": window.start,
                    "end": window.end,
                    "time_zone": window.time_zone})
        return 0
    print(f"Passcode {generated.code} (id {generated.passcode_id}) on {lock.alias} "
          f"({lock.lock_id}): {args.type}, {window.span()}{window.zone_note()}")
    if kind is PasscodeType.ONE_TIME:
        note("A one-time code must be used within 6 hours of its start.")
    if not on_the_hour(window.start) or (window.end and not on_the_hour(window.end)):
        note("The cloud counts these times to the hour.")
    return 0


def check_start_today(start: datetime, zone: Zone) -> None:
    """A repeating code may start earlier today (its hours repeat daily), not before."""
    today = now().astimezone(zone.tz).date()
    if start.astimezone(zone.tz).date() < today:
        raise AdminUsageError(
            f"--start ({format_time(start, zone)}) is before today: a repeating code starts "
            "today or later, at the hour it opens each day")


def on_the_hour(when: datetime) -> bool:
    """Whether the cloud keeps ``when`` (to the minute): it counts whole hours of UTC, so
    10:00 in a half-hour zone (+05:30) becomes 09:30 there."""
    return when.astimezone(UTC).minute == 0


async def change_passcode(args: argparse.Namespace, client: TTLockClient) -> int:
    if args.name is None and args.code is None and args.start is None and args.end is None:
        raise AdminUsageError("nothing to change: give --name, --code or --start/--end")
    code = validate_code(args.code) if args.code is not None else None
    name = validate_name(args.name)
    start, end = typed_validity(args, future_start=False)
    if code is not None and (warning := trivial_warning(code)):
        note(warning)
    lock = await resolve_lock(client, args.lock)
    failure: dict[str, Any] = {"lock_id": lock.lock_id, "alias": lock.alias,
                               "passcode_id": args.passcode_id, "changed": [], "start": None,
                               "end": None, "time_zone": None}
    with json_on_failure(args, failure):
        (window,) = await lock_windows(client, [lock], start, end, future_start=False, pair=False)
        if (window.start is None) != (window.end is None):
            window = await _kept_end(client, lock, args.passcode_id, window)
        failure.update(start=window.start, end=window.end, time_zone=window.time_zone)
        with _known(lock, args.passcode_id):
            await client.change_passcode(lock.lock_id, args.passcode_id, name=name,
                                         code=code, start=window.start, end=window.end)
    changed = [what for what, value in (("name", name), ("code", code),
                                        ("validity", window.start)) if value is not None]
    if args.json:
        print_json({"lock_id": lock.lock_id, "alias": lock.alias,
                    "passcode_id": args.passcode_id, "changed": changed, "ok": True,
                    "start": window.start, "end": window.end,
                    "time_zone": window.time_zone})
    else:
        validity = f"; now valid {window.span()}{window.zone_note()}" if window.start else ""
        print(f"Changed the {' and '.join(changed)} of passcode {args.passcode_id} on "
              f"{lock.alias} ({lock.lock_id}){validity}")
    return 0


async def _kept_end(
    client: TTLockClient, lock: Lock, passcode_id: int, window: Window
) -> Window:
    """--start or --end alone: the other one as the code has it now (the cloud needs both).

    A code without one (permanent) starts now when only --end is given; given only --start,
    it needs an --end: the cloud keeps no open-ended period."""
    current = find_on_lock(await client.list_passcodes(lock.lock_id), passcode_id,
                           lambda p: p.passcode_id, "passcode", lock, "passcodes list")
    start = window.start or current.start or now()
    end = window.end or current.end
    if end is None:
        raise AdminUsageError(
            f"passcode {passcode_id} is permanent: give --end too, to make it a period code")
    zone = window.zone or LOCAL
    if end <= start:
        if window.start is None:  # --end alone, the start kept
            raise AdminUsageError(
                f"--end ({format_time(end, zone)}) is not after the code's start "
                f"({format_time(start, zone)}): give a later --end, or --start too")
        raise AdminUsageError(
            f"--start ({format_time(start, zone)}) is not before the code's end "
            f"({format_time(end, zone)}): give --end too, after the new start")
    return Window(start, end, window.zone)


@contextlib.contextmanager
def _known(lock: Lock, passcode_id: int) -> Iterator[None]:
    """The cloud's "no such passcode" (-2009) is an ID typed wrong: exit 2 with the list
    command, as for every other unknown ID (asking first would cost a listing each time)."""
    try:
        yield
    except PasscodeError as err:
        if err.errcode != NO_SUCH_PASSCODE:
            raise
        raise NoSuchItemError("passcode", passcode_id, lock.alias, lock.lock_id,
                              "passcodes list") from None


async def delete_passcode(args: argparse.Namespace, client: TTLockClient) -> int:
    lock = await resolve_lock(client, args.lock)
    fields = {"lock_id": lock.lock_id, "alias": lock.alias, "passcode_id": args.passcode_id,
              "deleted": False}
    with json_on_failure(args, fields), _known(lock, args.passcode_id):
        await client.delete_passcode(lock.lock_id, args.passcode_id)
    if args.json:
        print_json({"lock_id": lock.lock_id, "alias": lock.alias,
                    "passcode_id": args.passcode_id, "deleted": True})
    else:
        print(f"Deleted passcode {args.passcode_id} from {lock.alias} ({lock.lock_id})")
    return 0
