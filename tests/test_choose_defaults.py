"""bench/choose_defaults.py: the arithmetic of docs/decisions.md's criteria on hand-made reports,
worked by hand."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "choose_defaults.py"


@pytest.fixture(scope="module")
def chooser() -> ModuleType:
    spec = importlib.util.spec_from_file_location("choose_defaults", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["choose_defaults"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def fold(year: int, *, ret: float, sharpe: float, dd: float, cash: float, hold_ret: float,
         hold_sharpe: float, hold_dd: float, trades: float = 20,
         fees: float = 10.0) -> dict[str, Any]:
    """One cell: a year's fold starting at 10,000."""
    return {"from": f"{year}-01-01T00:00:00Z", "to": f"{year + 1}-01-01T00:00:00Z",
            "ballast": {"final_value": 10_000 * (1 + ret), "total_return": ret, "sharpe": sharpe,
                        "max_drawdown": dd, "avg_cash": cash, "trades": trades,
                        "fees_paid": fees},
            "hodl": {"total_return": hold_ret, "sharpe": hold_sharpe, "max_drawdown": hold_dd}}


FALLING = {"hold_ret": -0.40, "hold_sharpe": -0.5, "hold_dd": -0.60}
RISING = {"hold_ret": 0.50, "hold_sharpe": 1.0, "hold_dd": -0.30}


def test_margins_of_a_falling_and_a_rising_cell(chooser: ModuleType) -> None:
    falling = chooser.margins(fold(2022, ret=-0.25, sharpe=-0.6, dd=-0.42, cash=0.3, **FALLING))
    assert falling == pytest.approx({"drawdown": 0.75 - 0.7, "falling_return": 0.15,
                                     "same_cash": -0.25 - (0.7 * -0.40 - 0.02)})
    rising = chooser.margins(fold(2023, ret=0.30, sharpe=1.2, dd=-0.24, cash=0.3, **RISING))
    assert rising == pytest.approx({"drawdown": 0.75 - 0.8, "rising_sharpe": 0.2,
                                    "same_cash": 0.30 - (0.7 * 0.50 - 0.02)})


def test_fee_and_trade_limits_are_hard(chooser: ModuleType) -> None:
    assert chooser.breaches(fold(2022, ret=0.0, sharpe=0, dd=-0.1, cash=0.3, trades=250,
                                 fees=150.0, **FALLING)) == ["fees", "trades"]
    assert chooser.breaches(fold(2022, ret=0.0, sharpe=0, dd=-0.1, cash=0.3, **FALLING)) == []


def config(name: str, folds: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": name, "settings": {}, "folds": folds}


def reports() -> list[dict[str, Any]]:
    """Two portfolios (an example and a basket), two cells each, four configurations:
    `steady` misses the drawdown line narrowly in every cell and holds the other limbs with
    room; `lucky` passes everything in the seed's two cells and misses badly in the basket's;
    `churn` is best but over the trade limit once; `today` passes no limb at the median."""
    steady = [fold(2022, ret=-0.20, sharpe=-0.5, dd=-0.46, cash=0.35, **FALLING),
              fold(2023, ret=0.40, sharpe=1.1, dd=-0.235, cash=0.35, **RISING)]
    lucky = [fold(2022, ret=0.05, sharpe=0.3, dd=-0.10, cash=0.3, **FALLING),
             fold(2023, ret=0.50, sharpe=1.5, dd=-0.15, cash=0.3, **RISING)]
    unlucky = [fold(2022, ret=-0.60, sharpe=-0.9, dd=-0.70, cash=0.3, **FALLING),
               fold(2023, ret=0.05, sharpe=0.2, dd=-0.35, cash=0.3, **RISING)]
    churn = [fold(2022, ret=0.10, sharpe=0.8, dd=-0.05, cash=0.3, trades=300, **FALLING),
             fold(2023, ret=0.60, sharpe=2.0, dd=-0.10, cash=0.3, **RISING)]
    today = [fold(2022, ret=-0.45, sharpe=-0.6, dd=-0.58, cash=0.3, **FALLING),
             fold(2023, ret=0.20, sharpe=0.7, dd=-0.29, cash=0.3, **RISING)]
    seed = {"portfolio": "seed", "configs": [config("steady", steady), config("lucky", lucky),
                                             config("churn", churn), config("today", today)],
            "spa": {"vs_hodl": 0.04, "vs_same_cash": 0.3}, "pbo": 0.2, "deflated_sharpe": 0.9}
    basket = {**seed, "portfolio": "basket-7-1",
              "configs": [config("steady", steady), config("lucky", unlucky),
                          config("churn", churn), config("today", today)]}
    return [{**seed, "portfolios": [seed, basket]}]


def test_round3_ranks_by_median_margins_not_by_lucky_cells(chooser: ModuleType) -> None:
    ranked = chooser.rank_round3(chooser.tally(reports()))
    assert [t.name for t in ranked] == ["steady", "lucky", "today", "churn"]
    steady, lucky = ranked[0], ranked[1]
    assert (steady.cells, steady.passed, steady.limbs_held) == (4, 0, 3)
    assert steady.median("drawdown") == pytest.approx((0.75 - 0.46 / 0.6 + 0.75 - 0.235 / 0.3) / 2)
    assert (lucky.passed, lucky.limbs_held) == (2, 1)
    assert lucky.median("same_cash") == pytest.approx((0.5 - 0.33 + 0.05 - 0.33) / 2)
    assert ranked[-1].over_limits == ["seed 2022 trades", "basket-7-1 2022 trades"]


def test_round2_counts_whole_passes_first(chooser: ModuleType) -> None:
    """The earlier rounds' criterion picks the lucky configuration: why round 3 changed it."""
    ranked = chooser.rank_round2(chooser.tally(reports()))
    assert [t.name for t in ranked] == ["lucky", "steady", "today", "churn"]


def test_the_script_prints_the_choice_against_todays_defaults(
        chooser: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "study.json"
    path.write_text(json.dumps(reports()[0]))
    assert chooser.main([str(path), "--today", "today"]) == 0
    out = capsys.readouterr().out
    assert "4 configurations, 2 portfolios, 4 cells each" in out
    assert "cells passing the whole bar: chosen 0/4, today's defaults 0/4" in out
    assert " 3/4 " in out.splitlines()[2] and out.splitlines()[2].endswith("steady")
    assert "basket-7-1: PBO 0.2, deflated Sharpe 0.9, SPA p vs holding 0.04" in out
