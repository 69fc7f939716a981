"""``passcodes cleanup``: the nightly sweep of expired codes, with a dry run.

A lock holds about 250 codes; guest codes left behind fill it up. Only codes with an end
that passed more than ``--expired-for`` ago go: permanent codes have no end and stay.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from hapbridge.cli.admin.codes import type_name
from hapbridge.cli.admin.common import LOCK_HELP, add_parser, with_client
from hapbridge.cli.admin.errors import PartialFailure
from hapbridge.cli.admin.lock_ref import match_locks
from hapbridge.cli.admin.output import Column, add_output_flags, emit, note, print_json
from hapbridge.cli.admin.timeparse import (
    Zone,
    format_duration,
    format_time,
    now,
    parse_duration,
)
from hapbridge.cli.admin.validity import shown_zone, time_column
from hapbridge.errors import HapbridgeError
from hapbridge.ttlock import TTLockClient
from hapbridge.ttlock.models import Lock

DEFAULT_EXPIRED_FOR = "24h"


def columns(zone: Zone) -> list[Column]:
    """The sweep's columns (the CSV's too); the end in the locks' zone, as 'list' shows it."""
    return [
        Column("lock_id", "LOCK", right=True),
        Column("alias", "ALIAS"),
        Column("passcode_id", "ID", right=True),
        Column("code", "CODE"),
        Column("name", "NAME"),
        time_column("end", "ENDED", zone),
        Column("result", "RESULT"),
        Column("type", "TYPE", table=False),
        Column("action", "ACTION", table=False),
        Column("error", "ERROR", table=False),
    ]




def register(sub: Any) -> None:
    cmd = add_parser(
        sub, "cleanup", help="delete codes that expired a while ago (try --dry-run first)",
        description="Delete the codes whose end passed more than --expired-for ago, on the "
        "given locks or on all locks. Permanent codes and codes still valid are never "
        "touched. Deletion goes through each lock's gateway, one code at a time.",
        epilog="examples:\n  hapbridge passcodes cleanup --dry-run\n"
        "  hapbridge passcodes cleanup 'Room 12' 'Main Entrance' --expired-for 7d",
    )
    cmd.add_argument("locks", metavar="LOCK", nargs="*", help=f"{LOCK_HELP} (default: all)")
    cmd.add_argument(
        "--expired-for", metavar="DURATION", default=DEFAULT_EXPIRED_FOR,
        help=f"how long ago the end must be: 30m, 24h, 7d, 0 (default {DEFAULT_EXPIRED_FOR})",
    )
    cmd.add_argument("--dry-run", action="store_true",
                     help="only print what would be deleted")
    add_output_flags(cmd)
    cmd.set_defaults(handler=with_client(run_cleanup))


async def run_cleanup(args: argparse.Namespace, client: TTLockClient) -> int:
    grace = parse_duration(args.expired_for, option="--expired-for")
    all_locks = await client.list_locks()
    locks = match_locks(all_locks, args.locks) if args.locks else all_locks
    cutoff = now() - grace
    zone = await shown_zone(client, locks)
    rows: list[dict[str, Any]] = []
    for lock in locks:
        rows.extend(await _sweep(client, lock, cutoff, dry_run=args.dry_run))

    failed = [row for row in rows if row["action"] == "failed"]
    if args.json:
        print_json([{k: v for k, v in row.items() if k != "result"} for row in rows])
    else:
        verb = "would delete" if args.dry_run else "deleted"
        if rows or args.csv:
            emit(args, columns(zone), rows, zone=zone)
        done = sum(1 for row in rows if row["action"] in ("deleted", "would delete"))
        summary = (f"{verb} {done} passcode{'' if done == 1 else 's'} that ended before "
                   f"{format_time(cutoff, zone)} ({zone.name}; {format_duration(grace)} ago) "
                   "on "
                   f"{len(locks)} lock{'' if len(locks) == 1 else 's'}")
        summary = summary[0].upper() + summary[1:] + (" (dry run: nothing deleted)"
                                                      if args.dry_run else "")
        if args.csv:
            note(summary)  # stdout holds the CSV alone
        else:
            print(summary)
    if failed:
        raise PartialFailure(f"{len(failed)} of {len(rows)} cleanup steps failed (see above)")
    return 0


async def _sweep(
    client: TTLockClient, lock: Lock, cutoff: datetime, *, dry_run: bool
) -> list[dict[str, Any]]:
    """One lock: list its codes, delete (or just report) those that ended before ``cutoff``."""
    base = {"lock_id": lock.lock_id, "alias": lock.alias}
    try:
        passcodes = await client.list_passcodes(lock.lock_id)
    except HapbridgeError as err:
        return [{**base, "passcode_id": None, "code": None, "name": None, "type": None,
                 "end": None, "action": "failed", "error": f"cannot list passcodes: {err}",
                 "result": f"failed: cannot list passcodes: {err}"}]
    rows = []
    for passcode in passcodes:
        if passcode.end is None or passcode.end >= cutoff:
            continue
        row: dict[str, Any] = {
            **base, "passcode_id": passcode.passcode_id, "code": passcode.code,
            "name": passcode.name, "type": type_name(passcode.type), "end": passcode.end,
            "action": "would delete", "error": None,
        }
        if not dry_run:
            try:
                await client.delete_passcode(lock.lock_id, passcode.passcode_id)
                row["action"] = "deleted"
            except HapbridgeError as err:
                row["action"], row["error"] = "failed", str(err)
        row["result"] = row["action"] if row["error"] is None else f"failed: {row['error']}"
        rows.append(row)
    return rows
