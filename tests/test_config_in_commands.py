"""The config as the commands meet it: ``check`` shows the notes ``run`` logs, and a bridge
port in use is one line naming it, before anything is asked of the cloud."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hapbridge.cli.main import main
from hapbridge.config import Level, load_config
from hapbridge.errors import ConfigError
from hapbridge.simulator import SimulatorServer
from tests.bridge_helpers import LOOPBACK, start_bridge

ROOT = Path(__file__).resolve().parent.parent


def write_config(path: Path, bridge: dict[str, Any], **platform: Any) -> Path:
    block = {"platform": "TTLock", "clientid": "id", "clientsecret": "secret",
             "username": "user", "password": "pw", **platform}
    path.write_text(json.dumps({"bridge": bridge, "platforms": [block]}))
    path.chmod(0o600)  # no "readable by other users" warning
    return path


async def test_check_reports_a_misspelt_key_as_run_would(
    sim: SimulatorServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = sim.config
    config = write_config(
        tmp_path / "config.json", {"name": "Test"}, clientid=cfg.client_id,
        clientsecret=cfg.client_secret, username=cfg.username, password=cfg.password,
        baseUrl=sim.url, lowBateryThreshold=35)
    (warning,) = [note.text for note in load_config(config).notes
                  if note.level is Level.WARNING]
    code = await asyncio.to_thread(main, ["-c", str(config), "-U", str(tmp_path), "check"])
    out = capsys.readouterr().out
    assert code == 0, out  # a warning, not a failure
    assert f"WARN  config: {warning}\n" in out, out
    assert "lowBateryThreshold (did you mean lowBatteryThreshold?)" in warning
    assert "All is well (1 warning)" in out, out


@pytest.mark.parametrize("from_option", [False, True], ids=["bridge.port", "--port"])
def test_a_port_in_use_is_one_line_naming_it_before_the_login(
    tmp_path: Path, from_option: bool
) -> None:
    with socket.socket() as taken, socket.socket() as cloud:
        taken.bind((LOOPBACK, 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        cloud.bind((LOOPBACK, 0))  # a cloud that would hang the login: must not be asked
        cloud.listen(1)
        cloud.setblocking(False)
        bridge = {"name": "Busy", "bind": [LOOPBACK], "port": 51826 if from_option else port}
        config = write_config(tmp_path / "config.json", bridge,
                              baseUrl=f"http://{LOOPBACK}:{cloud.getsockname()[1]}")
        argv = ["-U", str(tmp_path / "storage"), "-c", str(config), "run"]
        if from_option:
            argv += ["--bind", LOOPBACK, "--port", str(port)]
        proc = subprocess.run([sys.executable, "-m", "hapbridge", *argv], cwd=ROOT,
                              capture_output=True, text=True, timeout=30)
        with pytest.raises(BlockingIOError):
            cloud.accept()  # nobody knocked
    source = "--port" if from_option else "bridge.port"
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        f"hapbridge: error: port {port} on {LOOPBACK} is already in use (another bridge, or "
        f"another program): choose another {source}"
    ]
    assert proc.stdout == ""


async def test_a_port_taken_after_the_early_check_is_the_same_line(
    sim: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("hapbridge.bridge.server.check_port_free", lambda *_a, **_k: None)
    with socket.socket() as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError) as info:
            await start_bridge(sim, tmp_path / "storage", port=port)
    assert str(info.value) == (f"port {port} on {LOOPBACK} is already in use (another "
                               "bridge, or another program): choose another --port")
