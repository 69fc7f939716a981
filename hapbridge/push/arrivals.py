"""When the bridge last took a push: ``STORAGE/pushes.json``, and what ``check`` says of it.

The running bridge writes it (at most every half minute, and at stop); ``check`` reads it,
so it tells whether pushes arrive without a cloud call and without the bridge running.
"""

from __future__ import annotations

import time

from hapbridge.push.callback_url import callback_urls
from hapbridge.push.settings import CallbackSettings
from hapbridge.storage import Storage, StorageError

PUSHES_FILE = "pushes.json"
STALE_AFTER = 7 * 86_400  # a week without a push is worth a look (a quiet house is quiet)


def save_last_push(storage: Storage, at: float, accepted: int) -> None:
    """StorageError when it cannot be written."""
    storage.write_json(PUSHES_FILE, {"lastPushAt": round(at, 3), "accepted": accepted})


def last_push_at(storage: Storage) -> float | None:
    """When the bridge last took a push (unix time); None: never, or unreadable."""
    try:
        data = storage.read_json(PUSHES_FILE)
    except StorageError:
        return None
    value = data.get("lastPushAt") if isinstance(data, dict) else None
    return float(value) if isinstance(value, int | float) else None


def push_finding(settings: CallbackSettings | None, storage: Storage
                 ) -> tuple[str, str, str | None]:
    """(status, detail, fix) for ``check``: "ok" or "warn", never "fail" (polling works)."""
    if settings is None:
        return ("ok", "no callback receiver configured: states come from polls only",
                "add a \"callback\" block to the TTLock platform for real-time state "
                "(docs/push.md)")
    where = callback_urls(settings, "…").local.rsplit("/", 1)[0]
    last = last_push_at(storage)
    if last is None:
        return ("warn", f"receiver configured at {where}; no push has arrived yet",
                "paste the output of 'hapbridge callback-url' as the callback URL of your "
                "application in the TTLock developer platform, and check your proxy or tunnel")
    age = max(0.0, time.time() - last)
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(last))
    detail = f"receiver configured at {where}; last push {stamp} ({_ago(age)})"
    if age > STALE_AFTER:
        return ("warn", detail, "no push for a week: check that the callback URL is still "
                "saved and your proxy or tunnel runs ('hapbridge events --follow' to watch)")
    return ("ok", detail, None)


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 172_800:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86_400:.0f} days ago"
