"""The `ballast` Typer application; each command lives in its own module and registers here."""

import typer

app = typer.Typer(
    name="ballast",
    help="Ballast: a careful crypto portfolio manager that keeps a cash reserve.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
