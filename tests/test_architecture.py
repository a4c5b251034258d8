"""The layout is the architecture (docs/architecture.md): `core/` is packages only, and imports
go one way, from the front-ends down to the domain, never back up and never in a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Lowest first: a package may import only packages before it in this list (and itself).
LAYERS = [
    "domain",
    "config",
    "runtime",
    "storage",
    "market",
    "signals",
    "policy",
    "exchange",
    "account",
    "engine",
    "ops",
    "backtest",
    "study",
]


def imported_modules(source: str) -> set[str]:
    """Every module `source` imports, at any depth (imports inside functions count too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def layer_violations(root: Path) -> list[str]:
    """Each import under `root/core` that goes up a layer or into `bot`, as `file: module`."""
    problems = []
    for path in sorted((root / "core").rglob("*.py")):
        package = path.relative_to(root / "core").parts[0]
        if package not in LAYERS:
            continue
        allowed = set(LAYERS[: LAYERS.index(package) + 1])
        for module in sorted(imported_modules(path.read_text())):
            parts = module.split(".")
            goes_up = parts[0] == "core" and len(parts) > 1 and parts[1] not in allowed
            if parts[0] == "bot" or goes_up:
                problems.append(f"{path.relative_to(root)}: {module}")
    return problems


def test_core_is_packages_only_and_every_package_is_layered() -> None:
    core = ROOT / "core"
    loose = [p.name for p in core.glob("*.py") if p.name != "__init__.py"]
    assert loose == []
    packages = {p.name for p in core.iterdir() if (p / "__init__.py").exists()}
    assert packages == set(LAYERS)


@pytest.mark.parametrize("package", LAYERS)
def test_every_package_says_what_it_holds(package: str) -> None:
    tree = ast.parse((ROOT / "core" / package / "__init__.py").read_text())
    assert ast.get_docstring(tree), f"core/{package}/__init__.py has no docstring"


def test_core_imports_go_down_the_layers_only() -> None:
    assert layer_violations(ROOT) == []


def test_the_check_finds_an_upward_import_and_an_import_of_bot(tmp_path: Path) -> None:
    for package, line in [("domain", "from core.engine import Engine"),
                          ("policy", "import bot.cli")]:
        (tmp_path / "core" / package).mkdir(parents=True)
        (tmp_path / "core" / package / "bad.py").write_text(f"def f():\n    {line}\n")
    assert layer_violations(tmp_path) == [
        "core/domain/bad.py: core.engine",
        "core/policy/bad.py: bot.cli",
    ]
