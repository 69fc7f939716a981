"""Validities as typed and times as shown, all on the lock's clock.

A guest's passcode, eKey and QR code given the same ``--start 2026-12-24T15:00`` must open
the door from the same instant: a time typed without an offset is read in the time zone
the lock reports (:func:`lock_windows`, the one place that reads them), and listings show
times in that zone too, naming it in their headers (:func:`time_column`).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from hapbridge.cli.admin.codes import precheck_window, validate_window
from hapbridge.cli.admin.common import together
from hapbridge.cli.admin.errors import AdminUsageError
from hapbridge.cli.admin.output import Column
from hapbridge.cli.admin.timeparse import (
    LOCAL,
    TypedTime,
    Zone,
    format_time,
    lock_zone,
    now,
    read_time,
    typed_zone,
)
from hapbridge.ttlock import TTLockClient
from hapbridge.ttlock.models import Lock


@dataclass(frozen=True)
class Window:
    """A validity for one lock: the typed times placed in that lock's zone. ``zone`` is None
    when no typed time needed one (none given, 'now', or explicit offsets)."""

    start: datetime | None
    end: datetime | None
    zone: Zone | None

    def span(self) -> str:
        """``from 2026-12-24 15:00 to 2026-12-27 11:00``, in the zone the times were typed."""
        zone = self.zone or LOCAL
        until = f" to {format_time(self.end, zone)}" if self.end else ""
        return f"from {format_time(self.start, zone)}{until}"

    def zone_note(self) -> str:
        return f", times in {self.zone.label}" if self.zone else ""

    def text(self) -> str:
        """``permanent``, or ``valid from ... to ..., times in ...``."""
        if self.end is None and self.start is None:
            return "permanent"
        return f"valid {self.span()}{self.zone_note()}"

    @property
    def time_zone(self) -> str | None:
        """For JSON and the TIME ZONE column: ``UTC+01:00``, ``local``, or None (unused)."""
        return self.zone.name if self.zone else None


def typed_validity(
    args: argparse.Namespace, *, future_start: bool
) -> tuple[TypedTime | None, TypedTime | None]:
    """--start and --end checked as text and in every time zone, before any cloud call."""
    start = read_time(args.start, option="--start") if args.start else None
    end = read_time(args.end, option="--end") if args.end else None
    precheck_window(start, end, now=now(), future_start=future_start)
    return start, end


def check_new_validity(start: TypedTime | None, end: TypedTime | None) -> None:
    """A new passcode, eKey or QR code: --end alone is valid from now; --start alone has no
    end, which only a permanent one has."""
    if start is not None and end is None:
        raise AdminUsageError("--start needs --end (without both it is permanent; --end "
                              "alone is valid from now)")


async def lock_zones(client: TTLockClient, locks: Sequence[Lock]) -> list[Zone]:
    """The zone each lock reports (one ``lock/detail`` each, side by side)."""
    details = await together(*(client.lock_detail(lock.lock_id) for lock in locks))
    return [lock_zone(detail.timezone_offset_ms) for detail in details]


async def shown_zone(client: TTLockClient, locks: Sequence[Lock]) -> Zone:
    """The zone a listing of ``locks`` shows its times in: theirs when they share one,
    else this machine's local time."""
    zones = set(await lock_zones(client, locks)) if locks else set()
    return zones.pop() if len(zones) == 1 else LOCAL


def time_column(key: str, title: str, zone: Zone) -> Column:
    """A time column whose header names the zone its times are shown in."""
    return Column(key, f"{title} ({zone.name})")


def validity_columns(zone: Zone) -> list[Column]:
    """VALID FROM, VALID UNTIL, STATUS: what every listing of access shows, in ``zone``."""
    return [time_column("start", "VALID FROM", zone), time_column("end", "VALID UNTIL", zone),
            Column("status", "STATUS")]


# The zone a listing's times are shown in, for CSV and JSON (the table says it in headers).
ZONE_FIELD = Column("time_zone", "TIME ZONE", table=False)


async def lock_windows(
    client: TTLockClient,
    locks: Sequence[Lock],
    start: TypedTime | None,
    end: TypedTime | None,
    *,
    future_start: bool,
    pair: bool = True,
    end_alone_starts_now: bool = False,
) -> list[Window]:
    """Each lock's validity, read in the lock's time zone and checked (one ``lock/detail``
    per lock, none when no typed time lacks an offset), before any gateway command.

    ``end_alone_starts_now``: an --end without --start is valid from now (a new code, key
    or QR code); otherwise, with ``pair``, the two go together."""
    # 'now' is shown back on the lock's clock too (one zone for what is read and shown);
    # only times all typed with an offset are shown as typed, without the lookup
    if any(typed is not None and (typed.needs_zone or typed.wall is None)
           for typed in (start, end)):
        zones: list[Zone | None] = list(await lock_zones(client, locks))
    else:
        zones = [typed_zone(start, end)] * len(locks)
    if end_alone_starts_now and start is None and end is not None:
        start = read_time("now", option="--start")
    windows = [
        Window(start.at(zone or LOCAL) if start else None,
               end.at(zone or LOCAL) if end else None, zone)
        for zone in zones
    ]
    several = len(set(zones)) > 1
    for lock, window in zip(locks, windows, strict=True):
        try:
            validate_window(window.start, window.end, now=now(), future_start=future_start,
                            pair=pair, zone=window.zone or LOCAL)
        except AdminUsageError as err:
            if not several:
                raise
            raise AdminUsageError(f"{lock.alias} ({lock.lock_id}): {err}") from None
    return windows
