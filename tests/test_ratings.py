"""hrlkit.games.ratings: win/draw/loss tables, Bradley–Terry strengths, the Elo scale and the bootstrap over seeds."""

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq
from scipy.special import expit

from hrlkit.games import ratings


def games_table(*blocks: tuple) -> pd.DataFrame:
    """Rows from blocks ``(player_a, player_b, score_a, count)``."""
    rows = [(a, b, y) for a, b, y, count in blocks for _ in range(count)]
    return pd.DataFrame(rows, columns=ratings.GAME_COLUMNS)


def simulated_tournament(strengths: dict, games_per_pair: int, seed: int) -> pd.DataFrame:
    """Round robin; P(a beats b) = σ(s_a − s_b), no draws."""
    rng = np.random.default_rng(seed)
    players = list(strengths)
    blocks = []
    for i, a in enumerate(players):
        for b in players[i + 1:]:
            wins = int((rng.random(games_per_pair) < expit(strengths[a] - strengths[b])).sum())
            blocks += [(a, b, 1.0, wins), (a, b, 0.0, games_per_pair - wins)]
    return games_table(*blocks)


TRUE = {("fsp", 0): 1.0, ("fsp", 1): 0.8, ("fsp", 2): 1.2, ("sp", 0): 0.0, ("sp", 1): -0.3, ("sp", 2): 0.3,
        ("random", 0): -1.5, ("random", 1): -1.5, ("random", 2): -1.5}


@pytest.fixture(scope="module")
def tournament() -> pd.DataFrame:
    return simulated_tournament(TRUE, 40, seed=0)


def test_win_draw_loss_hand_counted():
    games = games_table(("A", "B", 1.0, 2), ("B", "A", 1.0, 1), ("A", "B", 0.5, 1), ("C", "A", 0.0, 3))
    table = ratings.win_draw_loss(games)
    assert table.wins.loc["A"].tolist() == [0, 2, 3] and table.wins.loc["B", "A"] == 1
    assert table.draws.loc["A", "B"] == table.draws.loc["B", "A"] == 1
    assert table.losses.equals(table.wins.T)
    assert table.games.loc["A", "B"] == 4 and table.games.loc["A", "C"] == 3
    # points: wins + ½ draws; A scored 2 + ½ of 4 games against B
    assert table.points.loc["A", "B"] == 2.5 and table.mean_score.loc["A", "B"] == pytest.approx(2.5 / 4)
    assert np.isnan(table.mean_score.loc["A", "A"]) and np.isnan(table.mean_score.loc["B", "C"])
    ordered = ratings.win_draw_loss(games, players=["C", "B", "A"])
    assert ordered.wins.index.tolist() == ["C", "B", "A"] and ordered.wins.loc["A", "C"] == 3


@pytest.mark.parametrize("k, n", [(7, 10), (1, 4), (50, 100)])
def test_two_players_hand_computed(k, n):
    """k wins of n: the maximum-likelihood s_1 − s_2 = ln(k / (n − k)), and the gauge puts them at ±half of it."""
    s = ratings.bradley_terry(games_table(("A", "B", 1.0, k), ("A", "B", 0.0, n - k)), prior_draws=0)
    assert s["A"] - s["B"] == pytest.approx(np.log(k / (n - k)), abs=1e-7)
    assert s.sum() == pytest.approx(0.0, abs=1e-12)


def test_draws_count_as_half_a_win_each():
    """2 wins + 2 draws = 3 points of 4, the same likelihood as 3 wins and a loss: s_A − s_B = ln 3."""
    with_draws = ratings.bradley_terry(games_table(("A", "B", 1.0, 2), ("A", "B", 0.5, 2)), prior_draws=0)
    without = ratings.bradley_terry(games_table(("A", "B", 1.0, 3), ("A", "B", 0.0, 1)), prior_draws=0)
    assert with_draws["A"] - with_draws["B"] == pytest.approx(np.log(3), abs=1e-7)
    assert np.allclose(with_draws, without, atol=1e-7)
    only_draws = ratings.bradley_terry(games_table(("A", "B", 0.5, 5)), prior_draws=0)
    assert np.allclose(only_draws, 0.0, atol=1e-9)


def test_recovers_known_strengths_from_many_games():
    truth = {"strong": 1.0, "middle": 0.0, "weak": -0.7}
    s = ratings.bradley_terry(simulated_tournament(truth, 4000, seed=1))
    centred = np.array(list(truth.values())) - np.mean(list(truth.values()))
    # standard error ≈ 1/√(n p (1 − p)) ≈ 0.02 per pair at 4000 games
    assert np.allclose(s[list(truth)].to_numpy(), centred, atol=0.08)


def test_perfect_separation_stays_finite_under_the_virtual_draw_prior():
    """A wins all 5 games against B. With c virtual draws of each player against the mean player (strength 0) and
    s_A = −s_B = x, the posterior mode solves 5·2σ(−2x) + 2c(½ − σ(x)) = 0."""
    s = ratings.bradley_terry(games_table(("A", "B", 1.0, 5)), prior_draws=1.0)
    x = brentq(lambda x: 10 * expit(-2 * x) + 2 * (0.5 - expit(x)), 0.0, 50.0)
    assert s["A"] == pytest.approx(x, abs=1e-6) and s["B"] == pytest.approx(-x, abs=1e-6)
    chain = ratings.bradley_terry(games_table(("A", "B", 1.0, 5), ("B", "C", 1.0, 5)))
    assert np.all(np.isfinite(chain)) and chain["A"] > chain["B"] > chain["C"]
    assert chain["A"] == pytest.approx(-chain["C"], abs=1e-6) and chain["B"] == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="perfect separation with prior_draws=0"):
        ratings.bradley_terry(games_table(("A", "B", 1.0, 5), ("B", "C", 1.0, 5)), prior_draws=0)


def test_the_prior_is_negligible_with_many_games():
    games = games_table(("A", "B", 1.0, 700), ("A", "B", 0.0, 300))
    with_prior, mle = ratings.bradley_terry(games), ratings.bradley_terry(games, prior_draws=0)
    assert with_prior["A"] - with_prior["B"] == pytest.approx(mle["A"] - mle["B"], abs=0.01)


def test_gauge_invariance(tournament):
    s = ratings.bradley_terry(tournament)
    assert s.mean() == pytest.approx(0.0, abs=1e-12)
    # the same games in another order, or seen from the other side, give the same strengths
    shuffled = tournament.sample(frac=1.0, random_state=3)
    flipped = tournament.rename(columns={"player_a": "player_b", "player_b": "player_a"}).assign(
        score_a=1.0 - tournament.score_a)
    for other in (shuffled, flipped):
        assert np.allclose(ratings.bradley_terry(other)[s.index], s, atol=1e-7)
    # a shift of every strength changes neither the win probabilities nor the anchored ratings
    assert np.allclose(ratings.win_probability(s + 3.0), ratings.win_probability(s))
    anchor = ("sp", 0)
    assert np.allclose(ratings.elo(s + 3.0, anchor=anchor, base=1000), ratings.elo(s, anchor=anchor, base=1000))
    # the anchor only moves the zero: rating differences stay the same
    by_sp, by_random = ratings.elo(s, anchor=anchor, base=1000), ratings.elo(s, anchor=("random", 0))
    assert by_sp[anchor] == 1000 and by_random[("random", 0)] == 0
    assert np.allclose(np.diff(by_sp.to_numpy()), np.diff(by_random.to_numpy()))


def test_elo_scale_and_win_probability():
    s = pd.Series({"A": 0.5, "B": -0.5, "C": 0.0})
    r = ratings.elo(s)
    assert r["A"] - r["B"] == pytest.approx(400 / np.log(10))
    assert r.mean() == pytest.approx(0.0)
    p = ratings.win_probability(s)
    # Elo's expected score 1 / (1 + 10^(−ΔR/400)) is σ(Δs)
    assert p.loc["A", "B"] == pytest.approx(1 / (1 + 10 ** (-(r["A"] - r["B"]) / 400)))
    assert p.loc["A", "B"] == pytest.approx(expit(1.0))
    assert np.allclose(p + p.T, 1.0) and np.allclose(np.diag(p), 0.5)


def test_bootstrap_is_deterministic_and_brackets_the_estimate(tournament):
    first = ratings.rating_bootstrap(tournament, n_resamples=200, seed=4)
    assert first.equals(ratings.rating_bootstrap(tournament, n_resamples=200, seed=4))
    assert not first.equals(ratings.rating_bootstrap(tournament, n_resamples=200, seed=5))
    assert first.index.tolist() == ["fsp", "random", "sp"] and first.seeds.tolist() == [3, 3, 3]
    assert (first.ci_low <= first.iqm).all() and (first.iqm <= first.ci_high).all()
    assert first.loc["fsp", "ci_low"] > first.loc["sp", "ci_high"] > first.loc["sp", "ci_low"] > \
        first.loc["random", "ci_high"]


def test_bootstrap_estimate_is_the_aggregate_of_the_players_ratings(tournament):
    player_elo = ratings.elo(ratings.bradley_terry(tournament), anchor=None, base=1000)
    table = ratings.rating_bootstrap(tournament, aggregate="mean", anchor_method=None, base=1000, n_resamples=20)
    for method in ("fsp", "sp", "random"):
        own = [r for p, r in player_elo.items() if p[0] == method]
        assert table.loc[method, "mean"] == pytest.approx(np.mean(own))


def test_bootstrap_anchor_method_is_rated_base(tournament):
    table = ratings.rating_bootstrap(tournament, anchor_method="random", base=1000, n_resamples=50)
    assert table.loc["random"].tolist()[:3] == [1000, 1000, 1000]
    assert table.loc["fsp", "iqm"] > table.loc["sp", "iqm"] > 1000


@pytest.mark.parametrize("games, match", [
    ([("A", "B", 1.0)], "games must be a pandas DataFrame"),
    (pd.DataFrame({"player_a": ["A"], "player_b": ["B"]}), r"lacks the columns \['score_a'\]"),
    (pd.DataFrame(columns=list(ratings.GAME_COLUMNS)), "games is empty"),
    (games_table(("A", "B", 0.3, 1)), "score_a must be 0, 0.5"),
    (games_table(("A", "B", float("nan"), 1)), "score_a must be 0, 0.5"),
    (games_table(("A", "A", 1.0, 1)), "cannot play itself"),
    (games_table(("A", None, 1.0, 1)), "must name a player"),
    (games_table(("A", "B", 1.0, 2), ("C", "D", 0.5, 2)), "never meet"),
])
def test_bad_games_are_named(games, match):
    with pytest.raises((TypeError, ValueError), match=match):
        ratings.bradley_terry(games)


def test_bad_arguments_are_named(tournament):
    with pytest.raises(ValueError, match="prior_draws"):
        ratings.bradley_terry(tournament, prior_draws=-1)
    with pytest.raises(ValueError, match="prior_draws"):
        ratings.bradley_terry(tournament, prior_draws=float("inf"))
    with pytest.raises(ValueError, match="players does not list"):
        ratings.win_draw_loss(tournament, players=[("fsp", 0)])
    with pytest.raises(ValueError, match="more than once"):
        ratings.win_draw_loss(games_table(("A", "B", 1.0, 1)), players=["A", "B", "A"])
    with pytest.raises(ValueError, match="anchor 'nobody'"):
        ratings.elo(ratings.bradley_terry(tournament), anchor="nobody")
    with pytest.raises(ValueError, match="anchor_method 'nobody'"):
        ratings.rating_bootstrap(tournament, anchor_method="nobody", n_resamples=5)
    with pytest.raises(ValueError, match=r"\(method, seed\) tuples"):
        ratings.rating_bootstrap(games_table(("A", "B", 1.0, 3), ("A", "B", 0.0, 1)), n_resamples=5)
    with pytest.raises(ValueError, match="aggregate"):
        ratings.rating_bootstrap(tournament, aggregate="median", n_resamples=5)
    with pytest.raises(ValueError, match="n_resamples"):
        ratings.rating_bootstrap(tournament, n_resamples=0)


def _optimiser_reporting_failure(at_optimum: bool):
    """scipy's minimize, but reporting failure (as trust-exact does when the predicted gain is round-off)."""
    from scipy import optimize

    real = optimize.minimize

    def fake(fun, x0, **kwargs):
        result = real(fun, x0, **kwargs)
        if not at_optimum:
            result.x = result.x + 0.5
        result.success, result.message = False, "A bad approximation caused failure to predict improvement."
        return result

    return fake


def test_a_reported_failure_at_the_optimum_is_accepted_and_elsewhere_raises(monkeypatch):
    from scipy import optimize

    games = games_table(("A", "B", 1.0, 7), ("A", "B", 0.0, 3))
    expected = ratings.bradley_terry(games, prior_draws=0)
    monkeypatch.setattr(optimize, "minimize", _optimiser_reporting_failure(at_optimum=True))
    assert ratings.bradley_terry(games, prior_draws=0).to_numpy() == pytest.approx(expected.to_numpy())
    monkeypatch.setattr(optimize, "minimize", _optimiser_reporting_failure(at_optimum=False))
    with pytest.raises(FloatingPointError, match="did not converge.*largest gradient"):
        ratings.bradley_terry(games, prior_draws=0)
