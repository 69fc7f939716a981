"""While the demo runs, the admin commands work against its simulated cloud: it writes a
config for that cloud into its storage and its first lines say how."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import httpx

from tests.bridge_helpers import LOOPBACK, free_port
from tests.process_helpers import read_until

ROOT = Path(__file__).resolve().parent.parent


def test_admin_commands_work_against_the_running_demo(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"bridge": {"name": "Demo", "port": free_port(),
                                             "bind": [LOOPBACK]}}))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hapbridge", "-U", str(tmp_path), "-c", str(config),
         "run", "--demo"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    try:
        output = read_until(proc, "serving")
        demo = tmp_path / "demo"
        hint = f"-U {demo} locks"
        assert hint in output.split("serving")[0], output  # said before it serves
        listed = subprocess.run(
            [sys.executable, "-m", "hapbridge", "-U", str(demo), "locks", "--json"],
            cwd=ROOT, capture_output=True, text=True, timeout=30, env=env, check=False,
        )
        assert listed.returncode == 0, listed.stderr
        assert len(json.loads(listed.stdout)) == 6
        assert stat.S_IMODE((demo / "config.json").stat().st_mode) == 0o600
        # the demo's receiver is in that config: callback-url and check see it
        url = subprocess.run(
            [sys.executable, "-m", "hapbridge", "-U", str(demo), "callback-url", "--json"],
            cwd=ROOT, capture_output=True, text=True, timeout=30, env=env, check=False,
        )
        assert url.returncode == 0, url.stderr
        local = json.loads(url.stdout)["local"]
        assert httpx.get(local, timeout=5).status_code == 405  # the receiver, its secret path
        assert httpx.get(local + "x", timeout=5).status_code == 404
        checked = subprocess.run(
            [sys.executable, "-m", "hapbridge", "-U", str(demo), "check"],
            cwd=ROOT, capture_output=True, text=True, timeout=60, env=env, check=False,
        )
        assert "no callback receiver configured" not in checked.stdout + checked.stderr
        assert f"receiver configured at {local.rsplit('/', 1)[0]}" in checked.stdout, (
            checked.stdout)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
