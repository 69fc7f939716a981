"""From a fresh venv: the built wheel installs, ``init`` writes a config against the
simulated cloud, ``check`` passes on it and ``service install`` writes a unit that runs
exactly that installation. What a user does after ``pip install hapbridge``.

Kept offline and quick (well under a minute on a slow machine):

* the wheel is built from a copy of the sources with ``pip wheel --no-deps
  --no-build-isolation`` (setuptools and wheel are test extras, so no index is asked and
  no stale ``build/`` of the working tree can slip into it);
* the fresh venv is made ``--without-pip``, and the test venv's pip installs into it
  (``pip --python``), ``--no-index``: nothing is downloaded;
* its dependencies are the test venv's installed packages, seen through a ``.pth`` file
  pointing at a directory of links to them, hapbridge itself and every ``.pth`` left out.
  pip resolves the wheel's requirements against them, so a dependency missing from
  pyproject.toml or a version out of range still fails the install, while a wheel
  that forgot a module or its package data fails the commands.
"""

from __future__ import annotations

import asyncio
import getpass
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from hapbridge.simulator import SimulatorServer

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "hapbridge", "accessories")
OWN = ("hapbridge", "accessories", "__editable__", "_hapbridge")
STEP_TIMEOUT = 120

pytestmark = pytest.mark.timeout(300)


def run(*argv: str | Path, cwd: Path, stdin: str | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "PIP_DISABLE_PIP_VERSION_CHECK": "1",
             "PIP_NO_INPUT": "1", **(env or {})}
    return subprocess.run([str(word) for word in argv], cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=STEP_TIMEOUT, env=clean,
                          check=False)


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"{done.args}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def build_wheel(tmp: Path) -> Path:
    source = tmp / "src"
    source.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy(path, source / name)
    wheels = tmp / "wheels"
    ok(run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
           "--quiet", "-w", wheels, source, cwd=tmp))
    [wheel] = wheels.glob("hapbridge-*.whl")
    return wheel


def fresh_venv(tmp: Path) -> Path:
    venv = tmp / "venv"
    ok(run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp))
    deps = tmp / "deps"
    deps.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if entry.name.startswith(OWN) or entry.suffix == ".pth":
            continue
        (deps / entry.name).symlink_to(entry)
    python = venv / "bin" / "python"
    site = ok(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                  cwd=tmp)).strip()
    Path(site, "_test_deps.pth").write_text(f"{deps}\n")
    return venv


async def test_a_fresh_install_sets_up_and_checks(sim: SimulatorServer, tmp_path: Path) -> None:
    wheel = await asyncio.to_thread(build_wheel, tmp_path)
    venv = await asyncio.to_thread(fresh_venv, tmp_path)
    python, hapbridge = venv / "bin" / "python", venv / "bin" / "hapbridge"
    await asyncio.to_thread(lambda: ok(run(
        sys.executable, "-m", "pip", "--python", python, "install", "--no-index", "--quiet",
        wheel, cwd=tmp_path)))
    where = ok(await asyncio.to_thread(
        run, python, "-c", "import hapbridge; print(hapbridge.__file__)", cwd=tmp_path))
    assert where.startswith(str(venv)), where  # the wheel's copy, not the source tree

    storage = tmp_path / "home" / ".hapbridge"
    storage.mkdir(parents=True)
    storage.chmod(0o755)  # as `mkdir -p ~/.hapbridge` leaves it

    # no config yet: the error names init and an example that was really installed
    done = await asyncio.to_thread(run, hapbridge, "-U", storage, "locks", cwd=tmp_path)
    assert done.returncode == 2 and "hapbridge -U" in done.stderr and "init'" in done.stderr
    example = done.stderr.split("start from the example ")[1].split(",")[0]
    assert example.startswith(str(venv)) and Path(example).is_file(), done.stderr

    secret = {"TTLOCK_CLIENT_SECRET": sim.config.client_secret}
    done = await asyncio.to_thread(
        run, hapbridge, "-U", storage, "init", "--yes", "--client-id", sim.config.client_id,
        "--username", sim.config.username, "--base-url", sim.url, "--password-stdin",
        cwd=tmp_path, stdin=f"{sim.config.password}\n", env=secret)
    assert "Logged in as" in ok(done)
    assert "warning" not in done.stderr.lower(), done.stderr  # the 755 dir made 700 quietly
    assert (storage.stat().st_mode & 0o777) == 0o700

    report = ok(await asyncio.to_thread(run, hapbridge, "-U", storage, "check", cwd=tmp_path))
    assert "All is well" in report

    units = tmp_path / "units"
    dry = ok(await asyncio.to_thread(
        run, hapbridge, "-U", storage, "service", "install", "--platform", "linux",
        "--dry-run", "--run-as", getpass.getuser(), cwd=tmp_path))
    # (as another user it would be refused: that user could not read this storage)
    assert f"User={getpass.getuser()}" in dry
    assert "Would write /etc/systemd/system/hapbridge.service" in dry
    ok(await asyncio.to_thread(
        run, hapbridge, "-U", storage, "service", "install", "--platform", "linux", "--user",
        "--unit-dir", units, cwd=tmp_path))
    unit = (units / "hapbridge.service").read_text().splitlines()
    assert f"ExecStart={hapbridge} -U {storage} -c {storage / 'config.json'} run" in unit
    assert "Restart=on-failure" in unit and "WantedBy=default.target" in unit
