"""What the `ballast` command loads before it needs it: not matplotlib, not ccxt, not numba.

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

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("matplotlib", "ccxt", "numba")


def loaded_after(code: str, heavy: tuple[str, ...] = HEAVY) -> list[str]:
    """Which of the `heavy` packages are imported after running `code` in a new interpreter."""
    probe = (f"{code}\nimport json, sys\n"
             f"print(json.dumps([m for m in {heavy!r} if m in sys.modules]))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, check=True)
    loaded: list[str] = json.loads(result.stdout.splitlines()[-1])
    return loaded


def test_the_cli_and_the_engine_load_without_matplotlib_ccxt_or_numba() -> None:
    assert loaded_after("import bot.cli, core.engine.wiring, bot.telegram.charts") == []


def test_drawing_a_chart_loads_matplotlib_then() -> None:
    code = ("from bot.telegram.charts import value_chart\n"
            'assert value_chart([], "USDT")[:4] == b"\\x89PNG"')
    assert loaded_after(code) == ["matplotlib"]


def test_the_cli_loads_python_telegram_bot_only_when_the_bot_runs() -> None:
    # telegram, and tornado, httpx and cryptography under it: ~0.4 s of every command's start.
    heavy = ("telegram", "tornado", "httpx")
    assert loaded_after("import bot.cli", heavy) == []
    assert loaded_after("import bot.cli.operations", heavy) == ["telegram", "tornado", "httpx"]
