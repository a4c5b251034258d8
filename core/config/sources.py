"""Where Ballast's settings come from: pydantic-settings' own sources (environment with the
`BALLAST_` prefix, `.env`, TOML), each remembering how its author wrote a setting, so that
errors and warnings name `BALLAST_MIN_CASH` or `policy.min_cash` in a file rather than a field.
`core.config.settings.load_settings` stacks them (docs/settings.md).
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    TomlConfigSettingsSource,
)
from pydantic_settings.sources.utils import parse_env_vars

ENV_PREFIX = "BALLAST_"


class SettingsWarning(UserWarning):
    """A setting that is probably not what its author meant, e.g. an unknown `BALLAST_*` name."""


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a setting's value came from, named as its author wrote it."""

    name: str  # `BALLAST_MIN_CASH`, `min_cash` or `policy.min_cash`
    where: str | None = None  # `.env`, the TOML file's path, ... (None: the environment)

    def describe(self, value: Any, message: str) -> str:
        shown = f"{self.name} = {value!r}: {message}"
        return f"{self.where}: {shown}" if self.where else shown


class Hidden:
    """Stands for a secret's value in a message: shown as `(not shown)`."""

    def __repr__(self) -> str:
        return "(not shown)"


def format_validation_error(
    error: ValidationError, origins: Mapping[str, Origin] | None = None,
    secrets: Collection[str] = (),
) -> str:
    """Turn pydantic's report into lines that name the setting, the value and the rule.

    With `origins`, a setting is named as its author wrote it (`BALLAST_MIN_CASH`, or the key
    and the file), not by its field name. The values of `secrets` (field names) are not shown.
    """
    origins = origins or {}
    lines = []
    for item in error.errors():
        loc = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        origin = origins.get(loc)
        value = Hidden() if loc in secrets else item.get("input")
        if origin is not None:
            lines.append(origin.describe(value, message))
        elif loc:
            lines.append(f"{loc} = {value!r}: {message}")
        else:
            lines.append(_rename_rule(message, origins))
    return "; ".join(lines)


def _rename_rule(message: str, origins: Mapping[str, Origin]) -> str:
    """A relationship rule's message (`min_cash = 0.3: must be ≤ …`) with the setting as written."""
    name, sep, rest = message.partition(" = ")
    origin = origins.get(name)
    if not sep or origin is None:
        return message
    shown = f"{origin.name} = {rest}"
    return f"{origin.where}: {shown}" if origin.where else shown


def _can_be_off(field: FieldInfo) -> bool:
    """Whether the setting accepts None (is "off" or "not set" when empty)."""
    return type(None) in get_args(field.annotation)


class EnvSource(EnvSettingsSource):
    """pydantic-settings' environment source, given its variables, remembering who set what.

    - `BALLAST_` prefix, names not case-sensitive; lists as JSON (`["BTC","ETH"]`) or
      comma-separated (`BTC,ETH`).
    - An empty value unsets the variable: the setting keeps its default, except one that can
      be off (`stop_loss`, `log_file`, `telegram_owner_id`, ...), which is then off.
    - `unknown()` lists the `BALLAST_*` names that are no setting.
    """

    def __init__(
        self, settings_cls: type[BaseSettings], variables: Mapping[str, str | None] | None,
        where: str | None, **options: Any,
    ) -> None:
        self._variables = variables
        self.where = where
        super().__init__(settings_cls, case_sensitive=False, env_prefix=ENV_PREFIX,
                         env_ignore_empty=False, **options)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        if self._variables is None:
            return super()._load_env_vars()
        return parse_env_vars(self._variables, False, False)

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        value, key, is_complex = super().get_field_value(field, field_name)
        if isinstance(value, str) and not value.strip():
            return None, key, is_complex  # empty: unset (see __call__ for the ones that go off)
        return value, key, is_complex

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        try:
            return super().decode_complex_value(field_name, field, value)
        except ValueError:
            return value  # not JSON: the comma-separated form, split by the field's validator

    def __call__(self) -> dict[str, Any]:
        data = super().__call__()
        for name, field in self.settings_cls.model_fields.items():
            raw = self.env_vars.get(self.variable(name).lower())
            if raw is not None and not raw.strip() and _can_be_off(field):
                data[name] = None
        return data

    @staticmethod
    def variable(name: str) -> str:
        return f"{ENV_PREFIX}{name.upper()}"

    def origins(self, data: Mapping[str, Any]) -> dict[str, Origin]:
        return {name: Origin(self.variable(name), self.where) for name in data}

    def unknown(self) -> list[str]:
        """Messages for the `BALLAST_*` names that are no setting, with the closest valid one."""
        valid = [self.variable(name) for name in self.settings_cls.model_fields]
        messages = []
        for key in sorted(self.env_vars):
            name = key.upper()
            if not name.startswith(ENV_PREFIX) or name in valid:
                continue
            message = f"{name} is not a Ballast setting and is ignored"
            close = difflib.get_close_matches(name, valid, n=1, cutoff=0.75)
            if close:
                message += f"; did you mean {close[0]}?"
            messages.append(f"{self.where}: {message}" if self.where else message)
        return messages


class DotEnvSource(EnvSource, DotEnvSettingsSource):
    """The same, read from an env file (`.env`) by pydantic-settings' dotenv source."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        super().__init__(settings_cls, None, str(path), env_file=path,
                         env_file_encoding="utf-8", dotenv_filtering="only_existing")


class TomlSource(TomlConfigSettingsSource):
    """pydantic-settings' TOML source; `[policy]`/`[signals]` tables are flattened."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        self.path = path
        self.keys: dict[str, str] = {}
        super().__init__(settings_cls, toml_file=path)

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        flat, self.keys = _flatten(super()._read_file(file_path))
        return flat

    def origins(self) -> dict[str, Origin]:
        return {name: Origin(key, str(self.path)) for name, key in self.keys.items()}


def _flatten(data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Tables' keys lifted to the top level, and each key as written (`policy.min_cash`)."""
    flat: dict[str, Any] = {}
    written: dict[str, str] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            for inner, item in value.items():
                flat[inner] = item
                written[inner] = f"{key}.{inner}"
        else:
            flat[key] = value
            written[key] = key
    return flat, written
