"""``callback-url`` (what to paste into the TTLock developer platform) and ``events``
(what happened to the locks, as the bridge learnt it; ``--follow`` to watch live)."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

from hapbridge.cli.admin.common import add_parser
from hapbridge.cli.admin.errors import AdminUsageError
from hapbridge.cli.admin.output import add_json_flag, cell, note, print_json
from hapbridge.cli.context import Context
from hapbridge.config import names_lock
from hapbridge.errors import ConfigError
from hapbridge.event_log import EVENTS_FILE, Event, follow, snapshot

DEVELOPER_PLATFORM = "https://euopen.ttlock.com/manager"
DEFAULT_LIMIT = 50
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # to the second: a keypad unlock and its auto-lock apart


def register(subparsers: Any) -> None:
    url = add_parser(
        subparsers, "callback-url",
        help="the URL to paste as the callback URL in the TTLock developer platform",
        description="Print the callback URL for the TTLock developer platform (your "
        "application's page): publicUrl plus the secret path when callback.publicUrl is set, "
        "else the local address a reverse proxy or tunnel must reach. The secret path is "
        "made once and kept in the storage directory.",
        epilog="examples:\n  hapbridge callback-url\n  hapbridge callback-url --json",
    )
    add_json_flag(url)
    url.set_defaults(handler=show_callback_url)

    events = add_parser(
        subparsers, "events", help="what happened to the locks, and how the bridge learnt it",
        description="The bridge's event log: every state change with its source (homekit, "
        "push, poll, auto-lock, command) and, when a record says, who and how.",
        epilog="examples:\n  hapbridge events\n  hapbridge events --follow\n"
        "  hapbridge events --lock 'Front Door' --json",
    )
    events.add_argument("--follow", "-f", action="store_true",
                        help="keep printing events as they happen (Ctrl-C to stop)")
    events.add_argument("--lock", metavar="LOCK", help="only this lock (id or name)")
    events.add_argument("--limit", metavar="N", type=int, default=DEFAULT_LIMIT,
                        help=f"the last N events (default {DEFAULT_LIMIT})")
    add_json_flag(events)
    events.set_defaults(handler=show_events)


def show_callback_url(args: argparse.Namespace, ctx: Context) -> int:
    from hapbridge.push.callback_url import callback_urls, path_secret

    settings = ctx.load_config(require_credentials=False).platform.callback
    if settings is None:
        raise ConfigError(
            f'{ctx.config_path}: no callback receiver configured: add "callback": '
            '{"port": 8788, "publicUrl": "https://..."} to the TTLock platform block '
            "(see docs/push.md)"
        )
    urls = callback_urls(settings, path_secret(ctx.storage))
    if args.json:
        print_json({"local": urls.local, "public": urls.public})
        return 0
    print(urls.to_paste)
    note(f"Paste it as the callback URL of your application at {DEVELOPER_PLATFORM}.")
    if urls.public is None:
        note("This is the local address: the cloud reaches it only through your reverse proxy "
             "or tunnel; set callback.publicUrl to show the public URL instead.")
    return 0


def _matches(event: Event, lock: str | None) -> bool:
    if lock is None:
        return True
    return names_lock((lock.strip(),), event.lock_id, event.lock_name)


def _line(event: Event) -> str:
    """One event, the same for ``events`` and ``events --follow`` (a followed line cannot
    wait for a table's column widths)."""
    when = datetime.fromtimestamp(event.at).astimezone().strftime(TIME_FORMAT)
    by = ", ".join(part for part in (event.how, event.who and f"by {event.who}") if part)
    return "  ".join(cell(value) for value in (
        when, event.lock_name or str(event.lock_id), event.change, f"via {event.source}",
    )) + (f"  ({cell(by)})" if by else "")


def _check_lock(wanted: str | None, events: list[Event], ctx: Context) -> None:
    """``--lock`` must name a lock the event log or locks.json knows: a typo is an error,
    not an empty log."""
    if wanted is None or any(_matches(event, wanted) for event in events):
        return
    from hapbridge.bridge.lock_cache import load_cached_locks

    locks = load_cached_locks(ctx.storage)
    if any(names_lock((wanted.strip(),), lock.lock_id, lock.alias) for lock in locks):
        return
    names = sorted({lock.alias for lock in locks} | {e.lock_name for e in events if e.lock_name})
    known = f" (locks: {', '.join(names)})" if names else ""
    raise AdminUsageError(f"--lock {wanted!r}: no lock is called that{known}; give a lock's "
                          "name or id")


def show_events(args: argparse.Namespace, ctx: Context) -> int:
    if args.limit < 0:
        raise AdminUsageError("--limit must be 0 or more")
    path = ctx.storage_dir / EVENTS_FILE
    events, position = snapshot(path)
    _check_lock(args.lock, events, ctx)
    shown = [event for event in events if _matches(event, args.lock)]
    shown = shown[len(shown) - args.limit:] if args.limit else []
    if not args.follow:
        if args.json:
            print_json([event.to_json() for event in shown])
        elif not shown:
            note(f"no events yet in {path}")
        else:
            for event in shown:
                print(_line(event))
        return 0
    for event in shown:
        _print_followed(event, args.json)
    if not args.json:
        note(f"following {path} (Ctrl-C to stop)")
    for event in follow(path, since=position):  # nothing lost between the two
        if _matches(event, args.lock):
            _print_followed(event, args.json)
    return 0


def _print_followed(event: Event, as_json: bool) -> None:
    print(json.dumps(event.to_json(), ensure_ascii=False) if as_json else _line(event),
          flush=True)
