"""The repository carries what its code, tests and benches read: nothing points beside it.

A folder of market data sits next to the repository on the machines it was developed on, but
not in anybody's clone; a path into it makes tests pass there and fail everywhere else. Benches
take such data only through `--candles DIR`. The same goes for words: comments cite the pages
under docs/, not the specification document that also lives only beside the repository.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ("core", "bot", "tests", "bench")
# `../shared`, `shared/data`, a path built from a "shared" component (`parent / "shared"`), or
# a section of the specification kept beside the repository (`SPEC §3`, `SPEC.md`).
OUTSIDE = re.compile(r"\.\./shared|shared/data|[\"']shared[\"']|\bSPEC( §|\.md)")
TEXT_SUFFIXES = {".py", ".md", ".toml", ".json", ".txt", ".cfg", ".ini", ".sh"}


def outside_references(root: Path, folders: tuple[str, ...] = CHECKED) -> list[str]:
    """`path:line: text` for each line under `folders` that names the data beside the repo."""
    found = []
    for folder in folders:
        for path in sorted((root / folder).rglob("*")):
            if path.suffix not in TEXT_SUFFIXES or path == Path(__file__).resolve():
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if OUTSIDE.search(line):
                    found.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    return found


def test_no_code_test_or_bench_reads_beside_the_repository() -> None:
    assert outside_references(ROOT) == []


def test_the_guard_finds_each_kind_of_outside_path(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "a.py").write_text(
        'DATA = ROOT.parent / "shared" / "ohlcv"\n'
        "# candles from ../shared/ohlcv\n"
        "ok = 'shared memory'\n"
        "# the five rules of SPEC §3\n"
    )
    (tmp_path / "tests" / "b.md").write_text("See shared/data/SOURCES.md\n")
    assert outside_references(tmp_path, ("tests",)) == [
        'tests/a.py:1: DATA = ROOT.parent / "shared" / "ohlcv"',
        "tests/a.py:2: # candles from ../shared/ohlcv",
        "tests/a.py:4: # the five rules of SPEC §3",
        "tests/b.md:1: See shared/data/SOURCES.md",
    ]
