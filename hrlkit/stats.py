"""Aggregate statistics over seeds, the rliable way (Agarwal et al., 2021).

Point estimates: IQM (interquartile mean) or mean. Uncertainty: 95 % percentile bootstrap confidence intervals
over seeds, built on ``scipy.stats.bootstrap`` with a fixed random state so the intervals (and therefore the
verdicts) are byte-identical across reruns.

* **Unpaired** (stratified): each method (or condition) is resampled within its own seeds; a statistic that
  combines several groups resamples each group independently (:func:`difference_ci`).
* **Paired**: when two methods share their seeds or evaluation sets (common random numbers), the statistic is
  computed from the per-seed differences and the seeds are resampled together (:func:`paired_difference_ci`).
  The seed-to-seed noise that both share cancels, which is often most of it.

Power (:func:`min_detectable_effect`, :func:`units_needed`) comes from ``statsmodels.stats.power`` (t tests on
the mean: a normal approximation for the IQM), and the multiplicity view from ``statsmodels.stats.multitest``
(Holm). Every entry point names what it was computing on (``label``) when it fails: an empty sample or a NaN says
which metric of which method.
"""

from __future__ import annotations

import warnings

from typing import Callable, Sequence

import numpy as np
from scipy import stats as _sps

DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 0
POWER = 0.8
ALPHA = 0.05


class Sample(np.ndarray):
    """Per-seed (or per-unit) values that know what they are (``label``: metric, method, condition), so that a
    statistic that cannot be computed on them says so by name. Behaves as a plain float array otherwise."""

    label: str | None

    def __new__(cls, values, label: str | None = None):
        obj = np.asarray(values, dtype=float).view(cls)
        obj.label = label
        return obj

    def __array_finalize__(self, obj) -> None:
        self.label = getattr(obj, "label", None)


def label_of(*samples) -> str:
    names = [getattr(s, "label", None) for s in samples]
    names = [n for n in names if n]
    return " vs ".join(dict.fromkeys(names)) if names else "an unlabelled sample"


# The IQM is the aggregate of choice (Agarwal et al. 2021): as robust to a stray seed as the median, and less noisy.
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
        raise FloatingPointError(f"bootstrap_ci: the statistic is not finite ({value}) on {label_of(*groups)}")
    if _degenerate(groups) or any(len(g) < 2 for g in groups):
        return value, (value, value)
    res = _sps.bootstrap(
        tuple(groups), stat, vectorized=True, paired=False, confidence_level=confidence,
        n_resamples=n_resamples, method="percentile", random_state=np.random.default_rng(seed),
    )
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return value, (lo, hi)


def _as_groups(samples) -> list[np.ndarray]:
    if isinstance(samples, np.ndarray) and samples.ndim == 1:
        samples = [samples]
    elif len(samples) and np.ndim(samples[0]) == 0:
        samples = [samples]
    if len(samples) == 0:
        raise ValueError(f"no values to aggregate ({label_of(samples)}): is the method, metric or condition missing "
                         "from the runs?")
    groups = [g if isinstance(g, Sample) else np.asarray(g, dtype=float) for g in samples]
    for g in groups:
        if g.ndim != 1 or len(g) == 0:
            raise ValueError(f"no per-seed values for {label_of(g)}: every group must be a non-empty 1-D array (is "
                             "the method, metric or condition missing from the runs?)")
        if not np.all(np.isfinite(np.asarray(g, dtype=float))):
            raise FloatingPointError(f"{label_of(g)} contains NaN or inf: {np.asarray(g).tolist()}")
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


def paired_difference_ci(a: Sequence[float], b: Sequence[float], aggregate: str = "iqm", **kw):
    """Aggregate of the per-unit differences ``a_i − b_i`` (units = seeds, or evaluation episodes shared by both
    methods), with a percentile bootstrap that resamples units, so each pair stays together."""
    a, b = _paired(a, b)
    d = a - b
    value, (lo, hi) = bootstrap_ci(Sample(d, label_of(a, b)), aggregate, **kw)
    scale = 1e-12 * max(float(np.max(np.abs(a))), float(np.max(np.abs(b))), 1e-300)
    snap = (lambda x: 0.0 if abs(x) <= scale else x)
    return snap(value), (snap(lo), snap(hi))


def _paired(a, b) -> tuple[np.ndarray, np.ndarray]:
    la, lb = label_of(a), label_of(b)
    a = a if isinstance(a, Sample) else Sample(a)
    b = b if isinstance(b, Sample) else Sample(b)
    if a.ndim != 1 or b.ndim != 1 or len(a) != len(b):
        raise ValueError(f"paired comparison needs the same units on both sides: {la} has {np.shape(a)}, {lb} "
                         f"has {np.shape(b)}")
    _as_groups([a, b])
    return a, b


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


def probability_of_improvement_paired(d: Sequence[float]) -> float:
    """P(D > 0) over units, ties counting ½: the probability that one more seed favours the first method, when
    both methods ran on the same seeds (``d`` = per-seed differences, oriented so that > 0 is an improvement)."""
    d = np.asarray(d, dtype=float)
    return float(np.mean((d > 0) + 0.5 * (d == 0)))


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


_TWO_WAY_CHUNK = 5000


def paired_two_way_bootstrap_ci(first: np.ndarray, second: np.ndarray, aggregate: str = "iqm", *,
                                confidence: float = 0.95, n_resamples: int = DEFAULT_RESAMPLES,
                                seed: int = DEFAULT_SEED) -> tuple[float, tuple[float, float]]:
    """Value and percentile CI of ``aggregate`` over seeds of the per-seed mean over items of first − second.

    ``first`` and ``second`` are (seeds × items) scores of two methods on the same seeds and the same test items
    (e.g. 0/1 correctness per problem). A seed-only bootstrap conditions on the items that happen to be in the test
    set; this one resamples seeds and items independently (a two-way, or crossed, bootstrap: every resampled seed
    sees the same resampled items), so the interval also covers the choice of items. With one item it reduces to
    the paired seed bootstrap; with one seed, to the bootstrap of a mean over items.
    """
    diff = np.asarray(first, dtype=float) - np.asarray(second, dtype=float)
    if diff.ndim != 2 or 0 in diff.shape:
        raise ValueError(f"paired_two_way_bootstrap_ci: expects two (seeds × items) arrays, got shape {diff.shape}")
    if not np.all(np.isfinite(diff)):
        raise FloatingPointError("paired_two_way_bootstrap_ci: the scores are not all finite")
    stat = AGGREGATES[aggregate]
    value = float(stat(diff.mean(axis=1)))
    n_seeds, n_items = diff.shape
    rng = np.random.default_rng(seed)
    resampled = []
    for start in range(0, n_resamples, _TWO_WAY_CHUNK):                 # chunks bound the memory at many items
        r = min(_TWO_WAY_CHUNK, n_resamples - start)
        item_weights = rng.multinomial(n_items, np.full(n_items, 1.0 / n_items), size=r)   # (r, items)
        per_seed = diff @ item_weights.T / n_items                                          # (seeds, r)
        rows = rng.integers(0, n_seeds, size=(r, n_seeds))                                  # (r, seeds)
        resampled.append(stat(per_seed[rows, np.arange(r)[:, None]], axis=1))
    resampled = np.concatenate(resampled)
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(resampled, [alpha, 1.0 - alpha])
    return value, (float(lo), float(hi))


# =====================================================================================================
# Power and multiplicity
# =====================================================================================================


def _power_model(paired: bool):
    from statsmodels.stats.power import TTestIndPower, TTestPower

    return TTestPower() if paired else TTestIndPower()


def spread(values: Sequence[float], other: Sequence[float] | None = None) -> float:
    """The standard deviation a power analysis uses: of the per-unit differences (paired: pass them alone), or the
    pooled one of two independent samples."""
    x = np.asarray(values, dtype=float)
    if other is None:
        return float(np.std(x, ddof=1)) if len(x) > 1 else float("nan")
    y = np.asarray(other, dtype=float)
    if len(x) < 2 or len(y) < 2:
        return float("nan")
    pooled = ((len(x) - 1) * np.var(x, ddof=1) + (len(y) - 1) * np.var(y, ddof=1)) / (len(x) + len(y) - 2)
    return float(np.sqrt(pooled))


def min_detectable_effect(sd: float, n: int, *, paired: bool = True, power: float = POWER,
                          alpha: float = ALPHA) -> float | None:
    """Smallest true difference (in the statistic's units) that a two-sided level-``alpha`` t test on ``n`` units
    (paired; or ``n`` seeds per method) detects with probability ``power``: d* × sd, d* from statsmodels."""
    if n < 2 or not np.isfinite(sd):
        return None
    if sd == 0:
        return 0.0
    kw = dict(nobs=n) if paired else dict(nobs1=n, ratio=1.0)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("ignore")
        d = _power_model(paired).solve_power(effect_size=None, alpha=alpha, power=power, alternative="two-sided",
                                             **kw)
    return float(d) * sd


def units_needed(effect: float, sd: float, *, paired: bool = True, power: float = POWER, alpha: float = ALPHA,
                 cap: int = 10_000) -> int | None:
    """Seeds (per method) a two-sided t test needs to detect a true difference ``effect`` with probability
    ``power``, given the spread ``sd``; ``None`` when it cannot be said (no spread estimate, or no effect)."""
    if not np.isfinite(sd) or not np.isfinite(effect) or effect == 0:
        return None
    if sd == 0:
        return 2
    d = abs(float(effect)) / float(sd)
    model = _power_model(paired)
    size = "nobs" if paired else "nobs1"
    extra = {} if paired else {"ratio": 1.0}

    def power_at(n: int) -> float:
        value = float(model.power(effect_size=d, alpha=alpha, alternative="two-sided", **{size: n}, **extra))
        if np.isfinite(value):
            return value
        # statsmodels' noncentral t returns nan far in the tail: the normal approximation is exact enough there
        dof = n - 1 if paired else 2 * n - 2
        shift = d * np.sqrt(n if paired else n / 2.0)
        return float(_sps.norm.cdf(shift - _sps.t.ppf(1 - alpha / 2, dof)))

    # record=True: statsmodels' root finder warns (and gives up) at the extremes, even under its own filters
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("ignore")
        # a large effect: the smallest sample a t test can use already has the power
        if power_at(2) >= power:
            return 2
        if power_at(cap) < power:
            return cap
        try:
            n = model.solve_power(effect_size=d, alpha=alpha, power=power, alternative="two-sided",
                                  **{size: None}, **extra)
        except Exception:  # noqa: BLE001 - the root finder can still fail; the bracket above says the answer is ≤ cap
            return cap
    n = float(np.asarray(n).item())
    return int(min(cap, max(2, np.ceil(n)))) if np.isfinite(n) else cap


def t_test_p(a: Sequence[float], b: Sequence[float] | None = None, *, threshold: float = 0.0,
             paired: bool = True) -> float | None:
    """Two-sided p value of "the mean statistic equals ``threshold``": one-sample t test on ``a`` (paired
    differences), or Welch's test of mean(a) − mean(b) = threshold."""
    from scipy import stats as sps

    x = np.asarray(a, dtype=float)
    if b is None:
        if len(x) < 2:
            return None
        if np.ptp(x) == 0:
            return 1.0 if x[0] == threshold else 0.0
        return float(sps.ttest_1samp(x, threshold).pvalue)
    y = np.asarray(b, dtype=float)
    if len(x) < 2 or len(y) < 2:
        return None
    if np.ptp(x) == 0 and np.ptp(y) == 0:
        return 1.0 if x[0] - y[0] == threshold else 0.0
    return float(sps.ttest_ind(x - threshold, y, equal_var=False).pvalue)


def holm(pvalues: Sequence[float], alpha: float = ALPHA) -> tuple[list[float], list[bool]]:
    """Holm–Bonferroni adjusted p values and which hypotheses are rejected at ``alpha`` (statsmodels)."""
    from statsmodels.stats.multitest import multipletests

    if len(pvalues) == 0:
        return [], []
    reject, adjusted, _, _ = multipletests(list(pvalues), alpha=alpha, method="holm")
    return [float(p) for p in adjusted], [bool(r) for r in reject]


# =====================================================================================================
# Display
# =====================================================================================================


def format_ci(values: Sequence[float], aggregate: str = "iqm", spec: str = ".3g", missing: str = "—") -> str:
    """``"value [lo, hi]"``: the aggregate over seeds and its 95 % bootstrap CI, for tables (``missing`` when there
    are no finite values, e.g. a time to goal that no episode reached)."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return missing
    v, (lo, hi) = bootstrap_ci(x, aggregate)
    return f"{v:{spec}} [{lo:{spec}}, {hi:{spec}}]"
