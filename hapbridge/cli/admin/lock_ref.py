"""Resolving what the user typed (an id or a name) to one lock or gateway.

One rule everywhere: an exact id wins; otherwise the alias (or gateway name) is compared
case-insensitively (and regardless of how the accents are encoded: the app may store "é" as
"e" plus a combining accent), and several matches are an error that lists them, because
acting on the wrong door is worse than asking.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from hapbridge.cli.admin.errors import AmbiguousError, NoSuchItemError, NotFoundError
from hapbridge.ttlock import TTLockClient
from hapbridge.ttlock.models import Gateway, Lock

T = TypeVar("T")
# ASCII digits only: str.isdigit() also accepts "²" and "①", which int() refuses; and no
# more digits than an id can have (int() refuses thousands of them).
ID_RE = re.compile(r"[0-9]{1,18}")


def match(
    items: Sequence[T],
    ref: str,
    *,
    kind: str,
    ident: Callable[[T], int],
    name: Callable[[T], str],
    listing: str,
) -> T:
    """The single item whose id is ``ref``, else whose name equals it ignoring case."""
    text = ref.strip()
    if ID_RE.fullmatch(text):
        by_id = [item for item in items if ident(item) == int(text)]
        if by_id:
            return by_id[0]
    wanted = folded(text)
    found = [item for item in items if folded(name(item)) == wanted]
    if len(found) == 1:
        return found[0]
    if found:
        candidates = ", ".join(f"{ident(item)} ({name(item)})" for item in found)
        raise AmbiguousError(
            f"{kind} {ref!r} is ambiguous: {len(found)} {kind}s have that name: "
            f"{candidates}; give the {kind} id instead"
        )
    suggestion = f": did you mean {hint!r}?" if (hint := nearest(wanted, items, name)) else ""
    raise NotFoundError(
        f"no {kind} {ref!r} in this account{suggestion} ('hapbridge {listing}' lists them)"
    )


def folded(text: str) -> str:
    """``text`` as names are compared: trimmed, NFC-normalised, case-folded (and normalised
    again, as case folding can undo the composition)."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", text.strip()).casefold())


def nearest(wanted: str, items: Sequence[T], name: Callable[[T], str]) -> str | None:
    """The name closest to the folded ``wanted``, compared folded too: "FRONT DOR" finds
    "Front Door"."""
    names = {folded(name(item)): name(item) for item in reversed(items)}  # first one wins
    hint = difflib.get_close_matches(wanted, list(names), n=1, cutoff=0.6)
    return names[hint[0]] if hint else None


def match_lock(locks: Sequence[Lock], ref: str) -> Lock:
    return match(
        locks, ref, kind="lock", ident=lambda lk: lk.lock_id, name=lambda lk: lk.alias,
        listing="locks",
    )


def match_gateway(gateways: Sequence[Gateway], ref: str) -> Gateway:
    return match(
        gateways, ref, kind="gateway", ident=lambda gw: gw.gateway_id, name=lambda gw: gw.name,
        listing="gateways",
    )


def match_locks(locks: Sequence[Lock], refs: Iterable[str]) -> list[Lock]:
    """Each named lock once, in the order given (room and entrance named twice stay one)."""
    chosen: dict[int, Lock] = {}
    for ref in refs:
        lock = match_lock(locks, ref)
        chosen.setdefault(lock.lock_id, lock)
    return list(chosen.values())


async def resolve_locks(client: TTLockClient, refs: Iterable[str]) -> list[Lock]:
    """The locks named by ``refs``, with a single ``lock/list`` call for all of them."""
    return match_locks(await client.list_locks(), refs)


async def named_or_all(client: TTLockClient, refs: Sequence[str]) -> list[Lock]:
    """The locks named by ``refs``, or every lock of the account when none is named."""
    locks = await client.list_locks()
    return match_locks(locks, refs) if refs else locks


async def resolve_lock(client: TTLockClient, ref: str) -> Lock:
    return (await resolve_locks(client, [ref]))[0]


async def resolve_gateway(client: TTLockClient, ref: str) -> Gateway:
    return match_gateway(await client.list_gateways(), ref)


def find_on_lock(items: Iterable[T], item_id: int, id_of: Callable[[T], int], what: str,
                 lock: Lock, list_command: str) -> T:
    """The lock's item with this ID, else the typed-ID mistake naming the list command."""
    for item in items:
        if id_of(item) == item_id:
            return item
    raise NoSuchItemError(what, item_id, lock.alias, lock.lock_id, list_command)
