"""The `ballast` Typer application; each command lives in its own module and registers here."""

import inspect
import sys
import warnings
from collections.abc import Callable
from typing import Any, TextIO

import typer
from rich.markup import escape
from typer._click.core import Context
from typer.core import TyperArgument, TyperOption

from bot.cli.common import error_console

app = typer.Typer(
    name="ballast",
    help="Ballast: a careful crypto portfolio manager that keeps a cash reserve.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)



@app.callback()
def _commands() -> None:
    # A group even when the executable registered one command (`bot.cli.main`): typer would
    # otherwise run a lone command without its name.
    pass


_python_showwarning = warnings.showwarning


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """A settings warning as one plain `warning: …` line on stderr; others as Python shows them."""
    # Looked up, not imported: a command that never loaded the settings (pydantic) issued none.
    sources = sys.modules.get("core.config.sources")
    if sources is not None and issubclass(category, sources.SettingsWarning):
        error_console.print(f"[yellow]warning:[/] {escape(str(message))}", highlight=False,
                            soft_wrap=True)
        return
    _python_showwarning(message, category, filename, lineno, file, line)


warnings.showwarning = _show_warning


_typer_display_type_rich = TyperOption.display_type_rich


def _no_type_on_flags(self: TyperOption, ctx: Context) -> str | None:
    """A flag (`--json`, `--help`) takes no value: its help shows none (typer prints `<bool>`)."""
    return None if self.is_flag else _typer_display_type_rich(self, ctx)


TyperOption.display_type_rich = _no_type_on_flags  # type: ignore[method-assign]


def _usage_name(self: TyperArgument) -> str:
    """An argument in the usage line as man pages write it: `FILE`, `[FILE]` when optional
    (typer writes a required one as `{file}`)."""
    name = self.display_name_raw.upper()
    name = name if self.required else f"[{name}]"
    return name + ("..." if self.nargs != 1 else "")


TyperArgument._usage_display_name = _usage_name  # type: ignore[method-assign]


def prose(text: str) -> str:
    """A docstring as help prose: the source's line breaks inside a paragraph joined (typer
    keeps them, which breaks sentences mid-line at any other terminal width); list items
    (`- …`) and indented lines keep their own lines."""
    paragraphs = []
    for paragraph in inspect.cleandoc(text).split("\n\n"):
        if paragraph.startswith("\b"):
            paragraphs.append(paragraph)
            continue
        joined = ""
        for line in paragraph.split("\n"):
            if joined and not line.startswith(("-", "•", " ")):
                joined += " " + line.strip()
            else:
                joined += ("\n" if joined else "") + line
        paragraphs.append(joined)
    return "\n\n".join(paragraphs)


_register_command = app.command


def _command_with_prose(*args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
    """`app.command`, with the command's docstring as its help in `prose`."""
    def register(function: Callable[..., Any]) -> Any:
        if kwargs.get("help") is None and function.__doc__:
            kwargs["help"] = prose(function.__doc__)
        return _register_command(*args, **kwargs)(function)
    return register


app.command = _command_with_prose  # type: ignore[method-assign]
