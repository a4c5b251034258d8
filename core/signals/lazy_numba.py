"""pandas-ta without numba until one of its numba kernels runs.

pandas-ta 0.4 imports numba in some twenty modules only to decorate its kernels with
`@njit(cache=True)`; numba and llvmlite cost ~0.2 s to import (over 1 s where their bytecode is
not compiled) and 55-70 MB of RSS. The indicators Ballast calls (`ema`, `rma`, `stdev`; the
Bollinger SMA is `indicators.sma`) are pandas only and never run a kernel. So while pandas-ta
is imported, a stand-in `numba` module sits in `sys.modules` whose `njit` only records each
kernel (`LazyKernel`); it is gone once the import is done, so a later `import numba` is the
real one.

The first call of any recorded kernel imports numba and makes every recorded kernel what
`@njit` would have made of it — `numba.njit(*args, **options)(function)`, the same function and
options, hence the same machine code and disk cache — and puts those dispatchers in place of
the stand-ins in pandas-ta's modules, so that kernels calling kernels compile as before
(tests/test_lazy_numba.py).
"""

from __future__ import annotations

import functools
import importlib
import sys
import threading
import types
from collections.abc import Callable
from typing import Any

_KERNELS: list[LazyKernel] = []
_LOCK = threading.Lock()


class LazyKernel:
    """A function `@njit` decorated while pandas-ta was imported, jitted on its first call."""

    def __init__(
        self, function: Callable[..., Any], args: tuple[Any, ...], options: dict[str, Any]
    ) -> None:
        functools.update_wrapper(self, function)
        self.function = function
        self.args = args
        self.options = options
        self.dispatcher: Callable[..., Any] | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.dispatcher is None:
            jit_kernels()
        assert self.dispatcher is not None
        return self.dispatcher(*args, **kwargs)


def _record(*args: Any, **options: Any) -> Any:
    """The stand-in `numba.njit`: as a bare decorator or called with options, like numba's."""
    if len(args) == 1 and callable(args[0]) and not options:
        kernel = LazyKernel(args[0], (), {})
        _KERNELS.append(kernel)
        return kernel

    def decorate(function: Callable[..., Any]) -> LazyKernel:
        kernel = LazyKernel(function, args, options)
        _KERNELS.append(kernel)
        return kernel

    return decorate


def jit_kernels() -> None:
    """Import numba and turn every recorded kernel into its numba dispatcher (module docs)."""
    with _LOCK:
        pending = [kernel for kernel in _KERNELS if kernel.dispatcher is None]
        if not pending:
            return
        numba = importlib.import_module("numba")
        for kernel in pending:
            kernel.dispatcher = numba.njit(*kernel.args, **kernel.options)(kernel.function)
        # Kernels name other kernels as module globals (`from pandas_ta.utils import ...`):
        # numba compiles a call to another kernel only if that global is its dispatcher.
        for name, module in list(sys.modules.items()):
            if name != "pandas_ta" and not name.startswith("pandas_ta."):
                continue
            namespace = vars(module)
            for key, value in list(namespace.items()):
                if isinstance(value, LazyKernel) and value.dispatcher is not None:
                    namespace[key] = value.dispatcher


def import_pandas_ta() -> types.ModuleType:
    """`import pandas_ta`, with its numba kernels recorded instead of jitted (module docs).

    When numba or pandas-ta is already loaded this is a plain import.
    """
    if "pandas_ta" in sys.modules or "numba" in sys.modules:
        return importlib.import_module("pandas_ta")
    importlib.import_module("pandas")  # imported for real before the stand-in goes in
    stand_in = types.ModuleType("numba", "Stand-in while pandas-ta imports (lazy_numba).")
    stand_in.njit = _record  # type: ignore[attr-defined]
    sys.modules["numba"] = stand_in
    try:
        return importlib.import_module("pandas_ta")
    except (ImportError, AttributeError):
        # A pandas-ta that wants more of numba than `njit`: forget the half-done import and
        # import both for real, slower but correct.
        for name in [n for n in sys.modules if n == "pandas_ta" or n.startswith("pandas_ta.")]:
            del sys.modules[name]
        _KERNELS.clear()
        del sys.modules["numba"]
        return importlib.import_module("pandas_ta")
    finally:
        if sys.modules.get("numba") is stand_in:
            del sys.modules["numba"]
