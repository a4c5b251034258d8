"""Test-wide set-up: tests talk only to loopback stand-ins, never through a proxy, and see no
Ballast settings but their own: none from the shell's `BALLAST_*` variables, none from a `.env`
in the checkout (where the README has the owner keep their real one)."""

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.storage.store import Store

os.environ["NO_PROXY"] = "127.0.0.1,localhost"
os.environ["no_proxy"] = "127.0.0.1,localhost"
for _proxy in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_proxy, None)

for _name in [n for n in os.environ if n.startswith("BALLAST_") and n != "BALLAST_LOCK_DIR"]:
    del os.environ[_name]

# Each test session keeps its account locks (core.runtime.instance_lock) to itself: sessions running
# side by side on one machine use the stand-in's same API key.
if "BALLAST_LOCK_DIR" not in os.environ:
    import tempfile

    os.environ["BALLAST_LOCK_DIR"] = tempfile.mkdtemp(prefix="ballast-test-locks-")


@pytest.fixture(autouse=True)
def _away_from_the_checkouts_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read `.env` from the working folder: run each test in its own empty one."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def _locks_away_from_the_real_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lock's state directory is in the user's home as the system knows it (not $HOME):
    in-process tests get a home of their own instead, never the real ~/.local/state."""
    from core.runtime import instance_lock

    monkeypatch.setattr(instance_lock, "user_home", lambda: tmp_path / "home")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh SQLite database in the test's own folder, closed after the test."""
    opened = await Store.open(tmp_path / "ballast.db")
    yield opened
    await opened.close()
