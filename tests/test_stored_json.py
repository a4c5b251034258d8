"""Plans and outbox letters stored as JSON: text written by earlier Ballasts still reads, today's
text is byte for byte what they wrote (plus each planned trade's `why`), and a damaged row is
refused naming the field."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from core.domain.models import Plan, PlannedTrade, Side, SignalKind, SkippedTrade, SkipReason
from core.domain.models import TradeReason as Why
from core.engine.codec import plan_from_json, plan_to_json
from core.engine.events import PlanProposed, SignalChanged
from core.ops.outbox import CodecError, decode, encode
from core.storage.stored_json import StoredJsonError
from tests.test_outbox import SAMPLES

D = Decimal
T = datetime(2026, 11, 24, 12, 0, 5, 250000, tzinfo=UTC)
# Exponents, trailing zeros, a default `detail` and non-ASCII text: what a format change breaks.
PLAN = Plan(
    total_value=D("12632.50"), cash_before=D("628"), cash_after=D("3.1E+3"),
    trades=(PlannedTrade(Side.SELL, "ETH", D("0.5000"), D("3000.1"), D("1500.05"), D("1.5E-7"),
                         (Why.SIGNAL_SELL, Why.RAISE_CASH)),),
    skipped=(SkippedTrade("SOL", Side.SELL, SkipReason.MIN_HOLD, "held 3 h < 24 h — wait"),
             SkippedTrade("AVAX", Side.BUY, SkipReason.DUST)),
    before={"ETH": D("0.95"), "cash": D("0.05")}, after={"ETH": D("0.83"), "cash": D("0.17")},
)
PROPOSED = PlanProposed(T, "a1", PLAN, T + timedelta(minutes=10), auto=True, replaces=None,
                        reason="prices moved 2 %")
SIGNAL = SignalChanged(T.astimezone(timezone(timedelta(hours=1))), "ETH", SignalKind.HOLD,
                       SignalKind.SELL, 1e-7, ("− rsi: 78.4 > 70",), "ä")

# Written by the codecs before pydantic (plan_to_json, outbox.encode) for the objects above.
PLAN_TEXT = (
    r'{"total_value":"12632.50","cash_before":"628","cash_after":"3.1E+3",'
    r'"trades":[{"side":"sell","asset":"ETH","amount":"0.5000","price":"3000.1","value":"1500.05",'
    r'"fee":"1.5E-7","reasons":["signal_sell","raise_cash"]}],"skipped":[{"asset":"SOL",'
    r'"side":"sell","reason":"min_hold","detail":"held 3 h < 24 h \u2014 wait"},{"asset":"AVAX",'
    r'"side":"buy","reason":"dust","detail":""}],"before":{"ETH":"0.95","cash":"0.05"},'
    r'"after":{"ETH":"0.83","cash":"0.17"}}'
)

PROPOSED_TEXT = (
    r'{"at":"2026-11-24T12:00:05.250000+00:00","approval_id":"a1",'
    r'"plan":{"total_value":"12632.50","cash_before":"628","cash_after":"3.1E+3",'
    r'"trades":[{"side":"sell","asset":"ETH","amount":"0.5000","price":"3000.1","value":"1500.05",'
    r'"fee":"1.5E-7","reasons":["signal_sell","raise_cash"]}],"skipped":[{"asset":"SOL",'
    r'"side":"sell","reason":"min_hold","detail":"held 3 h < 24 h \u2014 wait"},{"asset":"AVAX",'
    r'"side":"buy","reason":"dust","detail":""}],"before":{"ETH":"0.95","cash":"0.05"},'
    r'"after":{"ETH":"0.83","cash":"0.17"}},"expires_at":"2026-11-24T12:10:05.250000+00:00",'
    r'"auto":true,"replaces":null,"reason":"prices moved 2 %"}'
)

SIGNAL_TEXT = (
    r'{"at":"2026-11-24T13:00:05.250000+01:00","asset":"ETH","previous":"HOLD","current":"SELL",'
    r'"score":1e-07,"reasons":["\u2212 rsi: 78.4 > 70"],"why":"\u00e4"}'
)

# What the old codec wrote for each of tests.test_outbox.SAMPLES, in order.
SAMPLE_TEXTS: list[tuple[str, str]] = [
    ('SignalChanged', (
        r'{"at":"2026-11-24T12:00:00+00:00","asset":"ETH","previous":"HOLD","current":"SELL",'
        r'"score":-0.25,"reasons":["RSI(14) 78.4 > 70"],"why":""}'
    )),
    ('PlanProposed', (
        r'{"at":"2026-11-24T12:00:00+00:00","approval_id":"a1","plan":{"total_value":"10000",'
        r'"cash_before":"0.1","cash_after":"0.2","trades":[{"side":"sell","asset":"ETH",'
        r'"amount":"0.5","price":"3000","value":"1500.0","fee":"1.5000",'
        r'"reasons":["raise_cash"]}],"skipped":[],"before":{"cash":"0.1"},"after":{"cash":"0.2"}},'
        r'"expires_at":"2026-11-24T12:10:00+00:00","auto":false,"replaces":"a0",'
        r'"reason":"prices moved"}'
    )),
    ('PlanExecuted', (
        r'{"at":"2026-11-24T12:00:00+00:00","approval_id":"a1",'
        r'"results":[{"client_order_id":"bl-a1-0","asset":"ETH","side":"sell","amount":"0.5",'
        r'"state":"filled","filled":"0.5","average_price":"3000.1","fee":"1.50005",'
        r'"fee_currency":"USDT","detail":""}]}'
    )),
    ('ExecutionFailed', (
        r'{"at":"2026-11-24T12:00:00+00:00","approval_id":"a1","reason":"SOL rejected",'
        r'"results":[{"client_order_id":"bl-a1-0","asset":"ETH","side":"sell","amount":"0.5",'
        r'"state":"filled","filled":"0.5","average_price":"3000.1","fee":"1.50005",'
        r'"fee_currency":"USDT","detail":""},{"client_order_id":"bl-a1-1","asset":"SOL",'
        r'"side":"buy","amount":"2","state":"rejected","filled":"0","average_price":null,'
        r'"fee":"0","fee_currency":null,"detail":"no funds"}]}'
    )),
    ('ApprovalClosed', (
        r'{"at":"2026-11-24T12:00:00+00:00","approval_id":"a1","state":"expired",'
        r'"reason":"no decision before it expired"}'
    )),
    ('CashBelowMinimum', (
        r'{"at":"2026-11-24T12:00:00+00:00","cash_allocation":"0.0497","min_cash":"0.20"}'
    )),
    ('ExchangeTrouble', (
        r'{"at":"2026-11-24T12:00:00+00:00","message":"connection refused"}'
    )),
    ('ExchangeRecovered', (
        r'{"at":"2026-11-24T12:00:00+00:00","since":"2026-11-24T11:55:00+00:00","failed_scans":4}'
    )),
    ('SuspectData', (
        r'{"at":"2026-11-24T12:00:00+00:00","problems":["ETH has no usable price (was 3685)",'
        r'"the USDT balance vanished"]}'
    )),
    ('SuspectDataCleared', (
        r'{"at":"2026-11-24T12:00:00+00:00","since":"2026-11-24T11:57:00+00:00"}'
    )),
    ('DailySummary', (
        r'{"at":"2026-11-24T12:00:00+00:00","quote":"USDT","total_value":"12632.5",'
        r'"value_before":"12000","value_since":"2026-11-23T12:00:00+00:00","cash_value":"628",'
        r'"cash_allocation":"0.0497","holdings":[{"asset":"BTC","value":"3175",'
        r'"allocation":"0.2513","signal":"BUY"},{"asset":"DOGE","value":"20",'
        r'"allocation":"0.0016","signal":null}],"trades":[{"at":"2026-11-24T12:00:00+00:00",'
        r'"side":"sell","asset":"ETH","amount":"0.5","price":"3000","value":"1500","fee":"1.5",'
        r'"fee_currency":"USDT","fee_value":"1.5"}],"fees":"1.5","signals":[{"asset":"ETH",'
        r'"signal":"SELL","score":-0.25,"held":true}],"holds":3,'
        r'"attention":["Plan a1 waits for your decision."]}'
    )),
    ('ScansFailing', (
        r'{"at":"2026-11-24T12:00:00+00:00","since":"2026-11-24T11:40:00+00:00","error":"boom"}'
    )),
    ('ScansResumed', (
        r'{"at":"2026-11-24T12:00:00+00:00","since":"2026-11-24T11:40:00+00:00"}'
    )),
]


def written_now(text: str, kind: str = "") -> str:
    """An earlier Ballast's text as it is written now: each planned trade also says `why` (a
    buy's choice in words; empty here), an execution the cash after it (not known here), which
    texts without them read as."""
    text = re.sub(r'("reasons":\[[^\]]*\])\}', r'\1,"why":""}', text)
    if kind in ("PlanExecuted", "ExecutionFailed"):
        text = text[:-1] + ',"cash_value":null,"cash_allocation":null}'
    return text


def test_a_plan_reads_and_writes_the_text_earlier_ballasts_stored() -> None:
    assert plan_from_json(PLAN_TEXT) == PLAN
    assert plan_to_json(PLAN) == written_now(PLAN_TEXT)
    # The exact decimal spelling survives, not only the value.
    assert str(plan_from_json(PLAN_TEXT).cash_after) == "3.1E+3"


# Letters that gained fields since the texts above were written (with defaults, so old rows
# read): who closed a plan, the level cash is raised at, the day's signal flips and cash reason.
GROWN = {"ApprovalClosed", "CashBelowMinimum", "DailySummary"}


def test_letters_read_and_write_the_text_earlier_ballasts_stored() -> None:
    for letter, text in ((PROPOSED, PROPOSED_TEXT), (SIGNAL, SIGNAL_TEXT)):
        kind = type(letter).__name__
        assert decode(kind, text) == letter
        assert encode(letter) == (kind, written_now(text, kind))
    # Kinds added since (the samples' tail) have no text an earlier Ballast could have stored.
    earlier = SAMPLES[:len(SAMPLE_TEXTS)]
    assert [type(sample).__name__ for sample in earlier] == [kind for kind, _ in SAMPLE_TEXTS]
    for sample, (kind, text) in zip(earlier, SAMPLE_TEXTS, strict=True):
        assert decode(kind, text) == sample
        # Written anew it reads back the same; a field added since (who closed a plan, the
        # level cash is raised at) is written too, so the text is the old one only where the
        # letter kept its shape.
        assert decode(*encode(sample)) == sample
        if encode(sample)[1] != written_now(text, kind):
            assert kind in GROWN, f"{kind} is written differently than before"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (PLAN_TEXT.replace('"amount":"0.5000"', '"amount":"half"'),
         "trades.0.amount: Input should be a valid decimal"),
        (PLAN_TEXT.replace('"side":"sell","asset":"ETH"', '"side":"short","asset":"ETH"'),
         "trades.0.side: Input should be 'buy' or 'sell'"),
        (PLAN_TEXT.replace('"cash_before":"628",', ""), "cash_before: Field required"),
        ('{"total_value":', "Invalid JSON"),
        ("[]", "Input should be an object"),
    ],
)
def test_a_damaged_plan_is_refused_naming_the_field(text: str, named: str) -> None:
    with pytest.raises(StoredJsonError, match="a stored plan no longer reads") as raised:
        plan_from_json(text)
    assert named in str(raised.value)


def test_a_damaged_letter_is_refused_naming_the_field() -> None:
    text = PROPOSED_TEXT.replace('"expires_at":"2026-11-24T12:10:05.250000+00:00",', "")
    with pytest.raises(CodecError, match="a stored PlanProposed no longer reads: expires_at: "
                                         "Field required"):
        decode("PlanProposed", text)
    text = PROPOSED_TEXT.replace('"reasons":["signal_sell"', '"reasons":["gut_feeling"')
    with pytest.raises(CodecError, match=r"plan\.trades\.0\.reasons\.0: Input should be"):
        decode("PlanProposed", text)
