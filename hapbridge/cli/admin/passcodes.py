"""``passcodes list|add|random|change|delete`` (and ``cleanup``, in cleanup.py)."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from hapbridge.cli.admin import cleanup
from hapbridge.cli.admin.codes import (
    NEEDS_END,
    RANDOM_TYPES,
    random_code,
    status,
    type_name,
    validate_code,
    validate_window,
)
from hapbridge.cli.admin.common import LOCK_HELP, TIME_HELP, add_parser, with_client
from hapbridge.cli.admin.errors import AdminUsageError, PartialFailure
from hapbridge.cli.admin.lock_ref import resolve_lock, resolve_locks
from hapbridge.cli.admin.output import Column, add_json_flag, emit, note, print_json
from hapbridge.cli.admin.timeparse import format_time, now, parse_time
from hapbridge.errors import HapbridgeError
from hapbridge.ttlock import TTLockClient
from hapbridge.ttlock.models import Passcode, PasscodeType

LIST_COLUMNS = [
    Column("passcode_id", "ID", right=True),
    Column("code", "CODE"),
    Column("name", "NAME"),
    Column("type", "TYPE"),
    Column("start", "VALID FROM"),
    Column("end", "VALID UNTIL"),
    Column("status", "STATUS"),
]
ADD_COLUMNS = [
    Column("lock_id", "LOCK", right=True),
    Column("alias", "ALIAS"),
    Column("passcode_id", "PASSCODE ID", right=True),
    Column("result", "RESULT"),
]

DESCRIPTION = """\
Passcodes (keypad codes) of a lock. 'add' and 'change' and 'delete' go through the
lock's gateway; 'random' asks the cloud for a code the lock computes itself (no gateway).
Times are local time, ISO 8601 (2026-12-24T15:00)."""

EPILOG = """\
examples:
  hapbridge passcodes list 'Room 12'
  hapbridge passcodes add 'Room 12' 'Main Entrance' --name 'Smith 24-27 Dec' \\
      --start 2026-12-24T15:00 --end 2026-12-27T11:00
  hapbridge passcodes add 'Room 12' --code 482915            (permanent)
  hapbridge passcodes random 'Room 12' --type one-time --start now
  hapbridge passcodes change 'Room 12' 4711 --end 2026-12-28T11:00 --start 2026-12-24T15:00
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
                     "validity, and whether each is active, pending or expired.")
    cmd.add_argument("lock", metavar="LOCK", help=LOCK_HELP)
    cmd.add_argument("--search", metavar="TEXT",
                     help="only codes whose name contains TEXT or whose code is TEXT")
    add_json_flag(cmd)
    cmd.set_defaults(handler=with_client(list_passcodes))

    cmd = add_parser(
        sub, "add", help="add your own code to one or more locks (through the gateway)",
        description="Add one code to one or more locks (e.g. a room and the main entrance): "
        "permanent without dates, valid between --start and --end with them. Without --code a "
        "random 6-digit code is chosen and printed. A failure on one lock does not stop the "
        "others; the exit code is nonzero if any failed.",
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
        "need --end (for repeating types the hours of --start/--end give the daily window).",
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
        description="Change a code's name, digits or validity (give at least one). The new "
        "validity needs both --start and --end.",
        epilog="example:\n  hapbridge passcodes change 'Room 12' 4711 --name 'Smith (late)' "
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
                     description="Delete one code from a lock, through the lock's gateway.",
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
    passcodes = await client.list_passcodes(lock.lock_id, search=args.search)
    when = now()
    rows = [passcode_row(p, when) for p in passcodes]
    emit(args, LIST_COLUMNS, rows, empty=f"no passcodes on {lock.alias} ({lock.lock_id})"
         + (f" matching {args.search!r}" if args.search else ""))
    return 0


def _times(args: argparse.Namespace) -> tuple[datetime | None, datetime | None]:
    start = parse_time(args.start, option="--start") if args.start else None
    end = parse_time(args.end, option="--end") if args.end else None
    return start, end


async def add_passcode(args: argparse.Namespace, client: TTLockClient) -> int:
    # Everything the user typed is checked before the first (slow, gateway) call.
    code = validate_code(args.code) if args.code is not None else random_code()
    start, end = _times(args)
    validate_window(start, end, now=now(), future_start=True)
    locks = await resolve_locks(client, args.locks)

    rows: list[dict[str, Any]] = []
    for lock in locks:  # one by one: two locks may share a gateway, which takes one command
        row: dict[str, Any] = {"lock_id": lock.lock_id, "alias": lock.alias, "ok": False,
                               "passcode_id": None, "error": None}
        try:
            row["passcode_id"] = await client.add_passcode(
                lock.lock_id, code, name=args.name, start=start, end=end
            )
            row["ok"] = True
        except HapbridgeError as err:
            row["error"] = str(err)
        row["result"] = "added" if row["ok"] else f"failed: {row['error']}"
        rows.append(row)

    kind = "period" if start else "permanent"
    if args.json:
        print_json({"code": code, "name": args.name, "type": kind, "start": start, "end": end,
                    "results": [{k: v for k, v in r.items() if k != "result"} for r in rows]})
    else:
        chosen = " (chosen at random)" if args.code is None else ""
        validity = f"valid {format_time(start)} to {format_time(end)}" if start else "permanent"
        label = f" '{args.name}'" if args.name else ""
        print(f"Passcode {code}{chosen}{label}, {validity}")
        emit(args, ADD_COLUMNS, rows)
    failed = [r for r in rows if not r["ok"]]
    if failed:
        raise PartialFailure(
            f"the passcode was not added to {len(failed)} of {len(rows)} "
            f"lock{'s' if len(rows) > 1 else ''} (see above)"
        )
    return 0


async def random_passcode(args: argparse.Namespace, client: TTLockClient) -> int:
    kind = RANDOM_TYPES[args.type]
    start = parse_time(args.start, option="--start")  # required by the parser
    end = parse_time(args.end, option="--end") if args.end else None
    if kind in NEEDS_END and end is None:
        raise AdminUsageError(f"--type {args.type} needs --end")
    if kind not in NEEDS_END and end is not None:
        raise AdminUsageError(
            f"--type {args.type} takes no --end"
            + (" (it is usable once within 6 hours of --start)"
               if kind is PasscodeType.ONE_TIME else "")
        )
    validate_window(start, end, now=now(), future_start=True, pair=False)
    lock = await resolve_lock(client, args.lock)
    generated = await client.generate_passcode(lock.lock_id, kind, start=start, end=end,
                                               name=args.name)
    if args.json:
        print_json({"lock_id": lock.lock_id, "alias": lock.alias,
                    "passcode_id": generated.passcode_id, "code": generated.code,
                    "type": args.type, "name": args.name, "start": start, "end": end})
        return 0
    validity = f"from {format_time(start)}" + (f" to {format_time(end)}" if end else "")
    print(f"Passcode {generated.code} (id {generated.passcode_id}) on {lock.alias} "
          f"({lock.lock_id}): {args.type}, {validity}")
    if kind is PasscodeType.ONE_TIME:
        note("A one-time code must be used within 6 hours of its start.")
    if start.minute or (end and end.minute):
        note("The cloud counts these times to the hour.")
    return 0


async def change_passcode(args: argparse.Namespace, client: TTLockClient) -> int:
    if args.name is None and args.code is None and args.start is None and args.end is None:
        raise AdminUsageError("nothing to change: give --name, --code or --start/--end")
    code = validate_code(args.code) if args.code is not None else None
    start, end = _times(args)
    validate_window(start, end, now=now(), future_start=False)
    lock = await resolve_lock(client, args.lock)
    await client.change_passcode(lock.lock_id, args.passcode_id, name=args.name, code=code,
                                 start=start, end=end)
    changed = [what for what, value in (("name", args.name), ("code", code), ("validity", start))
               if value is not None]
    if args.json:
        print_json({"lock_id": lock.lock_id, "alias": lock.alias,
                    "passcode_id": args.passcode_id, "changed": changed, "ok": True})
    else:
        print(f"Changed the {' and '.join(changed)} of passcode {args.passcode_id} on "
              f"{lock.alias} ({lock.lock_id})")
    return 0


async def delete_passcode(args: argparse.Namespace, client: TTLockClient) -> int:
    lock = await resolve_lock(client, args.lock)
    await client.delete_passcode(lock.lock_id, args.passcode_id)
    if args.json:
        print_json({"lock_id": lock.lock_id, "alias": lock.alias,
                    "passcode_id": args.passcode_id, "deleted": True})
    else:
        print(f"Deleted passcode {args.passcode_id} from {lock.alias} ({lock.lock_id})")
    return 0
