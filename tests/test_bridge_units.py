"""Pure tests of the bridge's parts: queue, poll plan, identity, bind resolution, setup code."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from pyhap.accessory import Accessory
from pyhap.accessory_driver import AccessoryDriver

from accessories.homekit_name import homekit_name
from accessories.ttlock_lock import SECURED, UNKNOWN, UNSECURED, LockView, TTLockLock
from hapbridge.bridge import network
from hapbridge.bridge.dispatcher import Dispatcher, Mailbox
from hapbridge.bridge.identity import Identity, generate_mac, generate_pin
from hapbridge.bridge.poll_plan import MIN_STATE_INTERVAL, MONTH_SECONDS, make_plan
from hapbridge.bridge.setup_code import setup_uri
from hapbridge.config import BridgeConfig, is_trivial_pin
from hapbridge.errors import ConfigError
from hapbridge.storage import Storage, StorageError
from hapbridge.ttlock.errors import BusyError, TransportError, error_for
from hapbridge.ttlock.models import Gateway, GatewayLock
from hapbridge.ttlock.reach import Cause, Reach
from hapbridge.ttlock.retry import RetryPolicy

# -- dispatcher ---------------------------------------------------------------------------


class Recorder:
    """Jobs that take ``seconds`` and record start/end per carrier, and overlap per carrier."""

    def __init__(self, carriers: dict[int, object]) -> None:
        self.carriers = carriers  # lockId -> carrier
        self.log: list[tuple[str, object, float]] = []
        self.active: dict[object, int] = {}
        self.max_active: dict[object, int] = {}
        self.fail: dict[int, BaseException] = {}

    def job(self, lock_id: int, name: object, seconds: float = 0.05):
        async def run() -> None:
            key = self.carriers[lock_id]
            self.active[key] = self.active.get(key, 0) + 1
            self.max_active[key] = max(self.max_active.get(key, 0), self.active[key])
            self.log.append(("start", name, time.monotonic()))
            await asyncio.sleep(seconds)
            self.log.append(("end", name, time.monotonic()))
            self.active[key] -= 1
            if (err := self.fail.pop(lock_id, None)) is not None:
                raise err

        return run

    async def send(self, box: Mailbox, target: int) -> None:
        await self.job(box.lock_id, f"{box.lock_id}-{'unlock' if target else 'lock'}")()

    def started(self) -> list[object]:
        return [name for kind, name, _t in self.log if kind == "start"]

    def dispatcher(self) -> Dispatcher:
        return Dispatcher(self.carriers.get, send=self.send,
                          retry=RetryPolicy(max_retries=2, base_delay=0.05, max_delay=0.05))


async def test_dispatcher_serialises_one_gateway_and_runs_gateways_in_parallel() -> None:
    rec = Recorder({g * 10 + lock: ("gw", g) for g in (1, 2) for lock in range(4)})
    dispatcher = rec.dispatcher()
    futures = [dispatcher.poll(Mailbox(lid), rec.job(lid, lid)) for lid in rec.carriers]
    start = time.monotonic()
    assert all(await asyncio.wait_for(asyncio.gather(*futures), 5))
    elapsed = time.monotonic() - start
    assert rec.max_active == {("gw", 1): 1, ("gw", 2): 1}  # never two on one gateway
    assert elapsed < 0.05 * 4 * 1.9  # the two gateways overlapped (serial would be 8 x 0.05)
    assert [n for n in rec.started() if n < 20] == [10, 11, 12, 13]
    await dispatcher.close()


async def test_newer_wish_supersedes_a_waiting_one_in_place() -> None:
    rec = Recorder({10: "gw", 11: "gw", 12: "gw"})
    dispatcher = rec.dispatcher()
    boxes = {lid: Mailbox(lid) for lid in rec.carriers}
    first = dispatcher.wish(boxes[10], 1)
    older = dispatcher.wish(boxes[11], 1)
    other = dispatcher.wish(boxes[12], 0)
    newer = dispatcher.wish(boxes[11], 0)
    results = await asyncio.wait_for(asyncio.gather(first, older, other, newer), 5)
    assert results == [True, False, True, True]
    assert rec.started() == ["10-unlock", "11-lock", "12-lock"]  # kept 11's place
    await dispatcher.close()


async def test_commands_go_before_polls_and_polls_yield_to_commands() -> None:
    rec = Recorder(dict.fromkeys(range(1, 5), "gw"))
    dispatcher = rec.dispatcher()
    boxes = {lid: Mailbox(lid) for lid in rec.carriers}
    running = dispatcher.poll(boxes[1], rec.job(1, "poll-1"))
    await asyncio.sleep(0.01)  # poll-1 is in flight
    poll2 = dispatcher.poll(boxes[2], rec.job(2, "poll-2"))
    poll3 = dispatcher.poll(boxes[3], rec.job(3, "poll-3"))
    command3 = dispatcher.wish(boxes[3], 0)  # replaces poll-3
    command4 = dispatcher.wish(boxes[4], 0)
    dropped = dispatcher.poll(boxes[4], rec.job(4, "poll-4"))
    assert boxes[4].has_command and not boxes[2].has_command
    results = await asyncio.wait_for(
        asyncio.gather(running, poll2, poll3, command3, command4, dropped), 5)
    assert results == [True, True, False, True, True, False]
    assert rec.started() == ["poll-1", "3-lock", "4-lock", "poll-2"]
    await dispatcher.close()


async def test_a_failing_job_does_not_stop_the_gateway() -> None:
    rec = Recorder({1: "gw", 2: "gw"})
    dispatcher = rec.dispatcher()

    async def boom() -> None:
        raise RuntimeError("bad device")

    bad = dispatcher.poll(Mailbox(1), boom)
    good = dispatcher.poll(Mailbox(2), rec.job(2, "ok"))
    assert await asyncio.wait_for(asyncio.gather(bad, good), 5) == [True, True]
    assert rec.started() == ["ok"]
    await dispatcher.close()
    assert await dispatcher.poll(Mailbox(2), rec.job(2, "late")) is False  # closed for good


async def test_a_newer_wish_ends_the_retries_of_one_in_flight() -> None:
    rec = Recorder({1: "gw"})
    dispatcher = rec.dispatcher()
    box = Mailbox(1)
    rec.fail[1] = BusyError("busy")
    unlock = dispatcher.wish(box, 1)  # fails busy, then waits 0.05 s to retry
    await asyncio.sleep(0.06)
    lock = dispatcher.wish(box, 0)  # during the backoff
    assert await asyncio.wait_for(unlock, 5) is False and await lock
    assert rec.started() == ["1-unlock", "1-lock"]  # the unlock was not sent again
    await dispatcher.close()


async def test_a_route_unknown_yet_holds_the_job_until_pumped() -> None:
    carriers: dict[int, object] = {}
    rec = Recorder(carriers)
    dispatcher = rec.dispatcher()
    done = dispatcher.wish(Mailbox(1), 1)
    await asyncio.sleep(0.02)
    assert rec.started() == []
    carriers[1] = "gw"
    dispatcher.pump()
    assert await asyncio.wait_for(done, 5)
    await dispatcher.close()


# -- poll plan ----------------------------------------------------------------------------


def test_plan_matches_the_documented_example() -> None:
    plan = make_plan(12, 30_000, gateways=2)
    assert plan.list_interval == 600
    assert 28 * 60 < plan.state_interval < 34 * 60
    assert 20_000 <= plan.projected_calls <= 21_000
    text = plan.describe()
    assert re.search(r"12 locks, state every 3\d min, battery every 10 min: ~21,000", text)


@pytest.mark.parametrize("locks", [1, 5, 12, 50, 149, 400])
@pytest.mark.parametrize("budget", [5_000, 30_000, 100_000])
def test_plan_stays_within_budget_minus_command_reserve(locks: int, budget: int) -> None:
    plan = make_plan(locks, budget, gateways=3)
    assert plan.projected_calls <= budget * 0.70 + 1
    assert plan.state_interval is None or plan.state_interval >= MIN_STATE_INTERVAL


def test_plan_stretches_when_budget_is_spent_early_and_floors_state_polls() -> None:
    fresh = make_plan(12, 30_000, gateways=2)
    spent = make_plan(12, 30_000, gateways=2, used=20_000, month_left=0.5)
    assert spent.state_interval > fresh.state_interval * 1.5
    assert make_plan(1, 1_000_000).state_interval == MIN_STATE_INTERVAL
    assert make_plan(0, 30_000).state_interval is None
    # One lock/list page per 1,000 locks: 2,500 locks cost three pages a sweep.
    big = make_plan(2_500, 1_000_000)
    assert big.projected_calls >= 3 * MONTH_SECONDS / big.list_interval


# -- identity -----------------------------------------------------------------------------


def test_generated_pin_and_mac_are_valid() -> None:
    for _ in range(200):
        pin = generate_pin()
        assert re.fullmatch(r"\d{3}-\d{2}-\d{3}", pin) and not is_trivial_pin(pin)
    mac = generate_mac()
    assert re.fullmatch(r"([0-9A-F]{2}:){5}[0-9A-F]{2}", mac)
    assert int(mac[:2], 16) & 0x03 == 0x02  # locally administered, unicast


def test_identity_persists_and_never_reuses_an_aid(tmp_path: Path) -> None:
    storage = Storage(tmp_path)
    first = Identity.load(storage, BridgeConfig())
    assert first.assign([501, 502, 503, 504, 505, 506]) == {
        501: 2, 502: 3, 503: 4, 504: 5, 505: 6, 506: 8}  # 7 is skipped
    again = Identity.load(storage, BridgeConfig())
    assert (again.mac, again.pincode, again.setup_id) == (first.mac, first.pincode,
                                                          first.setup_id)
    assert again.aids == first.aids
    del again.aids[506]  # even if a lock's entry were lost, its AID is not handed out again
    again.save()
    assert Identity.load(storage, BridgeConfig()).assign([999]) == {999: 9}
    assert (tmp_path / "bridge.json").stat().st_mode & 0o777 == 0o600
    assert first.pincode not in repr(first)


def test_config_username_and_pin_win(tmp_path: Path) -> None:
    storage = Storage(tmp_path)
    Identity.load(storage, BridgeConfig())
    chosen = Identity.load(storage, BridgeConfig(username="0E:2C:44:7A:19:B3", pin="031-45-154"))
    assert (chosen.mac, chosen.pincode) == ("0E:2C:44:7A:19:B3", "031-45-154")


# -- bind resolution ----------------------------------------------------------------------


def test_bind_resolves_addresses_and_interface_names() -> None:
    assert network.resolve_bind(["127.0.0.1"]) == ["127.0.0.1"]
    assert network.resolve_bind(["lo"])[0] == "127.0.0.1"
    assert network.resolve_bind(["127.0.0.1", "lo"])[0] == "127.0.0.1"
    with pytest.raises(ConfigError, match="neither an IP address nor a network interface"):
        network.resolve_bind(["no-such-if0"])


def test_default_route_interface_from_proc(tmp_path: Path) -> None:
    route = tmp_path / "route"
    route.write_text(
        "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n"
        "wlan0\t00000000\t0102A8C0\t0003\t0\t0\t600\t00000000\n"
        "eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\n"
        "eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\n"
    )
    assert network.default_route_interface(route) == "eth0"
    assert network.default_route_interface(tmp_path / "missing") is None


def test_primary_address_never_opens_a_socket_to_the_outside(monkeypatch) -> None:
    def refuse(*_args, **_kwargs):
        raise AssertionError("no outbound connection may be made")

    monkeypatch.setattr("socket.socket.connect", refuse)
    address = network.primary_address()
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", address)


# -- setup code and accessory -------------------------------------------------------------


def test_setup_uri_matches_hap_python() -> None:
    for pin, setup_id in [("031-45-154", "ABCD"), ("995-04-142", "N40U")]:
        fake = SimpleNamespace(category=2, driver=SimpleNamespace(
            state=SimpleNamespace(pincode=pin.encode(), setup_id=setup_id)))
        assert setup_uri(pin, setup_id) == Accessory.xhm_uri(fake)


async def test_accessory_starts_unknown_and_reverts_to_the_real_state() -> None:
    driver = AccessoryDriver(loop=asyncio.get_running_loop(), address="127.0.0.1", port=1,
                             persist_file="/nonexistent/state")
    wishes: list[tuple[int, int]] = []
    lock = TTLockLock(driver, lock_id=42, name="Front Door", aid=2, serial="AA",
                      on_target=lambda lid, t: wishes.append((lid, t)))
    assert lock.current_state == UNKNOWN  # explicit, not the characteristic's minimum
    lock.render(LockView(current=SECURED, target=SECURED))
    char = lock.get_service("LockMechanism").get_characteristic("LockTargetState")
    char.client_update_value(UNSECURED)
    assert wishes == [(42, UNSECURED)] and lock.target_state == UNSECURED
    lock.render(LockView(current=SECURED, target=SECURED))  # the wish failed
    assert lock.target_state == SECURED
    lock.set_battery(12)
    battery = lock.get_service("BatteryService")
    assert battery.get_characteristic("StatusLowBattery").value == 1
    assert battery.get_characteristic("ChargingState").value == 2
    lock.render(LockView(current=SECURED, target=SECURED, available=False))
    assert not lock.available


# -- review fixes: queue holder, plan budget, identity validation, mDNS interfaces -------------


def test_over_budget_counts_what_this_month_already_used() -> None:
    assert not make_plan(12, 30_000, gateways=2).over_budget
    assert make_plan(12, 30_000, gateways=2, used=31_000, month_left=0.5).over_budget
    assert "31,000 used this month" in make_plan(12, 30_000, used=31_000).describe()


def test_startup_polls_and_rechecks_fit_the_budget() -> None:
    assert make_plan(149, 30_000, gateways=10).startup_polls == 149
    small = make_plan(149, 3_000, gateways=10)
    assert small.startup_polls == 30  # 1% of the budget per restart
    assert make_plan(149, 3_000, used=3_000).startup_polls == 0
    rechecks = MONTH_SECONDS / small.recheck_interval
    assert rechecks <= 3_000 * 0.30 * 0.05 + 1  # a share of the command reserve only


@pytest.mark.parametrize("content", ["[]", "null", "0", '""', '{"aids": []}', '{"aids": [1]}',
                                     '{"mac": 5}', '{"mac": "not a mac"}',
                                     '{"pincode": "12345678x"}', '{"aids": {"1": 2, "2": 2}}',
                                     '{"aids": {"1": 1}}', '{"next_aid": "x"}',
                                     '{"aids": {"1": "two"}}'])
def test_damaged_identity_is_an_error_never_a_new_bridge(tmp_path: Path, content: str) -> None:
    (tmp_path / "bridge.json").write_text(content)
    with pytest.raises(StorageError, match=r"bridge\.json .*(restore|backup)"):
        Identity.load(Storage(tmp_path), BridgeConfig())
    assert (tmp_path / "bridge.json").read_text() == content  # left alone


def test_failed_save_rolls_the_aids_back(tmp_path: Path, monkeypatch) -> None:
    storage = Storage(tmp_path)
    identity = Identity.load(storage, BridgeConfig())
    identity.assign([1])

    def full(*_args: object) -> None:
        raise StorageError("cannot write bridge.json: No space left on device")

    monkeypatch.setattr(storage, "write_json", full)
    with pytest.raises(StorageError):
        identity.assign([2, 3])
    assert identity.aids == {1: 2} and identity.next_aid == 3
    monkeypatch.undo()
    assert identity.assign([2]) == {2: 3}


async def test_mdns_uses_exactly_the_bound_addresses(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """An IPv6-only bind must not leave zeroconf to pick interfaces (no socket is opened):
    the one zeroconf instance all bridges share gets exactly the bound addresses."""
    from hapbridge.bridge import server as server_module
    from hapbridge.config import AppConfig, PlatformConfig

    made: list[list[str]] = []

    def fake_zeroconf(*, interfaces: list[str]) -> object:
        made.append(interfaces)
        return object()

    monkeypatch.setattr(server_module, "AsyncZeroconf", fake_zeroconf)
    server = server_module.BridgeServer(
        AppConfig(bridge=BridgeConfig(), platform=PlatformConfig(), path=None),
        Storage(tmp_path), client=None)  # type: ignore[arg-type]
    for addresses in (["::1"], ["127.0.0.1", "::1"]):
        server.addresses = addresses
        await server._open_zeroconf()
        driver = server._make_driver(Identity.load(server.storage, BridgeConfig()))  # bridge 1
        assert driver.interface_choice == addresses
    assert made == [["::1"], ["127.0.0.1", "::1"]]


@pytest.mark.parametrize(
    ("alias", "shown"),
    [
        ("Front Door", "Front Door"),
        ("Room #12 (2nd floor)", "Room 12 2nd floor"),
        ("_garage_", "garage"),
        ("🏠 Home", "Home"),
        ("Café d'Angelo - side", "Café d'Angelo - side"),
        ("客房 103", "客房 103"),
        ("!!!", "Lock 7"),
        ("x" * 80, "x" * 64),
    ],
)
def test_names_are_what_the_home_app_accepts(alias: str, shown: str) -> None:
    assert homekit_name(alias, "Lock 7") == shown


def test_bind_refuses_an_address_of_another_machine() -> None:
    with pytest.raises(ConfigError, match=r"^--bind: 192\.0\.2\.7 is not an address of this"):
        network.resolve_bind(["192.0.2.7"], source="--bind")  # TEST-NET-1: never local
    with pytest.raises(ConfigError, match=r"^--bind: 'no-such-if0' is neither"):
        network.resolve_bind(["no-such-if0"], source="--bind")
    assert network.is_local_address("127.0.0.1")


def test_bind_refuses_a_bare_link_local_address() -> None:
    with pytest.raises(ConfigError, match=r"link-local IPv6 address.*interface name"):
        network.resolve_bind(["fe80::1"], source="bridge.bind")


def test_reach_prefers_online_then_signal_and_keeps_routes_of_silent_gateways() -> None:
    def gateway(gid: int, online: bool = True) -> Gateway:
        return Gateway(gid, f"GW:{gid}", f"G{gid}", 2, 1, online, "wifi")

    gateways = [gateway(1), gateway(2), gateway(3, online=False), gateway(4), gateway(5)]
    answers: list = [
        [GatewayLock(10, "", "", -80), GatewayLock(11, "", "", None)],
        [GatewayLock(10, "", "", -60)],
        [GatewayLock(11, "", "", -40), GatewayLock(14, "", "", -90)],  # strong, but offline
        TransportError("timeout"),  # may pass: worth a retry
        error_for(-4037),  # will not
    ]
    reach = Reach.from_answers(gateways, answers)
    best = reach.best(10)
    assert best is not None and (best.gateway.gateway_id, best.rssi) == (2, -60)
    eleven = reach.best(11)
    assert eleven is not None and eleven.gateway.gateway_id == 1  # online without a reading
    assert (set(reach.failed), reach.passing) == ({4, 5}, {4}) and not reach.complete
    assert reach.carrier(12, wifi=False, previous=("gateway", 4)) == ("gateway", 4)
    assert reach.carrier(12, wifi=False, previous=("gateway", 1)) == ("lock", 12)
    assert reach.carrier(13, wifi=True, previous=None) == ("wifi", 13)
    assert reach.cause(14, wifi=False, has_gateway=True) is Cause.GATEWAY_OFFLINE
    assert reach.cause(13, wifi=False, has_gateway=False) is Cause.NO_GATEWAY
    assert reach.cause(13, wifi=False, has_gateway=True) is Cause.GATEWAY_UNLISTED
    assert reach.online(10, wifi=False, has_gateway=True) is True
    assert reach.online(13, wifi=True, has_gateway=True) is None
    assert reach.online(13, wifi=False, has_gateway=False) is False
    best14 = reach.best(14)
    assert best14 is not None and best14.weak and not best.weak


async def test_passage_wishes_share_the_lane_and_never_replace_a_lock_wish() -> None:
    rec = Recorder({1: "gw", 2: "gw"})
    sent: list[str] = []

    async def send_passage(box: Mailbox, on: bool) -> None:
        await rec.job(box.lock_id, f"{box.lock_id}-passage-{'on' if on else 'off'}")()
        sent.append(f"{box.lock_id}-{on}")

    dispatcher = Dispatcher(rec.carriers.get, send=rec.send, send_passage=send_passage,
                            retry=RetryPolicy(max_retries=2, base_delay=0.05, max_delay=0.05))
    boxes = {lid: Mailbox(lid) for lid in rec.carriers}
    running = dispatcher.wish(boxes[2], 1)  # holds the gateway
    await asyncio.sleep(0.01)
    unlock = dispatcher.wish(boxes[1], 1)
    older = dispatcher.wish_passage(boxes[1], True)
    newer = dispatcher.wish_passage(boxes[1], False)  # replaces the passage wish only
    assert boxes[1].passage_target is False and boxes[1].target == 1
    results = await asyncio.wait_for(asyncio.gather(running, unlock, older, newer), 5)
    assert results == [True, True, False, True]
    assert rec.started() == ["2-unlock", "1-unlock", "1-passage-off"]
    assert rec.max_active == {"gw": 1}  # one job at a time on the gateway, both kinds
    await dispatcher.close()


async def test_a_newer_passage_wish_ends_the_retries_of_one_in_flight() -> None:
    rec = Recorder({1: "gw"})
    settled: list[tuple[bool, bool]] = []

    async def send_passage(box: Mailbox, on: bool) -> None:
        await rec.job(box.lock_id, f"passage-{'on' if on else 'off'}")()

    dispatcher = Dispatcher(
        rec.carriers.get, send=rec.send, send_passage=send_passage,
        settled_passage=lambda box, on, err: settled.append((on, err is None)),
        retry=RetryPolicy(max_retries=2, base_delay=0.05, max_delay=0.05))
    box = Mailbox(1)
    rec.fail[1] = BusyError("busy")
    on = dispatcher.wish_passage(box, True)
    await asyncio.sleep(0.06)  # in its backoff
    off = dispatcher.wish_passage(box, False)
    assert await asyncio.wait_for(on, 5) is False and await off
    assert rec.started() == ["passage-on", "passage-off"]
    assert settled == [(True, False), (False, True)]
    await dispatcher.close()
