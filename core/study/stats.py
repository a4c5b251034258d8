"""Overfitting statistics of a study: PBO by CSCV and the deflated Sharpe ratio. Pure.

Both read a matrix of per-period returns, one column per configuration tried, all on one
clock (`returns[t, n]` is configuration n's return over period t).

- **PBO** (probability of backtest overfitting) by combinatorially symmetric cross-validation,
  Bailey, Borwein, López de Prado & Zhu (2015). The rows are cut into S equal blocks; every way
  of taking S/2 blocks as in-sample (the rest out-of-sample) picks the configuration with the
  best in-sample Sharpe and asks where it ranks out-of-sample: relative rank ω = rank / (N + 1)
  (rank 1 = worst of N, ties averaged), logit λ = ln(ω / (1 − ω)). PBO is the share of splits
  with λ ≤ 0: the in-sample winner did no better than the median out-of-sample. Pure noise
  gives about 0.5; a genuinely better configuration gives about 0.
- **Deflated Sharpe ratio**, Bailey & López de Prado (2014): the probability that the best
  configuration's true Sharpe is above zero once the selection among N trials is allowed for.
  The benchmark is the Sharpe the best of N skill-less trials would show,
  SR₀ = √V[SR] · ((1 − γ) Φ⁻¹(1 − 1/N) + γ Φ⁻¹(1 − 1/(N e))), γ Euler–Mascheroni, V[SR] the
  variance of the trials' Sharpe ratios; then
  DSR = Φ((SR − SR₀) √(T − 1) / √(1 − skew · SR + (kurtosis − 1) / 4 · SR²)),
  with SR, skew and (non-excess) kurtosis of the best configuration's T returns, SR per period
  (not annualised). With one trial SR₀ = 0 and DSR is the probabilistic Sharpe ratio. It
  answers "is the best Sharpe above zero?", not "is it better than holding?".
- **SPA**, Hansen's (2005) test of superior predictive ability (`arch.bootstrap.SPA`): over
  columns of *excess* returns (a configuration's return less a benchmark's), the p-value of
  "no configuration's mean excess return is above zero". Stationary bootstrap, seeded, so the
  same input gives the same p-value; Hansen's consistent p-value is reported.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.stats import kurtosis, norm, skew

FloatArray = npt.NDArray[np.float64]

EULER_GAMMA = 0.5772156649015329
# The SPA bootstrap: fixed seed (a study is reproducible), arch's default repetitions.
SPA_SEED = 2005
SPA_REPS = 1000
DEFAULT_SPLITS = 16
# Below this a standard deviation counts as zero (a flat series): its Sharpe is 0.
FLAT = 1e-12


@dataclass(frozen=True, slots=True)
class PboResult:
    """PBO and what it was computed from."""

    pbo: float
    logits: FloatArray
    splits: int
    periods: int
    configs: int

    def as_dict(self) -> dict[str, float | int]:
        """The figures worth printing (not the logits themselves)."""
        return {"pbo": round(self.pbo, 6), "splits": self.splits,
                "combinations": int(self.logits.size), "periods": self.periods,
                "configs": self.configs,
                "median_logit": round(float(np.median(self.logits)), 6)
                if self.logits.size else 0.0}


@dataclass(frozen=True, slots=True)
class DeflatedSharpe:
    """The deflated Sharpe ratio of the best of N trials, and its ingredients (per period)."""

    probability: float
    best: int
    sharpe: float
    expected_max_sharpe: float
    trials: int
    periods: int
    skew: float
    kurtosis: float

    def as_dict(self) -> dict[str, float | int]:
        """The figures as JSON numbers."""
        return {"deflated_sharpe": round(self.probability, 6),
                "sharpe_per_period": round(self.sharpe, 6),
                "expected_max_sharpe_per_period": round(self.expected_max_sharpe, 6),
                "trials": self.trials, "periods": self.periods,
                "skew": round(self.skew, 6), "kurtosis": round(self.kurtosis, 6)}


def _sharpe_from_sums(count: FloatArray, total: FloatArray, squares: FloatArray) -> FloatArray:
    """Per-period Sharpe (sample std, ddof=1) from counts, sums and sums of squares."""
    mean = total / count
    variance = np.maximum(squares - count * mean**2, 0.0) / np.maximum(count - 1, 1)
    spread = np.sqrt(variance)
    return np.where(spread > FLAT, mean / np.where(spread > FLAT, spread, 1.0), 0.0)


def sharpe_ratios(returns: FloatArray) -> FloatArray:
    """Each column's per-period Sharpe ratio (mean over sample std; 0 for a flat column)."""
    r = np.asarray(returns, dtype=np.float64)
    count = np.full(r.shape[1], float(r.shape[0]))
    return _sharpe_from_sums(count, r.sum(axis=0), (r * r).sum(axis=0))


def pbo_cscv(returns: FloatArray, splits: int = DEFAULT_SPLITS) -> PboResult:
    """PBO of choosing the best-Sharpe column of `returns` (module docs).

    Rows that do not fill the S equal blocks are dropped from the start (the oldest). With a
    single configuration nothing is chosen, so nothing can be overfitted: PBO is 0.
    """
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 2:
        raise ValueError("returns must be a matrix: periods × configurations")
    periods, configs = r.shape
    if splits < 2 or splits % 2:
        raise ValueError(f"splits = {splits}: must be an even number ≥ 2")
    if periods // splits * (splits // 2) < 2:
        raise ValueError(f"{periods} periods are too few for {splits} CSCV blocks: each half "
                         "needs two periods or more (use fewer splits or a longer study)")
    if configs < 2:
        return PboResult(0.0, np.zeros(0), splits, periods, configs)
    size = periods // splits
    blocks = r[periods - size * splits:].reshape(splits, size, configs)
    sums = blocks.sum(axis=1)
    squares = (blocks * blocks).sum(axis=1)
    chosen = np.array(list(itertools.combinations(range(splits), splits // 2)))
    in_sample = np.zeros((chosen.shape[0], splits))
    np.put_along_axis(in_sample, chosen, 1.0, axis=1)
    out_sample = 1.0 - in_sample
    half = float(size * splits // 2)
    is_sharpe = _sharpe_from_sums(np.full((1, configs), half), in_sample @ sums,
                                  in_sample @ squares)
    oos_sharpe = _sharpe_from_sums(np.full((1, configs), half), out_sample @ sums,
                                   out_sample @ squares)
    best = np.argmax(is_sharpe, axis=1)
    winner = oos_sharpe[np.arange(best.size), best][:, None]
    below = (oos_sharpe < winner).sum(axis=1)
    ties = (oos_sharpe == winner).sum(axis=1) - 1
    rank = 1.0 + below + 0.5 * ties
    omega = rank / (configs + 1)
    logits = np.log(omega / (1.0 - omega))
    return PboResult(float(np.mean(logits <= 0)), logits, splits, periods, configs)


def expected_max_sharpe(trials: int, variance: float) -> float:
    """SR₀: the Sharpe the best of `trials` skill-less trials is expected to show."""
    if trials < 2 or variance <= 0:
        return 0.0
    quantile = (1 - EULER_GAMMA) * norm.ppf(1 - 1 / trials) \
        + EULER_GAMMA * norm.ppf(1 - 1 / (trials * math.e))
    return math.sqrt(variance) * float(quantile)


def probabilistic_sharpe(
    sharpe: float, benchmark: float, periods: int, skewness: float, kurt: float
) -> float:
    """P(true Sharpe > benchmark) given an observed per-period Sharpe over `periods` returns.

    `kurt` is the plain (non-excess) kurtosis: 3 for normal returns.
    """
    if periods < 2:
        return 0.0
    spread = 1 - skewness * sharpe + (kurt - 1) / 4 * sharpe**2
    # Wild skew can make the estimate's variance non-positive; it then carries no information.
    if spread <= FLAT:
        return 0.5
    return float(norm.cdf((sharpe - benchmark) * math.sqrt(periods - 1) / math.sqrt(spread)))


def deflated_sharpe(returns: FloatArray) -> DeflatedSharpe:
    """The deflated Sharpe ratio of the best-Sharpe column of `returns` (module docs)."""
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] < 3 or r.shape[1] < 1:
        raise ValueError("returns must be a matrix of at least 3 periods × 1 configuration")
    ratios = sharpe_ratios(r)
    best = int(np.argmax(ratios))
    trials = r.shape[1]
    variance = float(np.var(ratios, ddof=1)) if trials > 1 else 0.0
    benchmark = expected_max_sharpe(trials, variance)
    series = r[:, best]
    flat = float(np.std(series)) <= FLAT
    skewness = 0.0 if flat else float(skew(series))
    kurt = 3.0 if flat else float(kurtosis(series, fisher=False))
    probability = probabilistic_sharpe(float(ratios[best]), benchmark, r.shape[0], skewness, kurt)
    return DeflatedSharpe(probability, best, float(ratios[best]), benchmark, trials, r.shape[0],
                          skewness, kurt)


def spa_pvalue(excess: FloatArray, *, seed: int = SPA_SEED, reps: int = SPA_REPS) -> float:
    """Hansen's SPA p-value that no column of `excess` (periods × configurations of returns
    over a benchmark) beats the benchmark on average (module docs); low: an edge unlikely to
    be luck."""
    r = np.asarray(excess, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] < 3 or r.shape[1] < 1:
        raise ValueError("excess returns must be a matrix of at least 3 periods × 1 configuration")
    # Imported here: arch (and statsmodels under it) take seconds to load, and only a study
    # needs them.
    from arch.bootstrap import SPA

    # SPA compares losses: with the benchmark's loss 0 and a configuration's loss −excess,
    # the loss differential it tests is the excess return itself.
    test = SPA(np.zeros(r.shape[0]), -r, reps=reps, seed=seed)
    test.compute()
    return float(test.pvalues["consistent"])
