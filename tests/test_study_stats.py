"""PBO by CSCV and the deflated Sharpe ratio against worked examples, noise and a real edge."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from core.study.stats import (
    EULER_GAMMA,
    deflated_sharpe,
    expected_max_sharpe,
    pbo_cscv,
    probabilistic_sharpe,
)

Z = NormalDist()


def test_pbo_of_a_two_config_matrix_enumerated_by_hand() -> None:
    # Four one-row blocks, two configs. The Sharpe of a pair (x, y) is (x + y) / (√2·|x − y|),
    # so rank by (x + y) / |x − y|. The six in-sample pairs, the in-sample winner, and how the
    # winner does on the other two rows:
    #   IS {0,1}: A 6/2=3  B 4/2=2  → A; OOS {2,3}: A 4/2=2 < B 6/2=3 → overfit
    #   IS {0,2}: A 5/3    B 3/1=3  → B; OOS {1,3}: B 7/1=7 > A 5/1=5 → fine
    #   IS {0,3}: A 7/1=7  B 5/3    → A; OOS {1,2}: A 3/1=3 < B 5/1=5 → overfit
    #   IS {1,2}: A 3/1=3  B 5/1=5  → B; OOS {0,3}: B 5/3 < A 7     → overfit
    #   IS {1,3}: A 5/1=5  B 7/1=7  → B; OOS {0,2}: B 3 > A 5/3      → fine
    #   IS {2,3}: A 4/2=2  B 6/2=3  → B; OOS {0,1}: B 2 < A 3        → overfit
    # An overfit split ranks the winner 1 of 2: ω = 1/3, λ = ln(1/2); otherwise λ = ln 2.
    a = np.array([4, 2, 1, 3]) / 100
    b = np.array([1, 3, 2, 4]) / 100
    result = pbo_cscv(np.column_stack([a, b]), splits=4)
    assert result.pbo == pytest.approx(4 / 6)
    half = math.log(0.5)
    assert result.logits == pytest.approx([half, -half, half, half, -half, half])


def test_pbo_of_three_configs_ranks_the_winner_among_all() -> None:
    # Config C is best in every half, so the winner is always C and always ranks 3 of 3:
    # ω = 3/4, λ = ln 3 > 0 on all six splits: PBO 0.
    a = np.array([4, 2, 1, 3]) / 100
    b = np.array([1, 3, 2, 4]) / 100
    c = np.array([10, 10.1, 10.2, 10.3]) / 100
    result = pbo_cscv(np.column_stack([a, b, c]), splits=4)
    assert result.pbo == 0.0
    assert result.logits == pytest.approx([math.log(3)] * 6)


def test_a_single_configuration_cannot_be_overfitted() -> None:
    assert pbo_cscv(np.ones((40, 1)) * 0.01).pbo == 0.0


def test_pbo_needs_enough_periods() -> None:
    with pytest.raises(ValueError, match="too few"):
        pbo_cscv(np.zeros((10, 3)), splits=16)


def test_expected_max_sharpe_and_probabilistic_sharpe_worked_by_hand() -> None:
    # N = 10 trials whose Sharpe ratios vary with V = 0.05²:
    # SR₀ = 0.05 · ((1 − γ) Φ⁻¹(0.9) + γ Φ⁻¹(1 − 1/(10e))) = 0.05 · (0.42278·1.28155 +
    # 0.57722·1.78945) ≈ 0.078735.
    sr0 = expected_max_sharpe(10, 0.05**2)
    assert sr0 == pytest.approx(0.078735, abs=2e-5)
    by_hand = 0.05 * ((1 - EULER_GAMMA) * Z.inv_cdf(0.9)
                      + EULER_GAMMA * Z.inv_cdf(1 - 1 / (10 * math.e)))
    assert sr0 == pytest.approx(by_hand)
    # Observed SR 0.1 per period over T = 1000 with skew −0.5 and kurtosis 4:
    # (0.1 − 0.078735)·√999 / √(1 + 0.5·0.1 + 3/4·0.01) = 0.021265·31.607 / 1.02835 ≈ 0.6536
    # DSR = Φ(0.6536) ≈ 0.7433.
    assert probabilistic_sharpe(0.1, sr0, 1000, -0.5, 4.0) == pytest.approx(0.7433, abs=5e-4)


def test_one_trial_is_the_probabilistic_sharpe_against_zero() -> None:
    assert expected_max_sharpe(1, 0.3) == 0.0
    returns = np.random.default_rng(3).normal(0.001, 0.01, size=(500, 1))
    result = deflated_sharpe(returns)
    sr = float(np.mean(returns) / np.std(returns, ddof=1))
    centred = returns[:, 0] - returns.mean()
    skew = float(np.mean(centred**3) / np.mean(centred**2) ** 1.5)
    kurt = float(np.mean(centred**4) / np.mean(centred**2) ** 2)
    z = sr * math.sqrt(499) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)
    assert result.probability == pytest.approx(Z.cdf(z))
    assert result.expected_max_sharpe == 0.0


def test_pure_noise_gives_pbo_near_a_half_and_no_significant_sharpe() -> None:
    pbos, dsrs = [], []
    for seed in range(20):
        noise = np.random.default_rng(seed).normal(0.0, 0.01, size=(2000, 20))
        pbos.append(pbo_cscv(noise).pbo)
        dsrs.append(deflated_sharpe(noise).probability)
    assert 0.4 <= float(np.mean(pbos)) <= 0.6
    assert float(np.mean(dsrs)) < 0.7
    assert max(dsrs) < 0.95


def test_one_genuinely_better_series_gives_pbo_near_zero_and_a_real_sharpe() -> None:
    returns = np.random.default_rng(1).normal(0.0, 0.01, size=(2000, 20))
    returns[:, 7] += 0.002
    assert pbo_cscv(returns).pbo < 0.05
    result = deflated_sharpe(returns)
    assert result.best == 7
    assert result.probability > 0.99


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, (48, 4), elements=st.floats(-0.1, 0.1)))
def test_statistics_are_probabilities(returns: npt.NDArray[np.float64]) -> None:
    result = pbo_cscv(returns, splits=8)
    assert 0.0 <= result.pbo <= 1.0
    assert result.logits.size == math.comb(8, 4)
    assert 0.0 <= deflated_sharpe(returns).probability <= 1.0


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.permutations(range(5)))
def test_the_order_of_the_configurations_does_not_matter(seed: int, order: list[int]) -> None:
    # Continuous returns: no two configurations tie in any half, so the winner is well defined.
    returns = np.random.default_rng(seed).normal(0.0, 0.01, size=(64, 5))
    assert pbo_cscv(returns[:, order], splits=8).pbo == pytest.approx(
        pbo_cscv(returns, splits=8).pbo)
    assert deflated_sharpe(returns[:, order]).probability == pytest.approx(
        deflated_sharpe(returns).probability)
