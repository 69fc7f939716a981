"""``qrcodes add|show|list|delete``: QR-code access, for locks with a camera
(featureValue bit 44).

A QR code is the cloud's (no gateway). Its ``link`` is a page that always shows the
code's current image (it refreshes every few minutes): that is what a guest gets, and the
QR printed or written here encodes it, so the guest scans it with a phone, opens the page
and holds the phone to the lock. ``--content`` encodes instead what the lock itself reads,
for use at the door right away (until it refreshes).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
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
from hapbridge.cli.admin.qr_image import terminal_text, write_image
from hapbridge.cli.admin.timeparse import Zone
from hapbridge.cli.admin.validity import (
    ZONE_FIELD,
    Window,
    check_new_validity,
    lock_windows,
    shown_zone,
    typed_validity,
    validity_columns,
)
from hapbridge.ttlock import TTLockClient
from hapbridge.ttlock.access_models import QrCode
from hapbridge.ttlock.models import Feature, Lock, has_feature


def list_columns(zone: Zone) -> list[Column]:
    """The listing's columns (the CSV's too, in this order); times in the lock's zone."""
    return [
        Column("qr_code_id", "ID", right=True),
        Column("name", "NAME"),
        Column("type", "TYPE"),
        *validity_columns(zone),
        Column("link", "LINK"),
        Column("lock_id", "LOCK", table=False),
        Column("number", "NUMBER", table=False),
        Column("creator", "CREATOR", table=False),
        Column("created", "CREATED", table=False),
        ZONE_FIELD,
    ]


EPILOG = """\
examples:
  hapbridge qrcodes add 'Room 12' --name Smith --start 2026-12-24T15:00 \\
      --end 2026-12-27T11:00 --png smith.png
  hapbridge qrcodes list 'Room 12'
  hapbridge qrcodes show 'Room 12' 60000001 --svg smith.svg
  hapbridge qrcodes delete 'Room 12' 60000001"""


def _image_options(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--svg", metavar="FILE", type=Path, help="also write the QR code as SVG")
    cmd.add_argument("--png", metavar="FILE", type=Path, help="also write the QR code as PNG")
    cmd.add_argument("--content", action="store_true",
                     help="encode what the lock reads (refreshes within minutes) instead "
                     "of the link to the page that always shows it")


def register(subparsers: Any) -> None:
    parser = add_parser(subparsers, "qrcodes", help="QR codes: access by a code the lock scans",
                        description=__doc__.split("\n\n", 1)[1].replace("\n", " "),
                        epilog=EPILOG)
    sub = parser.add_subparsers(dest="qrcodes_command", metavar="SUBCOMMAND", required=True)

    cmd = add_parser(
        sub, "add", help="a new QR code for a lock; printed, and written on request",
        description="Create a QR code for LOCK: permanent without dates, valid between "
        "--start and --end (local time) with them. Prints its link, and the QR code itself "
        "when stdout is a terminal; --svg/--png write it to files readable only by you. "
        + JSON_FAILURE_HELP,
        epilog="example:\n  hapbridge qrcodes add 'Room 12' --name Smith --start now "
        "--end 2026-12-27T11:00 --png smith.png",
    )
    cmd.add_argument("lock", metavar="LOCK", help=LOCK_HELP)
    cmd.add_argument("--name", help="a name to recognise the code by (e.g. the guest)")
    cmd.add_argument("--start", metavar="T", help=f"valid from: {TIME_HELP}")
    cmd.add_argument("--end", metavar="T", help=f"valid until: {TIME_HELP}")
    _image_options(cmd)
    add_json_flag(cmd)
    cmd.set_defaults(handler=with_client(add_qr_code))

    cmd = add_parser(sub, "show", help="print (or write) an existing QR code again",
                     description="Print an existing QR code (the ID column of 'qrcodes "
                     "list'), or write it with --svg/--png. " + JSON_FAILURE_HELP,
                     epilog="example:\n  hapbridge qrcodes show 'Room 12' 60000001 --png a.png")
    cmd.add_argument("lock", metavar="LOCK", help=LOCK_HELP)
    cmd.add_argument("qr_code_id", metavar="QR_CODE_ID", type=int)
    _image_options(cmd)
    add_json_flag(cmd)
    cmd.set_defaults(handler=with_client(show_qr_code))

    cmd = add_parser(sub, "list", help="the QR codes of a lock",
                     description="Every QR code of a lock: name, type, validity, status "
                     "and link.", epilog="example:\n  hapbridge qrcodes list 'Room 12' --csv")
    cmd.add_argument("lock", metavar="LOCK", help=LOCK_HELP)
    add_output_flags(cmd)
    cmd.set_defaults(handler=with_client(list_qr_codes))

    cmd = add_parser(sub, "delete", help="delete a QR code (its link stops working)",
                     description="Delete a QR code from the cloud: its link stops working at "
                     "once; an image already shown still opens the lock for about 10 "
                     "minutes. " + JSON_FAILURE_HELP,
                     epilog="example:\n  hapbridge qrcodes delete 'Room 12' 60000001")
    cmd.add_argument("lock", metavar="LOCK", help=LOCK_HELP)
    cmd.add_argument("qr_code_id", metavar="QR_CODE_ID", type=int)
    add_json_flag(cmd)
    cmd.set_defaults(handler=with_client(delete_qr_code))


def _supports_qr(lock: Lock) -> None:
    if not has_feature(lock.feature_value, Feature.QR_CODE):
        raise AdminUsageError(
            f"{lock.alias} ({lock.lock_id}) does not read QR codes (no camera): use a "
            "passcode or an eKey instead")


def _image_paths(args: argparse.Namespace) -> list[Path]:
    paths = []
    for option, suffix in (("svg", ".svg"), ("png", ".png")):
        path: Path | None = getattr(args, option)
        if path is None:
            continue
        if path.suffix.lower() != suffix:
            raise AdminUsageError(f"--{option}: give a file name ending in {suffix}")
        if path.is_dir():
            raise AdminUsageError(f"--{option}: {path} is a directory; give a file name")
        folder = path.parent
        if not folder.is_dir():
            raise AdminUsageError(f"--{option}: there is no directory {folder}; give a file "
                                  "in an existing directory (it is not created)")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise AdminUsageError(f"--{option}: cannot write in {folder} (permission "
                                  "denied); give a file in a directory of yours")
        paths.append(path)
    return paths


async def _encoded(args: argparse.Namespace, client: TTLockClient, qr_code_id: int,
                   link: str) -> str | None:
    """What the image encodes: the link, or with --content what the lock reads (None when
    the cloud gives none: the code is not valid now)."""
    if not args.content:
        return link or None
    return (await client.qr_code_data(qr_code_id)).content


def _present(args: argparse.Namespace, data: str | None, paths: list[Path]) -> list[str]:
    """Write the files, and print the code when stdout is a terminal; the files written."""
    if data is None:
        if paths or args.content:
            note("The cloud gives this code's image only while it is valid; try again then "
                 "with 'hapbridge qrcodes show'.")
        return []
    for path in paths:
        write_image(path, data)
    if not args.json and sys.stdout.isatty():
        print(terminal_text(data))
    return [str(path) for path in paths]


async def add_qr_code(args: argparse.Namespace, client: TTLockClient) -> int:
    name = validate_name(args.name)
    start, end = typed_validity(args, future_start=False)
    check_new_validity(start, end)
    paths = _image_paths(args)
    lock = await resolve_lock(client, args.lock)
    _supports_qr(lock)
    fields: dict[str, Any] = {"lock_id": lock.lock_id, "alias": lock.alias,
                              "qr_code_id": None, "name": name, "start": None, "end": None,
                              "time_zone": None, "link": None, "files": []}
    with json_on_failure(args, fields):
        (window,) = await lock_windows(client, [lock], start, end, future_start=False,
                                       end_alone_starts_now=True)
        fields.update(start=window.start, end=window.end, time_zone=window.time_zone)
        created = await client.add_qr_code(lock.lock_id, name=name, start=window.start,
                                           end=window.end)
        fields.update(qr_code_id=created.qr_code_id, link=created.link)
        data = await _encoded(args, client, created.qr_code_id, created.link)
    label = f" '{name}'" if name else ""
    if not args.json:
        print(f"QR code {created.qr_code_id}{label} for {lock.alias} ({lock.lock_id}), "
              f"{window.text()}")
        print(f"Link for the guest: {created.link}")
    return _finish(args, fields, data, paths)


def _finish(args: argparse.Namespace, fields: dict[str, Any], data: str | None,
            paths: list[Path]) -> int:
    """The code drawn and written; the JSON object last, with the files it wrote."""
    fields["files"] = _present(args, data, paths)
    if args.json:
        print_json({**fields, "ok": True})
    for path in fields["files"]:
        note(f"wrote {path} (readable only by you)")
    return 0


async def show_qr_code(args: argparse.Namespace, client: TTLockClient) -> int:
    paths = _image_paths(args)
    lock = await resolve_lock(client, args.lock)
    fields: dict[str, Any] = {"lock_id": lock.lock_id, "alias": lock.alias,
                              "qr_code_id": args.qr_code_id, "link": None, "files": []}
    with json_on_failure(args, fields):
        zone, code = await together(shown_zone(client, [lock]),
                                    _find(client, lock, args.qr_code_id))
        fields["link"] = code.link
        data = await _encoded(args, client, code.qr_code_id, code.link)
    if not args.json:
        label = f" '{code.name}'" if code.name else ""
        validity = Window(code.start, code.end, zone if code.end else None).text()
        print(f"QR code {code.qr_code_id}{label} for {lock.alias}: {code.status}, {validity}")
        print(f"Link for the guest: {code.link}")
    return _finish(args, fields, data, paths)


async def _find(client: TTLockClient, lock: Lock, qr_code_id: int) -> QrCode:
    return find_on_lock(await client.list_qr_codes(lock.lock_id), qr_code_id,
                        lambda code: code.qr_code_id, "QR code", lock, "qrcodes list")


def qr_row(code: QrCode) -> dict[str, Any]:
    return {"qr_code_id": code.qr_code_id, "lock_id": code.lock_id, "name": code.name,
            "type": code.type, "start": code.start, "end": code.end, "status": code.status,
            "link": code.link, "number": code.number, "creator": code.creator,
            "created": code.created}


async def list_qr_codes(args: argparse.Namespace, client: TTLockClient) -> int:
    lock = await resolve_lock(client, args.lock)
    _supports_qr(lock)
    zone, codes = await together(shown_zone(client, [lock]), client.list_qr_codes(lock.lock_id))
    emit(args, list_columns(zone), [{**qr_row(code), "time_zone": zone.name} for code in codes],
         zone=zone,
         empty=f"no QR codes on {lock.alias} ({lock.lock_id})")
    return 0


async def delete_qr_code(args: argparse.Namespace, client: TTLockClient) -> int:
    lock = await resolve_lock(client, args.lock)
    fields = {"lock_id": lock.lock_id, "alias": lock.alias, "qr_code_id": args.qr_code_id,
              "deleted": False}
    with json_on_failure(args, fields):
        await _find(client, lock, args.qr_code_id)
        await client.delete_qr_code(lock.lock_id, args.qr_code_id)
    if args.json:
        print_json({**fields, "deleted": True})
    else:
        print(f"Deleted QR code {args.qr_code_id} from {lock.alias} ({lock.lock_id}); its "
              "link no longer works")
    return 0
