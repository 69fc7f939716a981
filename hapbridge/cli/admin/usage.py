"""``usage``: this installation's API calls this month, read from the persisted counter.

No cloud call: asking the cloud would itself cost a call, and the developer portal shows
the account-wide figure anyway. Bridge and CLI share the counter (same storage directory).
"""

from __future__ import annotations

import argparse
from typing import Any

from hapbridge.cli.admin.common import add_parser
from hapbridge.cli.admin.output import Column, add_json_flag, emit, print_json
from hapbridge.cli.context import Context
from hapbridge.errors import HapbridgeError
from hapbridge.ttlock.usage import USAGE_FILE, UsageCounter

COLUMNS = [Column("endpoint", "ENDPOINT"), Column("calls", "CALLS", right=True)]


def register(subparsers: Any) -> None:
    cmd = add_parser(
        subparsers, "usage", help="API calls made by this installation this month",
        description="TTLock API calls made this month by the bridge and these commands "
        "(counted in STORAGE/usage.json), against apiBudgetPerMonth. Free developer plans "
        "allow only thousands of calls a month.",
        epilog="example:\n  hapbridge -U ~/.hapbridge usage --json",
    )
    add_json_flag(cmd)
    cmd.set_defaults(handler=show_usage)


def _budget(ctx: Context) -> int | None:
    """The configured monthly budget, if a config can be read (usage works without one)."""
    try:
        return ctx.load_config(require_credentials=False).platform.api_budget_per_month
    except HapbridgeError:
        return None


def show_usage(args: argparse.Namespace, ctx: Context) -> int:
    counter = UsageCounter(ctx.storage)
    budget = _budget(ctx)
    rows: list[dict[str, Any]] = [
        {"endpoint": endpoint, "calls": calls}
        for endpoint, calls in sorted(counter.by_endpoint.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    if args.json:
        print_json({"month": counter.month, "total": counter.total, "budget": budget,
                    "by_endpoint": dict((r["endpoint"], r["calls"]) for r in rows),
                    "file": str(ctx.storage.path(USAGE_FILE))})
        return 0
    share = f" of {budget} ({counter.total * 100 / budget:.1f}%)" if budget else ""
    print(f"{counter.total}{share} API calls in {counter.month} (UTC) from "
          f"{ctx.storage.path(USAGE_FILE)}")
    if rows:
        print()
        emit(args, COLUMNS, rows)
    return 0
