"""Aligned tables for people, ``--json`` and ``--csv`` for scripts; all from the same rows.

A command builds rows of plain values (``datetime``, ``bool``, ``None``, numbers, text) and
hands them to :func:`emit`. JSON and CSV go to stdout alone; notes and logs go to stderr. A
single action that fails with --json still prints its object (:func:`json_on_failure`).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import enum
import json
import sys
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hapbridge.cli.admin.errors import USAGE_ERRORS
from hapbridge.cli.admin.timeparse import LOCAL, Zone, format_duration, format_time, iso_time
from hapbridge.errors import HapbridgeError
from hapbridge.text import without_controls

Row = Mapping[str, Any]


@dataclass(frozen=True)
class Column:
    """A column: ``key`` of the row, shown under ``header``; numbers align right.

    A command's columns are its CSV header too, fixed whatever the rows hold; ``table``
    False is a CSV (and JSON) column the terminal table leaves out for width."""

    key: str
    header: str
    right: bool = False
    table: bool = True


def add_json_flag(parser: argparse.ArgumentParser, *, nested: bool = False) -> None:
    """``--json``; ``nested`` for a subcommand of a command that has it too, so that
    ``locks --json show X`` is not reset by the subcommand's default."""
    parser.add_argument(
        "--json", action="store_true", help="print JSON (for scripts) instead of a table",
        default=argparse.SUPPRESS if nested else False,
    )


def add_output_flags(parser: argparse.ArgumentParser, *, nested: bool = False) -> None:
    """``--json`` or ``--csv`` (one of them) for a listing."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--json", action="store_true", help="print JSON (for scripts) instead of a table",
        default=argparse.SUPPRESS if nested else False,
    )
    group.add_argument(
        "--csv", action="store_true",
        help="print CSV (for spreadsheets: one header line, times in ISO 8601)",
        default=argparse.SUPPRESS if nested else False,
    )


def cell(value: Any, zone: Zone = LOCAL) -> str:
    """One value as table text; times in ``zone``."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return format_time(value, zone)
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, enum.Enum):
        return value.name.lower()
    return without_controls(str(value))  # names from the cloud may hold tabs or newlines


def display_width(text: str) -> int:
    """Terminal columns of ``text``: wide (CJK, emoji) count 2, combining marks 0."""
    return sum(_char_width(char) for char in text)


def _char_width(char: str) -> int:
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def pad(text: str, width: int, *, right: bool = False) -> str:
    """``text`` filled with spaces to ``width`` terminal columns (``right``: on the left)."""
    fill = " " * max(0, width - display_width(text))
    return fill + text if right else text + fill


def render_table(columns: Sequence[Column], rows: Sequence[Row], zone: Zone = LOCAL) -> str:
    """Left-aligned text, right-aligned numbers, two spaces between columns."""
    columns = [col for col in columns if col.table]
    cells = [[cell(row.get(col.key), zone) for col in columns] for row in rows]
    widths = [
        max([display_width(col.header), *(display_width(line[i]) for line in cells)])
        for i, col in enumerate(columns)
    ]

    def line(values: Sequence[str]) -> str:
        parts = [
            pad(value, width, right=col.right)
            for col, value, width in zip(columns, values, widths, strict=True)
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line([col.header for col in columns]), *(line(c) for c in cells)])


def jsonable(value: Any) -> Any:
    """Plain JSON values: times as local ISO 8601, durations as seconds, enums by name."""
    if isinstance(value, datetime):
        return iso_time(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, enum.Enum):
        return value.name.lower()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    return value


def print_json(data: Any) -> None:
    print(json.dumps(jsonable(data), indent=2, ensure_ascii=False))


# A cell starting with one of these is a formula to a spreadsheet: a name from the cloud
# ("=HYPERLINK(...)") must stay text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_value(value: Any) -> str:
    """One value for CSV: as in JSON (ISO times, seconds), empty for none, text kept text."""
    value = jsonable(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, str):
        text = without_controls(value)
        return "'" + text if text.startswith(FORMULA_START) else text
    return str(value)


def print_csv(columns: Sequence[Column], rows: Sequence[Row]) -> None:
    """The declared columns, table or not: the same header for no rows as for many, so a
    script can read it by position."""
    keys = [col.key for col in columns]
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(keys)
    for row in rows:
        writer.writerow([csv_value(row.get(key)) for key in keys])


def emit(
    args: argparse.Namespace,
    columns: Sequence[Column],
    rows: Sequence[Row],
    *,
    empty: str = "nothing to show",
    zone: Zone = LOCAL,
) -> None:
    """Rows as a table (or ``empty`` on stderr when there are none; times in ``zone``), as
    JSON with --json, or as CSV with --csv."""
    if getattr(args, "json", False):
        print_json(list(rows))
    elif getattr(args, "csv", False):
        print_csv(columns, rows)
        if not rows:
            note(empty)
    elif rows:
        print(render_table(columns, rows, zone))
    else:
        note(empty)


def emit_fields(args: argparse.Namespace, fields: Row) -> None:
    """One object as ``key: value`` lines (or a JSON object)."""
    if getattr(args, "json", False):
        print_json(fields)
        return
    # nested lists are printed by the caller as their own table
    shown = {key: value for key, value in fields.items() if not isinstance(value, list)}
    width = max((len(k) for k in shown), default=0)
    for key, value in shown.items():
        print(f"{key.replace('_', ' ') + ':':<{width + 2}}{cell(value)}")


@contextlib.contextmanager
def json_on_failure(args: argparse.Namespace, fields: Mapping[str, Any]) -> Iterator[None]:
    """With --json, a :class:`HapbridgeError` inside is first printed on stdout as ``fields``
    plus ``"ok": false``, ``"error"`` (the line main prints on stderr) and ``"errcode"``
    when the error carries one; then it goes on as it came (stderr line, exit code).

    ``fields`` are the keys of the success object with the values of a failure, read when the
    error happens: a mutable mapping the body fills in as it learns more. Usage mistakes
    (:data:`USAGE_ERRORS`) print no JSON, as those caught before the lock was known.
    """
    try:
        yield
    except USAGE_ERRORS:
        raise
    except HapbridgeError as err:
        if getattr(args, "json", False):
            failure: dict[str, Any] = {**fields, "ok": False, "error": str(err)}
            errcode = getattr(err, "errcode", None)
            if errcode is not None:
                failure["errcode"] = errcode
            print_json(failure)
        raise


def note(message: str) -> None:
    """A remark for people, kept out of stdout so --json stays parseable."""
    print(message, file=sys.stderr)
