"""`ballast plan --input FILE [--json]`: tables, JSON (docs/formats.md), refusals naming fields."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from bot.cli import app

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "examples" / "seed-portfolio.json"
# The seed portfolio's figures (docs/rules.md §5) come from the seed's rules, not the defaults.
SEED_RULES = {"BALLAST_PRESET": "seed-literal"}


def run(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, ["plan", *args], input=stdin, env=env)


@pytest.fixture(autouse=True)
def _clean_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No developer's `.env` or BALLAST_* variables (`ballast plan` reads them, as all do)."""
    monkeypatch.chdir(tmp_path)
    for name in [k for k in os.environ if k.upper().startswith("BALLAST_")]:
        monkeypatch.delenv(name)


def test_seed_portfolio_shows_the_initial_rebalance_of_spec_4_1() -> None:
    """The seed's real holdings (cash $677 with its USDT; the seed's S rounds it to $628) at the
    default fee, under the seed's rules: one ETH sell for both the trim and the cash raise,
    cash 5.3% → 20.0%."""
    result = run("--input", str(SEED), env=SEED_RULES)
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "12,680.79 USDT" in text
    assert "677.00 (5.3%) → 2,536.37 (20.0%)" in text
    assert "it is over its maximum share of the portfolio; cash is below its minimum" in " ".join(
        text.replace("│", " ").split())
    assert "0.6228" in text and "1,861.23" in text
    assert "36.3%" in text and "21.7%" in text
    assert result.stderr == ""


def test_json_output_is_spec_8s_shape_with_the_seed_figures() -> None:
    result = run("--input", str(SEED), "--json", env=SEED_RULES)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert list(out) == ["total_value", "cash", "before", "after", "trades", "skipped"]
    assert out["total_value"] == 12680.79
    assert out["cash"] == {"value": 677.0, "allocation": 0.0534}
    assert out["trades"] == [
        {
            "side": "sell",
            "asset": "ETH",
            "amount": 0.6228,
            "value": 1861.23,
            "fee": 1.86,
            "reasons": ["trim_to_max", "raise_cash"],
        }
    ]
    assert out["after"]["cash"] == 0.2 and out["after"]["ETH"] == 0.2166
    assert out["skipped"] == []


def test_an_empty_plan_and_skipped_trades_are_explained(tmp_path: Path) -> None:
    doc = {
        "balances": {"ETH": {"free": 1}, "USDT": {"free": 9000}, "DOGE": {"free": 1}},
        "prices": {"ETH": 1000, "DOGE": "0.1"},
        "signals": {"ETH": "SELL", "XRP": "STRONG_BUY"},
        "positions": {"ETH": {"last_buy": "2026-11-23T23:59:00Z"}},
        "now": "2026-11-24T00:00:00Z",
    }
    path = tmp_path / "whatif.json"
    path.write_text(json.dumps(doc))
    result = run("--input", str(path))
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "Nothing to trade" in text
    assert "bought too recently to sell" in text and "bought 60 s ago; min_hold is" in text
    assert "no usable price" in text and "XRP" in text
    assert "Dust (too small to trade): DOGE" in text


def test_input_from_stdin() -> None:
    result = run("--input", "-", "--json", stdin=SEED.read_text())
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["total_value"] == 12680.79


def test_invalid_input_exits_2_naming_the_field_and_prints_no_plan(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"balances": {"BTC": {"free": "lots"}}, "prices": {"BTC": 1}}')
    for extra in ([], ["--json"]):
        result = run("--input", str(path), *extra)
        assert result.exit_code == 2
        assert result.stdout == ""
        message = " ".join(result.stderr.split())
        assert "balances.BTC.free: Input should be a valid decimal" in message


def test_invalid_settings_and_json_errors_are_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"balances": {}, "prices": {}, "settings": {"max_position": "[0.9]"}}')
    result = run("--input", str(path))
    assert result.exit_code == 2 and result.stdout == ""
    assert "settings.max_position = '[0.9]'" in " ".join(result.stderr.split())
    path.write_text('{"balances": {}')
    result = run("--input", str(path), "--json")
    assert result.exit_code == 2 and result.stdout == ""
    assert "not valid JSON" in result.stderr


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    result = run("--input", str(tmp_path / "nope.json"))
    assert result.exit_code == 2 and result.stdout == ""
    message = " ".join(result.stderr.split())
    assert "nope.json: cannot read the file" in message


def test_the_installed_ballast_command_runs_as_a_real_process(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("ballast")
    command = (
        [str(script)]
        if script.exists()
        else [sys.executable, "-c", "from bot.cli import app; app()"]
    )
    done = subprocess.run(
        [*command, "plan", "--input", str(SEED), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,  # away from a `.env` in the checkout
        env=_process_env(**SEED_RULES),  # the seed's figure below
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["trades"][0]["value"] == 1861.23
    bad = subprocess.run(
        [*command, "plan", "--input", str(ROOT / "pyproject.toml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,  # away from a `.env` in the checkout
    )
    assert bad.returncode == 2 and bad.stdout == ""
    # The console wraps long lines (the path is in the message): compare the words.
    assert "not valid JSON" in " ".join(bad.stderr.split())


def _process_env(**variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("BALLAST_")}
    return {**env, **variables}


def test_plan_reads_the_environment_and_dotenv_like_every_command(tmp_path: Path) -> None:
    result = run("--input", str(SEED), "--json", env={"BALLAST_MIN_CASH": "0.3",
                                                      "BALLAST_TARGET_CASH": "0.35"})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["after"]["cash"] == pytest.approx(0.3, abs=0.001)
    (tmp_path / ".env").write_text("BALLAST_MIN_CASH=0.22\n")
    result = run("--input", str(SEED), "--json")
    assert json.loads(result.stdout)["after"]["cash"] == pytest.approx(0.22, abs=0.001)


def test_the_input_files_settings_win_over_the_environment(tmp_path: Path) -> None:
    doc = json.loads(SEED.read_text())
    doc["settings"] = {"min_cash": 0.25}
    path = tmp_path / "whatif.json"
    path.write_text(json.dumps(doc))
    result = run("--input", str(path), "--json", env={"BALLAST_MIN_CASH": "0.3",
                                                      "BALLAST_TARGET_CASH": "0.35"})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["after"]["cash"] == pytest.approx(0.25, abs=0.001)


def test_plan_refuses_an_invalid_variable_naming_it() -> None:
    result = run("--input", str(SEED), env={"BALLAST_MIN_CASH": "abc"})
    assert result.exit_code == 2 and result.stdout == ""
    assert "BALLAST_MIN_CASH = 'abc': Input should be a valid decimal" in result.stderr


def test_a_mistyped_variable_is_warned_about_on_stderr(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("ballast")
    command = [str(script)] if script.exists() else [
        sys.executable, "-c", "from bot.cli import app; app()"]
    done = subprocess.run(
        [*command, "plan", "--input", str(SEED), "--json"], capture_output=True, text=True,
        timeout=60, check=False, cwd=tmp_path, env=_process_env(BALLAST_MIN_CAHS="0.3"))
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == (
        "warning: BALLAST_MIN_CAHS is not a Ballast setting and is ignored; "
        "did you mean BALLAST_MIN_CASH?")
    # min_cash stays the default 0.25, not the mistyped 0.3.
    assert json.loads(done.stdout)["after"]["cash"] == pytest.approx(0.25, abs=0.001)
