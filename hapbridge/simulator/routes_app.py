"""/v3/app/getMonthRequestCount: the cloud's own count of this month's calls.

The endpoint is on TTLock's older doc pages only (not in the docs mirror), so its answer
shape is ours: ``{"count": N}``, every request the server had this month, with months in
UTC+8 (China Standard Time) as the cloud counts them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hapbridge.simulator.api import READ, Call, Route

CLOUD_ZONE = timezone(timedelta(hours=8))


def cloud_month(when: datetime | None = None) -> str:
    """``2026-12``: the month a moment belongs to on the cloud's calendar."""
    return (when or datetime.now(tz=UTC)).astimezone(CLOUD_ZONE).strftime("%Y-%m")


async def month_request_count(call: Call) -> dict[str, Any]:
    """The application's count: every account's calls (the server's own world holds it)."""
    return {"count": call.physics.world.month_calls[cloud_month()]}


ROUTES = (Route("/v3/app/getMonthRequestCount", month_request_count, READ),)
