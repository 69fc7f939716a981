"""The validity of an eKey or QR code as typed: --start and --end in local time.

(Passcodes are read on the lock's clock instead: see passcodes.py and codes.py.)
"""

from __future__ import annotations

import argparse
from datetime import datetime

from hapbridge.cli.admin.errors import AdminUsageError
from hapbridge.cli.admin.timeparse import format_time, now, parse_time


def read_validity(
    args: argparse.Namespace, *, end_alone: bool
) -> tuple[datetime | None, datetime | None]:
    """``(None, None)`` for permanent; with ``end_alone`` an --end without --start starts
    now, else the two go together. An end in the past or not after the start is refused."""
    if args.start is not None and args.end is None:
        raise AdminUsageError("--start needs --end (without both it is permanent)")
    if args.end is not None and args.start is None and not end_alone:
        raise AdminUsageError("--start and --end go together: give both (or neither, for a "
                              "permanent one)")
    if args.end is None:
        return None, None
    end = parse_time(args.end, option="--end")
    start = parse_time(args.start, option="--start") if args.start else now()
    if end <= now():
        raise AdminUsageError(f"--end ({format_time(end)}) is in the past")
    if end <= start:
        raise AdminUsageError(
            f"--end ({format_time(end)}) must be after --start ({format_time(start)})")
    return start, end


def validity_text(start: datetime | None, end: datetime | None) -> str:
    """``permanent`` or ``valid from ... to ...`` (local time)."""
    if end is None:
        return "permanent"
    return f"valid from {format_time(start)} to {format_time(end)}"
