"""pandas-ta imported through `core.signals.lazy_numba`: numba stays unloaded until a pandas-ta
numba kernel is called, and that kernel then computes exactly what it computes when numba was
imported with pandas-ta. Each case runs in a fresh interpreter (this one may have numba)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CANDLES = Path(__file__).parent / "fixtures" / "candles" / "binance_BTC_USDT_1h.csv.gz"

# sma (nb_sma calls nb_prepend), roc (nb_roc calls nb_idiff and nb_shift), mom: kernels that
# call other kernels, which numba compiles only when those are dispatchers too.
COMPUTE = f"""
import json, sys
from pathlib import Path
from core.market.candles import read_candle_file
close = read_candle_file(Path({str(CANDLES)!r}))["close"].reset_index(drop=True)
before = "numba" in sys.modules
values = [ta.sma(close, length=20, talib=False), ta.roc(close, length=9, talib=False),
          ta.mom(close, length=5, talib=False)]
values = [[repr(float(x)) for x in series.to_numpy()] for series in values]
"""


def run(code: str) -> object:
    """What `code` prints last, as JSON, from a new interpreter."""
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=180, check=True)
    return json.loads(result.stdout.splitlines()[-1])


def test_the_kernels_jit_on_first_call_and_compute_what_numba_does() -> None:
    lazy = run("from core.signals.indicators import ta\n" + COMPUTE + """
import numba, pandas_ta
from numba.core.dispatcher import Dispatcher
modules = sys.modules  # `pandas_ta.overlap.sma` is the function, not its module
kernels = [modules["pandas_ta.overlap.sma"].nb_sma, modules["pandas_ta.overlap.sma"].nb_prepend,
           pandas_ta.nb_prepend, modules["pandas_ta.momentum.roc"].nb_idiff]
print(json.dumps([before, hasattr(numba, "__file__"),
                  all(isinstance(k, Dispatcher) for k in kernels), values]))
""")
    plain = run("import numba, pandas_ta as ta\n" + COMPUTE + "print(json.dumps(values))")
    assert isinstance(lazy, list)
    before, real_numba, dispatchers, values = lazy
    assert before is False  # importing pandas-ta did not load numba
    assert real_numba and dispatchers  # the first kernel call did, and swapped the kernels in
    assert values == plain
    assert len(values[0]) > 600


def test_a_later_import_of_numba_is_the_real_one() -> None:
    code = """
import json, sys
import core.signals
light = "numba" not in sys.modules and "llvmlite" not in sys.modules
import numba
print(json.dumps([light, hasattr(numba, "__file__"), callable(numba.vectorize)]))
"""
    assert run(code) == [True, True, True]


def test_a_pandas_ta_that_needs_more_of_numba_still_imports(tmp_path: Path) -> None:
    """A pandas-ta release that uses more of numba than `njit` gets the real numba."""
    fake = tmp_path / "pandas_ta"
    fake.mkdir()
    (fake / "__init__.py").write_text(
        "from numba import njit, prange\nLOADED = prange is not None\n")
    code = f"""
import json, sys
sys.path.insert(0, {str(tmp_path)!r})
from core.signals.lazy_numba import import_pandas_ta
ta = import_pandas_ta()
print(json.dumps([ta.LOADED, hasattr(sys.modules["numba"], "__file__")]))
"""
    assert run(code) == [True, True]
