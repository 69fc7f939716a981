"""``fingerprints list|rename|delete`` and ``cards list|rename|delete``.

Fingerprints and IC cards are enrolled at the lock (with the TTLock app). Here they are
listed by name and validity (never a number or any biometric data: the client does not
even keep them), renamed (the name records show; the cloud's alone, no gateway) and
deleted from the lock through its gateway.
"""

from __future__ import annotations

import argparse
from typing import Any

from hapbridge.cli.admin.codes import status, validate_name
from hapbridge.cli.admin.common import (
    JSON_FAILURE_HELP,
    LOCK_HELP,
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
    print_json,
)
from hapbridge.cli.admin.timeparse import Zone, now
from hapbridge.cli.admin.validity import ZONE_FIELD, shown_zone, validity_columns
from hapbridge.ttlock import TTLockClient
from hapbridge.ttlock.access_models import CARD, FINGERPRINT, Credential, CredentialKind
from hapbridge.ttlock.models import Lock


def list_columns(zone: Zone) -> list[Column]:
    """The listing's columns (the CSV's too, in this order); times in the lock's zone."""
    return [
        Column("id", "ID", right=True),
        Column("name", "NAME"),
        Column("type", "TYPE"),
        *validity_columns(zone),
        Column("lock_id", "LOCK", table=False),
        Column("created", "CREATED", table=False),
        Column("sender", "SENDER", table=False),
        ZONE_FIELD,
    ]


COMMANDS = {"fingerprints": FINGERPRINT, "cards": CARD}


def register(subparsers: Any) -> None:
    for command, kind in COMMANDS.items():
        _register(subparsers, command, kind)


def _register(subparsers: Any, command: str, kind: CredentialKind) -> None:
    noun, plural = kind.noun, f"{kind.noun}s"
    parser = add_parser(
        subparsers, command, help=f"{plural}: list, rename, delete (names only)",
        description=f"The {plural} enrolled at a lock (enrol new ones with the TTLock app "
        f"at the lock). Names and validity only: no {noun} number or data is ever shown.",
        epilog=f"examples:\n  hapbridge {command} list 'Front Door'\n"
        f"  hapbridge {command} rename 'Front Door' 70000001 'Anna'\n"
        f"  hapbridge {command} delete 'Front Door' 70000001",
    )
    sub = parser.add_subparsers(dest=f"{command}_command", metavar="SUBCOMMAND",
                                required=True)

    cmd = add_parser(sub, "list", help=f"the {plural} of a lock, by name",
                     description=f"Every {noun} of a lock, newest first: name, type "
                     "(normal or cyclic), validity and status.",
                     epilog=f"example:\n  hapbridge {command} list 'Front Door' --csv")
    cmd.add_argument("lock", metavar="LOCK", help=LOCK_HELP)
    cmd.add_argument("--search", metavar="TEXT", help="only names containing TEXT")
    add_output_flags(cmd)
    cmd.set_defaults(handler=with_client(_list), kind=kind)

    cmd = add_parser(sub, "rename", help=f"rename a {noun} (no gateway needed)",
                     description=f"Give a {noun} the name records show. " + JSON_FAILURE_HELP,
                     epilog=f"example:\n  hapbridge {command} rename 'Front Door' 70000001 Anna")
    cmd.add_argument("lock", metavar="LOCK", help=LOCK_HELP)
    cmd.add_argument("credential_id", metavar="ID", type=int,
                     help=f"the ID column of '{command} list'")
    cmd.add_argument("name", metavar="NAME", help="the new name")
    add_json_flag(cmd)
    cmd.set_defaults(handler=with_client(_rename), kind=kind)

    cmd = add_parser(sub, "delete", help=f"delete a {noun} from the lock (gateway)",
                     description=f"Delete a {noun} from the lock, through its gateway: it "
                     "no longer opens the door. " + JSON_FAILURE_HELP,
                     epilog=f"example:\n  hapbridge {command} delete 'Front Door' 70000001")
    cmd.add_argument("lock", metavar="LOCK", help=LOCK_HELP)
    cmd.add_argument("credential_id", metavar="ID", type=int,
                     help=f"the ID column of '{command} list'")
    add_json_flag(cmd)
    cmd.set_defaults(handler=with_client(_delete), kind=kind)


def credential_row(item: Credential) -> dict[str, Any]:
    return {"id": item.credential_id, "lock_id": item.lock_id, "name": item.name,
            "type": item.type, "start": item.start, "end": item.end,
            "status": status(item, now()),
            "created": item.created, "sender": item.sender}


async def _list(args: argparse.Namespace, client: TTLockClient) -> int:
    kind: CredentialKind = args.kind
    lock = await resolve_lock(client, args.lock)
    zone, items = await together(
        shown_zone(client, [lock]),
        client.list_credentials(kind, lock.lock_id, search=args.search))
    emit(args, list_columns(zone),
         [{**credential_row(item), "time_zone": zone.name} for item in items], zone=zone,
         empty=f"no {kind.noun}s on {lock.alias} ({lock.lock_id})"
         + (f" named like {args.search!r}" if args.search else ""))
    return 0


async def _check_exists(client: TTLockClient, kind: CredentialKind, lock: Lock,
                        credential_id: int) -> Credential:
    return find_on_lock(await client.list_credentials(kind, lock.lock_id), credential_id,
                        lambda item: item.credential_id, kind.noun, lock, f"{kind.noun}s list")


async def _rename(args: argparse.Namespace, client: TTLockClient) -> int:
    kind: CredentialKind = args.kind
    name = validate_name(args.name)
    if name is None:  # positional: always given
        raise AdminUsageError("NAME: give a name")
    lock = await resolve_lock(client, args.lock)
    fields = {"lock_id": lock.lock_id, "alias": lock.alias, "id": args.credential_id,
              "name": name, "ok": False}
    with json_on_failure(args, fields):
        await _check_exists(client, kind, lock, args.credential_id)  # else the cloud's -1023
        await client.rename_credential(kind, lock.lock_id, args.credential_id, name)
    if args.json:
        print_json({**fields, "ok": True})
    else:
        print(f"Renamed {kind.noun} {args.credential_id} on {lock.alias} ({lock.lock_id}) "
              f"to '{name}'")
    return 0


async def _delete(args: argparse.Namespace, client: TTLockClient) -> int:
    kind: CredentialKind = args.kind
    lock = await resolve_lock(client, args.lock)
    fields: dict[str, Any] = {"lock_id": lock.lock_id, "alias": lock.alias,
                              "id": args.credential_id, "name": None, "deleted": False}
    with json_on_failure(args, fields):
        item = await _check_exists(client, kind, lock, args.credential_id)
        fields["name"] = item.name
        await client.delete_credential(kind, lock.lock_id, args.credential_id)
    if args.json:
        print_json({**fields, "deleted": True})
    else:
        print(f"Deleted {kind.noun} {args.credential_id} ('{item.name}') from {lock.alias} "
              f"({lock.lock_id})")
    return 0
