"""One bot per account wherever it was started (issue 21 finding 1, the local part).

The account lock once lived under `$XDG_RUNTIME_DIR` or the temp directory, so a `ballast run`
from a shell never saw the lock of the systemd unit (`PrivateTmp=true`): two bots, Approve on
both, two filled sells. Now the lock lives in the state directory of the user as the system's
user database knows it, and (Linux) in an abstract socket name no environment or mount
namespace splits. Keys with whitespace are refused; the database is locked by device and inode.

Processes here are real; only the home the system's user database would give is pointed at a
folder of the test (`RUN_WITH_HOME`), so that no test writes into the real ~/.local/state.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from core.config.settings import SettingsError, load_settings
from core.runtime import instance_lock
from core.runtime.instance_lock import (
    AlreadyRunning,
    account_key,
    account_lock_path,
    one_bot_per_account,
    state_dir,
    user_home,
)
from tests.engine_support import stop_gently
from tests.standins.binance import BinanceStandIn

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT = 60.0
ACCOUNT = {"USDT": "5000", "ETH": "2.0"}
PRICES = {"ETH/USDT": "2650"}

# `ballast run`, the real command, with the home the user database gives replaced by argv[1].
RUN_WITH_HOME = """
import sys
from pathlib import Path
from core.runtime import instance_lock
home = Path(sys.argv.pop(1))
instance_lock.user_home = lambda: home
from bot.cli import app
app(prog_name="ballast")
"""

# A process that takes the locks of its settings (from its environment) and holds them.
HOLD_WITH_HOME = """
import sys, time
from pathlib import Path
from core.runtime import instance_lock
instance_lock.user_home = lambda: Path(sys.argv[1])
from core.config.settings import load_settings
try:
    with instance_lock.one_bot_per_account(load_settings()):
        print("held", flush=True)
        time.sleep(120)
except instance_lock.AlreadyRunning as refused:
    print(f"refused: {refused}", flush=True)
    sys.exit(3)
"""


def shell_environment(**changes: str) -> dict[str, str]:
    """This environment without the test session's lock folder, with `changes`."""
    env = {name: value for name, value in os.environ.items() if name != "BALLAST_LOCK_DIR"}
    return {**env, "PYTHONPATH": str(REPO), **changes}


def test_the_state_directory_comes_from_the_user_database_not_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.undo()  # the real lookup, not the test-wide stand-in home
    import pwd

    home = Path(pwd.getpwuid(os.getuid()).pw_dir)
    for name, value in (("HOME", "/elsewhere"), ("XDG_STATE_HOME", "/elsewhere/state"),
                        ("XDG_RUNTIME_DIR", "/run/user/4242"), ("TMPDIR", "/var/tmp/x"),
                        ("STATE_DIRECTORY", "/var/lib/other")):
        monkeypatch.setenv(name, value)
    assert user_home() == home
    assert state_dir() == home / ".local" / "state" / "ballast"


def test_a_unit_and_a_shell_of_one_user_find_the_same_account_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What systemd (PrivateTmp, StateDirectory) and a login shell set changes no lock path."""
    keys: dict[str, Any] = {"mode": "live", "exchange_api_key": "k3y-unit-shell",
                            "exchange_api_secret": "s"}
    unit = {"TMPDIR": str(tmp_path / "private-tmp"), "STATE_DIRECTORY": "/var/lib/ballast",
            "HOME": "/var/lib/ballast", "XDG_RUNTIME_DIR": ""}
    shell = {"TMPDIR": "/tmp", "HOME": "/root", "XDG_RUNTIME_DIR": str(tmp_path / "run"),
             "XDG_STATE_HOME": str(tmp_path / "state")}
    paths = []
    for env in (unit, shell):
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        (tmp_path / "run").mkdir(exist_ok=True)
        paths.append(account_lock_path(load_settings(env={}, **keys)))
        for name in env:
            monkeypatch.delenv(name)
    assert paths[0] == paths[1] == (tmp_path / "home" / ".local" / "state" / "ballast"
                                    / f"{account_key('binance', 'k3y-unit-shell')}.lock")


async def test_a_second_ballast_run_under_other_temp_dirs_and_homes_refuses_naming_the_first(
    tmp_path: Path,
) -> None:
    """Issue 21's reproduction on the real command: two `ballast run` on one account, one as
    systemd starts it, one from a shell with other TMPDIR, XDG_RUNTIME_DIR, HOME."""
    key = f"k3y-{secrets.token_hex(6)}"  # no other test session shares this account
    home = tmp_path / "home"
    async with BinanceStandIn(api_key=key, balances=ACCOUNT, prices=PRICES) as binance:
        base = {"BALLAST_MODE": "live", "BALLAST_EXCHANGE_API_KEY": key,
                "BALLAST_EXCHANGE_API_SECRET": binance.api_secret,
                "BALLAST_EXCHANGE_API_URL": binance.url, "BALLAST_WATCHLIST": "ETH",
                "BALLAST_LOG_FILE": "", "BALLAST_BACKUP_DIR": "", "COLUMNS": "400"}
        (tmp_path / "unit-tmp").mkdir()
        (tmp_path / "run").mkdir()
        service = shell_environment(**base, BALLAST_DB=str(tmp_path / "service.db"),
                                    TMPDIR=str(tmp_path / "unit-tmp"), HOME=str(home),
                                    STATE_DIRECTORY=str(tmp_path / "state"))
        service.pop("XDG_RUNTIME_DIR", None)
        cron = shell_environment(**base, BALLAST_DB=str(tmp_path / "cron.db"), TMPDIR="/tmp",
                                 HOME=str(tmp_path), XDG_RUNTIME_DIR=str(tmp_path / "run"),
                                 XDG_STATE_HOME=str(tmp_path / "xdg"))
        first = await asyncio.create_subprocess_exec(
            sys.executable, "-c", RUN_WITH_HOME, str(home), "run", cwd=tmp_path, env=service,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        try:
            assert first.stdout is not None
            line = await asyncio.wait_for(first.stdout.readline(), START_TIMEOUT)
            assert b"ballast running" in line, line
            second = await asyncio.create_subprocess_exec(
                sys.executable, "-c", RUN_WITH_HOME, str(home), "run", cwd=tmp_path, env=cron,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE)
            out, err = await asyncio.wait_for(second.communicate(), START_TIMEOUT)
            said = " ".join((out + err).decode().split())
            assert second.returncode not in (0, None), said
            assert "already running on the same binance account" in said
            assert f"pid {first.pid}" in said and "service.db" in said
            assert binance.count("POST /api/v3/order") == 0
            assert not (tmp_path / "cron.db").exists(), "refused before opening its database"
        finally:
            await stop_gently(first)


@pytest.mark.skipif(not instance_lock.ABSTRACT_SOCKETS, reason="abstract sockets are Linux's")
def test_another_user_or_lock_folder_still_meets_the_account_lock_in_the_kernel(
    tmp_path: Path,
) -> None:
    """Two homes (root in a shell beside the `ballast` service user): the lock files differ,
    the abstract socket name does not, and the kernel names the holder."""
    key = f"k3y-{secrets.token_hex(6)}"
    env = shell_environment(BALLAST_MODE="live", BALLAST_EXCHANGE_API_KEY=key,
                            BALLAST_EXCHANGE_API_SECRET="s")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_WITH_HOME, str(tmp_path / "service-home")], cwd=REPO,
        env={**env, "BALLAST_DB": str(tmp_path / "a.db"), "TMPDIR": str(tmp_path)},
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        second = subprocess.run(
            [sys.executable, "-c", HOLD_WITH_HOME, str(tmp_path / "root-home")], cwd=REPO,
            env={**env, "BALLAST_DB": str(tmp_path / "b.db")}, capture_output=True, text=True,
            timeout=START_TIMEOUT, check=False)
        assert second.returncode == 3, second.stdout + second.stderr
        assert "already running on the same binance account" in second.stdout
        assert f"pid {holder.pid}" in second.stdout
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The kernel freed the name with the process: a restart takes it at once.
    again = subprocess.Popen(
        [sys.executable, "-c", HOLD_WITH_HOME, str(tmp_path / "root-home")], cwd=REPO,
        env={**env, "BALLAST_DB": str(tmp_path / "b.db")}, stdout=subprocess.PIPE, text=True)
    try:
        assert again.stdout is not None
        assert again.stdout.readline().strip() == "held"
    finally:
        again.send_signal(signal.SIGKILL)
        again.wait()


@pytest.mark.parametrize("key", ["k3y-abc ", " k3y-abc", "k3y-abc\n", "k3y\tabc", "k3y abc"])
def test_an_api_key_with_whitespace_is_refused_without_showing_it(key: str) -> None:
    for name in ("BALLAST_EXCHANGE_API_KEY", "BALLAST_EXCHANGE_API_SECRET"):
        with pytest.raises(SettingsError) as refused:
            load_settings(env={"BALLAST_MODE": "live", "BALLAST_EXCHANGE_API_KEY": "k3y-ok",
                               "BALLAST_EXCHANGE_API_SECRET": "s3cret-ok", name: key})
        said = str(refused.value)
        assert name in said and "space, tab or line break" in said
        assert "k3y" not in said and "abc" not in said, "never shows the value"


async def test_a_hard_link_or_a_symlink_to_the_database_meets_the_same_lock(
    tmp_path: Path,
) -> None:
    from core.storage.store import Store

    database = tmp_path / "a" / "ballast.db"
    database.parent.mkdir()
    await (await Store.open(database)).close()
    (tmp_path / "b").mkdir()
    linked = tmp_path / "b" / "other-name.db"
    os.link(database, linked)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "ballast.db").symlink_to(database)
    with one_bot_per_account(load_settings(env={}, db=str(database))):
        for other in (linked, tmp_path / "c" / "ballast.db"):
            with pytest.raises(AlreadyRunning) as refused, \
                    one_bot_per_account(load_settings(env={}, db=str(other))):
                pass
            assert f"pid {os.getpid()}" in str(refused.value)
    with one_bot_per_account(load_settings(env={}, db=str(linked))):  # released with the first
        pass


def test_the_unit_keeps_its_locks_where_a_shell_of_its_user_finds_them() -> None:
    """The unit's data directory is the `ballast` user's home (as the guide creates it), made
    by `StateDirectory=`; nothing in the unit moves the locks elsewhere."""
    unit = (REPO / "deploy" / "ballast.service").read_text()
    settings = dict(line.split("=", 1) for line in unit.splitlines()
                    if "=" in line and not line.startswith("#"))
    assert settings["StateDirectory"] == "ballast"
    assert settings["WorkingDirectory"] == "/var/lib/ballast"
    assert "PrivateNetwork" not in settings and "RestrictAddressFamilies" not in settings
    assert "BALLAST_LOCK_DIR" not in unit.replace("Set no BALLAST_LOCK_DIR", "")
    guide = (REPO / "docs" / "deploy.md").read_text()
    assert "useradd --system --home-dir /var/lib/ballast" in guide
