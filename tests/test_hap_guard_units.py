"""The pieces of the hardened HAP server on their own: value checks, the pair-setup attempt
counter and throttle, the rate-limited log, and what ``check`` says about wrong codes."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from hapbridge.bridge.hap_values import fits
from hapbridge.bridge.pairing_attempts import (
    ATTEMPTS_FILE,
    FORGET_AFTER,
    GLOBAL_BURST,
    MAX_FAILED,
    NEW_BURST,
    START_BURST,
    START_WINDOW,
    PairingAttempts,
    Refusal,
    read_failed,
    reset_failed,
)
from hapbridge.cli.admin.check import Checker, _pair_setup_attempts
from hapbridge.cli.context import Context
from hapbridge.log_limit import RateLimitedLog
from hapbridge.storage import Storage

TARGET = {"Format": "uint8", "ValidValues": {"Unsecured": 0, "Secured": 1},
          "minValue": 0, "maxValue": 1}


@pytest.mark.parametrize(("props", "value", "ok"), [
    (TARGET, 0, True), (TARGET, 1, True), (TARGET, True, True), (TARGET, 1.0, True),
    (TARGET, 2, False), (TARGET, -1, False), (TARGET, 0.5, False), (TARGET, "1", False),
    (TARGET, None, False), (TARGET, [1], False),
    ({"Format": "uint8"}, 256, False), ({"Format": "uint8"}, 255, True),
    ({"Format": "int"}, 2**31, False), ({"Format": "uint64"}, -1, False),
    ({"Format": "bool"}, 1, True), ({"Format": "bool"}, 2, False),
    ({"Format": "bool"}, "true", False),
    ({"Format": "float", "minValue": 0, "maxValue": 100}, 50.5, True),
    ({"Format": "float"}, float("nan"), False), ({"Format": "float"}, True, False),
    ({"Format": "float", "maxValue": 100}, 101, False),
    ({"Format": "string"}, "x" * 64, True), ({"Format": "string"}, "x" * 65, False),
    ({"Format": "string", "maxLen": 10}, "é" * 6, False), ({"Format": "string"}, 5, False),
    ({"Format": "data"}, "AAEC", True), ({"Format": "tlv8"}, 3, False),
])
def test_values_fit_the_characteristic_or_not(props: dict[str, Any], value: Any,
                                              ok: bool) -> None:
    assert fits(props, value) is ok


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_guessing_address_waits_longer_each_time_and_nobody_else_waits(
        tmp_path: Path) -> None:
    clock = Clock()
    attempts = PairingAttempts(Storage(tmp_path), base_backoff=1.0, max_backoff=8.0,
                               clock=clock)
    for _ in range(3):
        assert attempts.refusal("10.0.0.66") is None  # the first wrong codes cost nothing
        attempts.failed("10.0.0.66")
    waits = []
    for _ in range(6):
        assert attempts.refusal("10.0.0.66") == Refusal.BUSY
        assert attempts.refusal("10.0.0.7") is None  # the owner's phone: never held up
        start = clock.now
        while attempts.refusal("10.0.0.66") is not None:
            clock.now += 0.25
        waits.append(clock.now - start)
        attempts.failed("10.0.0.66")
    assert waits == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert read_failed(Storage(tmp_path)) == 9
    assert (tmp_path / ATTEMPTS_FILE).stat().st_mode & 0o777 == 0o600
    clock.now += FORGET_AFTER + 1  # a quiet address starts afresh; the total stays
    assert attempts.refusal("10.0.0.66") is None
    attempts.failed("10.0.0.66")
    assert attempts.refusal("10.0.0.66") is None and attempts.total == 10
    attempts.succeeded()
    assert read_failed(Storage(tmp_path)) == 0


def test_pair_setup_starts_are_rationed_per_address_and_in_all(tmp_path: Path) -> None:
    """Each start costs an SRP key (~20 ms): a flood of M1s must not take the event loop."""
    clock = Clock()
    attempts = PairingAttempts(Storage(tmp_path), clock=clock)
    for _ in range(START_BURST):
        assert attempts.refusal("10.0.0.66", starting=True) is None
    assert attempts.refusal("10.0.0.66", starting=True) == Refusal.BUSY
    assert attempts.refusal("10.0.0.7", starting=True) is None  # another address: at once
    clock.now += START_WINDOW
    for repeat in range(GLOBAL_BURST // START_BURST):  # known addresses spend the budget
        for _ in range(START_BURST):
            assert attempts.refusal(f"10.0.0.{repeat}", starting=True) is None
    assert attempts.refusal("10.0.0.66", starting=True) == Refusal.BUSY  # known: Busy
    # New addresses (the owner's phone) still start, up to the reserve.
    answers = [attempts.refusal(f"10.0.1.{n}", starting=True) for n in range(NEW_BURST + 1)]
    assert answers.count(None) == NEW_BURST and answers[-1] == Refusal.BUSY
    # A refused start does not make an address known: the next window serves it first.
    clock.now += START_WINDOW
    assert attempts.refusal(f"10.0.1.{NEW_BURST}", starting=True) is None
    assert attempts.total == 0  # starting is not guessing


def test_the_cap_survives_a_restart_and_a_damaged_file(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    storage = Storage(tmp_path)
    storage.write_json(ATTEMPTS_FILE, {"failed": MAX_FAILED - 1})
    first = PairingAttempts(storage)
    first.failed("10.0.0.66")
    again = PairingAttempts(storage)
    assert again.locked_out and again.refusal("10.0.0.7") == Refusal.MAX_TRIES
    again.announce()
    assert "reset-pairing" in caplog.records[-1].getMessage()
    for damaged in ("{", '{"failed": "0"}', '{"failed": -3}', "[]"):
        (tmp_path / ATTEMPTS_FILE).write_text(damaged)
        assert PairingAttempts(storage).locked_out, damaged  # never a fresh 100 for free
    assert reset_failed(storage) == MAX_FAILED
    assert json.loads((tmp_path / ATTEMPTS_FILE).read_text()) == {"failed": 0}
    assert reset_failed(Storage(tmp_path / "none")) == 0
    assert not (tmp_path / "none" / ATTEMPTS_FILE).exists()


def test_rate_limited_log_sums_up_what_it_left_out(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    clock = Clock()
    log = RateLimitedLog(logging.getLogger("test.noise"), interval=60, clock=clock)
    written = [log.log("bad", logging.DEBUG, "bad request %s", n) for n in range(1000)]
    assert written.count(True) == 1
    assert log.log("other", logging.DEBUG, "another kind")
    clock.now += 61
    assert log.log("bad", logging.DEBUG, "bad request")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["bad request 0", "another kind",
                        "bad request (999 more like it in the last 60s not logged)"]


@pytest.mark.parametrize(("failed", "status"), [(0, None), (7, "warn"), (MAX_FAILED, "fail")])
def test_check_tells_of_wrong_codes(tmp_path: Path, failed: int, status: str | None) -> None:
    ctx = Context(storage_dir=tmp_path, config_path=tmp_path / "config.json", debug=False)
    if failed:
        ctx.storage.write_json(ATTEMPTS_FILE, {"failed": failed})
    checker = Checker()
    _pair_setup_attempts(checker, ctx)
    assert [f.status for f in checker.findings] == ([status] if status else [])
    if status == "fail":
        assert "reset-pairing" in (checker.findings[0].fix or "")
        assert not checker.ok
