"""The sanity gate checks prices, pegs and balances against a reference that does not roll
forward with every scan, and leaves unpriced holdings too small to matter out (issue 21, 2-3).
Pure: `core.domain.sanity.judge` on portfolios from the real valuation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from core.domain.models import Balance, Portfolio, Price, Side
from core.domain.reference import OwnFill, with_fill
from core.domain.sanity import Gate, Limits, confirmed, judge
from core.domain.valuation import value_portfolio

D = Decimal
T0 = datetime(2026, 1, 1, tzinfo=UTC)
LIMITS = Limits(max_value_jump=D("0.15"), max_price_jump=D("0.3"), peg_band=D("0.03"),
                max_balance_change=D("0.02"), immaterial_share=D("0.005"),
                min_order_value=D("10"), settle_after=timedelta(hours=1),
                delisted_after=timedelta(days=1))
BASE = {"USDT": "628", "USDC": "1000", "BTC": "0.0348", "ETH": "1.25", "SOL": "25",
        "DOGE": "10"}
PRICES = {"BTC": "91182", "ETH": "3685", "SOL": "138.5", "DOGE": "0.07", "USDC": "1"}
MARKETS = {f"{a}/USDT" for a in PRICES}


def portfolio(balances: dict[str, str] | None = None, prices: dict[str, str] | None = None,
              listed: set[str] | None = None) -> Portfolio:
    held = {a: Balance(D(v)) for a, v in (balances or BASE).items()}
    quoted = {f"{a}/USDT": Price(a, "USDT", D(p), T0) for a, p in (prices or PRICES).items()}
    return value_portfolio(held, quoted, quote="USDT", cash_assets=("USDT", "USDC"),
                           markets={}, now=T0, max_price_age=60, listed=listed or MARKETS)


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def start() -> Gate:
    gate = judge(Gate(), portfolio(), T0, LIMITS)
    assert gate.open
    return gate


# -- prices ------------------------------------------------------------------------------------

@given(st.decimals(min_value=D("0.001"), max_value=D("20"), places=3))
def test_a_price_is_held_exactly_when_it_strays_beyond_the_limit_from_its_median(
    factor: Decimal,
) -> None:
    moved = portfolio(prices={**PRICES, "ETH": str(D(PRICES["ETH"]) * factor)})
    gate = judge(start(), moved, minutes(5), LIMITS)
    strayed = abs(factor - 1) > LIMITS.max_price_jump
    assert gate.open is not strayed
    assert any(p.startswith("ETH priced") for p in gate.problems) is strayed


@given(st.decimals(min_value=D("0.02"), max_value=D("0.29"), places=2),
       st.integers(min_value=1, max_value=12))
def test_a_price_walking_down_in_steps_never_drags_its_reference_along(
    step: Decimal, scans: int,
) -> None:
    gate = start()
    price = D(PRICES["BTC"])
    for scan in range(1, scans + 1):
        price *= 1 - step
        gate = judge(gate, portfolio(prices={**PRICES, "BTC": str(price)}), minutes(scan),
                     LIMITS)
        # Scans a minute apart take no new sample: the reference is still the first price.
        assert gate.open is (abs(price / D(PRICES["BTC"]) - 1) <= LIMITS.max_price_jump)


def test_eth_down_99_and_btc_times_10_in_one_scan_are_held() -> None:
    gate = judge(start(), portfolio(prices={**PRICES, "ETH": "36.85", "BTC": "911820"}),
                 minutes(5), LIMITS)
    assert not gate.open
    assert any("ETH priced 36.85, -99.0% from its recent median 3685" in p
               for p in gate.problems)
    assert any("BTC priced 911820, +900.0%" in p for p in gate.problems)


def test_a_real_rally_is_followed_with_at_most_an_hours_hold() -> None:
    gate = start()
    price = D(PRICES["SOL"])
    held_in_a_row = 0
    for half_hour in range(1, 49):  # +8% every half hour for a day: a strong, real rally
        price *= D("1.08")
        gate = judge(gate, portfolio(prices={**PRICES, "SOL": str(price)}),
                     minutes(30 * half_hour), LIMITS)
        held_in_a_row = 0 if gate.open else held_in_a_row + 1
        assert held_in_a_row <= 3, f"held too long at half hour {half_hour}"
        assert gate.reference is not None
        assert len(gate.reference.price_history["SOL"]) <= 12


@given(st.decimals(min_value=D("0.001"), max_value=D("100000"), places=3))
def test_a_dust_holdings_price_matters_only_once_it_would_make_it_material(
    factor: Decimal,
) -> None:
    doge = D(PRICES["DOGE"]) * factor
    gate = judge(start(), portfolio(prices={**PRICES, "DOGE": str(doge)}), minutes(5), LIMITS)
    matters = max(LIMITS.min_order_value, LIMITS.immaterial_share * portfolio().total_value)
    material = D(BASE["DOGE"]) * max(doge, D(PRICES["DOGE"])) >= matters
    assert gate.open is not (material and abs(factor - 1) > LIMITS.max_price_jump)


# -- cash assets -------------------------------------------------------------------------------

@given(st.decimals(min_value=D("0.001"), max_value=D("5"), places=3))
def test_a_cash_asset_off_its_peg_holds_planning_and_never_settles_by_time(
    usdc: Decimal,
) -> None:
    gate = start()
    off = not D("0.97") <= usdc <= D("1.03")
    odd = portfolio(prices={**PRICES, "USDC": str(usdc)})
    for hours in (0.1, 2, 48):
        gate = judge(gate, odd, T0 + timedelta(hours=hours), LIMITS)
        assert gate.open is not off
    assert any("USDC priced" in p and "off its peg (0.97–1.03)" in p
               for p in gate.problems) is off
    assert confirmed(gate, odd, T0 + timedelta(days=3), LIMITS).open is not off, (
        "no confirmation makes an off-peg stablecoin worth a dollar")


def test_usdc_at_a_cent_is_held_even_on_the_very_first_scan() -> None:
    gate = judge(Gate(), portfolio(prices={**PRICES, "USDC": "0.01"}), T0, LIMITS)
    assert not gate.open and gate.reference is None


# -- balances ----------------------------------------------------------------------------------

def test_a_balance_shrinking_12_percent_a_scan_is_held_from_the_first_scan_for_good() -> None:
    gate = start()
    eth = D(BASE["ETH"])
    for scan in range(1, 13):
        eth *= D("0.88")
        gate = judge(gate, portfolio({**BASE, "ETH": str(eth)}), minutes(61 * scan), LIMITS)
        assert not gate.open, f"scan {scan}"
        assert any("ETH balance 1.25 →" in p for p in gate.problems)


@given(st.lists(st.decimals(min_value=D("0"), max_value=D("3"), places=4), min_size=1,
                max_size=8))
def test_a_balance_is_judged_against_the_reference_not_the_last_scan(
    amounts: list[Decimal],
) -> None:
    gate = start()
    for scan, eth in enumerate(amounts, start=1):
        now = portfolio({**BASE, "ETH": str(eth)})
        gate = judge(gate, now, minutes(90 * scan), LIMITS)
        moved = abs(eth - D(BASE["ETH"])) * D(PRICES["ETH"])
        if moved > LIMITS.max_balance_change * now.total_value:
            assert not gate.open
        elif moved <= D("0.01") * now.total_value:
            assert gate.open, gate.problems


@given(st.decimals(min_value=D("0.01"), max_value=D("1.25"), places=4))
def test_ballasts_own_fills_move_the_reference_once_however_often_told(sold: Decimal) -> None:
    gate = start()
    assert gate.reference is not None
    price = D(PRICES["ETH"])
    fee = sold * price * D("0.001")
    fill = OwnFill("bl-1", "ETH", Side.SELL, sold, sold * price, fee, "USDT")
    reference = with_fill(with_fill(gate.reference, fill, "USDT"), fill, "USDT")
    after = portfolio({**BASE, "ETH": str(D(BASE["ETH"]) - sold),
                       "USDT": str(D(BASE["USDT"]) + sold * price - fee)})
    assert judge(Gate(reference=reference), after, minutes(5), LIMITS).open
    unexplained = judge(gate, after, minutes(5), LIMITS)
    assert unexplained.open is (sold * price <= LIMITS.max_balance_change * after.total_value)


def test_an_owner_confirmed_change_reopens_the_gate_and_becomes_the_reference() -> None:
    gate = start()
    withdrawn = portfolio({**BASE, "USDC": "0"})
    gate = judge(gate, withdrawn, minutes(5), LIMITS)
    assert not gate.open
    gate = confirmed(gate, withdrawn, minutes(6), LIMITS)
    assert gate.open
    assert gate.reference is not None and "USDC" not in (gate.reference.balances or {})
    assert not judge(gate, portfolio(), minutes(7), LIMITS).open, "back is a change too"


# -- unpriced holdings -------------------------------------------------------------------------

def test_dust_losing_its_price_is_reported_and_left_out_never_blocking() -> None:
    gate = start()
    for days in (0.01, 1, 30):
        gate = judge(gate, portfolio(prices={**PRICES, "DOGE": "0"}),
                     T0 + timedelta(days=days), LIMITS)
        assert gate.open, gate.problems
        assert gate.notes == ("DOGE has no usable price; left out of planning, never traded "
                              "(last worth 0.70 USDT, too little to matter)",)


@given(st.decimals(min_value=D("0.1"), max_value=D("100000"), places=1))
def test_an_unpriced_holding_blocks_exactly_when_it_matters(sol: Decimal) -> None:
    before = portfolio({**BASE, "SOL": str(sol)})
    gate = judge(judge(Gate(), before, T0, LIMITS), portfolio(
        {**BASE, "SOL": str(sol)}, prices={**PRICES, "SOL": "0"}), minutes(5), LIMITS)
    worth = sol * D(PRICES["SOL"])
    matters = worth >= LIMITS.min_order_value and worth >= (
        LIMITS.immaterial_share * before.total_value)
    assert gate.open is not matters


def test_a_delisted_holding_holds_planning_for_a_day_then_is_left_out() -> None:
    gate = start()
    gone = portfolio(prices={a: p for a, p in PRICES.items() if a != "SOL"},
                     listed=MARKETS - {"SOL/USDT"})
    assert gone.unlisted == ("SOL",)
    for hours in (1, 12, 23.9):
        gate = judge(gate, gone, T0 + timedelta(hours=hours), LIMITS)
        assert not gate.open
        assert any("SOL has no market on the exchange (delisted?); planning goes on without "
                   "it from 2026-01-02 01:00 UTC" in p for p in gate.problems)
    for hours in (25, 24 * 30):
        gate = judge(gate, gone, T0 + timedelta(hours=hours), LIMITS)
        assert gate.open, gate.problems
        assert any(n.startswith("SOL has no market on the exchange since 2026-01-01 01:00")
                   for n in gate.notes)


def test_a_delisted_holding_too_small_to_matter_never_blocks() -> None:
    gate = start()
    gone = portfolio(prices={a: p for a, p in PRICES.items() if a != "DOGE"},
                     listed=MARKETS - {"DOGE/USDT"})
    assert gone.unlisted == ("DOGE",)
    for hours in (1, 24 * 30):
        gate = judge(gate, gone, T0 + timedelta(hours=hours), LIMITS)
        assert gate.open
        assert gate.notes == ("DOGE has no market on the exchange (delisted?); left out of "
                              "planning, never traded (last worth 0.70 USDT, too little to "
                              "matter)",)
