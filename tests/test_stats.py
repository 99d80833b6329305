import numpy as np
import pytest

from hrlkit import stats


def test_iqm_hand_computed():
    # n = 8, sorted [-50, 1, 2, 3, 4, 5, 6, 100]: trim int(0.25 * 8) = 2 from each end -> mean of [2, 3, 4, 5]
    assert stats.iqm(np.array([100.0, 1, 2, 3, 4, 5, 6, -50])) == pytest.approx(3.5)
    # n < 4 trims nothing: the IQM is the mean
    assert stats.iqm(np.array([1.0, 2.0, 6.0])) == pytest.approx(3.0)


def test_iqm_is_robust_to_one_outlier():
    x = np.array([1.0, 2, 3, 4, 1e6])
    assert stats.iqm(x) < 5 < stats.mean(x)


@pytest.mark.parametrize("aggregate, truth", [("mean", 0.0), ("iqm", 0.0)])
def test_bootstrap_ci_coverage_on_known_distribution(aggregate, truth):
    """95 % percentile-bootstrap CIs of N(0, 1) samples (n = 20) cover the true centre ~95 % of the time."""
    rng = np.random.default_rng(123)
    hits = 0
    trials = 200
    for _ in range(trials):
        x = rng.normal(size=20)
        _, (lo, hi) = stats.bootstrap_ci(x, aggregate, n_resamples=500)
        hits += lo <= truth <= hi
    # percentile intervals under-cover a little at n = 20; a broken CI (e.g. too narrow) lands far below 0.85
    assert 0.85 <= hits / trials <= 0.99


def test_bootstrap_ci_is_deterministic_and_brackets_value():
    x = np.random.default_rng(0).exponential(size=10)
    a = stats.bootstrap_ci(x, "iqm")
    b = stats.bootstrap_ci(x, "iqm")
    assert a == b
    value, (lo, hi) = a
    assert lo <= value <= hi


def test_bootstrap_ci_degenerate_samples_give_point_interval():
    assert stats.bootstrap_ci([0.3, 0.3, 0.3], "mean") == (0.3, (0.3, 0.3))
    assert stats.bootstrap_ci([2.0], "mean") == (2.0, (2.0, 2.0))


def test_bootstrap_rejects_nan():
    with pytest.raises(FloatingPointError):
        stats.bootstrap_ci([1.0, np.nan, 2.0])


def test_difference_ci_is_stratified_and_signed():
    a = np.array([10.0, 11, 12, 13, 14])
    b = np.array([0.0, 1, 2, 3, 4])
    value, (lo, hi) = stats.difference_ci(a, b, "mean")
    assert value == pytest.approx(10.0)
    # a and b are resampled independently; every resample difference stays within [14-... ] bounds
    assert 6.0 < lo <= 10.0 <= hi < 14.0


def test_ratio_ci():
    value, (lo, hi) = stats.ratio_ci([2.0, 2.0, 2.0], [1.0, 1.0, 1.0], "mean")
    assert (value, lo, hi) == (2.0, 2.0, 2.0)


def test_probability_of_improvement_hand_computed():
    # pairs (x > y): 3>1, 3>2, 5>1, 5>2, 5>3(tie? no: y has 3) -> x=[3,5], y=[1,2,3]
    # x=3: >1, >2, =3 (half) -> 2.5 ; x=5: 3 -> total 5.5 / 6
    assert stats.probability_of_improvement([3, 5], [1, 2, 3]) == pytest.approx(5.5 / 6)
    value, (lo, hi) = stats.probability_of_improvement_ci([3.0, 5.0, 4.0], [1.0, 2.0, 3.0])
    assert lo <= value <= hi <= 1.0


def test_paired_bootstrap_keeps_seeds_together():
    a = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    b = a + 0.5  # b beats a on every seed by exactly 0.5: any paired resample gives 0.5
    value, ci = stats.paired_bootstrap_ci(lambda idx: float(np.mean(b[idx] - a[idx])), len(a))
    assert value == pytest.approx(0.5) and ci == pytest.approx((0.5, 0.5))


def test_slope():
    assert stats.slope([0, 1, 2], [1, 3, 5]) == pytest.approx(2.0)
    assert stats.slope([5, 10, 20, 40], [4.0, 4.0, 4.0, 4.0]) == 0.0   # exactly: a flat line has no slope
    np.testing.assert_allclose(stats.slope([1, 2, 4, 7], [3, 1, 4, 1]), np.polyfit([1, 2, 4, 7], [3, 1, 4, 1], 1)[0])


def test_round_sig():
    assert stats.round_sig(0.123456789, 3) == 0.123
    assert stats.round_sig(0.0) == 0.0


def test_difference_of_equal_aggregates_is_exactly_zero():
    # the same values in another order: the IQMs can differ in the last bit; the difference is reported as 0
    a = np.array([0.7, 0.1, 0.2, 0.9, 0.3])
    value, (lo, hi) = stats.difference_ci(a, a[::-1].copy())
    assert value == 0.0
    value, _ = stats.difference_ci(a, a + 1e-9)
    assert value != 0.0                         # a real (if small) difference is kept


def test_pairing_matters_when_seeds_share_their_noise():
    # seed effects of ±5 shared by both methods; b is better by exactly 0.3 on every seed
    seed_effect = np.array([-5.0, -2.0, 0.0, 3.0, 6.0, -4.0, 1.0, 5.0])
    a, b = seed_effect, seed_effect + 0.3
    _, (lo_u, hi_u) = stats.difference_ci(b, a, "mean")
    value, (lo_p, hi_p) = stats.paired_difference_ci(b, a, "mean")
    assert lo_u < 0 < hi_u                                   # unpaired: the shared noise swamps the effect
    assert value == pytest.approx(0.3) and (lo_p, hi_p) == pytest.approx((0.3, 0.3))   # paired: it cancels
    with pytest.raises(ValueError, match="same units"):
        stats.paired_difference_ci([1.0, 2.0], [1.0])


def test_probability_of_improvement_paired():
    assert stats.probability_of_improvement_paired([1.0, -1.0, 0.0, 2.0]) == pytest.approx((1 + 0 + 0.5 + 1) / 4)


def test_min_detectable_effect_matches_the_normal_closed_form():
    # large n: the t test approaches the z test, MDE = (z_{1-α/2} + z_{power}) · sd / √n (paired), × √2 unpaired
    from scipy.stats import norm

    z = norm.ppf(0.975) + norm.ppf(0.8)
    assert stats.min_detectable_effect(2.0, 2000, paired=True) == pytest.approx(z * 2.0 / np.sqrt(2000), rel=2e-3)
    assert stats.min_detectable_effect(2.0, 2000, paired=False) == pytest.approx(z * 2.0 * np.sqrt(2 / 2000),
                                                                                 rel=2e-3)
    # small n: the t test needs a larger effect than the z approximation
    assert stats.min_detectable_effect(1.0, 5) > z / np.sqrt(5)
    assert stats.min_detectable_effect(1.0, 1) is None and stats.min_detectable_effect(0.0, 5) == 0.0


def test_units_needed_inverts_the_minimum_detectable_effect():
    for n in (5, 10, 30):
        mde = stats.min_detectable_effect(1.5, n, paired=True)
        assert stats.units_needed(mde, 1.5, paired=True) == n
    assert stats.units_needed(0.0, 1.0) is None and stats.units_needed(1.0, float("nan")) is None


def test_units_needed_at_the_extremes_without_warnings():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert stats.units_needed(1.0, 0.018) == 2          # an effect of 55 sd: two seeds already suffice
        # where statsmodels' noncentral t gives nan (an effect of ~41 sd, a NumPy float): still two seeds
        assert stats.units_needed(np.float64(0.8837), 0.02158899912840919) == 2
        assert stats.units_needed(1e-4, 1.0) == 10_000      # hopeless: the cap, said plainly
        # textbook values: paired d = 0.5 needs 34 pairs, two groups need 64 per group (alpha 0.05, power 0.8)
        assert stats.units_needed(0.5, 1.0, paired=True) == 34
        assert stats.units_needed(0.5, 1.0, paired=False) == 64


def test_holm_textbook_example():
    adjusted, reject = stats.holm([0.01, 0.04, 0.03, 0.005])
    # sorted 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 → max(0.06, 0.04) = 0.06 (monotone)
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert reject == [True, False, False, True]


def test_t_test_p():
    assert stats.t_test_p([1.0, 1.0, 1.0]) == 0.0 and stats.t_test_p([0.0, 0.0]) == 1.0
    from scipy.stats import ttest_1samp, ttest_ind

    d = [0.5, 1.2, -0.3, 0.8]
    assert stats.t_test_p(d, threshold=0.2) == pytest.approx(ttest_1samp(d, 0.2).pvalue)
    a, b = [1.0, 2.0, 3.5], [0.0, 0.4, 1.0, 2.2]
    assert stats.t_test_p(a, b, paired=False) == pytest.approx(ttest_ind(a, b, equal_var=False).pvalue)


def test_errors_name_the_metric_and_method():
    with pytest.raises(ValueError, match="success of no-prior"):
        stats.bootstrap_ci(stats.Sample([], "success of no-prior"))
    with pytest.raises(FloatingPointError, match="time to goal of latent-only"):
        stats.bootstrap_ci(stats.Sample([1.0, np.nan], "time to goal of latent-only"))
    with pytest.raises(ValueError, match="no values"):
        stats.bootstrap_ci([])
    assert stats.format_ci([1.0, 2.0, 3.0], "mean").startswith("2 [")
    assert stats.format_ci([np.nan]) == "—"


def test_two_way_bootstrap_covers_item_noise_that_a_seed_bootstrap_ignores():
    rng = np.random.default_rng(1)
    items = rng.choice([-1.0, 1.0], size=400)                   # one test set of ±1 items, the same for every seed
    first = np.tile(items, (10, 1))                              # no seed-to-seed variation at all
    value, (lo, hi) = stats.paired_two_way_bootstrap_ci(first, np.zeros_like(first), "mean", n_resamples=4000)
    assert value == pytest.approx(items.mean())
    half_width = 1.96 * items.std() / np.sqrt(items.size)         # the normal interval of a mean over 400 items
    assert (hi - lo) / 2 == pytest.approx(half_width, rel=0.1)
    assert stats.paired_bootstrap_ci(lambda idx: first[idx].mean(), 10)[1] == (value, value)   # seeds alone: none


def test_two_way_bootstrap_with_one_item_is_the_paired_seed_bootstrap():
    rng = np.random.default_rng(2)
    first, second = rng.normal(1.0, 1.0, size=(12, 1)), rng.normal(0.0, 1.0, size=(12, 1))
    value, (lo, hi) = stats.paired_two_way_bootstrap_ci(first, second, "iqm", n_resamples=4000)
    ref_value, (ref_lo, ref_hi) = stats.paired_difference_ci(first[:, 0], second[:, 0], "iqm", n_resamples=4000)
    assert value == pytest.approx(ref_value)
    assert lo == pytest.approx(ref_lo, abs=0.15) and hi == pytest.approx(ref_hi, abs=0.15)
    again = stats.paired_two_way_bootstrap_ci(first, second, "iqm", n_resamples=4000)
    assert again == (value, (lo, hi))                            # fixed random state


def test_two_way_bootstrap_rejects_bad_shapes_and_nans():
    with pytest.raises(ValueError, match="seeds × items"):
        stats.paired_two_way_bootstrap_ci(np.zeros(3), np.zeros(3))
    with pytest.raises(FloatingPointError):
        stats.paired_two_way_bootstrap_ci(np.full((2, 2), np.nan), np.zeros((2, 2)))
