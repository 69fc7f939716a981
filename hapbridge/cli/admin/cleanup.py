"""``passcodes cleanup``: the nightly sweep of expired codes, with a dry run.

A lock holds about 250 codes; guest codes left behind fill it up. Only codes with an end
that passed more than ``--expired-for`` ago go: permanent codes have no end and stay.
"""

from __future__ import annotations

import argparse
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from hapbridge.cli.admin.codes import type_name
from hapbridge.cli.admin.common import LOCK_HELP, add_parser, together, with_client
from hapbridge.cli.admin.errors import PartialFailure
from hapbridge.cli.admin.lock_ref import named_or_all
from hapbridge.cli.admin.output import Column, add_output_flags, emit, note, print_json
from hapbridge.cli.admin.parallel import (
    LockRun,
    Step,
    cloud_carriers,
    gateway_carriers,
    interrupted,
    names,
)
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
from hapbridge.ttlock.reach import Carrier

DEFAULT_EXPIRED_FOR = "24h"
NOT_DELETED = "not deleted (interrupted)"
ABANDONED = "unknown (abandoned in flight)"


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
        "touched. Deletion goes through each lock's gateway: gateways side by side, one "
        "command on each at a time. Ctrl-C stops after the deletions in flight and lists "
        "what was deleted (exit 130).",
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
    locks = await named_or_all(client, args.locks)
    cutoff = now() - grace
    zone, run = await together(shown_zone(client, locks),
                               _sweep_all(client, locks, cutoff, dry_run=args.dry_run))
    rows = [row for lock in locks for row in run.rows[lock.lock_id]]

    failed = [row for row in rows if row["action"] == "failed"]
    if args.json:
        print_json([{k: v for k, v in row.items() if k != "result"} for row in rows])
    else:
        if rows or args.csv:
            emit(args, columns(zone), rows, zone=zone)
        if not run.interrupted:  # else the last line says how far it came
            _summary(args, rows, cutoff, grace, zone, len(locks))
    if run.interrupted:
        return interrupted(run.summary(rows, dry_run=args.dry_run))
    if failed:
        raise PartialFailure(f"{len(failed)} of {len(rows)} cleanup steps failed (see above)")
    return 0


def _summary(args: argparse.Namespace, rows: list[dict[str, Any]], cutoff: datetime,
             grace: timedelta, zone: Zone, locks: int) -> None:
    verb = "would delete" if args.dry_run else "deleted"
    done = sum(1 for row in rows if row["action"] in ("deleted", "would delete"))
    summary = (f"{verb} {done} passcode{'' if done == 1 else 's'} that ended before "
               f"{format_time(cutoff, zone)} ({zone.name}; {format_duration(grace)} ago) on "
               f"{locks} lock{'' if locks == 1 else 's'}")
    summary = summary[0].upper() + summary[1:] + (" (dry run: nothing deleted)"
                                                  if args.dry_run else "")
    if args.csv:
        note(summary)  # stdout holds the CSV alone
    else:
        print(summary)


class Sweep(LockRun):
    """The run over the locks, with each lock's rows (kept as they happen, so that what
    Ctrl-C interrupts is reported as it stands)."""

    def __init__(self, locks: list[Lock], carriers: dict[int, Carrier], *,
                 dry_run: bool) -> None:
        super().__init__(locks, carriers, changes=not dry_run)
        self.rows: dict[int, list[dict[str, Any]]] = {lock.lock_id: [] for lock in locks}

    def summary(self, rows: list[dict[str, Any]], *, dry_run: bool) -> str:
        """How far the sweep came, in one line (the table above has each passcode)."""
        done = sum(1 for row in rows if row["action"] in ("deleted", "would delete"))
        verb = "would delete" if dry_run else "deleted"
        parts = [f"{verb} {done} passcode{'' if done == 1 else 's'} (see above)"]
        if self.not_started:
            parts.append(f"not swept: {names(self.not_started)}")
        if self.abandoned:
            parts.append(f"stopped while sweeping: {names(self.abandoned)}")
        if unknown := [row for row in rows if row["action"] == ABANDONED]:
            parts.append("abandoned in flight (it may have been deleted): " + ", ".join(
                f"passcode {row['passcode_id']} on {row['alias']}" for row in unknown))
        return "; ".join(parts)


async def _sweep_all(
    client: TTLockClient, locks: list[Lock], cutoff: datetime, *, dry_run: bool
) -> Sweep:
    """Every lock swept, gateways side by side (a dry run only reads: all at once)."""
    carriers = cloud_carriers(locks) if dry_run else await gateway_carriers(client, locks)
    run = Sweep(locks, carriers, dry_run=dry_run)

    async def sweep(lock: Lock) -> Step:
        rows = run.rows[lock.lock_id]
        await _sweep(client, lock, cutoff, rows, run, dry_run=dry_run)
        return _step(rows)

    verb = "Looking for" if dry_run else "Deleting"
    await run.each(sweep, title=f"{verb} expired passcodes on {len(locks)} locks")
    return run


def _step(rows: list[dict[str, Any]]) -> Step:
    """One lock's progress line: ``deleted 3 passcodes``, ``nothing to delete``..."""
    if not rows:
        return Step(True, "nothing to delete")
    counts = Counter(row["action"] for row in rows)
    text = ", ".join(f"{action}: {count}" for action, count in counts.items())
    if rows[0]["passcode_id"] is None:  # the listing failed
        return Step(False, rows[0]["result"])
    return Step("failed" not in counts, text)


async def _sweep(
    client: TTLockClient, lock: Lock, cutoff: datetime, rows: list[dict[str, Any]],
    run: LockRun, *, dry_run: bool,
) -> None:
    """One lock: list its codes, delete (or just report) those that ended before ``cutoff``;
    after Ctrl-C the rest are left as they are."""
    base = {"lock_id": lock.lock_id, "alias": lock.alias}
    try:
        passcodes = await client.list_passcodes(lock.lock_id)
    except HapbridgeError as err:
        rows.append({**base, "passcode_id": None, "code": None, "name": None, "type": None,
                     "end": None, "action": "failed", "error": f"cannot list passcodes: {err}",
                     "result": f"failed: cannot list passcodes: {err}"})
        return
    for passcode in passcodes:
        if passcode.end is None or passcode.end >= cutoff:
            continue
        row: dict[str, Any] = {
            **base, "passcode_id": passcode.passcode_id, "code": passcode.code,
            "name": passcode.name, "type": type_name(passcode.type), "end": passcode.end,
        }
        rows.append(row)
        if run.stopping:
            _set(row, NOT_DELETED)
        elif dry_run:
            _set(row, "would delete")
        else:
            _set(row, ABANDONED)  # until the gateway answers
            try:
                await client.delete_passcode(lock.lock_id, passcode.passcode_id)
                _set(row, "deleted")
            except HapbridgeError as err:
                _set(row, "failed", str(err))


def _set(row: dict[str, Any], action: str, error: str | None = None) -> None:
    row.update(action=action, error=error,
               result=action if error is None else f"failed: {error}")
