"""The door sensor's tamper flag, set by a tamper alarm and cleared by ordinary use."""

from __future__ import annotations

from hapbridge.push.door_alerts import tampered_after
from hapbridge.push.ordering import RecordOrder
from hapbridge.ttlock.record_types import (
    DOOR_CLOSED,
    DOOR_NOT_CLOSED,
    LOCKED_OUT,
    PASSCODE_UNLOCK,
    TAMPER,
)
from tests.test_push_units import NOW, rec


def test_tamper_sets_ordinary_use_clears_the_rest_keeps() -> None:
    order = RecordOrder()
    tampered = tampered_after(order.judge(rec(TAMPER, NOW), NOW), False)
    assert tampered
    for kind, at in ((LOCKED_OUT, NOW + 1000), (DOOR_NOT_CLOSED, NOW + 2000)):
        tampered = tampered_after(order.judge(rec(kind, at), NOW + 10_000), tampered)
        assert tampered  # other alerts are no ordinary use
    failed = order.judge(rec(PASSCODE_UNLOCK, NOW + 3000, success=False), NOW + 10_000)
    assert tampered_after(failed, tampered)  # a failed try is not either
    stale = order.judge(rec(DOOR_CLOSED, NOW - 5000), NOW + 10_000)  # older than shown
    assert tampered_after(stale, tampered)  # changed nothing: not a use of the door now
    used = order.judge(rec(PASSCODE_UNLOCK, NOW + 4000), NOW + 10_000)
    assert tampered_after(used, tampered) is False

def test_a_duplicate_tamper_record_sets_nothing() -> None:
    order = RecordOrder()
    order.judge(rec(TAMPER, NOW), NOW)
    assert tampered_after(order.judge(rec(TAMPER, NOW), NOW), False) is False
