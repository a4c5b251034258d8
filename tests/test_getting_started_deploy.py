"""Deployment files agree with the code: the systemd unit, the Procfile, the environment file."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app

ROOT = Path(__file__).parent.parent
UNIT = ROOT / "deploy" / "ballast.service"


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=True, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(UNIT.read_text())
    return parser


def test_the_service_restarts_on_failure_and_reads_an_environment_file() -> None:
    service = unit()["Service"]
    assert service["Restart"] == "on-failure"
    assert service["EnvironmentFile"] == "/etc/ballast/ballast.env"
    assert service["ExecStart"] == "/opt/ballast/.venv/bin/ballast run"
    # The data lives where the service may write, and nowhere else.
    assert service["WorkingDirectory"] == service["ReadWritePaths"] == "/var/lib/ballast"
    assert service["ProtectSystem"] == "strict"
    assert service["KillSignal"] == "SIGTERM"
    assert unit()["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    """systemd's own checker finds nothing (pointed at this checkout's `ballast`)."""
    ballast = ROOT / ".venv" / "bin" / "ballast"
    if not ballast.exists():
        pytest.skip("no .venv/bin/ballast in this checkout")
    text = UNIT.read_text().replace("/opt/ballast/.venv/bin/ballast", str(ballast))
    copy = tmp_path / "ballast.service"
    copy.write_text(text)
    result = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True,
                            text=True, timeout=60, check=False)
    problems = [line for line in result.stderr.splitlines() if "ballast.service" in line]
    assert problems == [], result.stderr


def test_the_procfile_runs_the_worker() -> None:
    lines = [line for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()]
    assert lines == ["worker: ballast run"]


def test_the_commands_the_guides_name_exist() -> None:
    """Every `ballast <command>` in the deploy guide, the unit and the Procfile is real."""
    text = "".join(
        (ROOT / name).read_text() for name in ("docs/deploy.md", "deploy/ballast.service",
                                               "Procfile")
    )
    named = _command_like(text)
    assert {"run", "check", "backup"} <= named
    runner = CliRunner()
    for command in sorted(named):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0, f"`ballast {command}` is in a guide but not a command"


def _command_like(text: str) -> set[str]:
    # `ballast <word>` also occurs in prose ("run ballast as ..."): only code-looking uses count.
    return set(re.findall(r"(?:bin/|uv run |`|^\s*|: )ballast ([a-z]+)", text, re.MULTILINE))


def test_the_environment_file_is_valid_for_systemd() -> None:
    """`.env.example` becomes /etc/ballast/ballast.env: plain `KEY=value` lines and comments."""
    for number, line in enumerate((ROOT / ".env.example").read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        assert re.fullmatch(r"BALLAST_[A-Z_]+=[^\s\"']*", line), f".env.example:{number}: {line}"
