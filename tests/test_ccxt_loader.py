"""The light ccxt loader against the real packages, so a ccxt release that moves a name fails here.

`core.exchange.ccxt_loader` registers `ccxt` and `ccxt.async_support` without running their
`__init__` (which import all ~100 exchanges). These tests check, each in a fresh interpreter,
that it loads one exchange only, and that every name it gives is the very object ccxt's own
packages export: the loader's names are collected, its two light package modules dropped from
`sys.modules`, then the real packages imported; they reuse the already loaded `ccxt.base`
modules, so the same classes must come out of both.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(code: str) -> object:
    """The JSON that `code`, run in a new interpreter, prints last."""
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_building_the_live_exchange_imports_one_exchange_of_ccxt() -> None:
    code = """
import json, sys
from core.exchange.ccxt_exchange import CcxtExchange
CcxtExchange("binance")
exchanges = sorted(m for m in sys.modules
                   if m.count(".") == 2 and m.startswith("ccxt.async_support.")
                   or m.count(".") == 1 and m.startswith("ccxt.") and m != "ccxt.base")
print(json.dumps(exchanges))
"""
    assert run(code) == ["ccxt.abstract", "ccxt.async_support", "ccxt.async_support.base",
                         "ccxt.async_support.binance"]


def test_the_light_names_are_the_real_packages_objects() -> None:
    code = """
import json, sys
from core.exchange.ccxt_loader import ccxt as light, exchange_class
light_async = sys.modules["ccxt.async_support"]
assert not hasattr(light, "exchanges") and not hasattr(light_async, "binance")
binance = exchange_class("binance")
del sys.modules["ccxt"], sys.modules["ccxt.async_support"]
import ccxt, ccxt.async_support
assert ccxt is not light
problems = []
for real, mine in ((ccxt, light), (ccxt.async_support, light_async)):
    for name in sorted(set(real.__all__) - set(real.exchanges) - {"exchanges"}):
        if getattr(mine, name, None) is not getattr(real, name):
            problems.append(f"{real.__name__}.{name}")
for name in ("TRUNCATE", "ROUND", "TICK_SIZE", "DECIMAL_PLACES", "SIGNIFICANT_DIGITS",
             "NO_PADDING", "PAD_WITH_ZERO", "Precise", "OrderRouter", "__version__"):
    if getattr(light, name, None) != getattr(ccxt, name):
        problems.append(f"ccxt.{name}")
if binance is not ccxt.async_support.binance:
    problems.append("exchange_class('binance')")
for exchange_id in ccxt.exchanges:
    if exchange_class(exchange_id) is not getattr(ccxt.async_support, exchange_id):
        problems.append(f"exchange_class({exchange_id!r})")
for not_one in ("binanse", "base", "abstract", "Exchange", "exchange", "errors", "pro", "",
                "../binance", "binance.binance"):
    if exchange_class(not_one) is not None:
        problems.append(f"exchange_class({not_one!r}) is not None")
print(json.dumps(problems))
"""
    assert run(code) == []


def test_a_fully_imported_ccxt_is_used_as_it_is() -> None:
    code = """
import json, sys
import ccxt, ccxt.async_support
from core.exchange.ccxt_loader import ccxt as mine, exchange_class
print(json.dumps([mine is ccxt, exchange_class("kraken") is ccxt.async_support.kraken]))
"""
    assert run(code) == [True, True]
