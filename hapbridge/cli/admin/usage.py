"""``usage``: this installation's API calls this month (the persisted counter), and the
cloud's own count for the month when it answers.

Our counter is this installation's, per endpoint, in UTC months; the cloud's
(``app/getMonthRequestCount``) is the whole application's, in UTC+8 months, and asking
costs one call itself (``--no-cloud`` skips it). Bridge and CLI share the counter.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hapbridge.cli.admin.common import add_parser
from hapbridge.cli.admin.output import Column, add_output_flags, emit, note, print_json
from hapbridge.cli.context import Context
from hapbridge.errors import HapbridgeError
from hapbridge.ttlock.usage import USAGE_FILE, UsageCounter

COLUMNS = [Column("endpoint", "ENDPOINT"), Column("calls", "CALLS", right=True)]
CLOUD_ZONE = timezone(timedelta(hours=8))  # the cloud's months


def register(subparsers: Any) -> None:
    cmd = add_parser(
        subparsers, "usage", help="API calls this month, ours and the cloud's count",
        description="TTLock API calls made this month by the bridge and these commands "
        "(counted in STORAGE/usage.json, months in UTC), against apiBudgetPerMonth, and the "
        "cloud's own count for the month (the whole developer application, months in "
        "UTC+8) when the cloud answers. Free developer plans allow only thousands of calls "
        "a month.",
        epilog="examples:\n  hapbridge usage\n  hapbridge -U ~/.hapbridge usage --json\n"
        "  hapbridge usage --no-cloud          (no call at all)",
    )
    cmd.add_argument("--no-cloud", action="store_true",
                     help="do not ask the cloud for its count (which costs one call)")
    add_output_flags(cmd)
    cmd.set_defaults(handler=show_usage)


@dataclass(frozen=True)
class CloudCount:
    month: str  # the cloud's month (UTC+8) when it was asked
    count: int | None
    error: str | None


def _budget(ctx: Context) -> int | None:
    """The configured monthly budget, if a config can be read (usage works without one)."""
    try:
        return ctx.load_config(require_credentials=False).platform.api_budget_per_month
    except HapbridgeError:
        return None


async def cloud_count(ctx: Context) -> CloudCount:
    """The cloud's count, or why there is none (no config, refused, unreadable)."""
    month = datetime.now(tz=UTC).astimezone(CLOUD_ZONE).strftime("%Y-%m")
    try:
        async with ctx.open_client() as client:
            return CloudCount(month, await client.month_request_count(), None)
    except HapbridgeError as err:
        return CloudCount(month, None, str(err))


async def show_usage(args: argparse.Namespace, ctx: Context) -> int:
    cloud = None if args.no_cloud else await cloud_count(ctx)
    counter = UsageCounter(ctx.storage)  # read after the cloud call, which it counts
    budget = _budget(ctx)
    rows: list[dict[str, Any]] = [
        {"endpoint": endpoint, "calls": calls}
        for endpoint, calls in sorted(counter.by_endpoint.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    if args.json:
        print_json({"month": counter.month, "total": counter.total, "budget": budget,
                    "by_endpoint": dict((r["endpoint"], r["calls"]) for r in rows),
                    "file": str(ctx.storage.path(USAGE_FILE)),
                    "cloud": None if cloud is None else {
                        "month": cloud.month, "count": cloud.count, "error": cloud.error}})
        return 0
    if args.csv:
        emit(args, COLUMNS, rows)
        if cloud is not None:
            note(_cloud_line(cloud, counter.month))
        return 0
    share = f" of {budget} ({counter.total * 100 / budget:.1f}%)" if budget else ""
    print(f"{counter.total}{share} API calls in {counter.month} (UTC) from "
          f"{ctx.storage.path(USAGE_FILE)}")
    if cloud is not None:
        line = _cloud_line(cloud, counter.month)
        if cloud.count is None:
            note(line)
        else:
            print(line)
    if rows:
        print()
        emit(args, COLUMNS, rows)
    return 0


def _cloud_line(cloud: CloudCount, our_month: str) -> str:
    if cloud.count is None:
        return f"The TTLock cloud did not give its count: {cloud.error}"
    shift = (f"; its {cloud.month} already began, ours ({our_month}, UTC) not yet"
             if cloud.month != our_month else "")
    return (f"The TTLock cloud counts {cloud.count} calls in {cloud.month} (its months are "
            f"UTC+8; all installations of the developer application){shift}")
