"""The command line's conventions: help texts that are right, one exit code per kind of error,
and no noise on each start."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.cli.run import mode_words
from core.config.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = ["run", "demo", "backtest", "portfolio", "plan", "check", "signals", "study", "backup"]


def help_of(command: str) -> str:
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return " ".join(result.stdout.split())


@pytest.mark.parametrize("command", COMMANDS)
def test_flags_show_no_value_type(command: str) -> None:
    text = help_of(command)
    assert "--help" in text and "<bool>" not in text


def test_help_texts_say_what_happens() -> None:
    assert "orders fill at the next candle's open" in help_of("backtest")
    run = help_of("run")
    assert "approve at the terminal" not in run and "Telegram" in run


def test_paper_mode_is_named_once_with_the_prices_it_uses() -> None:
    assert mode_words(load_settings(env={})) == "paper mode (binance prices, simulated fills)"
    live = load_settings(env={"BALLAST_MODE": "live"})
    assert mode_words(live) == "live mode on binance"


def _ballast(args: list[str], cwd: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("ballast")
    command = [str(script)] if script.exists() else [
        sys.executable, "-c", "from bot.cli import app; app()"]
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("BALLAST_")}
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=120,
                          check=False, cwd=cwd, env={**env, **variables})


def test_an_unknown_exchange_exits_1_from_every_command(tmp_path: Path) -> None:
    """`check` reports it as a problem (exit 1, tested with the check command); `portfolio`
    and `run` fail on it with the same code."""
    for command in ("portfolio", "run"):
        done = _ballast([command], tmp_path, BALLAST_EXCHANGE="binanse")
        assert done.returncode == 1, (command, done.stderr)
        assert "BALLAST_EXCHANGE = 'binanse'" in " ".join(done.stderr.split())
    assert not (tmp_path / "ballast.log").exists()


def test_uv_does_not_recompile_the_environment_on_every_run() -> None:
    """`compile-bytecode = true` makes each `uv run` print "Bytecode compiled N files"."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert config["tool"]["uv"].get("compile-bytecode", False) is False
