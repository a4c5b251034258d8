"""Hansen's SPA (`core.study.stats.spa_pvalue`) where the answer is known, and the study's
`spa` and single-configuration nulls in its JSON and text."""

from __future__ import annotations

import numpy as np

from core.study.report import same_cash_returns
from core.study.stats import spa_pvalue


def test_a_clearly_better_configuration_gets_a_small_p_value() -> None:
    excess = np.random.default_rng(3).normal(0.0, 0.01, size=(1000, 6))
    excess[:, 4] += 0.003
    assert spa_pvalue(excess) < 0.01


def test_pure_noise_gets_a_large_p_value() -> None:
    p_values = [spa_pvalue(np.random.default_rng(seed).normal(0.0, 0.01, size=(500, 6)),
                           reps=300) for seed in range(6)]
    assert min(p_values) > 0.05
    assert float(np.mean(p_values)) > 0.3


def test_a_configuration_worse_than_the_benchmark_gets_a_large_p_value() -> None:
    excess = np.random.default_rng(5).normal(-0.003, 0.01, size=(1000, 3))
    assert spa_pvalue(excess) > 0.5


def test_the_bootstrap_is_seeded_so_a_study_is_reproducible() -> None:
    excess = np.random.default_rng(8).normal(0.0005, 0.01, size=(400, 4))
    assert spa_pvalue(excess) == spa_pvalue(excess)
    assert 0.0 <= spa_pvalue(excess) <= 1.0


def test_the_same_cash_mix_keeps_its_cash_and_holds_the_rest() -> None:
    hodl = np.array([100.0, 110.0, 99.0, 121.0])
    mix = same_cash_returns(hodl, 0.3)
    values = 30.0 + 0.7 * hodl
    assert np.allclose(mix, values[1:] / values[:-1] - 1)
    # Held through, the mix returns (1 − cash) × buy-and-hold's return: §11's same-cash limb.
    assert np.isclose(np.prod(1 + mix) - 1, 0.7 * 0.21)
