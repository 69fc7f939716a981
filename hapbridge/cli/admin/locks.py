"""``locks``, ``locks show LOCK``, ``lock LOCK``, ``unlock LOCK``."""

from __future__ import annotations

import argparse
from typing import Any

from hapbridge.cli.admin.common import (
    JSON_FAILURE_HELP,
    LOCK_HELP,
    add_parser,
    together,
    with_client,
)
from hapbridge.cli.admin.errors import AdminUsageError
from hapbridge.cli.admin.lock_ref import resolve_lock
from hapbridge.cli.admin.output import (
    Column,
    add_json_flag,
    add_output_flags,
    emit,
    emit_fields,
    json_on_failure,
    note,
    print_json,
)
from hapbridge.cli.admin.parallel import LockRun, Step, interrupted, label, names
from hapbridge.cli.admin.reach import gateway_reach
from hapbridge.errors import HapbridgeError
from hapbridge.ttlock import TTLockClient
from hapbridge.ttlock.models import Feature, Lock, has_feature
from hapbridge.ttlock.reach import Carrier, Reach, gateway_carrier, lone_carrier

LIST_COLUMNS = [
    Column("lock_id", "ID", right=True),
    Column("alias", "ALIAS"),
    Column("battery", "BATTERY", right=True),
    Column("gateway", "GATEWAY"),
    Column("online", "ONLINE"),
]
STATE_COLUMN = Column("state", "STATE")
WIFI_COLUMN = Column("wifi", "WI-FI", table=False)  # the table says "wifi" under GATEWAY


def register(subparsers: Any) -> None:
    parser = add_parser(
        subparsers,
        "locks",
        help="list the locks (or 'locks show LOCK' for one)",
        description="List the account's locks: id, alias, battery, the gateway that reaches "
        "each lock and whether it is online. Only locks whose admin is this account are listed.",
        epilog="examples:\n  hapbridge locks\n  hapbridge locks --state --json\n"
        "  hapbridge locks --csv > locks.csv\n  hapbridge locks show 'Front Door'",
    )
    add_output_flags(parser)
    parser.add_argument(
        "--state",
        action="store_true",
        help="also ask each reachable lock whether it is locked (through its gateway: "
        "seconds per lock, gateways side by side; costs lock battery)",
    )
    parser.set_defaults(handler=with_client(list_locks))
    sub = parser.add_subparsers(dest="locks_command", metavar="SUBCOMMAND")
    show = add_parser(
        sub, "show", help="one lock in detail",
        description="One lock in detail, with the gateways that reach it (no key material).",
    )
    show.add_argument("lock", metavar="LOCK", help=LOCK_HELP)
    add_json_flag(show, nested=True)
    show.set_defaults(handler=with_client(show_lock))

    for action in ("lock", "unlock"):
        cmd = add_parser(
            subparsers,
            action,
            help=f"{action} a lock through its gateway",
            description=f"Send '{action}' to a lock through its gateway (or over Wi-Fi), "
            "retrying a busy gateway as the bridge does (maximumApiRetry, retryDelay). "
            "Success means the command was delivered to the gateway, not that the lock "
            f"moved: 'hapbridge locks --state' asks the lock. {JSON_FAILURE_HELP}",
            epilog=f"example:\n  hapbridge {action} 'Front Door'",
        )
        cmd.add_argument("lock", metavar="LOCK", help=LOCK_HELP)
        add_json_flag(cmd)
        cmd.set_defaults(handler=with_client(send_command), action=action)


async def list_locks(args: argparse.Namespace, client: TTLockClient) -> int:
    locks, reach = await together(client.list_locks(), gateway_reach(client))
    rows: list[dict[str, Any]] = [
        {
            "lock_id": lock.lock_id,
            "alias": lock.alias,
            "battery": lock.battery,
            "gateway": reach.names(lock.lock_id) or ("wifi" if lock.is_wifi else None),
            "wifi": lock.is_wifi,
            "online": reach.online(lock.lock_id, wifi=lock.is_wifi,
                                   has_gateway=lock.has_gateway),
        }
        for lock in locks
    ]
    columns = list(LIST_COLUMNS)
    run: LockRun | None = None
    if args.state:
        states, run = await query_states(client, locks, reach)
        for row in rows:
            row["state"] = states.get(row["lock_id"])
        columns.append(STATE_COLUMN)
    columns.append(WIFI_COLUMN)
    emit(args, columns, rows, empty="no locks in this account")
    if run is not None and run.interrupted:
        unasked = run.not_started + run.abandoned
        return interrupted(f"the state of {len(unasked)} lock{'s' if len(unasked) != 1 else ''}"
                           f" was not asked: {names(unasked)}")
    return 0


async def query_states(
    client: TTLockClient, locks: list[Lock], reach: Reach
) -> tuple[dict[int, str], LockRun]:
    """Each reachable lock's state, through the bridge's dispatcher: one command at a time
    per gateway (a gateway carries one at a time), gateways side by side. Locks no online
    gateway reaches (and not on Wi-Fi) are skipped. Failures are noted once all ended, in
    the order of the locks."""
    carriers: dict[int, Carrier] = {}
    for lock in locks:
        link = reach.best(lock.lock_id)
        if link is not None and link.online:
            carriers[lock.lock_id] = gateway_carrier(link.gateway.gateway_id)
        elif lock.is_wifi:
            carriers[lock.lock_id] = lone_carrier(lock.lock_id, wifi=True)
    asked = [lock for lock in locks if lock.lock_id in carriers]
    states: dict[int, str] = {}
    failures: dict[int, str] = {}

    async def query(lock: Lock) -> Step:
        try:
            answer = await client.query_open_state(lock.lock_id)
        except HapbridgeError as err:
            states[lock.lock_id] = "error"
            failures[lock.lock_id] = f"{label(lock)}: state unavailable: {err}"
            return Step(False, f"state unavailable: {err}")
        states[lock.lock_id] = answer.state.name.lower()
        return Step(True, states[lock.lock_id])

    run = LockRun(asked, carriers, changes=False)
    await run.each(query, title=f"Asking {len(asked)} locks for their state")
    for lock in asked:
        if lock.lock_id in failures:
            note(failures[lock.lock_id])
    return states, run


async def show_lock(args: argparse.Namespace, client: TTLockClient) -> int:
    if getattr(args, "csv", False):
        raise AdminUsageError("--csv is for the listing ('hapbridge locks --csv'); "
                              "'locks show' prints fields, or JSON with --json")
    lock = await resolve_lock(client, args.lock)
    detail, gateways, listed = await together(
        client.lock_detail(lock.lock_id), client.lock_gateways(lock.lock_id),
        client.list_gateways(),
    )
    # listByLock has the signal but no online flag: that comes from gateway/list only.
    online = {gw.gateway_id: gw.online for gw in listed}
    features = [f.name.lower().replace("_", "-") for f in Feature
                if has_feature(detail.feature_value, f)]
    fields: dict[str, Any] = {
        "lock_id": detail.lock_id,
        "alias": detail.alias,
        "name": detail.name,
        "mac": detail.mac,
        "battery": detail.battery,
        "model": detail.model,
        "hardware": detail.hardware_revision,
        "firmware": detail.firmware_revision,
        "wifi": detail.is_wifi,
        "has_gateway": detail.has_gateway,
        "auto_lock_seconds": detail.auto_lock_time if detail.auto_lock_time > 0 else None,
        "passage_mode": detail.passage_mode,
        "lock_sound": detail.lock_sound,
        "features": ", ".join(features),
        "gateways": [
            {"gateway_id": g.gateway_id, "name": g.name, "mac": g.mac, "rssi": g.rssi,
             "online": online.get(g.gateway_id)}
            for g in gateways
        ],
    }
    if args.json:
        print_json(fields)
        return 0
    emit_fields(args, fields)
    if fields["gateways"]:
        print()
        emit(args, GATEWAY_COLUMNS, fields["gateways"])
    return 0


GATEWAY_COLUMNS = [
    Column("gateway_id", "GATEWAY", right=True),
    Column("name", "NAME"),
    Column("rssi", "RSSI", right=True),
    Column("online", "ONLINE"),
]


async def send_command(args: argparse.Namespace, client: TTLockClient) -> int:
    """Success means the cloud handed the command to the gateway (or to a Wi-Fi lock): the
    answer does not say the bolt moved, so the output does not claim it."""
    lock = await resolve_lock(client, args.lock)
    with json_on_failure(args, {"lock_id": lock.lock_id, "alias": lock.alias,
                                "action": args.action, "delivered_to": None}):
        if args.action == "lock":
            await client.lock(lock.lock_id)
        else:
            await client.unlock(lock.lock_id)
    via = "wifi" if lock.is_wifi else "gateway"
    if args.json:
        print_json({"lock_id": lock.lock_id, "alias": lock.alias, "action": args.action,
                    "ok": True, "delivered_to": via})
    else:
        to = "the lock over its Wi-Fi" if lock.is_wifi else "the gateway"
        print(f"{lock.alias} ({lock.lock_id}): {args.action} command delivered to {to}")
    return 0
