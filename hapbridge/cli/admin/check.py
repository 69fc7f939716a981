"""``check``: the "Test connection" button, with the fix for each problem found.

What is checked, in order (a failure of the first three stops the run):

1. the config file loads and has credentials; its notes are listed as ``run`` logs them
   (a misspelt key is a warning);
2. the server answers (network), and its HTTP ``Date`` is compared with our clock;
3. a real password login (credentials; also proves the app account exists in this region);
4. ``lock/list`` and the gateways (region: 30008; clock: 80000);
5. every gateway is online;
6. per lock, whether remote lock/unlock can work: the lock supports unlock via gateway
   (featureValue bit 10) or is a Wi-Fi lock (bit 56), and a gateway that reaches it is online.
   The app's "Remote Unlock" switch itself is not readable through the Open API: an unlock
   answering -4043 means it is off.

Warnings (low battery, weak signal, clock a little off) are printed but keep exit code 0.
"""

from __future__ import annotations

import argparse
import contextlib
import email.utils
import time
from dataclasses import asdict, dataclass
from typing import Any, Literal, cast

import httpx

from hapbridge.cli.admin.common import add_parser
from hapbridge.cli.admin.output import add_json_flag, print_json
from hapbridge.cli.admin.reach import gateway_reach
from hapbridge.cli.context import Context, shared_warning
from hapbridge.cli.setup.troubleshoot import explain, where_configured
from hapbridge.config import BridgeConfig, Level, PlatformConfig
from hapbridge.errors import HapbridgeError
from hapbridge.ttlock import TTLockClient
from hapbridge.ttlock.errors import (
    ConfigurationError,
    CredentialsError,
    ServerError,
    TransportError,
    TTLockError,
)
from hapbridge.ttlock.models import Feature, Lock, has_feature
from hapbridge.ttlock.reach import Cause, Reach

MAX_SKEW = 300.0  # the cloud answers 80000 beyond 5 minutes
WARN_SKEW = 60.0
Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class Finding:
    status: Status
    topic: str
    detail: str
    fix: str | None = None


class Stop(Exception):
    """A failure that makes the remaining checks meaningless."""


def register(subparsers: Any) -> None:
    cmd = add_parser(
        subparsers, "check", help="test the connection, like a 'Test connection' button",
        description="Test the configuration against the TTLock cloud: credentials, region, "
        "clock, locks and gateways, and per lock whether remote lock/unlock can work "
        "(a gateway that reaches it is online, the lock supports unlock via gateway). "
        "Exit code 0 only when nothing failed; each problem comes with what to fix.",
        epilog="example:\n  hapbridge -c ~/.homebridge/config.json check",
    )
    add_json_flag(cmd)
    cmd.set_defaults(handler=run_check)


class Checker:
    def __init__(self) -> None:
        self.findings: list[Finding] = []

    def add(self, status: Status, topic: str, detail: str, fix: str | None = None) -> None:
        self.findings.append(Finding(status, topic, detail, fix))

    def fail(self, topic: str, detail: str, fix: str | None = None) -> Stop:
        self.add("fail", topic, detail, fix)
        return Stop()

    @property
    def ok(self) -> bool:
        return all(f.status != "fail" for f in self.findings)


async def run_check(args: argparse.Namespace, ctx: Context) -> int:
    checker = Checker()
    with contextlib.suppress(Stop):
        await _run(checker, ctx)
    _pair_setup_attempts(checker, ctx)
    _pushes(checker, ctx)
    _report(args, checker)
    return 0 if checker.ok else 1


def _pair_setup_attempts(checker: Checker, ctx: Context) -> None:
    """Each bridge: its locks and pairing, and the wrong setup codes tried on it (at
    HomeKit's cap it refuses pair-setup, even with the right code, until reset-pairing)."""
    from hapbridge.cli.admin.bridge_status import bridge_findings

    try:
        bridge = ctx.load_config(require_credentials=False, warn_shared=False).bridge
    except HapbridgeError:
        bridge = BridgeConfig()  # the config's own finding says what is wrong
    for finding in bridge_findings(ctx.storage, bridge):
        checker.add(finding.status, finding.topic, finding.detail, finding.fix)  # type: ignore[arg-type]


async def _run(checker: Checker, ctx: Context) -> None:
    try:
        config = ctx.load_config(warn_shared=False)
    except HapbridgeError as err:
        raise checker.fail("config", str(err)) from None
    platform = config.platform
    checker.add("ok", "config", f"{ctx.config_path} (account {platform.username})")
    if shared := shared_warning(ctx.config_path):
        checker.add("warn", "config", shared)
    for note in config.notes:  # what `run` logs, misspelt keys included
        checker.add("warn" if note.level >= Level.WARNING else "ok", "config", note.text)
    skew = await _clock_skew(checker, platform.api_url)
    async with ctx.client_for(platform) as client:
        await _login(checker, client, platform)
        locks, reach = await _inventory(checker, client, platform.api_url, skew)
        threshold = platform.low_battery_threshold
        for lock in locks:
            if platform.excludes(lock.lock_id, lock.alias):
                checker.add("ok", f"lock {lock.alias} ({lock.lock_id})",
                            "left out of HomeKit (exclude): not checked")
                continue
            _check_lock(checker, lock, reach, threshold)


def _pushes(checker: Checker, ctx: Context) -> None:
    """Whether a push receiver is configured and when the last push came (no cloud call;
    said even when the cloud checks stopped early)."""
    from hapbridge.push.arrivals import push_finding

    try:
        settings = ctx.load_config(require_credentials=False, warn_shared=False).platform.callback
    except HapbridgeError:
        return  # the config finding says why
    status, detail, fix = push_finding(settings, ctx.storage)
    checker.add(cast(Status, status), "pushes", detail, fix)


async def _clock_skew(checker: Checker, url: str) -> float | None:
    """Our clock minus the server's (HTTP ``Date``, 1 s resolution); None if not told."""
    try:
        async with httpx.AsyncClient(timeout=10.0) as http:
            before = time.time()
            response = await http.get(url + "/")
            after = time.time()
    except httpx.HTTPError as err:
        raise checker.fail(
            "network", f"cannot reach {url} ({type(err).__name__})",
            "check this machine's network and DNS, and baseUrl/region in the config",
        ) from None
    checker.add("ok", "network", f"{url} answers")
    header = response.headers.get("date")
    if not header:
        return None
    try:
        server = email.utils.parsedate_to_datetime(header).timestamp()
    except (TypeError, ValueError):
        return None
    return (before + after) / 2 - server


async def _login(checker: Checker, client: TTLockClient, platform: PlatformConfig) -> None:
    try:
        await client.tokens.login()
    except CredentialsError as err:
        # the same words as init's and the README's troubleshooting table: one source
        where = where_configured(platform.region, platform.base_url, platform.api_url)
        raise checker.fail("credentials", explain(err, where)) from None
    except TTLockError as err:
        raise _classified(checker, "credentials", err) from None
    checker.add("ok", "credentials", f"logged in as {platform.username}")


def _classified(checker: Checker, topic: str, err: TTLockError) -> Stop:
    if isinstance(err, (TransportError, ServerError)):
        return checker.fail("network", str(err))  # not a verdict on the credentials
    if isinstance(err, ConfigurationError) and err.errcode == 80000:
        return checker.fail("clock", str(err))
    if isinstance(err, ConfigurationError) and err.errcode == 30008:
        return checker.fail("region", str(err))
    return checker.fail(topic, str(err))


async def _inventory(
    checker: Checker, client: TTLockClient, url: str, skew: float | None
) -> tuple[list[Lock], Reach]:
    try:
        locks = await client.list_locks()
        reach = await gateway_reach(client)
    except TTLockError as err:
        if skew is not None and err.errcode == 80000:
            raise checker.fail("clock", f"{_skew_text(skew)}: {err}") from None
        raise _classified(checker, "account", err) from None
    checker.add("ok", "region", f"{url} holds this account")
    _clock_finding(checker, skew)
    online = sum(1 for gw in reach.gateways if gw.online)
    checker.add("ok" if locks else "fail", "account",
                f"{len(locks)} locks, {len(reach.gateways)} gateways ({online} online)",
                None if locks else "add the locks in the TTLock app with this account: only "
                "locks it is the admin of are listed")
    for gateway in reach.gateways:
        if not gateway.online:
            checker.add("fail", f"gateway {gateway.name} ({gateway.gateway_id})", "offline",
                        Cause.GATEWAY_OFFLINE.advice)
    return locks, reach


def _clock_finding(checker: Checker, skew: float | None) -> None:
    if skew is None:
        checker.add("ok", "clock", "accepted by the cloud (within 5 minutes)")
        return
    text = _skew_text(skew)
    fix = "synchronise this machine's clock (enable NTP)"
    if abs(skew) >= MAX_SKEW:
        checker.add("fail", "clock", text, fix)
    elif abs(skew) > WARN_SKEW:
        checker.add("warn", "clock", f"{text} (the cloud refuses beyond 5 minutes)", fix)
    else:
        checker.add("ok", "clock", text if abs(skew) >= 2 else "in step with the cloud")


def _skew_text(skew: float) -> str:
    return f"this clock is {abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'} the cloud"


def _check_lock(checker: Checker, lock: Lock, reach: Reach, low_battery: int) -> None:
    topic = f"lock {lock.alias} ({lock.lock_id})"
    if lock.battery is not None and lock.battery < low_battery:
        checker.add("warn", topic, f"battery {lock.battery}%", "replace the batteries soon")
    if lock.is_wifi:
        checker.add("ok", topic, "Wi-Fi lock: remote control over its own Wi-Fi")
        return
    if not has_feature(lock.feature_value, Feature.GATEWAY_UNLOCK):
        checker.add("fail", topic, "does not support unlock via gateway (featureValue bit 10)",
                    "this lock model cannot be opened remotely; passcodes still work")
        return
    cause = reach.cause(lock.lock_id, wifi=False, has_gateway=lock.has_gateway)
    if cause is Cause.GATEWAY_UNLISTED:
        checker.add("warn", topic, "the cloud says a gateway reaches it, but none of this "
                    "account's gateways lists it", cause.advice)
        return
    if cause is Cause.NO_GATEWAY:
        checker.add("fail", topic, "no gateway reaches this lock: remote control impossible",
                    cause.advice)
        return
    if cause is Cause.GATEWAY_OFFLINE:
        checker.add("fail", topic, f"its gateway ({reach.names(lock.lock_id)}) is offline",
                    cause.advice)
        return
    best = reach.best(lock.lock_id)
    assert best is not None  # every other case has a cause
    gateway = best.gateway
    where = f"through {gateway.name or gateway.gateway_id}" + (
        f" ({best.rssi} dBm)" if best.rssi else "")
    if best.weak:
        checker.add("warn", topic, f"remote control ready {where}, but the signal is weak",
                    Cause.WEAK_SIGNAL.advice)
    else:
        checker.add("ok", topic, f"remote control ready {where}")


MARKS: dict[Status, str] = {"ok": "ok", "warn": "WARN", "fail": "FAIL"}


def _report(args: argparse.Namespace, checker: Checker) -> None:
    if args.json:
        print_json({"ok": checker.ok, "checks": [asdict(f) for f in checker.findings]})
        return
    for finding in checker.findings:
        print(f"{MARKS[finding.status]:<5} {finding.topic}: {finding.detail}")
        if finding.fix:
            print(f"      fix: {finding.fix}")
    fails = sum(1 for f in checker.findings if f.status == "fail")
    warns = sum(1 for f in checker.findings if f.status == "warn")
    if fails:
        print(f"\n{fails} problem{'s' if fails > 1 else ''} to fix"
              + (f", {warns} warning{'s' if warns > 1 else ''}" if warns else ""))
    else:
        print("\nAll is well" + (f" ({warns} warning{'s' if warns > 1 else ''})" if warns else "")
              + ". Note: the app's Remote Unlock switch cannot be read through the API; "
              "if unlock answers -4043, turn it on.")
