"""A storage or config this user may not open: one line naming the path and the user,
exit 2 (so a service manager does not restart a bridge that cannot start), no traceback.

Real subprocesses run as ``nobody`` against a root-owned 0700 storage: only root can set
that up, so elsewhere these tests are skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hapbridge.simulator import SimulatorServer
from tests.test_cli_admin import write_config

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv to run a command as another user")


def as_nobody(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TTLOCK_")}
    return subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
         sys.executable, "-m", "hapbridge", *argv],
        cwd=ROOT, capture_output=True, text=True, timeout=30, env=env,
        stdin=subprocess.DEVNULL, check=False)


@pytest.fixture
def private_storage(sim: SimulatorServer, tmp_path: Path) -> Path:
    storage = tmp_path / "st"
    storage.mkdir(mode=0o700)
    write_config(storage / "config.json", sim)
    (storage / "bridge.json").write_text("{}")
    os.chmod(tmp_path, 0o755)  # nobody may reach it, not into it
    return storage


@pytest.mark.parametrize("command", [["locks"], ["check"], ["usage"],
                                     ["passcodes", "list", "Room 101"], ["init", "--yes"],
                                     ["pair-info"], ["run", "--bind", "127.0.0.1"]])
def test_an_unreadable_storage_is_one_line_and_exit_2(private_storage: Path,
                                                      command: list[str]) -> None:
    done = as_nobody("-U", str(private_storage), *command)
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith(f"hapbridge: error: cannot use {private_storage}/"), line
    assert "Permission denied for user nobody" in line and "Traceback" not in done.stderr


async def test_service_install_refuses_a_user_who_cannot_read_the_storage(
    private_storage: Path, tmp_path: Path
) -> None:
    units = tmp_path / "units"
    done = subprocess.run(
        [sys.executable, "-m", "hapbridge", "-U", str(private_storage), "service", "install",
         "--platform", "linux", "--unit-dir", str(units), "--run-as", "nobody"],
        cwd=ROOT, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2, done.stderr
    assert (f"--run-as nobody: nobody cannot read and write {private_storage}"
            in done.stderr)
    assert f"sudo chown -R nobody {private_storage}" in done.stderr
    assert not units.exists()
