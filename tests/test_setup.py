"""init, register and service: from nothing to a config that works and a unit that runs it,
against the simulated cloud over HTTP."""

from __future__ import annotations

import asyncio
import io
import json
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from hapbridge.cli.main import main
from hapbridge.config import load_config
from hapbridge.simulator import SimulatorServer
from hapbridge.ttlock.auth import password_md5


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def hb(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """``await hb("init", ..., stdin="pw\\n")``: the CLI on a fresh storage, in a thread."""
    for var in ("TTLOCK_CLIENT_ID", "TTLOCK_CLIENT_SECRET", "TTLOCK_USERNAME",
                "TTLOCK_PASSWORD"):
        monkeypatch.delenv(var, raising=False)

    async def run(*argv: str, stdin: str = "", storage: Path | None = None) -> Result:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        args = ["-U", str(storage or tmp_path / "storage"), *argv]
        code = await asyncio.to_thread(main, args)
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


def init_flags(sim: SimulatorServer, **override: str) -> list[str]:
    values = {"--client-id": sim.config.client_id, "--username": sim.config.username,
              "--base-url": sim.url, **override}
    return ["init", "--yes", "--password-stdin",
            *[word for flag, value in values.items() for word in (flag, value)]]


@pytest.fixture(autouse=True)
def app_secret(hb, sim: SimulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The client secret as a script passes it safely: in the environment (after ``hb``
    has cleared any TTLOCK_* of the machine running the tests)."""
    monkeypatch.setenv("TTLOCK_CLIENT_SECRET", sim.config.client_secret)


# -- init ---------------------------------------------------------------------------------


async def test_init_logs_in_and_writes_a_private_config(hb, sim: SimulatorServer,
                                                        tmp_path: Path) -> None:
    result = await hb(*init_flags(sim), stdin=f"{sim.config.password}\n")
    assert result.code == 0, result.err
    path = tmp_path / "storage" / "config.json"
    assert f"Logged in as {sim.config.username}: 5 locks." in result.out
    assert f"Wrote {path}" in result.out and "service install" in result.out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    config = load_config(path, env={})
    assert config.platform.api_url == sim.url and config.platform.username == sim.config.username
    document = json.loads(path.read_text())
    [platform] = document["platforms"]
    assert platform["password"] == password_md5(sim.config.password)  # never the plain one
    assert f'"{sim.config.password}"' not in path.read_text()
    assert set(platform) == {"platform", "name", "clientid", "clientsecret", "username",
                             "password", "baseUrl"}  # everything else at its default
    assert sim.world.calls["/oauth2/token"] == 1 and sim.world.calls["/v3/lock/list"] == 1
    # and what it wrote works: check passes on it
    assert (await hb("check")).code == 0


async def test_init_refuses_to_overwrite_without_force(hb, sim: SimulatorServer,
                                                       tmp_path: Path) -> None:
    path = tmp_path / "storage" / "config.json"
    path.parent.mkdir()
    path.write_text('{"mine": true}')
    result = await hb(*init_flags(sim), stdin=f"{sim.config.password}\n")
    assert result.code == 2 and "exists already" in result.err and "--force" in result.err
    assert path.read_text() == '{"mine": true}' and sim.world.calls["/oauth2/token"] == 0
    result = await hb(*init_flags(sim), "--force", stdin=f"{sim.config.password}\n")
    assert result.code == 0, result.err
    assert (path.parent / "config.json.bak").read_text() == '{"mine": true}'
    assert stat.S_IMODE((path.parent / "config.json.bak").stat().st_mode) == 0o600


@pytest.mark.parametrize(("override", "password", "expected"), [
    ({"--username": "someone@example.com"}, None, "not your developer-portal login"),
    ({}, "wrong", "TTLock error 10007"),
    ({"--client-id": "not-mine"}, None, "copy both from your application's page"),
])
async def test_init_wrong_credentials_one_line_with_the_fix(
    hb, sim: SimulatorServer, tmp_path: Path, override: dict[str, str], password: str | None,
    expected: str,
) -> None:
    result = await hb(*init_flags(sim, **override), stdin=f"{password or sim.config.password}\n")
    assert result.code == 2
    [line] = result.err.strip().splitlines()[-1:]
    assert line.startswith("hapbridge: error: ") and expected in line
    assert sim.config.password not in result.err and sim.config.client_secret not in result.err
    assert not (tmp_path / "storage" / "config.json").exists()


async def test_init_wrong_region_and_no_network(hb, sim: SimulatorServer,
                                                tmp_path: Path) -> None:
    sim.config.scripted_errcodes["/v3/lock/list"] = [30008]
    result = await hb(*init_flags(sim), stdin=f"{sim.config.password}\n")
    assert result.code == 2 and "lives in another region" in result.err, result.err
    assert "(TTLock error 30008)" in result.err
    url = sim.url
    await sim.stop()
    result = await hb(*init_flags(sim, **{"--base-url": url}),
                      stdin=f"{sim.config.password}\n")
    assert result.code == 1
    assert f"cannot connect to {url}: check this machine's network" in result.err
    assert not (tmp_path / "storage" / "config.json").exists()


async def test_init_with_yes_names_the_missing_flag(hb, sim: SimulatorServer) -> None:
    result = await hb("init", "--yes", "--client-id", "x", "--base-url", sim.url)
    assert result.code == 2
    assert "missing: pass --username (--yes asks nothing)" in result.err


async def test_a_secret_on_the_command_line_is_warned_about(hb, sim: SimulatorServer) -> None:
    flags = [flag for flag in init_flags(sim) if flag != "--password-stdin"]
    result = await hb(*flags, "--password", sim.config.password)
    assert result.code == 0, result.err
    assert "--password on the command line can be seen by other users" in result.err


# -- register -----------------------------------------------------------------------------


async def test_register_prints_the_prefixed_name_that_then_logs_in(
    hb, sim: SimulatorServer, tmp_path: Path
) -> None:
    result = await hb("register", "frontdesk", "--yes", "--password-stdin",
                      "--client-id", sim.config.client_id, "--base-url", sim.url,
                      stdin="desk-pass\n")
    assert result.code == 0, result.err
    prefixed = f"{sim.config.user_prefix}_frontdesk"
    assert result.out.startswith(f"Registered {prefixed}")
    assert f"From now on the account's name is {prefixed} (not frontdesk)" in result.out
    assert sim.world.users[prefixed].password_md5 == password_md5("desk-pass")
    # the name registers once
    again = await hb("register", "frontdesk", "--yes", "--password-stdin", "--client-id",
                     sim.config.client_id, "--base-url", sim.url, stdin="desk-pass\n")
    assert again.code == 2 and "already registered" in again.err and "30003" in again.err
    # the prefixed name logs in; a fresh account holds no locks, and init says so
    result = await hb(*init_flags(sim, **{"--username": prefixed}), stdin="desk-pass\n")
    assert result.code == 0, result.err
    assert f"Logged in as {prefixed}: 0 locks." in result.out
    assert "administers no locks" in result.out


async def test_register_checks_the_name_before_asking_the_cloud(
    hb, sim: SimulatorServer
) -> None:
    result = await hb("register", "front.desk", "--yes", "--client-id",
                      sim.config.client_id, "--base-url", sim.url)
    assert result.code == 2 and "only English letters and digits" in result.err
    assert sim.world.calls["/v3/user/register"] == 0


async def test_register_uses_the_existing_config(hb, sim: SimulatorServer,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    assert (await hb(*init_flags(sim), stdin=f"{sim.config.password}\n")).code == 0
    monkeypatch.delenv("TTLOCK_CLIENT_SECRET")
    result = await hb("register", "guest2", "--yes", "--password-stdin", "--json",
                      stdin="pw2\n")
    assert result.code == 0, result.err
    assert json.loads(result.out) == {"username": f"{sim.config.user_prefix}_guest2",
                                      "requested": "guest2"}
    told = await hb("register", "guest3", "--yes", "--password-stdin", stdin="pw3\n")
    # init would refuse to replace the config without --force: the hint says so
    assert told.out.rstrip().endswith(
        f"init --username {sim.config.user_prefix}_guest3 --force"), told.out


async def test_the_simulated_register_follows_the_docs(sim: SimulatorServer) -> None:
    import httpx

    from hapbridge.simulator.world import now_ms

    base = {"clientId": sim.config.client_id, "clientSecret": sim.config.client_secret,
            "date": str(now_ms())}
    async with httpx.AsyncClient(base_url=sim.url) as http:
        async def errcode(**form: str) -> object:
            answer = (await http.post("/v3/user/register", data={**base, **form})).json()
            return answer.get("errcode", answer)

        assert await errcode(username="ab", password="plain") == 30005
        assert await errcode(username="a-b", password=password_md5("x")) == 30002
        assert await errcode(username="ab", password=password_md5("x"),
                             clientSecret="no") == 10001
        assert await errcode(username="ab", password=password_md5("x"), date="1") == 80000
        assert await errcode(username="ab", password=password_md5("x")) == {
            "username": f"{sim.config.user_prefix}_ab"}


# -- service ------------------------------------------------------------------------------


@pytest.fixture
async def configured(hb, sim: SimulatorServer) -> None:
    assert (await hb(*init_flags(sim), stdin=f"{sim.config.password}\n")).code == 0


async def test_service_install_writes_a_unit_that_runs_this_bridge(
    hb, configured: None, tmp_path: Path
) -> None:
    units = tmp_path / "units"
    result = await hb("service", "install", "--platform", "linux", "--unit-dir", str(units),
                      "--run-as", os.environ.get("USER") or "root")
    assert result.code == 0, result.err
    unit = units / "hapbridge.service"
    text = unit.read_text()
    storage = tmp_path / "storage"
    program = Path(sys.executable).parent / "hapbridge"
    assert (f"ExecStart={program} -U {storage} -c {storage / 'config.json'} run"
            in text.splitlines())
    for line in ("Restart=on-failure", "RestartPreventExitStatus=2",
                 "WantedBy=multi-user.target", "After=network-online.target"):
        assert line in text.splitlines()
    assert stat.S_IMODE(unit.stat().st_mode) == 0o644
    assert f"Wrote {unit}" in result.out and "Nothing is started yet" in result.out
    assert "systemctl enable --now hapbridge" in result.out and "journalctl" in result.out
    again = await hb("service", "install", "--platform", "linux", "--unit-dir", str(units),
                     "--run-as", os.environ.get("USER") or "root")
    assert "already up to date" in again.out
    status = await hb("service", "status", "--platform", "linux", "--unit-dir", str(units))
    assert status.code == 0 and "enabled    no" in status.out


async def test_service_dry_run_writes_nothing(hb, configured: None, tmp_path: Path) -> None:
    units = tmp_path / "units"
    result = await hb("service", "install", "--user", "--dry-run", "--platform", "linux",
                      "--unit-dir", str(units))
    assert result.code == 0, result.err
    assert "WantedBy=default.target" in result.out and "User=" not in result.out
    assert "systemctl --user enable --now hapbridge" in result.out
    assert not units.exists()


async def test_service_launchd_plist(hb, configured: None, tmp_path: Path) -> None:
    import plistlib

    units = tmp_path / "agents"
    result = await hb("service", "install", "--user", "--platform", "macos",
                      "--unit-dir", str(units))
    assert result.code == 0, result.err
    job = plistlib.loads((units / "org.hapbridge.hapbridge.plist").read_bytes())
    assert job["ProgramArguments"][-5:] == ["-U", str(tmp_path / "storage"), "-c",
                                            str(tmp_path / "storage" / "config.json"), "run"]
    assert job["KeepAlive"] == {"SuccessfulExit": False} and job["RunAtLoad"] is True
    assert job["StandardErrorPath"].endswith("Library/Logs/hapbridge.log")
    assert "launchctl bootstrap gui/$(id -u)" in result.out


async def test_service_uninstall_refuses_an_enabled_or_foreign_unit(
    hb, configured: None, tmp_path: Path
) -> None:
    units = tmp_path / "units"
    common = ["--user", "--platform", "linux", "--unit-dir", str(units)]
    assert (await hb("service", "install", *common)).code == 0
    wants = units / "default.target.wants"
    wants.mkdir()
    (wants / "hapbridge.service").symlink_to(units / "hapbridge.service")
    result = await hb("service", "uninstall", *common)
    assert result.code == 2 and "systemctl --user disable --now hapbridge" in result.err
    (wants / "hapbridge.service").unlink()
    result = await hb("service", "uninstall", *common)
    assert result.code == 0 and not (units / "hapbridge.service").exists()
    assert "daemon-reload" in result.out
    (units / "hapbridge.service").write_text("[Service]\nExecStart=/bin/other\n")
    assert (await hb("service", "uninstall", *common)).code == 2
    result = await hb("service", "install", *common)
    assert result.code == 2 and "not written by hapbridge" in result.err
    assert (units / "hapbridge.service").read_text().endswith("/bin/other\n")


async def test_service_install_needs_a_config(hb, tmp_path: Path) -> None:
    result = await hb("service", "install", "--dry-run", "--platform", "linux",
                      "--unit-dir", str(tmp_path / "units"))
    assert result.code == 2
    assert "the service would not start: no config file" in result.err
    assert "init" in result.err


def test_exec_words_are_quoted_for_systemd() -> None:
    from hapbridge.service.systemd import exec_word

    assert exec_word("/home/pi/.hapbridge") == "/home/pi/.hapbridge"
    assert exec_word("/srv/my bridge") == '"/srv/my bridge"'
    assert exec_word("/srv/100%") == "/srv/100%%"
    assert exec_word('/a"b$c') == '"/a\\"b$$c"'


class Terminal(io.StringIO):
    """Typed answers, on what looks like a terminal."""

    def isatty(self) -> bool:
        return True


async def test_init_asks_and_offers_to_register(
    sim: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from hapbridge.cli.setup import asking

    monkeypatch.delenv("TTLOCK_CLIENT_SECRET")
    hidden = iter([sim.config.client_secret, "new-pass", "new-pass"])
    monkeypatch.setattr(asking.getpass, "getpass", lambda prompt: next(hidden))
    # client id, "have an account?" no, a name the cloud would refuse (asked again, not
    # the end of init), the new account's name (--base-url: no region)
    monkeypatch.setattr(sys, "stdin",
                        Terminal(f"{sim.config.client_id}\nn\nfront.desk\nfrontdesk\n"))
    storage = tmp_path / "storage"
    code = await asyncio.to_thread(main, ["-U", str(storage), "init", "--base-url", sim.url])
    out, err = capsys.readouterr()
    assert code == 0, err
    prefixed = f"{sim.config.user_prefix}_frontdesk"
    assert "not the developer-portal login" in err  # the introduction
    assert "'front.desk' cannot be registered" in err
    assert f"the account's name is {prefixed} from now on" in err
    assert f"Logged in as {prefixed}: 0 locks." in out
    config = load_config(storage / "config.json", env={})
    assert config.platform.username == prefixed
    assert config.platform.password == password_md5("new-pass")


def test_service_under_sudo_is_for_the_user_who_ran_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``sudo hapbridge service install``: ``~`` may be root's, but the bridge is the sudo
    user's, on their storage; and a --user service is refused under sudo."""
    import pwd

    user = pwd.getpwnam("nobody")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setenv("SUDO_USER", "nobody")
    monkeypatch.setenv("HOME", str(tmp_path / "root-home"))
    code = main(["service", "install", "--dry-run", "--platform", "linux"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"using {user.pw_dir}/.hapbridge, the storage of the user" in err
    assert f"no config file {user.pw_dir}/.hapbridge/config.json" in err
    code = main(["service", "install", "--user", "--dry-run", "--platform", "linux"])
    assert code == 2 and "run it without sudo" in capsys.readouterr().err


async def test_init_refuses_an_unusable_base_url_before_any_call(hb) -> None:
    result = await hb("init", "--yes", "--client-id", "x", "--username", "y",
                      "--password-stdin", "--base-url", "ftp://example", stdin="pw\n")
    assert result.code == 2
    assert "--base-url 'ftp://example' is not usable: give an http(s) URL" in result.err


def _read_terminal(controller: int, until: bytes, timeout: float) -> bytes:
    """What a child wrote to its terminal until ``until`` appears, it closed, or timeout."""
    import select
    import time

    seen = b""
    deadline = time.monotonic() + timeout
    while until not in seen and time.monotonic() < deadline:
        if select.select([controller], [], [], 0.2)[0]:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the child has gone
                break
            if not chunk:
                break
            seen += chunk
    return seen


def test_ctrl_c_at_an_init_prompt_ends_it_at_once(tmp_path: Path) -> None:
    """Asked on a terminal, Ctrl-C at the first question: exit 130 with one line, nothing
    written, and the prompt does not go on reading (no further line is typed)."""
    import pty
    import signal
    import subprocess
    import time

    controller, terminal = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TTLOCK_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hapbridge", "-U", str(tmp_path / "st"), "init"],
        stdin=terminal, stdout=subprocess.DEVNULL, stderr=terminal, env=env,
        cwd=Path(__file__).resolve().parent.parent)
    os.close(terminal)
    try:
        asked = _read_terminal(controller, b"TTLock client id: ", 20)
        assert b"TTLock client id: " in asked, asked
        time.sleep(0.2)  # at the prompt, reading
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
        said = _read_terminal(controller, b"interrupted", 5).decode()
    finally:
        os.close(controller)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, said
    assert said.strip().splitlines()[-1] == "hapbridge: interrupted", said
    assert "Traceback" not in said and "Logging in" not in said
    assert not (tmp_path / "st" / "config.json").exists()


async def test_service_status_compares_with_the_installed_user(
    hb, configured: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Installed --run-as nobody: status is up to date without --run-as (it reads User=),
    rather than sending the user to an install that would switch to another account."""
    from hapbridge.cli.setup import service

    monkeypatch.setattr(service, "_user_may", lambda *_args: True)  # tested on its own
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    units = tmp_path / "units"
    common = ["--platform", "linux", "--unit-dir", str(units)]
    assert (await hb("service", "install", *common, "--run-as", "nobody")).code == 0
    assert "User=nobody" in (units / "hapbridge.service").read_text().splitlines()
    status = await hb("service", "status", *common)
    assert status.code == 0, status.err
    assert "up to date with this storage and config" in status.out, status.out
    assert "runs as    nobody" in status.out


@pytest.mark.parametrize("name", ["my bridge", "-x", "a/b", ".hidden", "", "x" * 65, "é"])
async def test_service_names_are_unit_names(hb, configured: None, tmp_path: Path,
                                            name: str) -> None:
    result = await hb("service", "install", "--dry-run", "--platform", "linux",
                      "--unit-dir", str(tmp_path / "u"), f"--name={name}")
    assert result.code == 2 and "a service name is letters, digits and - _ . @" in result.err


async def test_service_storage_under_tmp_goes_without_private_tmp(
    hb, configured: None, tmp_path: Path
) -> None:
    """PrivateTmp=yes would give the service an empty /tmp: a new bridge at every start."""
    result = await hb("service", "install", "--dry-run", "--platform", "linux",
                      "--unit-dir", str(tmp_path / "u"), "--run-as",
                      os.environ.get("USER") or "root")
    assert result.code == 0, result.err
    assert str(tmp_path).startswith("/tmp/")
    assert "PrivateTmp" not in result.out and "ProtectSystem=full" in result.out
    assert "the unit goes without PrivateTmp" in result.err


async def test_service_launchd_says_it_restarts_after_exit_2_too(
    hb, configured: None, tmp_path: Path
) -> None:
    result = await hb("service", "install", "--user", "--platform", "macos",
                      "--unit-dir", str(tmp_path / "agents"))
    assert result.code == 0, result.err
    assert "not after exit code 2" not in result.out
    assert "also after exit code 2" in result.out


async def test_init_refuses_an_unwritable_config_before_logging_in(
    hb, sim: SimulatorServer, tmp_path: Path
) -> None:
    logins = sim.world.calls["/oauth2/token"]
    result = await hb("-c", "/proc/x.json", *init_flags(sim), stdin=f"{sim.config.password}\n",
                      storage=None)
    assert result.code == 2, result.err
    [line] = result.err.splitlines()
    assert line.startswith("hapbridge: error: cannot write in /proc: ")
    assert "disk space" not in line
    assert sim.world.calls["/oauth2/token"] == logins  # nothing asked of the cloud


async def test_init_yes_without_a_secret_names_the_safe_way(hb, sim: SimulatorServer,
                                                            monkeypatch) -> None:
    monkeypatch.delenv("TTLOCK_CLIENT_SECRET")
    result = await hb(*init_flags(sim), stdin=f"{sim.config.password}\n")
    assert result.code == 2
    assert "pass TTLOCK_CLIENT_SECRET (or --client-secret)" in result.err
