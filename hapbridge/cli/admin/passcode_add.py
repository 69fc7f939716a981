"""One passcode added to several locks: gateways side by side, each row telling the truth.

Each lock's row (built by ``passcodes add`` in the order the user gave) says at every
moment what is known of that lock: not tried yet, in flight, added, or failed. So when
Ctrl-C stops the run, the rows printed are what the locks hold: "added" only where the
cloud said so, and a command abandoned in flight is said to be unknown, never added.
"""

from __future__ import annotations

import shlex
from collections.abc import MutableMapping, Sequence
from typing import Any

from hapbridge.cli.admin.parallel import LockRun, Step, gateway_carriers, label, names
from hapbridge.errors import HapbridgeError
from hapbridge.ttlock import TTLockClient
from hapbridge.ttlock.models import Lock

Row = MutableMapping[str, Any]
NOT_TRIED = "not tried (interrupted)"


def in_flight(lock: Lock) -> str:
    return ("unknown: abandoned in flight (see: hapbridge passcodes list "
            f"{shlex.quote(lock.alias)})")


async def add_to_locks(
    client: TTLockClient, locks: Sequence[Lock], rows: Sequence[Row], code: str,
    name: str | None,
) -> LockRun:
    """Add ``code`` to each lock with its row's validity (``start``, ``end``); the rows
    record how it went (``ok``, ``passcode_id``, ``error``, ``result``)."""
    by_lock = {row["lock_id"]: row for row in rows}
    for row in rows:
        row.update(ok=False, passcode_id=None, error=NOT_TRIED, result=NOT_TRIED)

    async def add(lock: Lock) -> Step:
        row = by_lock[lock.lock_id]
        row["error"] = row["result"] = in_flight(lock)
        try:
            row["passcode_id"] = await client.add_passcode(
                lock.lock_id, code, name=name, start=row["start"], end=row["end"])
        except HapbridgeError as err:
            row["error"] = str(err)
            row["result"] = f"failed: {err}"
            return Step(False, row["result"])
        row.update(ok=True, error=None, result="added")
        return Step(True, "added")

    carriers = await gateway_carriers(client, locks)
    run = LockRun(locks, carriers, changes=True)
    plural = "s" if len(locks) > 1 else ""
    await run.each(add, title=f"Adding the passcode to {len(locks)} lock{plural}")
    return run


def interrupted_summary(run: LockRun, rows: Sequence[Row]) -> str:
    """Where the code is after Ctrl-C, in one line (the table above has each lock)."""
    added = sum(1 for row in rows if row["ok"])
    parts = [f"the passcode was added to {added} of {len(rows)} locks (see above)"]
    if run.not_started:
        parts.append(f"not tried: {names(run.not_started)}")
    if run.abandoned:
        parts.append("abandoned in flight (it may have been added): "
                     + ", ".join(label(lock) for lock in run.abandoned))
    return "; ".join(parts)
