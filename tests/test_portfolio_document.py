"""One model for the what-if format: `ballast plan`, the backtest's `--input` and paper mode's
starting balances accept and refuse the same documents, each naming the field."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from core.backtest.inputs import parse_portfolio
from core.config.settings import SettingsError
from core.domain.models import Balance, PositionFacts
from core.exchange.factory import read_paper_portfolio
from core.policy.whatif import WhatIfError, load_whatif
from tests.factories import NOW

D = Decimal
HELD = {"BTC": {"free": 1}}


def refusals(tmp_path: Path, doc: dict[str, Any]) -> list[str]:
    """What `ballast plan`, a backtest and paper mode each say about `doc`."""
    said = []
    with pytest.raises(WhatIfError) as plan:
        load_whatif(json.dumps({"prices": {}, **doc}), default_now=NOW)
    said.append(str(plan.value))
    with pytest.raises(SettingsError) as backtest:
        parse_portfolio(doc, "--input p.json")
    said.append(str(backtest.value))
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(SettingsError) as paper:
        read_paper_portfolio(path)
    said.append(str(paper.value))
    return said


@pytest.mark.parametrize(
    ("doc", "named"),
    [
        ({"balances": {"BTC": {"free": "lots"}}}, "balances.BTC.free"),
        ({"balances": {"eth": {"free": 1}, "ETH": {"free": 2}}}, "'ETH' appears twice"),
        ({"balances": HELD, "prices": {"BTC": "NaN"}}, "prices.BTC"),
        ({"balances": HELD, "positions": {"BTC": {"last_buy": "yesterday"}}},
         "positions.BTC.last_buy"),
        ({"balances": HELD, "signals": {"BTC": "SEL"}}, "signals.BTC.signal"),
        ({"balances": HELD, "now": "2026-11-24T00:00:00"}, "now"),
    ],
)
def test_every_reader_refuses_the_same_document_naming_the_field(
    tmp_path: Path, doc: dict[str, Any], named: str
) -> None:
    for message in refusals(tmp_path, doc):
        assert named in message, message


def test_a_file_error_names_the_file_the_field_and_what_was_written() -> None:
    with pytest.raises(SettingsError) as raised:
        parse_portfolio({"balances": {"BTC": {"free": "lots", "locked": -2}}}, "--input p.json")
    assert str(raised.value) == (
        "--input p.json: balances.BTC.free = 'lots': must be a number or a decimal string; "
        "balances.BTC.locked = -2: must be a finite number ≥ 0"
    )


def test_paper_and_backtest_read_the_same_balances(tmp_path: Path) -> None:
    doc = {"balances": {"btc": {"free": "0.5", "locked": 0.1}, "USDT": {"free": 1000}},
           "positions": {"BTC": {"cost_basis": "85000", "last_buy": "2026-11-23T10:00:00Z"}}}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    file = parse_portfolio(doc, "--input p.json")
    assert read_paper_portfolio(path) == file.balances == {
        "BTC": Balance(D("0.5"), D("0.1")), "USDT": Balance(D("1000"))}
    assert file.positions == {"BTC": PositionFacts(cost_basis=D("85000"))}
    assert file.watchlist is None
    assert parse_portfolio({**doc, "watchlist": []}, "x").watchlist == ()


def test_a_backtest_refuses_cash_assets_it_would_not_use() -> None:
    with pytest.raises(SettingsError, match="cash_assets is not read by a backtest"):
        parse_portfolio({"balances": HELD, "cash_assets": ["USDT"]}, "--input p.json")
