"""Benches read real candles only from `--candles DIR`, and say so when it is missing or wrong.

Each bench runs as the owner would start it, in its own process: what is checked is the
message before any measuring starts, so each run takes only the bench's imports.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CANDLE_BENCHES = ("backtest_bench", "engine_bench", "exchange_bench", "signals_bench",
                  "study_bench")


def bench(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "bench" / f"{name}.py"), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("name", CANDLE_BENCHES)
def test_a_bench_without_candles_names_the_flag_and_measures_nothing(name: str) -> None:
    result = bench(name)
    assert result.returncode == 2
    assert "--candles DIR is required" in result.stderr
    assert "nothing was measured" in result.stderr and result.stdout == ""


def test_a_candle_directory_that_does_not_exist_is_named(tmp_path: Path) -> None:
    result = bench("backtest_bench", "--candles", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert f"--candles {tmp_path / 'nowhere'}: no such directory" in result.stderr
