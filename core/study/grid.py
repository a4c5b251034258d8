"""A study's grid: setting names mapped to lists of values; every combination is a config.

Pure: the grid file's parsed contents in, configurations out. Whether a value is a valid
setting is checked where settings are built (`core.config.settings.load_settings`), with the
grid key named in the error.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULTS_NAME = "defaults"


@dataclass(frozen=True, slots=True)
class Config:
    """One configuration of the grid: its name (`k=v,k=v`) and its setting overrides."""

    name: str
    settings: Mapping[str, Any]


def format_value(value: Any) -> str:
    """A setting value as it appears in a config name (`true`, `0.25`, `rsi+macd`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "+".join(format_value(v) for v in value)
    return str(value)


def config_name(settings: Mapping[str, Any]) -> str:
    """`k=v,k=v` in the grid's key order; the empty config is called `defaults`."""
    if not settings:
        return DEFAULTS_NAME
    return ",".join(f"{key}={format_value(value)}" for key, value in settings.items())


def expand_grid(grid: Mapping[str, Any], known: set[str] | frozenset[str]) -> list[Config]:
    """The cartesian product of the grid's value lists, in the file's order.

    `known` holds the setting names that exist; a key outside it, or a key whose value is not
    a non-empty list, is a `ValueError` naming the key. An empty grid is the defaults alone.
    """
    for key, values in grid.items():
        if key not in known:
            raise ValueError(f"grid key {key!r} is not a setting Ballast knows")
        if not isinstance(values, list) or not values:
            raise ValueError(f"grid key {key!r}: give a non-empty list of values, "
                             f"e.g. {key} = [{format_value(values)!r}]")
    keys = list(grid)
    configs = []
    for combination in itertools.product(*(grid[key] for key in keys)):
        settings = dict(zip(keys, combination, strict=True))
        configs.append(Config(config_name(settings), settings))
    names = [c.name for c in configs]
    if len(set(names)) != len(names):
        raise ValueError("the grid repeats a value: every configuration must differ")
    return configs
