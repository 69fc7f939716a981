"""``ekeys send|list|delete``: app access to a lock for another TTLock account.

The platform's rules: the receiver is an existing TTLock app account (a phone number or
e-mail address without one can be created with --create-account; its password is then its
last six characters); not yourself, not the lock's administrator; one eKey per account
and lock, so sending again replaces the older key. No gateway is involved: the receiver's
app fetches the key from the cloud.
"""

from __future__ import annotations

import argparse
from typing import Any

from hapbridge.cli.admin.codes import validate_name
from hapbridge.cli.admin.common import (
    JSON_FAILURE_HELP,
    LOCK_HELP,
    TIME_HELP,
    add_parser,
    together,
    with_client,
)
from hapbridge.cli.admin.errors import AdminUsageError
from hapbridge.cli.admin.lock_ref import find_on_lock, resolve_lock
from hapbridge.cli.admin.output import (
    Column,
    add_json_flag,
    add_output_flags,
    emit,
    json_on_failure,
    note,
    print_json,
)
from hapbridge.cli.admin.timeparse import Zone, now
from hapbridge.cli.admin.validity import (
    ZONE_FIELD,
    check_new_validity,
    lock_windows,
    shown_zone,
    typed_validity,
    validity_columns,
)
from hapbridge.ttlock import TTLockClient
from hapbridge.ttlock.access_models import EKey

RECEIVER_MAX = 100


def list_columns(zone: Zone) -> list[Column]:
    """The listing's columns (the CSV's too, in this order); times in the lock's zone."""
    return [
        Column("key_id", "ID", right=True),
        Column("username", "ACCOUNT"),
        Column("name", "NAME"),
        *validity_columns(zone),
        Column("lock_id", "LOCK", table=False),
        Column("remote_unlock", "REMOTE UNLOCK", table=False),
        Column("sender", "SENDER", table=False),
        Column("sent", "SENT", table=False),
        ZONE_FIELD,
    ]


EPILOG = """\
examples:
  hapbridge ekeys send 'Front Door' cleaner@example.com --name Cleaner
  hapbridge ekeys send 'Room 12' +4915112345678 --name 'Smith' \\
      --start 2026-12-24T15:00 --end 2026-12-27T11:00 --create-account
  hapbridge ekeys list 'Room 12'
  hapbridge ekeys delete 'Room 12' 40000001"""


def register(subparsers: Any) -> None:
    parser = add_parser(subparsers, "ekeys", help="eKeys: app access for a cleaner or guest",
                        description=__doc__.split("\n\n", 1)[1].replace("\n", " "),
                        epilog=EPILOG)
    sub = parser.add_subparsers(dest="ekeys_command", metavar="SUBCOMMAND", required=True)

    cmd = add_parser(
        sub, "send", help="give an app account access to a lock",
        description="Send an eKey for LOCK to the TTLock app account RECEIVER: permanent "
        "without dates, valid between --start and --end (read in the lock's time zone, as for "
        "passcodes; --end alone: from now) with them. "
        + JSON_FAILURE_HELP,
        epilog="example:\n  hapbridge ekeys send 'Front Door' cleaner@example.com "
        "--name Cleaner --start now --end 2026-12-31T18:00",
    )
    cmd.add_argument("lock", metavar="LOCK", help=LOCK_HELP)
    cmd.add_argument("receiver", metavar="RECEIVER",
                     help="the receiver's TTLock app account (phone number or e-mail)")
    cmd.add_argument("--name", help="the key's name (default: the receiver)")
    cmd.add_argument("--start", metavar="T", help=f"valid from: {TIME_HELP}")
    cmd.add_argument("--end", metavar="T", help=f"valid until: {TIME_HELP}")
    cmd.add_argument("--create-account", action="store_true",
                     help="create the app account if a phone number or e-mail has none "
                     "(its password: the last six characters)")
    add_json_flag(cmd)
    cmd.set_defaults(handler=with_client(send_ekey))

    cmd = add_parser(sub, "list", help="the eKeys of a lock (not the administrator's)",
                     description="Every eKey of a lock, newest first: account, name, "
                     "validity and status.",
                     epilog="example:\n  hapbridge ekeys list 'Room 12' --csv")
    cmd.add_argument("lock", metavar="LOCK", help=LOCK_HELP)
    cmd.add_argument("--search", metavar="TEXT", help="only keys whose name contains TEXT")
    add_output_flags(cmd)
    cmd.set_defaults(handler=with_client(list_ekeys))

    cmd = add_parser(sub, "delete", help="take an eKey back",
                     description="Delete one eKey (the ID column of 'ekeys list'): the "
                     "account's app loses the lock. " + JSON_FAILURE_HELP,
                     epilog="example:\n  hapbridge ekeys delete 'Room 12' 40000001")
    cmd.add_argument("lock", metavar="LOCK", help=LOCK_HELP)
    cmd.add_argument("key_id", metavar="KEY_ID", type=int, help="the ID column of 'ekeys list'")
    add_json_flag(cmd)
    cmd.set_defaults(handler=with_client(delete_ekey))


def validate_receiver(text: str) -> str:
    receiver = text.strip()
    if not receiver or len(receiver) > RECEIVER_MAX or any(ch.isspace() for ch in receiver):
        raise AdminUsageError(
            "RECEIVER: give the receiver's TTLock app account, a phone number (+4915112345678) "
            "or an e-mail address, without spaces")
    return receiver


def ekey_row(key: EKey) -> dict[str, Any]:
    return {"key_id": key.key_id, "lock_id": key.lock_id, "username": key.username,
            "name": key.name, "start": key.start, "end": key.end,
            "status": "expired" if key.end and key.end <= now() else key.status,
            "remote_unlock": key.remote_enable, "sender": key.sender, "sent": key.sent}


async def send_ekey(args: argparse.Namespace, client: TTLockClient) -> int:
    receiver = validate_receiver(args.receiver)
    name = validate_name(args.name) or receiver
    start, end = typed_validity(args, future_start=False)
    check_new_validity(start, end)
    lock = await resolve_lock(client, args.lock)
    fields: dict[str, Any] = {"lock_id": lock.lock_id, "alias": lock.alias, "key_id": None,
                              "receiver": receiver, "name": name, "start": None, "end": None,
                              "time_zone": None}
    with json_on_failure(args, fields):
        (window,) = await lock_windows(client, [lock], start, end, future_start=False,
                                       end_alone_starts_now=True)
        fields.update(start=window.start, end=window.end, time_zone=window.time_zone)
        key_id = await client.send_ekey(lock.lock_id, receiver, name=name,
                                        start=window.start, end=window.end,
                                        create_user=args.create_account)
    if args.json:
        print_json({**fields, "key_id": key_id, "ok": True})
        return 0
    print(f"eKey {key_id} for {lock.alias} ({lock.lock_id}) sent to {receiver} "
          f"('{name}'), {window.text()}")
    note("They find the lock in their TTLock app; an older eKey of theirs for this lock, if "
         "any, is replaced.")
    if args.create_account:
        note(f"If {receiver} had no account, the cloud created one whose password is its "
             "last six characters: ask them to change it in the TTLock app.")
    return 0


async def list_ekeys(args: argparse.Namespace, client: TTLockClient) -> int:
    lock = await resolve_lock(client, args.lock)
    zone, keys = await together(shown_zone(client, [lock]),
                                client.list_ekeys(lock.lock_id, search=args.search))
    emit(args, list_columns(zone), [{**ekey_row(key), "time_zone": zone.name} for key in keys],
         zone=zone,
         empty=f"no eKeys on {lock.alias} ({lock.lock_id})"
         + (f" named like {args.search!r}" if args.search else ""))
    return 0


async def delete_ekey(args: argparse.Namespace, client: TTLockClient) -> int:
    lock = await resolve_lock(client, args.lock)
    fields = {"lock_id": lock.lock_id, "alias": lock.alias, "key_id": args.key_id,
              "deleted": False}
    with json_on_failure(args, fields):
        # key/delete takes the key alone: check it is this lock's, or it could be another's
        find_on_lock(await client.list_ekeys(lock.lock_id), args.key_id,
                     lambda key: key.key_id, "eKey", lock, "ekeys list")
        await client.delete_ekey(args.key_id)
    if args.json:
        print_json({**fields, "deleted": True})
    else:
        print(f"Deleted eKey {args.key_id} from {lock.alias} ({lock.lock_id})")
    return 0
