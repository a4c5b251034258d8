"""What the `ballast` command loads before it needs it: not matplotlib, not ccxt, not numba.

Every command starts at once: `ballast --help` loads typer and rich and none of Ballast's
stack, each command's `--help` none of the heavy libraries, and `ballast plan` only pydantic
and the policy. pandas, pandas-ta, matplotlib, ccxt, python-telegram-bot, joblib, Dask and
scipy load inside the commands that use them (bench/startup_bench.py times the difference).

matplotlib (~26 MB) loads when a chart is drawn, ccxt (~25 MB: its base and the one configured
exchange, see core/exchange/ccxt_loader.py) when a live exchange is built or `ballast check`
runs — so `ballast run` starts lighter and paper, demo and backtest commands never pay for ccxt.
numba (~0.2 s, 55-70 MB) loads only if a pandas-ta numba kernel runs, and none of Ballast's
indicators runs one (core/signals/lazy_numba.py).
Each case runs in a fresh interpreter: this test process has them loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from bot.cli import COMMANDS, app

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("matplotlib", "ccxt", "numba")
# What only the commands that use them may load (`arch`: the studies' volatility models).
STACK = ("numpy", "pandas", "pandas_ta", "matplotlib", "ccxt", "telegram", "joblib", "dask",
         "distributed", "scipy", "arch", "numba")


def loaded_after(code: str, heavy: tuple[str, ...] = HEAVY) -> list[str]:
    """Which of the `heavy` packages are imported after running `code` in a new interpreter."""
    probe = (f"{code}\nimport json, sys\n"
             f"print(json.dumps([m for m in {heavy!r} if m in sys.modules]))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, check=True)
    loaded: list[str] = json.loads(result.stdout.splitlines()[-1])
    return loaded


def test_the_cli_and_the_engine_load_without_matplotlib_ccxt_or_numba() -> None:
    assert loaded_after("from bot.cli import app\nimport core.engine.wiring, bot.telegram.charts"
                        ) == []


def test_drawing_a_chart_loads_matplotlib_then() -> None:
    code = ("from bot.telegram.charts import value_chart\n"
            'assert value_chart([], "USDT")[:4] == b"\\x89PNG"')
    assert loaded_after(code) == ["matplotlib"]


def test_the_cli_loads_python_telegram_bot_only_when_the_bot_runs() -> None:
    # telegram, and tornado, httpx and cryptography under it: ~0.4 s of every command's start.
    heavy = ("telegram", "tornado", "httpx")
    assert loaded_after("from bot.cli import app", heavy) == []
    assert loaded_after("import bot.cli.operations", heavy) == ["telegram", "tornado", "httpx"]


def command_paths() -> list[list[str]]:
    """Every `ballast` command as its words (`["plan"]`, `["candles", "download"]`)."""
    found: list[list[str]] = []

    def walk(command: object, words: list[str]) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands is None:
            found.append(words)
            return
        for name, sub in sorted(subcommands.items()):
            walk(sub, [*words, name])

    walk(typer.main.get_command(app), [])
    return found


def loaded_by_command(words: list[str], heavy: tuple[str, ...]) -> list[str]:
    """Which `heavy` modules `ballast WORDS…` loads, run in a new interpreter as the
    executable runs it."""
    code = (f"import sys\nsys.argv = ['ballast', *{words!r}]\nfrom bot.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass")
    probe = (f"{code}\nimport json, sys\n"
             f"print(json.dumps([m for m in {heavy!r} if m in sys.modules]))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=60, check=True)
    loaded: list[str] = json.loads(result.stdout.splitlines()[-1])
    return loaded


def test_ballast_help_loads_typer_and_rich_and_none_of_ballasts_stack() -> None:
    light = ("pydantic_settings", "asyncio", "core.config.settings", *STACK)
    assert loaded_by_command(["--help"], light) == []


@pytest.mark.parametrize("words", command_paths(), ids=" ".join)
def test_each_commands_help_loads_none_of_the_heavy_libraries(words: list[str]) -> None:
    assert loaded_by_command([*words, "--help"], STACK) == []


def test_plan_loads_the_policy_and_pydantic_only() -> None:
    words = ["plan", "--input", str(ROOT / "examples" / "seed-portfolio.json")]
    others = tuple(f"bot.cli.{module}" for name, module in COMMANDS.items() if name != "plan")
    assert loaded_by_command(words, STACK + others) == []


def test_the_help_still_lists_every_command_with_its_help() -> None:
    from typer.testing import CliRunner

    output = CliRunner().invoke(app, ["--help"]).output
    commands = getattr(typer.main.get_command(app), "commands", {})
    assert sorted(commands) == sorted(words[0] for words in command_paths())
    for name, command in commands.items():
        opening = " ".join((command.help or "").split()[:3])
        assert f"│ {name} " in output and opening in output, name
