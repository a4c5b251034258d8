"""The README speaks of the seed portfolio with the figures of examples/seed-portfolio.json."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from bot.cli import app

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_gives_the_seeds_cash_share_as_the_example_file_has_it() -> None:
    result = CliRunner().invoke(app, ["plan", "--input", str(ROOT / "examples" /
                                                             "seed-portfolio.json"), "--json"])
    assert result.exit_code == 0, result.output
    share = f"{json.loads(result.stdout)['cash']['allocation'] * 100:.1f}"
    mentions = re.findall(r"(?:with |\()(\d+(?:\.\d)?)% cash", (ROOT / "README.md").read_text())
    assert len(mentions) >= 2
    assert set(mentions) == {share}, (mentions, share)
