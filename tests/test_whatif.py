"""The what-if format (docs/formats.md): validation that names the field, the exact output shape."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from core.domain.models import SignalKind, SkipReason
from core.policy import make_plan
from core.policy.whatif import WhatIf, WhatIfError, load_whatif, parse_whatif, plan_output
from tests.factories import NOW

# Portfolio S of docs/rules.md in the what-if format: each holding's value is exact. Its
# figures are the seed's (scenario 1), so it runs under the seed's rules.
S = {
    "quote": "USDT",
    "balances": {
        "BTC": {"free": "0.03175"},
        "ETH": {"free": "1.8428"},
        "SOL": {"free": "17.31"},
        "AVAX": {"free": "19"},
        "USDT": {"free": "628"},
    },
    "prices": {"BTC": 100000, "ETH": 2500, "SOL": 200, "AVAX": 40},
    "settings": {"preset": "seed-literal", "fee_rate": 0},
    "now": "2026-11-24T00:00:00Z",
}


def load(doc: Any, now: datetime = NOW) -> WhatIf:
    return load_whatif(json.dumps(doc), default_now=now)


def plan_json(doc: dict[str, Any]) -> dict[str, Any]:
    whatif = load(doc)
    return plan_output(make_plan(whatif.plan_input, whatif.settings))


def test_scenario_1_as_json_gives_spec_8_output_shape_and_figures() -> None:
    out = plan_json(S)
    assert list(out) == ["total_value", "cash", "before", "after", "trades", "skipped"]
    assert out["total_value"] == 12632.0
    assert out["cash"] == {"value": 628.0, "allocation": 0.0497}
    assert out["before"] == {
        "AVAX": 0.0602,
        "BTC": 0.2513,
        "ETH": 0.3647,
        "SOL": 0.2741,
        "cash": 0.0497,
    }
    assert out["after"] == {
        "AVAX": 0.0602,
        "BTC": 0.2513,
        "ETH": 0.2144,
        "SOL": 0.2741,
        "cash": 0.2,
    }
    assert out["trades"] == [
        {
            "side": "sell",
            "asset": "ETH",
            "amount": 0.75936,
            "value": 1898.4,
            "fee": 0.0,
            "reasons": ["trim_to_max", "raise_cash"],
        }
    ]
    assert out["skipped"] == []
    json.dumps(out)  # plain JSON types only


def test_spec_8_example_input_is_accepted() -> None:
    doc = {
        "quote": "USDT",
        "balances": {"BTC": {"free": 0.03482, "locked": 0}, "USDT": {"free": 49.5, "locked": 0}},
        "prices": {"BTC": 91182},
        "signals": {"ETH": {"signal": "SELL", "score": -0.25}},
        "positions": {
            "BTC": {"cost_basis": 85000, "last_buy": "2026-11-23T10:00:00Z", "last_sell": None}
        },
        "markets": {"BTC": {"min_notional": 5, "amount_step": 0.00001}},
        "watchlist": ["LINK"],
        "settings": {"preset": "seed-literal", "min_cash": 0.20, "fee_rate": 0.0},
        "now": "2026-11-24T00:00:00Z",
    }
    whatif = load(doc)
    inp = whatif.plan_input
    assert inp.portfolio.holdings["BTC"].value == Decimal("0.03482") * 91182
    assert inp.signals["ETH"].score == -0.25
    assert inp.positions["BTC"].cost_basis == 85000
    assert inp.markets["BTC"].amount_step == Decimal("0.00001")
    assert whatif.settings.fee_rate == 0 and whatif.settings.min_cash == Decimal("0.2")
    assert inp.now == datetime(2026, 11, 24, tzinfo=UTC)
    # BTC is 98% of V (bought 14 h ago, past min_hold): it is trimmed to max_position.
    plan = plan_output(make_plan(inp, whatif.settings))
    assert plan["trades"][0]["asset"] == "BTC"
    assert plan["trades"][0]["reasons"][0] == "trim_to_max"
    assert plan["after"]["BTC"] <= 0.3


def test_only_balances_and_prices_are_required() -> None:
    whatif = load({"balances": {"USDT": {"free": 100}}, "prices": {}})
    assert whatif.plan_input.portfolio.quote == "USDT"
    assert whatif.settings.fee_rate == Decimal("0.001")
    assert whatif.plan_input.now == NOW  # the caller's clock


def test_numbers_may_be_json_numbers_or_decimal_strings_and_stay_exact() -> None:
    a = parse_whatif('{"balances": {"ETH": {"free": 0.1}}, "prices": {"ETH": 3000.10}}')
    b = parse_whatif('{"balances": {"ETH": {"free": "0.1"}}, "prices": {"ETH": "3000.10"}}')
    assert a.balances["ETH"].free == b.balances["ETH"].free == Decimal("0.1")
    assert str(a.prices["ETH"]) == "3000.10"


def test_signals_may_be_bare_names_and_scores_default_by_kind() -> None:
    whatif = load(
        {
            "balances": {},
            "prices": {},
            "signals": {"btc": "STRONG_BUY", "ETH": "SELL", "SOL": {"signal": "BUY"}},
        }
    )
    scores = {a: (s.signal, s.score) for a, s in whatif.plan_input.signals.items()}
    assert scores == {
        "BTC": (SignalKind.STRONG_BUY, 1.0),
        "ETH": (SignalKind.SELL, -0.5),
        "SOL": (SignalKind.BUY, 0.5),
    }


def test_prices_by_symbol_route_through_btc() -> None:
    whatif = load({"balances": {"ETH": {"free": 2}}, "prices": {"ETH/BTC": "0.05", "BTC": 60000}})
    assert whatif.plan_input.portfolio.holdings["ETH"].value == 6000


def test_a_zero_price_leaves_the_asset_unpriced() -> None:
    whatif = load({"balances": {"ETH": {"free": 2}, "USDT": {"free": 1}}, "prices": {"ETH": 0}})
    assert whatif.plan_input.portfolio.unpriced == ("ETH",)
    assert whatif.plan_input.portfolio.total_value == 1


def test_missing_markets_default_to_min_trade_value_so_tiny_holdings_are_dust() -> None:
    whatif = load(
        {
            "balances": {"SOL": {"free": "0.01"}, "USDT": {"free": 100}},
            "prices": {"SOL": 200},
            "settings": {"min_trade_value": 5},
        }
    )
    assert whatif.plan_input.markets["SOL"].min_notional == 5
    assert whatif.plan_input.portfolio.dust == ("SOL",)


def test_a_watched_or_signalled_asset_with_a_price_is_a_buy_candidate() -> None:
    doc = {
        "balances": {"USDT": {"free": 10000}},
        "prices": {"LINK": 20},
        "signals": {"LINK": "STRONG_BUY", "ADA": "STRONG_BUY"},
        "watchlist": ["XRP"],
        "settings": {"fee_rate": 0},
    }
    out = plan_json(doc)
    assert [(t["side"], t["asset"], t["value"]) for t in out["trades"]] == [("buy", "LINK", 3000.0)]
    assert {"asset": "ADA", "side": "buy", "reason": SkipReason.UNPRICED.value} in out["skipped"]


def test_now_defaults_to_the_callers_clock_and_drives_min_hold() -> None:
    doc = {
        "balances": {"ETH": {"free": 1}, "USDT": {"free": 9000}},
        "prices": {"ETH": 1000},
        "signals": {"ETH": "SELL"},
        "positions": {"ETH": {"last_buy": "2026-11-23T23:58:00Z"}},
        # The seed's rules sell the whole holding at a SELL; the defaults size the sale by the
        # score (at −0.5 this 10% holding may stay) and would sell nothing.
        "settings": {"preset": "seed-literal"},
    }
    early = load(doc, now=NOW)  # bought 120 s before
    assert make_plan(early.plan_input, early.settings).skipped[0].reason is SkipReason.MIN_HOLD
    late = load(doc, now=NOW + timedelta(hours=1))
    assert [t.asset for t in make_plan(late.plan_input, late.settings).trades] == ["ETH"]
    pinned = load({**doc, "now": "2026-11-24T01:00:00+00:00"}, now=NOW)
    assert pinned.plan_input.now == NOW + timedelta(hours=1)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"prices": {}}, "balances: Field required"),
        ({"balances": {}}, "prices: Field required"),
        (
            {"balances": {"BTC": {"free": "abc"}}, "prices": {}},
            "balances.BTC.free: Input should be a valid decimal",
        ),
        (
            {"balances": {"BTC": {"free": 1, "frees": 2}}, "prices": {}},
            "balances.BTC.frees: Extra inputs are not permitted",
        ),
        (
            {"balances": {"BTC": {"free": -1}}, "prices": {}},
            "balances.BTC.free: Input should be greater than or equal to 0",
        ),
        ({"balances": {}, "prices": {"BTC": "NaN"}}, "prices.BTC: Input should be a finite"),
        ({"balances": {}, "prices": {"BTC": -5}}, "prices.BTC: Input should be greater"),
        ({"balances": {}, "prices": {}, "extra": 1}, "extra: Extra inputs are not permitted"),
        (
            {"balances": {}, "prices": {}, "signals": {"ETH": "SEL"}},
            "signals.ETH.signal: Input should be 'STRONG_BUY', 'BUY', 'HOLD' or 'SELL'",
        ),
        (
            {"balances": {}, "prices": {}, "signals": {"ETH": {"signal": "BUY", "score": 2}}},
            "signals.ETH.score: Input should be less than or equal to 1",
        ),
        (
            {"balances": {}, "prices": {}, "positions": {"ETH": {"last_buy": "yesterday"}}},
            "positions.ETH.last_buy: Input should be a valid datetime",
        ),
        (
            {"balances": {}, "prices": {}, "markets": {"ETH": {"amount_step": 0}}},
            "markets.ETH.amount_step: Input should be greater than 0",
        ),
        ({"balances": {}, "prices": {}, "now": "2026-11-24T00:00:00"}, "now: Input should have"),
        (
            {"balances": {}, "prices": {}, "settings": {"min_cash": 0.5}},
            "settings.min_cash = 0.5: must be ≤ target_cash (0.25)",
        ),
        (
            {"balances": {}, "prices": {}, "settings": {"min_cash": "lots"}},
            "settings.min_cash = 'lots': Input should be a valid decimal",
        ),
        (
            {"balances": {}, "prices": {}, "settings": {"fee": 0}},
            "settings.fee = 0: Extra inputs are not permitted",
        ),
        (
            {"balances": {"eth": {"free": 1}, "ETH": {"free": 2}}, "prices": {}},
            "balances: 'ETH' appears twice",
        ),
        ([1, 2], "input: Input should be a valid dictionary"),
    ],
)
def test_invalid_input_names_the_field(doc: Any, message: str) -> None:
    with pytest.raises(WhatIfError) as caught:
        load(doc)
    assert str(caught.value).startswith(message), str(caught.value)


def test_text_that_is_not_json_is_refused_with_its_position() -> None:
    with pytest.raises(WhatIfError, match=r"not valid JSON: .* line 1 column 14"):
        load_whatif('{"balances": ', default_now=NOW)
