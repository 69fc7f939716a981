"""``passage-mode show|set|off LOCK`` and ``autolock LOCK [SECONDS|off]``.

Both write to the lock through its gateway (busy gateways are retried as for every
command); reading them back is the cloud's copy, no gateway. Passage-mode hours are the
lock's own clock: the lock keeps them, whatever this machine's time zone.
"""

from __future__ import annotations

import argparse
from typing import Any

from hapbridge.cli.admin.common import JSON_FAILURE_HELP, LOCK_HELP, add_parser, with_client
from hapbridge.cli.admin.errors import AdminUsageError
from hapbridge.cli.admin.lock_ref import resolve_lock
from hapbridge.cli.admin.output import (
    Column,
    add_json_flag,
    emit,
    json_on_failure,
    print_json,
)
from hapbridge.cli.admin.passage_spec import parse_period
from hapbridge.cli.admin.timeparse import parse_duration
from hapbridge.ttlock import TTLockClient
from hapbridge.ttlock.models import Feature, Lock, has_feature
from hapbridge.ttlock.passage import MAX_PERIODS, PassageMode, PassagePeriod, clock, days_text

AUTO_LOCK_MAX = 900  # seconds: -4082 above (errorCode.md)
PERIOD_COLUMNS = [Column("period", "#", right=True), Column("days", "DAYS"),
                  Column("hours", "HOURS")]
PASSAGE_EPILOG = """\
examples:
  hapbridge passage-mode show 'Main Entrance'
  hapbridge passage-mode set 'Main Entrance' --period 'mon-fri 08:00-18:00' \\
      --period 'sat 09:00-13:00' --auto-unlock
  hapbridge passage-mode set Office --period 'weekdays all-day'
  hapbridge passage-mode off 'Main Entrance'
  hapbridge passage-mode set 'Main Entrance'             (on again, with the kept schedule)"""


def register(subparsers: Any) -> None:
    parser = add_parser(
        subparsers, "passage-mode", help="passage mode: a lock that stays open on a schedule",
        description="Within a passage-mode period the lock stays unlocked once opened, until "
        f"someone locks it; outside, it locks as usual. Up to {MAX_PERIODS} periods of days "
        "and hours (the lock's own clock). With auto-unlock the lock also opens by itself "
        "when a period starts.", epilog=PASSAGE_EPILOG,
    )
    sub = parser.add_subparsers(dest="passage_command", metavar="SUBCOMMAND", required=True)

    cmd = add_parser(sub, "show", help="whether it is on, its periods and auto-unlock",
                     description="The lock's passage mode as the cloud has it (no gateway).",
                     epilog="example:\n  hapbridge passage-mode show 'Main Entrance' --json")
    cmd.add_argument("lock", metavar="LOCK", help=LOCK_HELP)
    add_json_flag(cmd)
    cmd.set_defaults(handler=with_client(show_passage))

    cmd = add_parser(
        sub, "set", help="turn it on with these periods (through the gateway)",
        description="Turn passage mode on with the given periods (they replace the old ones; "
        "without --period the lock's kept schedule is turned on again). --auto-unlock and "
        "--no-auto-unlock change that switch; otherwise it stays as it is. "
        + JSON_FAILURE_HELP,
        epilog="examples:\n  hapbridge passage-mode set 'Main Entrance' "
        "--period 'mon-fri 08:00-18:00' --period 'sat 09:00-13:00'\n"
        "  hapbridge passage-mode set Office --period 'daily all-day' --no-auto-unlock",
    )
    cmd.add_argument("lock", metavar="LOCK", help=LOCK_HELP)
    cmd.add_argument("--period", metavar="'DAYS HOURS'", action="append", default=[],
                     help="days (mon-fri, sat,sun, daily, weekdays, weekend) and hours "
                     "(08:00-18:00 or all-day); up to 5")
    switch = cmd.add_mutually_exclusive_group()
    switch.add_argument("--auto-unlock", dest="auto_unlock", action="store_true",
                        default=None, help="also unlock by itself when a period starts")
    switch.add_argument("--no-auto-unlock", dest="auto_unlock", action="store_false",
                        help="stay locked until someone opens it")
    add_json_flag(cmd)
    cmd.set_defaults(handler=with_client(set_passage))

    cmd = add_parser(sub, "off", help="turn it off (the schedule is kept for next time)",
                     description="Turn passage mode off, through the gateway; the periods "
                     "are kept, so 'set' without --period turns them on again. "
                     + JSON_FAILURE_HELP,
                     epilog="example:\n  hapbridge passage-mode off 'Main Entrance'")
    cmd.add_argument("lock", metavar="LOCK", help=LOCK_HELP)
    add_json_flag(cmd)
    cmd.set_defaults(handler=with_client(passage_off))

    cmd = add_parser(
        subparsers, "autolock", help="show or set a lock's auto-lock time (or turn it off)",
        description="Without SECONDS, the lock's auto-lock time (from the cloud). With it, "
        "the lock locks itself that long after it was opened (1 to 900 seconds; 30, 30s and "
        "2m are read alike), through the gateway; 'off' (or 0) turns auto-lock off. "
        + JSON_FAILURE_HELP,
        epilog="examples:\n  hapbridge autolock 'Front Door'\n"
        "  hapbridge autolock 'Front Door' 30\n  hapbridge autolock 'Front Door' off",
    )
    cmd.add_argument("lock", metavar="LOCK", help=LOCK_HELP)
    cmd.add_argument("seconds", metavar="SECONDS|off", nargs="?",
                     help="1 to 900 seconds (or 2m), or 'off' (or 0)")
    add_json_flag(cmd)
    cmd.set_defaults(handler=with_client(autolock))


# -- passage mode -------------------------------------------------------------------------


def _supports(lock: Lock, feature: Feature, what: str) -> None:
    if not has_feature(lock.feature_value, feature):
        raise AdminUsageError(f"{lock.alias} ({lock.lock_id}) does not support {what}")


def period_rows(mode: PassageMode) -> list[dict[str, Any]]:
    return [{"period": index, "days": days_text(p.week_days),
             "hours": "all day" if p.all_day else
             f"{clock(p.start_minute or 0)}-{clock(p.end_minute or 0)}"}
            for index, p in enumerate(mode.periods, 1)]


def mode_json(lock: Lock, mode: PassageMode) -> dict[str, Any]:
    return {
        "lock_id": lock.lock_id, "alias": lock.alias, "enabled": mode.enabled,
        "auto_unlock": mode.auto_unlock,
        "periods": [{"week_days": list(p.week_days), "all_day": p.all_day,
                     "start": None if p.all_day else clock(p.start_minute or 0),
                     "end": None if p.all_day else clock(p.end_minute or 0)}
                    for p in mode.periods],
    }


def print_mode(args: argparse.Namespace, lock: Lock, mode: PassageMode, *, verb: str) -> None:
    if args.json:
        print_json({**mode_json(lock, mode), "ok": True})
        return
    state = "on" if mode.enabled else "off"
    unlock = "auto-unlock on" if mode.auto_unlock else "auto-unlock off"
    kept = " (schedule kept)" if not mode.enabled and mode.periods else ""
    print(f"Passage mode {verb}{state} for {lock.alias} ({lock.lock_id}), {unlock}{kept}")
    if mode.periods:
        emit(args, PERIOD_COLUMNS, period_rows(mode))


async def show_passage(args: argparse.Namespace, client: TTLockClient) -> int:
    lock = await resolve_lock(client, args.lock)
    _supports(lock, Feature.PASSAGE_MODE, "passage mode")
    with json_on_failure(args, {"lock_id": lock.lock_id, "alias": lock.alias}):
        mode = await client.passage_mode(lock.lock_id)
    print_mode(args, lock, mode, verb="is ")
    return 0


async def set_passage(args: argparse.Namespace, client: TTLockClient) -> int:
    periods = tuple(parse_period(spec) for spec in args.period)
    if len(periods) > MAX_PERIODS:
        raise AdminUsageError(
            f"--period: at most {MAX_PERIODS} periods (the lock keeps no more), not "
            f"{len(periods)}")
    lock = await resolve_lock(client, args.lock)
    _supports(lock, Feature.PASSAGE_MODE, "passage mode")
    if args.auto_unlock:
        _supports(lock, Feature.PASSAGE_AUTO_UNLOCK, "auto-unlock in passage mode")
    failure: dict[str, Any] = {"lock_id": lock.lock_id, "alias": lock.alias, "enabled": None}
    with json_on_failure(args, failure):
        current = (await client.passage_mode(lock.lock_id)
                   if not periods or args.auto_unlock is None else None)
        chosen: tuple[PassagePeriod, ...] = periods or (current.periods if current else ())
        if not chosen:
            raise AdminUsageError(
                f"{lock.alias} has no passage-mode schedule yet: give --period, e.g. "
                "--period 'mon-fri 08:00-18:00'")
        auto_unlock = (args.auto_unlock if args.auto_unlock is not None
                       else bool(current and current.auto_unlock))
        mode = PassageMode(enabled=True, periods=chosen, auto_unlock=auto_unlock)
        await client.set_passage_mode(lock.lock_id, mode)
    print_mode(args, lock, mode, verb="")
    return 0


async def passage_off(args: argparse.Namespace, client: TTLockClient) -> int:
    lock = await resolve_lock(client, args.lock)
    _supports(lock, Feature.PASSAGE_MODE, "passage mode")
    with json_on_failure(args, {"lock_id": lock.lock_id, "alias": lock.alias,
                                "enabled": None}):
        current = await client.passage_mode(lock.lock_id)
        mode = PassageMode(enabled=False, periods=current.periods,
                           auto_unlock=current.auto_unlock)
        await client.set_passage_mode(lock.lock_id, mode)
    print_mode(args, lock, mode, verb="")
    return 0


# -- auto-lock ----------------------------------------------------------------------------


def parse_auto_lock(text: str) -> int:
    """Seconds from ``30``, ``30s``, ``2m``; 0 for ``off``."""
    value = text.strip().lower()
    if value in ("off", "0"):
        return 0
    try:
        seconds = (int(value) if value.isascii() and value.isdigit()
                   else int(parse_duration(value, option="SECONDS").total_seconds()))
    except AdminUsageError:  # its examples (24h, 2w) are beyond what a lock takes
        raise AdminUsageError(
            f"SECONDS: {text!r} is not a time the lock takes; give 1 to {AUTO_LOCK_MAX} "
            "seconds (30, 30s, 2m, 15m), or 'off' (or 0)") from None
    if not 1 <= seconds <= AUTO_LOCK_MAX:
        raise AdminUsageError(
            f"SECONDS: {text!r} is out of range; the lock takes 1 to {AUTO_LOCK_MAX} "
            "seconds, or 'off'")
    return seconds


async def autolock(args: argparse.Namespace, client: TTLockClient) -> int:
    seconds = None if args.seconds is None else parse_auto_lock(args.seconds)
    lock = await resolve_lock(client, args.lock)
    fields: dict[str, Any] = {"lock_id": lock.lock_id, "alias": lock.alias,
                              "auto_lock_seconds": None}
    asked = seconds is None
    with json_on_failure(args, fields):
        if seconds is None:
            seconds = (await client.lock_detail(lock.lock_id)).auto_lock_time
        else:
            _supports(lock, Feature.AUTO_LOCK_TIME, "setting the auto-lock time")
            await client.set_auto_lock_time(lock.lock_id, seconds)
    value = seconds if seconds > 0 else None
    if args.json:
        print_json({"lock_id": lock.lock_id, "alias": lock.alias, "auto_lock_seconds": value,
                    "ok": True})
        return 0
    told = f"{value} s after opening" if value else "off"
    if asked:
        print(f"Auto-lock of {lock.alias} ({lock.lock_id}): {told}")
    else:
        print(f"Auto-lock of {lock.alias} ({lock.lock_id}) "
              + (f"set to {told}" if value else "turned off"))
    return 0
