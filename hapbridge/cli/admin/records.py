"""``records [LOCK...]``: who opened what, how and when, on one lock, several, or all."""

from __future__ import annotations

import argparse
from typing import Any

from hapbridge.cli.admin.common import LOCK_HELP, add_parser, together, with_client
from hapbridge.cli.admin.errors import AdminUsageError, PartialFailure
from hapbridge.cli.admin.lock_ref import named_or_all
from hapbridge.cli.admin.output import Column, add_output_flags, emit, note
from hapbridge.cli.admin.parallel import (
    LockRun,
    Step,
    cloud_carriers,
    interrupted,
    names,
)
from hapbridge.cli.admin.timeparse import Zone, parse_since
from hapbridge.cli.admin.validity import shown_zone, time_column
from hapbridge.errors import HapbridgeError
from hapbridge.ttlock import TTLockClient
from hapbridge.ttlock.models import Lock, LockRecord

DEFAULT_LIMIT = 50


def columns(zone: Zone, *, single: bool) -> list[Column]:
    """The listing's columns, the CSV's in this same order for one lock or many (the LOCK
    column is left out of a one-lock table only)."""
    return [
        time_column("time", "TIME", zone),
        Column("alias", "LOCK", table=not single),
        Column("event", "EVENT"),
        Column("username", "BY"),
        Column("passcode", "PASSCODE"),
        Column("success", "OK"),
        Column("record_id", "RECORD", table=False),
        Column("lock_id", "LOCK ID", table=False),
        Column("server_time", "SERVER TIME", table=False),
        Column("record_type", "RECORD TYPE", table=False),
    ]



def register(subparsers: Any) -> None:
    cmd = add_parser(
        subparsers, "records", help="locks' history: who opened them, how, when",
        description="Records, newest first: unlocks by passcode, app, fingerprint, IC card, "
        "mechanical key, button, gateway, auto-lock, door sensor... Several locks (or all, "
        "with none named) are merged into one list with a LOCK column; --limit counts the "
        "merged list. A lock whose records cannot be read is named on stderr and the others "
        "are still shown (exit 1).",
        epilog="examples:\n  hapbridge records 'Front Door'\n"
        "  hapbridge records 'Front Door' --since 2026-12-24T00:00 --limit 200 --json\n"
        "  hapbridge records 'Room 12' 'Main Entrance' --since 24h\n"
        "  hapbridge records --since 7d --limit 1000 --csv > week.csv",
    )
    cmd.add_argument("locks", metavar="LOCK", nargs="*", help=f"{LOCK_HELP} (default: all)")
    cmd.add_argument("--since", metavar="T",
                     help="only records from this local time (2026-12-24T15:00), or this long "
                     "ago (24h, 7d)")
    cmd.add_argument("--limit", metavar="N", type=int, default=DEFAULT_LIMIT,
                     help=f"at most N records in all (default {DEFAULT_LIMIT})")
    add_output_flags(cmd)
    cmd.set_defaults(handler=with_client(list_records))


def record_row(lock: Lock, rec: LockRecord) -> dict[str, Any]:
    return {
        "record_id": rec.record_id,
        "lock_id": rec.lock_id,
        "alias": lock.alias,
        "time": rec.lock_date or rec.server_date,
        "server_time": rec.server_date,
        "record_type": rec.record_type,
        "event": rec.description,
        # the cloud sends "" for none: null in JSON, empty in CSV, "-" in a table
        "username": rec.username or None,
        "passcode": rec.passcode or None,
        "success": rec.success,
    }


async def _records_of(
    client: TTLockClient, lock: Lock, args: argparse.Namespace, since: Any
) -> list[dict[str, Any]] | HapbridgeError:
    """One lock's newest ``--limit`` records (enough for any merged list), or its error."""
    try:
        records = await client.list_records(lock.lock_id, since=since, limit=args.limit)
    except HapbridgeError as err:
        return err
    return [record_row(lock, rec) for rec in records]


async def _read_all(
    client: TTLockClient, locks: list[Lock], args: argparse.Namespace, since: Any
) -> tuple[LockRun, dict[int, list[dict[str, Any]] | HapbridgeError]]:
    """Every lock's records, all at once (the cloud's alone: no gateway), with progress."""
    results: dict[int, list[dict[str, Any]] | HapbridgeError] = {}

    async def read(lock: Lock) -> Step:
        result = results[lock.lock_id] = await _records_of(client, lock, args, since)
        if isinstance(result, HapbridgeError):
            return Step(False, f"cannot read its records: {result}")
        return Step(True, f"{len(result)} record{'' if len(result) == 1 else 's'}")

    run = LockRun(locks, cloud_carriers(locks), changes=False)
    await run.each(read, title=f"Reading the records of {len(locks)} locks")
    return run, results


async def list_records(args: argparse.Namespace, client: TTLockClient) -> int:
    if args.limit < 1:
        raise AdminUsageError("--limit must be at least 1")
    since = parse_since(args.since) if args.since else None
    locks = await named_or_all(client, args.locks)
    zone, (run, results) = await together(shown_zone(client, locks),
                                          _read_all(client, locks, args, since))
    rows: list[dict[str, Any]] = []
    failed: list[str] = []
    for lock in locks:
        if (result := results.get(lock.lock_id)) is None:
            continue  # not read: Ctrl-C
        if isinstance(result, HapbridgeError):
            failed.append(lock.alias)
            note(f"{lock.alias} ({lock.lock_id}): cannot read its records: {result}")
        else:
            rows.extend(result)
    rows.sort(key=lambda row: (row["time"] is not None, row["time"], row["record_id"]),
              reverse=True)
    rows = rows[:args.limit]
    single = len(locks) == 1
    where = f"{locks[0].alias} ({locks[0].lock_id})" if single else f"{len(locks)} locks"
    emit(args, columns(zone, single=single), rows, zone=zone,
         empty=f"no records for {where}")
    if run.interrupted:
        unread = run.not_started + run.abandoned
        return interrupted(f"the records of {len(unread)} of {len(locks)} locks were not "
                           f"read: {names(unread)}")
    if failed:
        raise PartialFailure(f"the records of {len(failed)} of {len(locks)} locks could not "
                             f"be read: {', '.join(failed)}")
    return 0
