"""Aggregate statistics over seeds, the rliable way (Agarwal et al., 2021).

Point estimates: IQM (interquartile mean) or mean. Uncertainty: 95 % stratified percentile bootstrap
confidence intervals over seeds, built on ``scipy.stats.bootstrap`` with a fixed random state so the
intervals (and therefore the verdicts) are byte-identical across reruns. "Stratified" means each method
(or each condition) is resampled within its own seeds; when a statistic combines several groups, each
group is resampled independently (scipy does exactly this for multi-sample statistics).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from scipy import stats as _sps

DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 0


def iqm(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Interquartile mean: the mean of the middle 50 % of values, ``trim_mean(x, 0.25)``.

    With n values, ``scipy.stats.trim_mean`` removes ``int(0.25 n)`` values from each end (so for n < 4 the IQM
    equals the mean). rliable uses the same function.
    """
    return _sps.trim_mean(np.asarray(x, dtype=float), proportiontocut=0.25, axis=axis)


def mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(np.asarray(x, dtype=float), axis=axis)


AGGREGATES: dict[str, Callable[..., np.ndarray]] = {"iqm": iqm, "mean": mean}


def _degenerate(samples: Sequence[np.ndarray]) -> bool:
    return all(np.ptp(s) == 0 for s in samples)


def bootstrap_ci(
    samples: Sequence[Sequence[float]] | Sequence[float],
    statistic: Callable[..., float] | str = "iqm",
    *,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> tuple[float, tuple[float, float]]:
    """Point estimate and stratified percentile-bootstrap CI of ``statistic`` over one or more groups.

    ``samples`` is one array (a single method's per-seed values) or a tuple of arrays (one per method or
    condition); ``statistic(*groups, axis=-1)`` must be vectorised along ``axis`` like scipy expects. Each group
    is resampled on its own (stratified). Percentile intervals, as in rliable. Groups with no spread at all give
    the degenerate interval ``(value, value)`` instead of scipy's NaN.
    """
    groups = _as_groups(samples)
    stat = AGGREGATES[statistic] if isinstance(statistic, str) else statistic
    value = float(stat(*groups, axis=-1))
    if not np.isfinite(value):
        raise FloatingPointError(f"bootstrap_ci: statistic is not finite ({value}) on the given samples")
    if _degenerate(groups) or any(len(g) < 2 for g in groups):
        return value, (value, value)
    res = _sps.bootstrap(
        tuple(groups), stat, vectorized=True, paired=False, confidence_level=confidence,
        n_resamples=n_resamples, method="percentile", random_state=np.random.default_rng(seed),
    )
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return value, (lo, hi)


def _as_groups(samples) -> list[np.ndarray]:
    if len(samples) and np.ndim(samples[0]) == 0:
        samples = [samples]
    groups = [np.asarray(g, dtype=float) for g in samples]
    for g in groups:
        if g.ndim != 1 or len(g) == 0:
            raise ValueError("bootstrap_ci: every group must be a non-empty 1-D array of per-seed values")
        if not np.all(np.isfinite(g)):
            raise FloatingPointError("bootstrap_ci: samples contain NaN or inf")
    return groups


def aggregate_ci(values: Sequence[float], aggregate: str = "iqm", **kw) -> dict[str, object]:
    """``{"iqm": v, "ci95": [lo, hi]}`` (or ``"mean"``) for one method's per-seed values, rounded for JSON."""
    value, (lo, hi) = bootstrap_ci(values, aggregate, **kw)
    return {aggregate: round_sig(value), "ci95": [round_sig(lo), round_sig(hi)]}


def difference_ci(a: Sequence[float], b: Sequence[float], aggregate: str = "iqm", **kw):
    """Aggregate(a) − aggregate(b) with a CI from resampling a and b independently (stratified).

    A difference within float rounding of zero (|d| ≤ 1e-12 × the larger aggregate, e.g. two equal IQMs summed in
    another order) is reported as exactly 0.
    """
    agg = AGGREGATES[aggregate]

    def diff(x, y, axis=-1):
        return agg(x, axis=axis) - agg(y, axis=axis)

    value, (lo, hi) = bootstrap_ci((a, b), diff, **kw)
    scale = 1e-12 * max(abs(float(agg(np.asarray(a, dtype=float)))), abs(float(agg(np.asarray(b, dtype=float)))))

    def snap(x: float) -> float:
        return 0.0 if abs(x) <= scale else x

    return snap(value), (snap(lo), snap(hi))


def ratio_ci(a: Sequence[float], b: Sequence[float], aggregate: str = "iqm", **kw):
    """Aggregate(a) / aggregate(b) with a stratified bootstrap CI (b must stay away from 0)."""
    agg = AGGREGATES[aggregate]

    def ratio(x, y, axis=-1):
        return agg(x, axis=axis) / agg(y, axis=axis)

    return bootstrap_ci((a, b), ratio, **kw)


def probability_of_improvement(x: Sequence[float], y: Sequence[float]) -> float:
    """P(X > Y) for one run of X and one run of Y drawn at random, ties counting ½ (rliable's definition).

    Equals the normalised Mann–Whitney U statistic U/(n·m).
    """
    x = np.asarray(x, dtype=float)[:, None]
    y = np.asarray(y, dtype=float)[None, :]
    return float(np.mean((x > y) + 0.5 * (x == y)))


def probability_of_improvement_ci(x, y, **kw):
    """Probability of improvement of X over Y with a stratified bootstrap CI."""

    def poi(a, b, axis=-1):
        a = np.moveaxis(np.asarray(a), axis, -1)[..., :, None]
        b = np.moveaxis(np.asarray(b), axis, -1)[..., None, :]
        return np.mean((a > b) + 0.5 * (a == b), axis=(-2, -1))

    return bootstrap_ci((x, y), poi, **kw)


def slope(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of y on x (degradation per unit of x)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    dx = x - x.mean()
    # β = Σ (x − x̄)(y − ȳ) / Σ (x − x̄)²  — exactly 0 for a constant y (polyfit leaves ~1e-17 noise)
    return float(np.sum(dx * (y - y.mean())) / np.sum(dx * dx))


def round_sig(x: float, digits: int = 6) -> float:
    """Round to ``digits`` significant digits so JSON does not carry float noise."""
    if x is None or not np.isfinite(x) or x == 0:
        return float(x) if x is not None else None
    return float(f"{x:.{digits}g}")


def paired_bootstrap_ci(statistic: Callable[[np.ndarray], float], n_seeds: int, *, confidence: float = 0.95,
                        n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED):
    """Value and percentile CI of ``statistic(seed_indices)`` when seeds are resampled jointly.

    For statistics that combine several methods or levels measured on the same seeds (e.g. "at how many SNR
    levels does A dominate B and C"), resampling the seed indices keeps each seed's results together.
    """
    idx = np.arange(n_seeds)
    value = float(statistic(idx))
    if not np.isfinite(value):
        raise FloatingPointError(f"paired_bootstrap_ci: statistic is not finite ({value})")
    if n_seeds < 2:
        return value, (value, value)
    res = _sps.bootstrap((idx,), statistic, vectorized=False, paired=True, confidence_level=confidence,
                         n_resamples=n_resamples, method="percentile", random_state=np.random.default_rng(seed))
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (np.isfinite(lo) and np.isfinite(hi)):   # no spread across resamples
        return value, (value, value)
    return value, (lo, hi)
