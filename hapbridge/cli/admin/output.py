"""Aligned tables for people, ``--json`` for scripts; both from the same rows.

A command builds rows of plain values (``datetime``, ``bool``, ``None``, numbers, text) and
hands them to :func:`emit`. JSON goes to stdout alone; notes and logs go to stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hapbridge.cli.admin.timeparse import format_duration, format_time, iso_time

Row = Mapping[str, Any]


@dataclass(frozen=True)
class Column:
    """A table column: ``key`` of the row, shown under ``header``; numbers align right."""

    key: str
    header: str
    right: bool = False


def add_json_flag(parser: argparse.ArgumentParser, *, nested: bool = False) -> None:
    """``--json``; ``nested`` for a subcommand of a command that has it too, so that
    ``locks --json show X`` is not reset by the subcommand's default."""
    parser.add_argument(
        "--json", action="store_true", help="print JSON (for scripts) instead of a table",
        default=argparse.SUPPRESS if nested else False,
    )


def cell(value: Any) -> str:
    """One value as table text."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, enum.Enum):
        return value.name.lower()
    return str(value)


def render_table(columns: Sequence[Column], rows: Sequence[Row]) -> str:
    """Left-aligned text, right-aligned numbers, two spaces between columns."""
    cells = [[cell(row.get(col.key)) for col in columns] for row in rows]
    widths = [
        max([len(col.header), *(len(line[i]) for line in cells)]) for i, col in enumerate(columns)
    ]

    def line(values: Sequence[str]) -> str:
        parts = [
            value.rjust(width) if col.right else value.ljust(width)
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


def emit(
    args: argparse.Namespace,
    columns: Sequence[Column],
    rows: Sequence[Row],
    *,
    empty: str = "nothing to show",
) -> None:
    """Rows as a table (or ``empty`` on stderr when there are none), or as JSON with --json."""
    if getattr(args, "json", False):
        print_json(list(rows))
    elif rows:
        print(render_table(columns, rows))
    else:
        note(empty)


def emit_fields(args: argparse.Namespace, fields: Row) -> None:
    """One object as ``key: value`` lines (or a JSON object)."""
    if getattr(args, "json", False):
        print_json(fields)
        return
    width = max((len(k) for k in fields), default=0)
    for key, value in fields.items():
        if isinstance(value, list):
            continue  # nested lists are printed by the caller as their own table
        print(f"{key.replace('_', ' ') + ':':<{width + 2}}{cell(value)}")


def note(message: str) -> None:
    """A remark for people, kept out of stdout so --json stays parseable."""
    print(message, file=sys.stderr)
