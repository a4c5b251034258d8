"""The CLI's words: help that reads as prose at any width, usage as man pages write it, counts
in the right number (issue 23, item 15)."""

from __future__ import annotations

from typer.testing import CliRunner

from bot.cli import app
from bot.cli.application import prose
from bot.cli.common import counted


def help_of(*command: str, width: int = 200) -> str:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    return result.stdout


def test_help_paragraphs_are_not_broken_where_the_source_was() -> None:
    lines = help_of("backtest").split("\n")
    assert any("(the last close as its price); its orders fill at the next candle's open."
               in line for line in lines), "\n".join(lines)


def test_prose_keeps_list_items_on_their_own_lines() -> None:
    assert prose("Do a thing.\n\nFirst part of\na sentence.\n- one\n- two") == (
        "Do a thing.\n\nFirst part of a sentence.\n- one\n- two")


def test_usage_and_types_read_plainly() -> None:
    assert "Usage: ballast backup [OPTIONS] FILE" in help_of("backup")
    study = help_of("study")
    assert "list[Path]" not in study and "--input" in study


def test_counts_agree_with_their_nouns() -> None:
    assert counted(1, "config") == "1 config"
    assert counted(2, "config") == "2 configs"
    assert counted(1200, "fold") == "1,200 folds"
