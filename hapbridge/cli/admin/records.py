"""``records LOCK``: who opened what, how and when."""

from __future__ import annotations

import argparse
from typing import Any

from hapbridge.cli.admin.common import LOCK_HELP, add_parser, with_client
from hapbridge.cli.admin.errors import AdminUsageError
from hapbridge.cli.admin.lock_ref import resolve_lock
from hapbridge.cli.admin.output import Column, add_json_flag, emit
from hapbridge.cli.admin.timeparse import parse_since
from hapbridge.ttlock import TTLockClient

DEFAULT_LIMIT = 50
COLUMNS = [
    Column("time", "TIME"),
    Column("event", "EVENT"),
    Column("username", "BY"),
    Column("passcode", "PASSCODE"),
    Column("success", "OK"),
]


def register(subparsers: Any) -> None:
    cmd = add_parser(
        subparsers, "records", help="a lock's history: who opened it, how, when",
        description="A lock's records, newest first: unlocks by passcode, app, fingerprint, "
        "IC card, mechanical key, button, gateway, auto-lock, door sensor...",
        epilog="examples:\n  hapbridge records 'Front Door'\n"
        "  hapbridge records 'Front Door' --since 2026-12-24T00:00 --limit 200 --json\n"
        "  hapbridge records 'Front Door' --since 24h",
    )
    cmd.add_argument("lock", metavar="LOCK", help=LOCK_HELP)
    cmd.add_argument("--since", metavar="T",
                     help="only records from this local time (2026-12-24T15:00), or this long "
                     "ago (24h, 7d)")
    cmd.add_argument("--limit", metavar="N", type=int, default=DEFAULT_LIMIT,
                     help=f"at most N records (default {DEFAULT_LIMIT})")
    add_json_flag(cmd)
    cmd.set_defaults(handler=with_client(list_records))


async def list_records(args: argparse.Namespace, client: TTLockClient) -> int:
    if args.limit < 1:
        raise AdminUsageError("--limit must be at least 1")
    since = parse_since(args.since) if args.since else None
    lock = await resolve_lock(client, args.lock)
    records = await client.list_records(lock.lock_id, since=since, limit=args.limit)
    rows = [
        {
            "record_id": rec.record_id,
            "lock_id": rec.lock_id,
            "time": rec.lock_date or rec.server_date,
            "server_time": rec.server_date,
            "record_type": rec.record_type,
            "event": rec.description,
            "username": rec.username,
            "passcode": rec.passcode,
            "success": rec.success,
        }
        for rec in records
    ]
    emit(args, COLUMNS, rows, empty=f"no records for {lock.alias} ({lock.lock_id})")
    return 0
