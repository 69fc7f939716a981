"""Pushed records without HTTP: parsing, the ordering rule, settings, URLs, event log."""

from __future__ import annotations

import json
import logging
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from hapbridge.bridge.tracked_lock import Fact, Report
from hapbridge.config import parse_config
from hapbridge.errors import ConfigError
from hapbridge.event_log import (
    Event,
    EventLog,
    Source,
    follow,
    read_events,
    rotated,
    snapshot,
)
from hapbridge.log_limit import RateLimitedLog
from hapbridge.push.arrivals import push_finding, save_last_push
from hapbridge.push.callback_url import callback_urls, path_secret, receiver_paths
from hapbridge.push.events import events_of, log_line
from hapbridge.push.ordering import Aspect, RecordOrder, Verdict
from hapbridge.push.records import PushedRecord, PushError, parse_push
from hapbridge.push.settings import CallbackSettings
from hapbridge.redact import redact
from hapbridge.storage import Storage, StorageError
from hapbridge.ttlock.record_types import (
    RECORD_MEANINGS,
    Alert,
    DoorChange,
    LockChange,
    Method,
    meaning_of,
)

LOCK = 7252408
MAC = "16:72:4C:CC:01:C4"
NOW = 1_700_000_000_000


def record(**fields: Any) -> dict[str, Any]:
    base = {"lockId": LOCK, "electricQuantity": 93, "serverDate": NOW + 5,
            "recordTypeFromLock": 17, "recordType": 7, "success": 1, "lockMac": MAC,
            "keyboardPwd": "4711", "lockDate": NOW, "username": "Jonas"}
    base.update(fields)
    return {key: value for key, value in base.items() if value is not ...}


def form(*records: dict[str, Any], **fields: str) -> dict[str, str]:
    base = {"notifyType": "1", "lockId": str(LOCK), "lockMac": MAC, "admin": "me@example.com",
            "records": json.dumps(list(records or [record()]))}
    base.update(fields)
    return base


def rec(record_type: int, lock_date: int, **fields: Any) -> PushedRecord:
    values: dict[str, Any] = {"lock_id": LOCK, "record_type": record_type, "success": True,
                              "lock_date": lock_date, "server_date": lock_date + 1000}
    values.update(fields)
    return PushedRecord(**values)


# -- the table ----------------------------------------------------------------------------


def test_record_table_means_what_the_api_notes_say() -> None:
    assert meaning_of(4).lock is LockChange.UNLOCKED and meaning_of(4).method is Method.KEYPAD
    assert meaning_of(45).lock is LockChange.LOCKED and meaning_of(45).method is Method.AUTO_LOCK
    assert meaning_of(31).door is DoorChange.OPEN and meaning_of(30).door is DoorChange.CLOSED
    assert meaning_of(44).alert is Alert.TAMPER and meaning_of(44).lock is None
    assert meaning_of(48).alert is Alert.LOCKED_OUT
    assert meaning_of(64).alert is Alert.DOOR_LEFT_OPEN
    unknown = meaning_of(999)
    assert not unknown.known and not unknown.changes_state
    assert unknown.description == "record type 999"
    # every unlock/lock in the table has a method (the "how" of an event)
    assert all(row.method is not None for row in RECORD_MEANINGS.values())


# -- parsing ------------------------------------------------------------------------------


def test_parse_the_real_shape() -> None:
    push = parse_push(form())
    assert (push.lock_id, push.lock_mac, push.admin) == (LOCK, MAC, "me@example.com")
    (only,) = push.records
    assert only.record_type == 7 and only.success and only.battery == 93
    assert only.lock_date == NOW and only.server_date == NOW + 5
    assert only.username == "Jonas" and only.keyboard_pwd == "4711"
    assert only.record_type_from_lock == 17


def test_parse_the_documented_example_without_admin_or_record_lock() -> None:
    records = '[{"electricQuantity":85,"lockDate":1625025703000,"username":"alexa",' \
              '"serverDate":1628522539000,"recordType":1,"success":1}]'
    push = parse_push({"notifyType": "1", "lockId": "163377", "lockMac": "AA:BB:CC:DD:EE:FF",
                       "records": records})
    assert push.admin is None and push.records[0].lock_id == 163377


def test_passcode_digits_never_in_repr_or_summary() -> None:
    push = parse_push(form(record(keyboardPwd="98765432")))
    assert "98765432" not in repr(push)
    assert "98765432" not in push.records[0].summary() and "***" in push.records[0].summary()
    # a library's log line quoting the raw form (aiohttp on a bad request) is masked too
    raw = form(record(keyboardPwd="98765432"))["records"]
    assert "98765432" not in redact(raw) and "98765432" not in redact(f"keyboardPwd={raw}")


@pytest.mark.parametrize(("fields", "reason"), [
    ({"notifyType": "2"}, "notifyType"),
    ({"lockId": "abc"}, "lockId"),
    ({"lockId": "-4"}, "lockId"),
    ({"lockMac": "not a mac"}, "lockMac"),
    ({"lockMac": ""}, "lockMac is empty"),
    ({"records": "[{"}, "not JSON"),
    ({"records": '{"a": 1}'}, "not a JSON array"),
    ({"records": "[]"}, "empty"),
    ({"records": "[1]"}, "not an object"),
    ({"records": "[" * 5000 + "]" * 5000}, "JSON"),
])
def test_malformed_form_is_a_typed_error(fields: dict[str, str], reason: str) -> None:
    with pytest.raises(PushError, match=reason) as caught:
        parse_push(form(**fields))
    assert caught.value.status == 400


@pytest.mark.parametrize(("fields", "reason"), [
    ({"lockId": 1}, "differs"),
    ({"lockMac": "00:00:00:00:00:01"}, "differs"),
    ({"recordType": "7"}, "recordType"),
    ({"recordType": ...}, "recordType missing"),
    ({"success": 2}, "success"),
    ({"success": True}, "success"),
    ({"lockDate": 1.5}, "lockDate"),
    ({"lockDate": 0}, "lockDate"),
    ({"electricQuantity": 150}, "electricQuantity"),
    ({"username": ["x"]}, "username"),
    ({"keyboardPwd": {"a": 1}}, "keyboardPwd"),
    ({"serverDate": 10**30}, "serverDate"),
])
def test_hostile_record_fields_are_refused(fields: dict[str, Any], reason: str) -> None:
    with pytest.raises(PushError, match=reason) as caught:
        parse_push(form(record(**fields)))
    assert "4711" not in str(caught.value)


def test_missing_form_fields() -> None:
    for name in ("notifyType", "lockId", "records"):
        values = form()
        del values[name]
        with pytest.raises(PushError, match=f"{name} missing"):
            parse_push(values)


# -- the ordering rule --------------------------------------------------------------------


def test_newest_by_lock_time_wins_older_never_overwrites() -> None:
    """The gate passes bolt changes on; the record's one rule orders them by lock time."""
    order = RecordOrder()
    first = order.judge(rec(4, NOW), NOW)  # keypad unlock
    assert first.verdict is Verdict.APPLIED and first.lock is LockChange.UNLOCKED
    newer = order.judge(rec(45, NOW + 10_000), NOW)  # auto-lock
    assert newer.lock is LockChange.LOCKED and newer.confirms_auto_lock
    late = order.judge(rec(1, NOW + 5_000), NOW)  # an older unlock arrives late
    assert late.lock is LockChange.UNLOCKED  # for the record to refuse:
    shown = Report(Fact.LOCK, 1, Source.PUSH, lock_date=NOW + 10_000)
    assert not Report(Fact.LOCK, 0, Source.PUSH, lock_date=NOW + 5_000).newer_than(shown)
    assert not Report(Fact.LOCK, 0, Source.PUSH, lock_date=NOW + 10_000).newer_than(shown)
    assert Report(Fact.LOCK, 0, Source.PUSH, lock_date=NOW + 10_001).newer_than(shown)


def test_duplicates_and_replays_change_nothing() -> None:
    order = RecordOrder()
    assert order.judge(rec(4, NOW), NOW).verdict is Verdict.APPLIED
    assert order.judge(rec(4, NOW), NOW).verdict is Verdict.DUPLICATE
    order.judge(rec(11, NOW + 1), NOW)
    assert order.judge(rec(4, NOW), NOW).verdict is Verdict.DUPLICATE
    uploaded_again = rec(4, NOW, server_date=NOW + 60_000)  # the gateway sent it twice
    assert order.judge(uploaded_again, NOW).verdict is Verdict.DUPLICATE


def test_one_push_with_several_records_ends_on_the_newest() -> None:
    order = RecordOrder()
    judged = order.judge_push([rec(45, NOW + 2000), rec(4, NOW)], NOW)
    assert [j.record.record_type for j in judged] == [4, 45]
    assert [j.lock for j in judged] == [LockChange.UNLOCKED, LockChange.LOCKED]


def test_aspects_are_ordered_apart() -> None:
    order = RecordOrder()
    order.judge(rec(45, NOW + 10_000, battery=80), NOW)
    # an older door record: the door was never set, so it shows; its battery is older
    door = order.judge(rec(31, NOW + 5_000, battery=81), NOW)
    assert door.verdict is Verdict.APPLIED and door.door is DoorChange.OPEN
    assert door.battery is None and door.lock is None
    older_door = order.judge(rec(30, NOW + 4_000), NOW)
    assert older_door.verdict is Verdict.STALE and older_door.door is None


def test_far_future_record_is_ignored_and_does_not_poison_later_ones() -> None:
    order = RecordOrder()
    future = order.judge(rec(4, NOW + 2 * 86_400_000), NOW)
    assert future.verdict is Verdict.FUTURE and future.lock is None
    assert order.judge(rec(11, NOW), NOW).lock is LockChange.LOCKED
    near = order.judge(rec(4, NOW + 3_600_000), NOW)  # an hour ahead: a skewed lock clock
    assert near.lock is LockChange.UNLOCKED


def test_failed_try_changes_no_state() -> None:
    order = RecordOrder()
    failed = order.judge(rec(4, NOW, success=False, battery=50), NOW)
    assert failed.verdict is Verdict.FAILED_TRY
    assert failed.lock is None and failed.battery is None and order.newest(Aspect.BATTERY) is None
    (event,) = events_of(failed, "Front Door")
    assert event.change == "failed try: unlock by passcode" and event.how == "keypad"


def test_battery_follows_the_newest_record() -> None:
    order = RecordOrder()
    assert order.judge(rec(4, NOW, battery=70), NOW).battery == 70
    assert order.judge(rec(11, NOW - 1000, battery=90), NOW).battery is None


def test_unknown_types_and_alerts() -> None:
    order = RecordOrder()
    assert order.judge(rec(999, NOW), NOW).verdict is Verdict.UNKNOWN_TYPE
    tamper = order.judge(rec(44, NOW), NOW)
    assert tamper.verdict is Verdict.NOTED and tamper.alert is Alert.TAMPER
    assert [e.change for e in events_of(tamper)] == ["alert: tamper"]


def test_events_of_an_applied_record_say_who_and_how() -> None:
    judged = RecordOrder().judge(rec(4, NOW, username="Guest 12", keyboard_pwd="4711",
                                     battery=64), NOW)
    events = events_of(judged, "Front Door", battery_before=70, at=5.0)
    assert [e.change for e in events] == ["unlocked", "battery 64%"]
    assert [e.change for e in events_of(judged, battery_before=64)] == ["unlocked"]
    assert {(e.source, e.who, e.how, e.lock_name, e.lock_time, e.at) for e in events} == {
        (Source.PUSH, "Guest 12", "keypad", "Front Door", NOW, 5.0)}
    assert "4711" not in repr(events)


def test_log_lines_are_levelled_and_masked() -> None:
    order = RecordOrder()
    cases = [
        (rec(4, NOW, keyboard_pwd="4711", username="Guest"), logging.INFO, "unlock by passcode"),
        (rec(4, NOW, keyboard_pwd="4711", username="Guest"), logging.DEBUG, "duplicate"),
        (rec(4, NOW - 9, success=False, keyboard_pwd="4711"), logging.INFO, "failed try"),
        (rec(999, NOW + 1), logging.DEBUG, "unknown type"),
        (rec(44, NOW + 2), logging.WARNING, "alert: tamper"),
        (rec(4, NOW + 3 * 86_400_000), logging.WARNING, "check the lock's clock"),
    ]
    for record_, level, text in cases:
        got_level, line = log_line(order.judge(record_, NOW), "Front Door")
        assert (got_level, text in line, "4711" in line) == (level, True, False), line


# -- settings and URLs --------------------------------------------------------------------


def callback_of(raw: object) -> CallbackSettings | None:
    """The callback block as the config table reads it from a platform entry."""
    return parse_config({"platforms": [{"platform": "TTLock", "callback": raw}]},
                        require_credentials=False, env={}).platform.callback


def test_callback_settings_defaults_and_values() -> None:
    assert parse_config({}, require_credentials=False, env={}).platform.callback is None
    assert callback_of({}) == CallbackSettings(8788, ("127.0.0.1",), None, ())
    settings = callback_of({
        "port": "9000", "bind": ["127.0.0.1", "::1"], "publicUrl": "https://locks.example.com/",
        "forwardTo": ["http://homeassistant:8123/api/webhook/abc?x=1"]})
    assert settings.port == 9000 and settings.bind == ("127.0.0.1", "::1")
    assert settings.public_url == "https://locks.example.com"
    assert settings.forward_to == ("http://homeassistant:8123/api/webhook/abc?x=1",)


@pytest.mark.parametrize(("raw", "key"), [
    ([], "callback must be an object"),
    ({"port": 0}, "callback.port"),
    ({"port": True}, "callback.port"),
    ({"bind": "localhost"}, r"callback.bind must be a list of IP addresses"),
    ({"bind": ["127.0.0.1", "nope"]}, r"callback.bind\[1\]"),
    ({"bind": []}, "callback.bind"),
    ({"publicUrl": "locks.example.com"}, "callback.publicUrl"),
    ({"publicUrl": "https://x.example?a=1"}, "callback.publicUrl"),
    ({"forwardTo": "ftp://x"}, r"callback.forwardTo must be a list of URLs"),
    ({"forwardTo": ["ftp://x"]}, r"callback.forwardTo\[0\] must be an http\(s\) URL"),
    ({"forwardTo": {}}, "callback.forwardTo"),
    ({"forwardTo": ["http://x"] * 9}, "callback.forwardTo lists 9 URLs; at most 8"),
])
def test_callback_settings_errors_name_the_key(raw: object, key: str) -> None:
    with pytest.raises(ConfigError, match=key) as caught:
        callback_of(raw)
    assert "\n" not in str(caught.value)


def test_callback_misspelt_key_is_a_warning_naming_it() -> None:
    config = parse_config({"platforms": [{"platform": "TTLock",
                                          "callback": {"publicURL": "https://x.example"}}]},
                          require_credentials=False, env={})
    assert any("platforms[0].callback.publicURL (did you mean publicUrl?)" in note.text
               for note in config.notes)


def test_path_secret_is_made_once_private_and_long(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "s")
    secret = path_secret(storage)
    assert len(secret) >= 22 and path_secret(Storage(tmp_path / "s")) == secret
    assert stat.S_IMODE(storage.path("callback.json").stat().st_mode) == 0o600
    storage.path("callback.json").write_text('{"pathSecret": "short"}')
    with pytest.raises(StorageError, match="delete it"):
        path_secret(storage)


def test_urls_and_paths() -> None:
    local = CallbackSettings(bind=("0.0.0.0",))
    assert callback_urls(local, "S").local == "http://127.0.0.1:8788/S"
    assert callback_urls(local, "S").public is None
    v6 = CallbackSettings(port=9, bind=("::1",), public_url="https://x.example/ttlock")
    urls = callback_urls(v6, "S")
    assert (urls.local, urls.public) == ("http://[::1]:9/S", "https://x.example/ttlock/S")
    assert receiver_paths(v6, "S") == {"/S", "/ttlock/S"}


def test_rate_limited_log(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    log = RateLimitedLog(logging.getLogger("t"), interval=10, clock=lambda: now[0]).at(
        logging.WARNING)
    with caplog.at_level(logging.WARNING, "t"):
        assert log("a", "one")
        assert not log("a", "two") and not log("a", "three")
        assert log("b", "other kind")
        now[0] = 11
        assert log("a", "four")
    assert [r.getMessage() for r in caplog.records] == [
        "one", "other kind", "four (2 more like it in the last 10s not logged)"]


# -- the event log ------------------------------------------------------------------------


def event(n: int, lock_id: int = LOCK) -> Event:
    return Event(lock_id=lock_id, change=f"change {n}", source=Source.POLL, lock_name="Garage",
                 at=1000.0 + n)


def test_event_log_appends_private_and_reads_back(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "s" / "events.jsonl")
    log.append(event(1))
    log.append(Event(LOCK, "unlocked", Source.PUSH, "Garage", who="Jonas", how="card",
                     at=2000.0, lock_time=NOW))
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.path.parent.stat().st_mode) == 0o700
    got = read_events(log.path)
    assert [e.change for e in got] == ["change 1", "unlocked"]
    assert got[1] == Event(LOCK, "unlocked", Source.PUSH, "Garage", "Jonas", "card", 2000.0,
                           NOW)


def test_event_log_rotates_and_stays_bounded(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.jsonl", max_bytes=1000, keep=2)
    for n in range(100):
        log.append(event(n))
    files = [log.path, rotated(log.path, 1), rotated(log.path, 2)]
    assert all(f.exists() and f.stat().st_size <= 1000 for f in files)
    assert not rotated(log.path, 3).exists()
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    changes = [e.change for e in read_events(log.path, keep=2)]
    assert changes[-1] == "change 99" and changes == sorted(changes, key=lambda c: int(c[7:]))
    assert len(changes) < 100


def test_event_log_skips_torn_lines_and_never_raises(tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "events.jsonl"
    EventLog(path).append(event(1))
    with path.open("a") as handle:
        handle.write('{"torn": \n[1]\n')
    EventLog(path).append(event(2))
    assert [e.change for e in read_events(path)] == ["change 1", "change 2"]
    blocked = tmp_path / "file"
    blocked.write_text("")
    with caplog.at_level(logging.WARNING):
        EventLog(blocked / "events.jsonl").append(event(3))  # parent is a file
    assert "cannot write the event log" in caplog.text


def test_follow_sees_appends_across_a_rotation(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.jsonl", max_bytes=300, keep=1)
    log.append(event(0))  # before following: not shown
    script = iter(range(1, 8))
    seen: list[str] = []

    def step(_: float) -> None:  # each idle look appends the next event
        n = next(script, None)
        if n is not None:
            log.append(event(n))

    for got in follow(log.path, stop=lambda: len(seen) >= 7, poll=0, sleep=step):
        seen.append(got.change)
    assert seen == [f"change {n}" for n in range(1, 8)]
    assert rotated(log.path, 1).exists()


def test_snapshot_then_follow_loses_nothing(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.jsonl")
    log.append(event(1))
    half = json.dumps(event(2).to_json()).encode()
    with log.path.open("ab") as handle:  # a line being written while the reader looks
        handle.write(half[:10])
    events, position = snapshot(log.path)
    assert [e.change for e in events] == ["change 1"]
    with log.path.open("ab") as handle:
        handle.write(half[10:] + b"\n")
    log.append(event(3))  # after the snapshot, before following starts
    seen: list[str] = []
    looks = iter(range(100))  # bounded: a bug fails the test instead of spinning

    def idle(_: float) -> None:
        assert next(looks, None) is not None, f"only {seen} after 100 looks"

    for got in follow(log.path, since=position, poll=0, stop=lambda: len(seen) >= 2,
                      sleep=idle):
        seen.append(got.change)
    assert seen == ["change 2", "change 3"]


def test_check_says_whether_pushes_arrive(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "s")
    status, detail, fix = push_finding(None, storage)
    assert status == "ok" and "no callback receiver" in detail and "docs/push.md" in (fix or "")
    settings = CallbackSettings(port=8788)
    status, detail, fix = push_finding(settings, storage)
    assert status == "warn" and "no push has arrived yet" in detail
    assert "hapbridge callback-url" in (fix or "")
    save_last_push(storage, time.time() - 300, 3)
    status, detail, _fix = push_finding(settings, storage)
    assert status == "ok" and "127.0.0.1:8788" in detail and "5 min ago" in detail
    save_last_push(storage, time.time() - 10 * 86_400, 3)
    assert push_finding(settings, storage)[0] == "warn"
    assert stat.S_IMODE(storage.path("pushes.json").stat().st_mode) == 0o600


def test_log_lines_keep_api_paths_and_mask_every_other_url_path() -> None:
    api = ('HTTP Request: GET https://euapi.ttlock.com/v3/lock/list?clientId=c&accessToken=t'
           ' "HTTP/1.1 200 OK"')
    assert redact(api) == ('HTTP Request: GET https://euapi.ttlock.com/v3/lock/list?clientId=c'
                           '&accessToken=*** "HTTP/1.1 200 OK"')
    hook = 'HTTP Request: POST http://ha.local:8123/api/webhook/abc "HTTP/1.1 200 OK"'
    assert redact(hook) == 'HTTP Request: POST http://ha.local:8123/*** "HTTP/1.1 200 OK"'
    assert redact("GET http://127.0.0.1:8080/ done") == "GET http://127.0.0.1:8080/ done"
