"""``hapbridge callback-url`` and ``hapbridge events``, run as a user runs them."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hapbridge.cli.main import main
from hapbridge.event_log import Event, EventLog, Source


def config(tmp_path: Path, callback: Any = None, **extra: Any) -> Path:
    block: dict[str, Any] = {"platform": "TTLock", "username": "me@example.com", **extra}
    if callback is not None:
        block["callback"] = callback
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"platforms": [{"platform": "Hue"}, block]}))
    path.chmod(0o600)
    return path


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], *argv: str
        ) -> tuple[int, str, str]:
    code = main(["-c", str(tmp_path / "config.json"), "-U", str(tmp_path / "storage"), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_callback_url_local_then_public_and_the_same_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config(tmp_path, {"port": 9999})
    code, out, err = run(tmp_path, capsys, "callback-url")
    assert code == 0, err
    url = out.strip()
    assert url.startswith("http://127.0.0.1:9999/") and len(url.rsplit("/", 1)[1]) >= 22
    assert "reverse proxy" in err and "euopen.ttlock.com" in err
    secret_file = tmp_path / "storage" / "callback.json"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    config(tmp_path, {"port": 9999, "publicUrl": "https://locks.example.com"})
    code, out, _ = run(tmp_path, capsys, "callback-url", "--json")
    data = json.loads(out)
    secret = url.rsplit("/", 1)[1]
    assert data == {"local": f"http://127.0.0.1:9999/{secret}",
                    "public": f"https://locks.example.com/{secret}"}
    code, out, _ = run(tmp_path, capsys, "callback-url")
    assert out.strip() == data["public"]


@pytest.mark.parametrize(("callback", "message"), [
    (None, "no callback receiver configured"),
    ({"port": "x"}, r"platforms\[1\].callback.port must be an integer from 1 to 65535"),
    ({"bind": ["example.com"]}, r"callback.bind\[0\] must be an IP address"),
])
def test_callback_url_mistakes_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], callback: Any, message: str
) -> None:
    config(tmp_path, callback)
    code, out, err = run(tmp_path, capsys, "callback-url")
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert re.search(message, err)


def events_file(tmp_path: Path) -> EventLog:
    log = EventLog(tmp_path / "storage" / "events.jsonl")
    log.append(Event(3000001, "unlocked", Source.PUSH, "Front Door", who="Cleaner",
                     how="keypad", at=time.time() - 60, lock_time=1))
    log.append(Event(3000002, "locked", Source.HOMEKIT, "Garage", at=time.time() - 30))
    log.append(Event(3000001, "battery 64%", Source.POLL, "Front Door", at=time.time()))
    return log


def test_events_table_json_and_lock_filter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config(tmp_path)
    code, out, err = run(tmp_path, capsys, "events")
    assert code == 0 and out == "" and "no events yet" in err
    events_file(tmp_path)
    code, out, _ = run(tmp_path, capsys, "events")
    lines = out.splitlines()
    assert len(lines) == 3
    # the layout of --follow, to the second
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  Front Door  unlocked  via push  "
                        r"\(keypad, by Cleaner\)", lines[0]), lines[0]
    code, out, _ = run(tmp_path, capsys, "events", "--lock", "front door", "--json")
    data = json.loads(out)
    assert [e["change"] for e in data] == ["unlocked", "battery 64%"]
    assert data[0]["who"] == "Cleaner" and data[0]["source"] == "push"
    code, out, _ = run(tmp_path, capsys, "events", "--lock", "3000002", "--json")
    assert [e["lockName"] for e in json.loads(out)] == ["Garage"]
    code, out, _ = run(tmp_path, capsys, "events", "--limit", "1", "--json")
    assert [e["change"] for e in json.loads(out)] == ["battery 64%"]
    code, _, err = run(tmp_path, capsys, "events", "--limit", "-1")
    assert code == 2 and "--limit" in err
    code, out, err = run(tmp_path, capsys, "events", "--lock", "Nope")
    assert code == 2 and out == "" and len(err.splitlines()) == 1
    assert "no lock is called that" in err and "Front Door" in err


def test_events_follow_prints_new_events_live(tmp_path: Path) -> None:
    config(tmp_path)
    log = events_file(tmp_path)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "hapbridge", "-c", str(tmp_path / "config.json"),
         "-U", str(tmp_path / "storage"), "events", "--follow", "--json", "--limit", "1",
         "--lock", "Front Door"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        first = json.loads(process.stdout.readline())  # the last one already there
        assert first["change"] == "battery 64%"
        log.append(Event(3000002, "unlocked", Source.PUSH, "Garage"))  # filtered out
        log.append(Event(3000001, "locked", Source.AUTO_LOCK, "Front Door", how="auto-lock"))
        deadline = time.monotonic() + 10
        line = ""
        while not line and time.monotonic() < deadline:
            line = process.stdout.readline()
        followed = json.loads(line)
        assert (followed["change"], followed["source"]) == ("locked", "auto-lock")
    finally:
        process.terminate()
        process.wait(timeout=10)
