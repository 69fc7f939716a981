"""The bridge's commands (run --demo, pair-info, reset-pairing) and mDNS discovery."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiohomekit.controller import Controller
from zeroconf.asyncio import AsyncServiceBrowser, AsyncZeroconf

from hapbridge.bridge.identity import Identity
from hapbridge.cli.main import main
from hapbridge.config import BridgeConfig
from hapbridge.simulator import SimulatorServer
from hapbridge.storage import Storage
from tests.bridge_helpers import LOOPBACK, accessories, free_port, pair, start_bridge
from tests.process_helpers import read_until

ROOT = Path(__file__).resolve().parent.parent


def lo_has_multicast() -> bool:
    """What ``ip link show lo`` tells, read with SIOCGIFFLAGS (this network namespace)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            answer = fcntl.ioctl(sock.fileno(), 0x8913, struct.pack("256s", b"lo"))
    except OSError:
        return False
    flags = struct.unpack_from("H", answer, 16)[0]
    return bool(flags & 0x1000)  # IFF_MULTICAST


def test_pair_info_prints_code_and_qr_and_writes_svg(tmp_path: Path, capsys,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # a storage no bridge has used (a mistyped -U) gets no brand-new setup code
    assert main(["-U", str(tmp_path), "pair-info"]) == 2
    assert "no bridge has run with the storage" in capsys.readouterr().err
    assert not (tmp_path / "bridge.json").exists()
    Identity.load(Storage(tmp_path), BridgeConfig())  # as the first 'run' does
    svg = tmp_path / "qr.svg"
    assert main(["-U", str(tmp_path), "pair-info"]) == 0
    piped = capsys.readouterr().out
    identity = json.loads((tmp_path / "bridge.json").read_text())
    # not a terminal (a pipe, journald): the code and payload, no lines of escape codes
    assert identity["pincode"] in piped and "X-HM://" in piped
    assert "\x1b[" not in piped and len(piped.splitlines()) <= 3
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    assert main(["-U", str(tmp_path), "pair-info", "--svg", str(svg)]) == 0
    out = capsys.readouterr().out
    assert identity["pincode"] in out and "X-HM://" in out
    assert "\u2588" in out or "\x1b[" in out  # the terminal QR code
    assert svg.read_text().lstrip().startswith("<?xml")
    assert svg.stat().st_mode & 0o777 == 0o600  # it carries the setup code
    assert main(["-U", str(tmp_path), "pair-info"]) == 0
    assert identity["pincode"] in capsys.readouterr().out  # same code every time


async def test_reset_pairing_forgets_pairings(sim: SimulatorServer, tmp_path: Path,
                                              capsys) -> None:
    storage = tmp_path / "storage"
    server = await start_bridge(sim, storage)
    pairing = await pair(server)
    await pairing.close()
    await server.stop()
    assert json.loads((storage / "accessory.state").read_text())["paired_clients"]
    assert main(["-U", str(storage), "reset-pairing"]) == 0
    assert "Removed 1 pairing" in capsys.readouterr().out
    state = json.loads((storage / "accessory.state").read_text())
    assert all(state[key] == {} for key in ("paired_clients", "client_properties",
                                            "client_uuid_to_bytes", "accessory_states"))
    assert state["private_key"] and state["mac"]  # the bridge's own identity stays
    assert main(["-U", str(storage), "pair-info"]) == 0
    assert "X-HM://" in capsys.readouterr().out  # unpaired again: the QR code is back


def test_run_demo_prints_qr_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    port = free_port()
    config.write_text(json.dumps({"bridge": {"name": "Demo", "port": port,
                                             "bind": [LOOPBACK]}}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "hapbridge", "-U", str(tmp_path), "-c", str(config),
         "run", "--demo"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    output = ""
    try:
        output = read_until(proc, "serving")
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=15)
        output += rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "X-HM://" in output and "setup code" in output, output
    assert "serving 6 locks" in output and f"port {port}" in output, output
    assert proc.returncode == 0, output
    assert "Traceback" not in output, output


def test_ctrl_c_while_the_cloud_hangs_at_start_stops_at_once(tmp_path: Path) -> None:
    """The cloud accepts the connection and never answers: Ctrl-C must not wait out the
    start-up timeout, nor publish and advertise the bridge first."""
    with socket.socket() as silent:
        silent.bind((LOOPBACK, 0))
        silent.listen(8)
        config = tmp_path / "config.json"
        config.write_text(json.dumps({
            "bridge": {"name": "Hung", "port": free_port(), "bind": [LOOPBACK]},
            "platforms": [{"platform": "TTLock", "clientid": "id", "clientsecret": "secret",
                           "username": "user", "password": "pw",
                           "baseUrl": f"http://{LOOPBACK}:{silent.getsockname()[1]}"}],
        }))
        config.chmod(0o600)
        proc = subprocess.Popen(
            [sys.executable, "-m", "hapbridge", "-U", str(tmp_path), "-c", str(config), "run"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        try:
            time.sleep(2.0)  # well inside the 15 s the bridge waits for the cloud
            assert proc.poll() is None
            proc.send_signal(signal.SIGINT)
            output, _ = proc.communicate(timeout=10)  # before the start-up timeout ends
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, output
    assert "serving" not in output and "publishing" not in output, output
    assert "serving" not in output and "Traceback" not in output, output


@pytest.mark.skipif(not lo_has_multicast(),
                    reason="loopback has no MULTICAST flag: run 'ip link set lo multicast on' "
                    "as root to test real mDNS discovery")
async def test_controller_discovers_bridge_over_mdns(sim: SimulatorServer,
                                                     tmp_path: Path) -> None:
    server = await start_bridge(sim, tmp_path / "storage")
    zeroconf = AsyncZeroconf(interfaces=[LOOPBACK])
    browsers = [
        AsyncServiceBrowser(zeroconf.zeroconf, kind, handlers=[_ignore])
        for kind in ("_hap._tcp.local.", "_hap._udp.local.")
    ]
    controller = Controller(async_zeroconf_instance=zeroconf)
    try:
        await controller.async_start()
        assert server.driver is not None
        found = await controller.async_find(server.driver.state.mac.lower(), timeout=10)
        assert found.description.port == server.port
        assert server.identity is not None
        finish = await found.async_start_pairing("mdns")
        pairing = await finish(server.identity.pincode)
        assert len(await accessories(pairing)) == 1 + len(sim.world.locks)
        await pairing.close()
    finally:
        await controller.async_stop()
        for browser in browsers:
            await browser.async_cancel()
        await zeroconf.async_close()
        await server.stop()


def _ignore(**_kwargs: object) -> None:
    """A browser needs a handler; the controller reads the records from the shared cache."""


def test_reset_pairing_moves_a_damaged_state_file_aside(tmp_path: Path, capsys) -> None:
    (tmp_path / "accessory.state").write_text("{not json")
    assert main(["-U", str(tmp_path), "reset-pairing"]) == 0
    assert "moved it to" in capsys.readouterr().out
    assert not (tmp_path / "accessory.state").exists()
    [backup] = tmp_path.glob("accessory.state.bak-*")
    assert backup.read_text() == "{not json"  # pairing data is never deleted


@pytest.mark.parametrize("explicit", [False, True])
def test_demo_keeps_out_of_the_real_storage(tmp_path: Path, monkeypatch,
                                            explicit: bool) -> None:
    """With or without -U, the demo must not take over the real bridge's storage (and Home):
    it always lives in STORAGE/demo."""
    from hapbridge.cli import run

    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    (home / ".hapbridge").mkdir(parents=True)
    (home / ".hapbridge" / "config.json").write_text(json.dumps(  # the real bridge's
        {"bridge": {"name": "Real", "username": "0E:2C:44:7A:19:B3", "bind": [LOOPBACK]}}))
    served: list[tuple[Path, object]] = []

    async def serve(config, ctx, _args) -> None:  # type: ignore[no-untyped-def]
        served.append((ctx.storage_dir, config.bridge))

    monkeypatch.setattr(run, "_serve", serve)
    config = home / ".hapbridge" / "config.json"
    storage = ["-U", str(tmp_path / "mine"), "-c", str(config)] if explicit else []
    assert main([*storage, "run", "--demo"]) == 0
    [(storage_dir, bridge)] = served
    expected = (tmp_path / "mine" if explicit else home / ".hapbridge") / "demo"
    assert storage_dir == expected
    assert bridge.name == "Real" and not bridge.username  # never the real bridge's HomeKit id


async def test_one_bridge_per_storage_and_no_reset_while_it_runs(
    sim: SimulatorServer, tmp_path: Path, capsys
) -> None:
    from hapbridge.storage import InUseError

    storage = tmp_path / "storage"
    server = await start_bridge(sim, storage)
    try:
        with pytest.raises(InUseError, match=rf"is using {storage} \(pid {os.getpid()}\)"):
            await start_bridge(sim, storage)
        assert main(["-U", str(storage), "reset-pairing"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("hapbridge: error: a running hapbridge bridge is using")
        assert len(err.splitlines()) == 1
    finally:
        await server.stop()
    again = await start_bridge(sim, storage)  # stopped: the storage is free again
    await again.stop()
