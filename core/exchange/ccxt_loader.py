"""ccxt without its ~100 exchanges: the base classes and the one exchange the bot talks to.

`import ccxt` runs `ccxt/__init__.py`, which imports every sync exchange (~50 MB of RSS), and
`import ccxt.async_support` imports every async one (~25 MB more). Python runs a package's
`__init__` before any of its submodules, so even `import ccxt.base.errors` pays for all of
them, and ccxt's packaging offers no single-exchange import (ccxt issue #29573). Ballast needs
only `ccxt.base` (errors, precision constants, the sync base class the async one extends),
`ccxt.async_support.base` and the configured exchange's module.

So this module registers the two packages, `ccxt` and `ccxt.async_support`, in `sys.modules`
as modules made from their import specs *without executing their `__init__`*: they have the
real `__path__`, so `import ccxt.base.errors` or `import ccxt.async_support.binance` then load
just those files. The `ccxt` module gets the names Ballast's code reads from it (every error
class, the precision constants, `Exchange`, `__version__`), taken from the same `ccxt.base`
modules that ccxt's own `__init__` re-exports them from, so `ccxt.BaseError` here is the very
class every exchange raises. `exchange_class` finds one exchange by id.

Every Ballast import of ccxt goes through `ccxt` and `exchange_class` here. When ccxt was
already imported the ordinary way (by another library in the same process), the full package
is used as it is. The other way round, an `import ccxt` after this module gets the light
package: it has ccxt's base names but not `ccxt.exchanges` nor `ccxt.<exchange>` (import
`ccxt.<exchange>` or `ccxt.async_support.<exchange>` as a module, or use `exchange_class`).

tests/test_ccxt_loader.py compares all of this with the real packages, so a ccxt release that
moves these names fails the tests instead of the bot.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import re
import sys
from types import ModuleType
from typing import Any

# Names the light `ccxt` module takes from `ccxt.base.decimal_to_precision` (as ccxt's own
# `__init__` does); the error classes come from `ccxt.base.errors.__all__`.
PRECISION_NAMES = ("decimal_to_precision", "TRUNCATE", "ROUND", "ROUND_UP", "ROUND_DOWN",
                   "DECIMAL_PLACES", "SIGNIFICANT_DIGITS", "TICK_SIZE", "NO_PADDING",
                   "PAD_WITH_ZERO")
_EXCHANGE_ID = re.compile(r"^[a-z][a-z0-9]*$")


def _package(name: str, search_path: list[str] | None) -> ModuleType:
    """The package `name` in `sys.modules`, registered without running its `__init__`."""
    loaded = sys.modules.get(name)
    if loaded is not None:
        return loaded
    spec = importlib.machinery.PathFinder.find_spec(name.rpartition(".")[2], search_path)
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError(f"{name} is not an installed package")
    module = importlib.util.module_from_spec(spec)  # sets __path__, __spec__; runs nothing
    sys.modules[name] = module
    return module


def _load() -> ModuleType:
    """The `ccxt` package with `ccxt.base` loaded and its names set, light unless already full."""
    if "ccxt" in sys.modules and hasattr(sys.modules["ccxt"], "exchanges"):
        return sys.modules["ccxt"]  # the full package, imported the ordinary way
    package: Any = _package("ccxt", None)
    async_package: Any = _package("ccxt.async_support", list(package.__path__))
    package.async_support = async_package
    # What ccxt's `__init__` defines before its exchange imports, in its order: the async base
    # (its `ws` subpackage) does `from ccxt import BaseError, Exchange, ...`, so these are set
    # before it is imported.
    errors = importlib.import_module("ccxt.base.errors")
    precision = importlib.import_module("ccxt.base.decimal_to_precision")
    base_exchange = importlib.import_module("ccxt.base.exchange")
    package.Exchange = base_exchange.Exchange
    package.__version__ = base_exchange.__version__
    package.Precise = importlib.import_module("ccxt.base.precise").Precise
    package.OrderRouter = importlib.import_module("ccxt.base.order_router").OrderRouter
    for name in PRECISION_NAMES:
        setattr(package, name, getattr(precision, name))
    package.errors = errors
    for name in (*errors.__all__, "error_hierarchy"):
        setattr(package, name, getattr(errors, name))
    async_exchange = importlib.import_module("ccxt.async_support.base.exchange")
    async_package.Exchange = async_exchange.Exchange
    async_package.__version__ = async_exchange.__version__
    async_package.decimal_to_precision = precision.decimal_to_precision
    async_package.errors = errors
    for name in PRECISION_NAMES[1:]:
        setattr(async_package, name, getattr(precision, name))
    for name in (*errors.__all__, "error_hierarchy"):
        setattr(async_package, name, getattr(errors, name))
    return package  # type: ignore[no-any-return]


ccxt: Any = _load()


def exchange_class(exchange_id: str) -> type[Any] | None:
    """ccxt's async exchange class for `exchange_id` ('binance'), or None when there is none.

    Imports `ccxt.async_support.<id>` alone. An id is an exchange when that module exists and
    defines a class of the same name deriving from ccxt's async `Exchange`, which is how
    ccxt's generated `__init__` lists them.
    """
    if not _EXCHANGE_ID.match(exchange_id):
        return None
    module_name = f"ccxt.async_support.{exchange_id}"
    if module_name not in sys.modules and importlib.util.find_spec(module_name) is None:
        return None
    module = importlib.import_module(module_name)
    found = getattr(module, exchange_id, None)
    base = sys.modules["ccxt.async_support.base.exchange"].Exchange
    if isinstance(found, type) and issubclass(found, base) and found is not base:
        return found
    return None
