"""The push receiver over real HTTP on 127.0.0.1: valid pushes become state in order, every
hostile request gets a 4xx and nothing else, forwarding never delays the answer."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from aiohttp import web

from hapbridge.push.forwarder import Forwarder
from hapbridge.push.ordering import Verdict
from hapbridge.push.receiver import PushReceiver, ReceiverError
from hapbridge.push.settings import CallbackSettings
from hapbridge.ttlock.record_types import DoorChange, LockChange
from tests.push_helpers import ACCOUNT, SECRET, StateSink, a_record, push_form

LOCK = 3_000_001
OTHER = 3_000_002
NOW = int(time.time() * 1000)
LOOPBACK = CallbackSettings(port=0, bind=("127.0.0.1",))



@pytest.fixture
async def make_receiver() -> AsyncIterator[Callable[..., Any]]:
    made: list[PushReceiver] = []

    async def factory(sink: StateSink, settings: CallbackSettings = LOOPBACK,
                      **kwargs: Any) -> PushReceiver:
        kwargs.setdefault("account", ACCOUNT)
        receiver = PushReceiver(settings, SECRET, sink, **kwargs)
        await receiver.start()
        made.append(receiver)
        return receiver

    yield factory
    for receiver in made:
        await receiver.stop()


@pytest.fixture
def sink() -> StateSink:
    return StateSink({LOCK, OTHER})


@pytest.fixture
async def receiver(make_receiver: Callable[..., Any], sink: StateSink) -> PushReceiver:
    return await make_receiver(sink)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


async def post(http: httpx.AsyncClient, receiver: PushReceiver, form: dict[str, str],
               **kwargs: Any) -> httpx.Response:
    return await http.post(receiver.urls.local, data=form, **kwargs)


async def test_a_valid_push_is_answered_success_and_becomes_state(
    http: httpx.AsyncClient, receiver: PushReceiver, sink: StateSink
) -> None:
    answer = await post(http, receiver, push_form(LOCK, a_record(LOCK, 4, NOW)))
    assert (answer.status_code, answer.text) == (200, "success")
    await sink.wait_for(1)
    view = sink.locks[LOCK]
    assert (view.lock, view.battery) == (LockChange.UNLOCKED, 80)
    assert receiver.accepted == 1 and receiver.last_push_at is not None


async def test_older_and_duplicate_pushes_never_overwrite(
    http: httpx.AsyncClient, receiver: PushReceiver, sink: StateSink
) -> None:
    newer = push_form(LOCK, a_record(LOCK, 45, NOW + 5000, electricQuantity=70))
    older = push_form(LOCK, a_record(LOCK, 4, NOW, electricQuantity=90))
    for form in (newer, older, newer):
        assert (await post(http, receiver, form)).text == "success"
    await sink.wait_for(3)
    view = sink.locks[LOCK]
    assert (view.lock, view.battery) == (LockChange.LOCKED, 70)
    # the older one passes the gate (its bolt is the record's to refuse), the replay not
    assert [j.verdict for j in view.judged] == [Verdict.APPLIED, Verdict.APPLIED,
                                                Verdict.DUPLICATE]


async def test_two_records_in_one_push_and_a_far_future_one(
    http: httpx.AsyncClient, receiver: PushReceiver, sink: StateSink
) -> None:
    form = push_form(LOCK, a_record(LOCK, 31, NOW + 3000), a_record(LOCK, 30, NOW + 1000),
                     a_record(LOCK, 1, NOW + 2 * 86_400_000))
    assert (await post(http, receiver, form)).text == "success"
    await sink.wait_for(1)
    view = sink.locks[LOCK]
    assert view.door is DoorChange.OPEN and view.lock is None  # the future unlock ignored
    assert [j.verdict for j in view.judged][-1] is Verdict.FUTURE


async def test_a_failed_try_changes_nothing(
    http: httpx.AsyncClient, receiver: PushReceiver, sink: StateSink
) -> None:
    await post(http, receiver, push_form(LOCK, a_record(LOCK, 4, NOW, success=0)))
    await sink.wait_for(1)
    assert sink.locks[LOCK].lock is None and sink.locks[LOCK].battery is None


async def test_wrong_path_is_a_plain_404_without_reading_anything(
    http: httpx.AsyncClient, receiver: PushReceiver, sink: StateSink
) -> None:
    base = receiver.urls.local.rsplit("/", 1)[0]
    pages = []
    for path in ("/", "/x", f"/{SECRET[:-1]}", f"/{SECRET}/", f"/{SECRET}x", "/%00", "/é"):
        answer = await http.post(base + path, data=push_form(LOCK, a_record(LOCK, 4, NOW)))
        pages.append((answer.status_code, answer.text))
    assert set(pages) == {(404, "404: Not Found")}
    assert (await http.get(base + "/nothing")).status_code == 404
    assert sink.pushes == [] and receiver.refused["path"] == 8


async def test_anything_but_a_form_post_is_4xx(
    http: httpx.AsyncClient, receiver: PushReceiver, sink: StateSink
) -> None:
    url = receiver.urls.local
    answer = await http.get(url)
    assert answer.status_code == 405 and answer.headers["Allow"] == "POST"
    assert (await http.put(url, data={"a": "b"})).status_code == 405
    form = push_form(LOCK, a_record(LOCK, 4, NOW))
    assert (await http.post(url, json=form)).status_code == 415
    assert (await http.post(url, files={"records": b"[]"}, data=form)).status_code == 415
    assert (await http.post(url, content=b"\xff\xfe=1", headers={
        "Content-Type": "application/x-www-form-urlencoded"})).status_code == 400
    assert sink.pushes == []


async def test_a_body_over_64_kib_is_refused_before_it_is_read(
    receiver: PushReceiver, http: httpx.AsyncClient, sink: StateSink
) -> None:
    host, port = receiver.bound[0]
    path = "/" + SECRET
    reader, writer = await asyncio.open_connection(host, port)
    try:  # declares 10 MB, sends 10 bytes: the answer must come without the rest
        writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/"
                     f"x-www-form-urlencoded\r\nContent-Length: 10000000\r\n\r\n"
                     "notifyType".encode())
        await writer.drain()
        async with asyncio.timeout(5):
            status = await reader.readline()
        assert status.split()[1] == b"413"
    finally:
        writer.close()

    async def chunks() -> AsyncIterator[bytes]:  # no length declared: cut off while reading
        for _ in range(20):
            yield b"a" * 8192

    answer = await http.post(receiver.urls.local, content=chunks(), headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 413
    padding = "x" * (64 * 1024)
    big = {**push_form(LOCK, a_record(LOCK, 4, NOW)), "pad": padding}
    assert (await post(http, receiver, big)).status_code == 413
    assert sink.pushes == [] and receiver.refused["size"] == 3


@pytest.mark.parametrize(("form", "status"), [
    (push_form(LOCK), 400),  # empty records
    ({**push_form(LOCK, a_record(LOCK, 4, NOW)), "records": "[{"}, 400),
    (push_form(LOCK, a_record(OTHER, 4, NOW)), 400),  # a record of another lock
    (push_form(LOCK, a_record(LOCK, "4", NOW)), 400),
    (push_form(LOCK, a_record(LOCK, 4, NOW), admin="someone@else.com"), 403),
    (push_form(9_999_999, a_record(9_999_999, 4, NOW)), 403),  # unknown lock
    (push_form(LOCK, a_record(LOCK, 4, NOW, lockMac="AA:BB:CC:DD:EE:FF"),
               mac="AA:BB:CC:DD:EE:FF"), 403),  # a known lockId, another lock's MAC
    ({k: v for k, v in push_form(LOCK, a_record(LOCK, 4, NOW)).items()
      if k != "lockMac"}, 400),  # no lockMac: the cloud always sends it
    ({"notifyType": "1"}, 400),
])
async def test_hostile_pushes_get_4xx_no_state_no_traceback(
    http: httpx.AsyncClient, receiver: PushReceiver, sink: StateSink,
    caplog: pytest.LogCaptureFixture, form: dict[str, str], status: int,
) -> None:
    with caplog.at_level(logging.DEBUG, "hapbridge.push"):
        for _ in range(5):
            answer = await post(http, receiver, form)
            assert answer.status_code == status and answer.text != "success"
    await asyncio.sleep(0.05)
    assert sink.pushes == [] and sink.locks[LOCK].lock is None
    lines = [r for r in caplog.records if "push refused" in r.getMessage()]
    assert len(lines) == 1  # rate-limited: one line for five
    assert "Traceback" not in caplog.text and "135790" not in caplog.text


async def test_the_account_check_tolerates_a_push_without_admin(
    http: httpx.AsyncClient, receiver: PushReceiver, sink: StateSink
) -> None:
    answer = await post(http, receiver, push_form(LOCK, a_record(LOCK, 4, NOW), admin=None))
    assert answer.text == "success"
    upper = push_form(LOCK, a_record(LOCK, 11, NOW + 1), admin=ACCOUNT.upper())
    assert (await post(http, receiver, upper)).text == "success"


async def test_a_flood_of_bad_requests_leaves_valid_pushes_working(
    http: httpx.AsyncClient, receiver: PushReceiver, sink: StateSink
) -> None:
    base = receiver.urls.local.rsplit("/", 1)[0]
    bad = [http.post(f"{base}/guess{n}", content=b"x") for n in range(150)]
    bad += [http.post(receiver.urls.local, content=b"x=1", headers={
        "Content-Type": "application/x-www-form-urlencoded"}) for _ in range(50)]
    answers = await asyncio.gather(*bad)
    assert {a.status_code for a in answers} == {404, 400}
    assert (await post(http, receiver, push_form(LOCK, a_record(LOCK, 4, NOW)))).text == \
        "success"
    await sink.wait_for(1)
    assert len(sink.pushes) == 1


async def test_a_slow_sink_never_delays_the_answer(
    http: httpx.AsyncClient, make_receiver: Callable[..., Any], sink: StateSink
) -> None:
    sink.gate = asyncio.Event()  # the first accept() does not finish until released
    receiver = await make_receiver(sink, queue_size=5)
    answers = [await post(http, receiver, push_form(LOCK, a_record(LOCK, 4, NOW + n)))
               for n in range(6)]
    assert [a.text for a in answers] == ["success"] * 6  # one held, five queued
    full = await post(http, receiver, push_form(LOCK, a_record(LOCK, 4, NOW + 99)))
    assert full.status_code == 503  # the queue is bounded: refused, so the cloud may retry
    sink.gate.set()
    await sink.wait_for(6)
    assert [p.records[0].lock_date for p in sink.pushes] == [NOW + n for n in range(6)]


async def test_a_sink_that_fails_does_not_stop_the_receiver(
    http: httpx.AsyncClient, make_receiver: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Failing(StateSink):
        def accept(self, push: Any) -> None:
            super().accept(push)
            raise RuntimeError("bug in the bridge")

    sink = Failing({LOCK})
    receiver = await make_receiver(sink)
    for n in range(2):
        assert (await post(http, receiver, push_form(LOCK, a_record(LOCK, 4, NOW + n)))
                ).text == "success"
    await sink.wait_for(2)
    assert "the bridge failed to take a push" in caplog.text


class Consumer:
    """A forwarding target: records bodies; ``delay`` makes it slow."""

    def __init__(self, delay: float = 0.0) -> None:
        self.bodies: list[tuple[bytes, str]] = []
        self.delay = delay
        self.got = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        await asyncio.sleep(self.delay)
        self.bodies.append((await request.read(), request.content_type))
        self.got.set()
        return web.Response(text="ok")


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Any]]:
    runners: list[web.AppRunner] = []

    async def start(consumer: Consumer) -> str:
        app = web.Application()
        app.router.add_post("/hook/{id}", consumer.handle)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        return f"http://127.0.0.1:{runner.addresses[0][1]}/hook/abc"

    yield start
    for runner in runners:
        await runner.cleanup()


async def test_forwarding_passes_the_push_on_unchanged(
    http: httpx.AsyncClient, make_receiver: Callable[..., Any], sink: StateSink,
    serve: Callable[..., Any],
) -> None:
    consumer = Consumer()
    url = await serve(consumer)
    receiver = await make_receiver(sink, CallbackSettings(port=0, forward_to=(url,)))
    body = urlencode(push_form(LOCK, a_record(LOCK, 4, NOW))).encode()
    answer = await http.post(receiver.urls.local, content=body, headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    assert answer.text == "success"
    async with asyncio.timeout(5):
        await consumer.got.wait()
    assert consumer.bodies == [(body, "application/x-www-form-urlencoded")]
    # refused pushes are not forwarded
    await post(http, receiver, push_form(9_999_999, a_record(9_999_999, 4, NOW)))
    await asyncio.sleep(0.1)
    assert len(consumer.bodies) == 1 and receiver.forwarder.sent[url] == 1


async def test_no_log_line_shows_a_forward_targets_or_the_callbacks_path(
    http: httpx.AsyncClient, make_receiver: Callable[..., Any], sink: StateSink,
    serve: Callable[..., Any], caplog: pytest.LogCaptureFixture,
) -> None:
    """httpx logs each request's URL at INFO: the forward target's webhook id and the
    callback's secret path (what the cloud, here this test, posts to) are masked."""
    for name in ("", "httpx", "httpcore"):  # the CLI quiets the HTTP libraries without -D
        caplog.set_level(logging.DEBUG, logger=name or None)
    consumer = Consumer()
    url = await serve(consumer)
    receiver = await make_receiver(sink, CallbackSettings(port=0, forward_to=(url,)))
    assert (await post(http, receiver, push_form(LOCK, a_record(LOCK, 4, NOW)))).text == "success"
    async with asyncio.timeout(5):
        await consumer.got.wait()
    await asyncio.sleep(0.05)  # the forwarder's own log line
    target = url.rsplit("/hook/", 1)[0]
    assert f"HTTP Request: POST {target}/*** " in caplog.text  # logged, path masked
    assert "/hook/" not in caplog.text and SECRET not in caplog.text


async def test_a_slow_or_dead_target_never_delays_the_cloud(
    http: httpx.AsyncClient, make_receiver: Callable[..., Any], sink: StateSink,
    serve: Callable[..., Any], caplog: pytest.LogCaptureFixture,
) -> None:
    slow = Consumer(delay=30)
    slow_url = await serve(slow)
    fast = Consumer()
    fast_url = await serve(fast)
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens
        probe.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{probe.getsockname()[1]}/hook/x"
    forwarder = Forwarder((slow_url, dead_url, fast_url), queue_size=2,
                          timeout=httpx.Timeout(60.0, connect=1.0))
    settings = CallbackSettings(port=0, forward_to=(slow_url, dead_url, fast_url))
    receiver = await make_receiver(sink, settings, forwarder=forwarder)
    with caplog.at_level(logging.WARNING, "hapbridge.push"):
        answers = [await post(http, receiver, push_form(LOCK, a_record(LOCK, 4, NOW + n)))
                   for n in range(6)]
        assert [a.text for a in answers] == ["success"] * 6
        async with asyncio.timeout(5):
            while len(fast.bodies) < 6 or sum(forwarder.failed.values()) < 6:
                await asyncio.sleep(0.02)
    # the slow one holds one, queues two, drops three; the dead one fails each
    assert forwarder.dropped[slow_url] == 3 and forwarder.failed[dead_url] == 6
    drops = [r for r in caplog.records if "was dropped" in r.getMessage()]
    assert len(drops) == 1 and "/hook" not in caplog.text  # rate-limited; no webhook id


async def test_a_taken_port_is_one_clear_error(
    receiver: PushReceiver, sink: StateSink
) -> None:
    taken = CallbackSettings(port=receiver.bound[0][1])
    second = PushReceiver(taken, SECRET, sink)
    with pytest.raises(ReceiverError, match=r"cannot listen .* choose another callback.port"):
        await second.start()
    await second.stop()  # nothing left running, and stop is harmless
    assert second.bound == []


async def test_a_client_gone_mid_body_is_a_refusal_not_a_traceback(
    receiver: PushReceiver, sink: StateSink, caplog: pytest.LogCaptureFixture
) -> None:
    host, port = receiver.bound[0]
    with caplog.at_level(logging.WARNING):
        _reader, writer = await asyncio.open_connection(host, port)
        writer.write(f"POST /{SECRET} HTTP/1.1\r\nHost: x\r\nContent-Type: application/"
                     "x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nnotifyType=1".encode())
        await writer.drain()
        writer.close()
        async with asyncio.timeout(5):
            while not receiver.refused["broken"]:
                await asyncio.sleep(0.01)
    assert "Traceback" not in caplog.text and not caplog.records
    assert sink.pushes == []


async def test_stop_hands_over_what_was_answered_success(
    http: httpx.AsyncClient, sink: StateSink
) -> None:
    sink.gate = asyncio.Event()
    receiver = PushReceiver(LOOPBACK, SECRET, sink, account=ACCOUNT)
    await receiver.start()
    for n in range(3):
        await post(http, receiver, push_form(LOCK, a_record(LOCK, 4, NOW + n)))
    asyncio.get_running_loop().call_later(0.05, sink.gate.set)  # the sink is slow, not stuck
    await receiver.stop()
    assert len(sink.pushes) == 3
