"""``gateways`` and ``gateways show GATEWAY``."""

from __future__ import annotations

import argparse
from typing import Any

from hapbridge.cli.admin.common import add_parser, with_client
from hapbridge.cli.admin.lock_ref import resolve_gateway
from hapbridge.cli.admin.output import (
    Column,
    add_output_flags,
    emit,
    emit_fields,
    print_json,
)
from hapbridge.ttlock import TTLockClient
from hapbridge.ttlock.models import Gateway
from hapbridge.ttlock.reach import WEAK_RSSI, Cause, is_weak

COLUMNS = [
    Column("gateway_id", "ID", right=True),
    Column("name", "NAME"),
    Column("model", "MODEL"),
    Column("locks", "LOCKS", right=True),
    Column("online", "ONLINE"),
    Column("network", "NETWORK"),
    Column("mac", "MAC", table=False),
]
SIGNAL_WORDS = ((-65, "strong"), (-75, "good"), (WEAK_RSSI, "fair"))  # (lowest dBm, word)
LOCK_COLUMNS = [
    Column("lock_id", "LOCK", right=True),
    Column("alias", "ALIAS"),
    Column("rssi", "RSSI", right=True),
    Column("signal", "SIGNAL"),
]
CSV_COLUMNS = [Column("gateway_id", "GATEWAY", right=True), Column("gateway", "NAME"),
               *LOCK_COLUMNS]


def register(subparsers: Any) -> None:
    parser = add_parser(
        subparsers,
        "gateways",
        help="list the gateways (or 'gateways show GATEWAY' for one)",
        description="List the account's gateways: model, number of locks, online, Wi-Fi "
        "network. Remote lock/unlock and passcode changes travel through them.",
        epilog="examples:\n  hapbridge gateways\n  hapbridge gateways --csv > gateways.csv\n"
        "  hapbridge gateways show Hallway --json",
    )
    add_output_flags(parser)
    parser.set_defaults(handler=with_client(list_gateways))
    sub = parser.add_subparsers(dest="gateways_command", metavar="SUBCOMMAND")
    show = add_parser(
        sub, "show", help="one gateway with its locks and their signal strength",
        description="One gateway with the locks it reaches and their signal strength (RSSI). "
        "With --csv, one row per lock, with the gateway's id and name.",
    )
    show.add_argument("gateway", metavar="GATEWAY", help="a gateway id or name")
    add_output_flags(show, nested=True)
    show.set_defaults(handler=with_client(show_gateway))


def gateway_row(gateway: Gateway) -> dict[str, Any]:
    return {
        "gateway_id": gateway.gateway_id,
        "name": gateway.name,
        "mac": gateway.mac,
        "model": f"G{gateway.version}" if gateway.version else None,
        "locks": gateway.lock_count,
        "online": gateway.online,
        "network": gateway.network_name,
    }


def signal(rssi: int | None) -> str | None:
    """A word for people: 'weak' exactly when the reach model says so (and 'check' warns)."""
    if rssi is None:
        return None
    if is_weak(rssi):
        return f"weak: {Cause.WEAK_SIGNAL.advice}"
    return next(word for floor, word in SIGNAL_WORDS if rssi >= floor)


async def list_gateways(args: argparse.Namespace, client: TTLockClient) -> int:
    rows = [gateway_row(gw) for gw in await client.list_gateways()]
    emit(args, COLUMNS, rows, empty="no gateways in this account")
    return 0


async def show_gateway(args: argparse.Namespace, client: TTLockClient) -> int:
    gateway = await resolve_gateway(client, args.gateway)
    locks = await client.gateway_locks(gateway.gateway_id)
    fields = gateway_row(gateway)  # "locks" stays the count, as in the listing
    fields["lock_list"] = [
        {"lock_id": lk.lock_id, "alias": lk.alias, "rssi": lk.rssi, "signal": signal(lk.rssi)}
        for lk in locks
    ]
    if args.json:
        print_json(fields)
        return 0
    if args.csv:
        rows = [{"gateway_id": gateway.gateway_id, "gateway": gateway.name, **lock}
                for lock in fields["lock_list"]]
        emit(args, CSV_COLUMNS, rows, empty="this gateway reaches no locks")
        return 0
    emit_fields(args, fields)
    print()
    emit(args, LOCK_COLUMNS, fields["lock_list"], empty="this gateway reaches no locks")
    return 0
