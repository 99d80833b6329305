"""Ratings from a cross-play tournament: Bradley–Terry strengths on the Elo scale, with a bootstrap over seeds.

A tournament is a long table of games (:data:`GAME_COLUMNS`: ``player_a``, ``player_b``, ``score_a`` ∈ {0, ½, 1}).
:func:`win_draw_loss` aggregates it; :func:`bradley_terry` fits strengths s by maximum likelihood (scipy), with
P(i beats j) = σ(s_i − s_j) and a draw counting as half a win for each side; :func:`elo` puts them on the Elo scale
(400/ln 10 per logit); :func:`win_probability` gives σ(s_i − s_j) for every pair; :func:`rating_bootstrap` resamples
each method's seeds (players are (method, seed) pairs), refits, and reports per-method aggregates with percentile
CIs (:mod:`hrlkit.stats` conventions: IQM or mean, fixed seed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats as _sps

from hrlkit.stats import AGGREGATES, DEFAULT_RESAMPLES, DEFAULT_SEED

__all__ = ["GAME_COLUMNS", "ELO_PER_LOGIT", "PRIOR_DRAWS", "WinDrawLoss", "win_draw_loss", "bradley_terry", "elo",
           "win_probability", "rating_bootstrap"]


GAME_COLUMNS = ("player_a", "player_b", "score_a")
# Elo: P(i beats j) = 1 / (1 + 10^(−(R_i − R_j)/400)) = σ((R_i − R_j)·ln 10 / 400), so one logit is 400/ln 10 ≈ 174
ELO_PER_LOGIT = 400.0 / np.log(10.0)
PRIOR_DRAWS = 1.0
#: largest gradient component (of the objective per game) accepted as converged when the optimiser reports otherwise
GRADIENT_TOLERANCE = 1e-6


@dataclass(frozen=True)
class WinDrawLoss:
    """A tournament as players × players matrices: ``wins.loc[i, j]`` = games i won against j, ``draws`` (symmetric)
    and ``losses`` (= ``wins`` transposed)."""

    wins: pd.DataFrame
    draws: pd.DataFrame
    losses: pd.DataFrame

    @property
    def games(self) -> pd.DataFrame:
        return self.wins + self.draws + self.losses

    @property
    def points(self) -> pd.DataFrame:
        """Points the row player scored against the column player, a draw counting ½ for each side."""
        return self.wins + 0.5 * self.draws

    @property
    def mean_score(self) -> pd.DataFrame:
        """Points per game of the row player against the column player; NaN where they never met."""
        games = self.games
        return self.points / games.where(games > 0)


def _check_games(games: pd.DataFrame) -> None:
    if not isinstance(games, pd.DataFrame):
        raise TypeError(f"games must be a pandas DataFrame with columns {GAME_COLUMNS}, got {type(games).__name__}")
    missing = [c for c in GAME_COLUMNS if c not in games.columns]
    if missing:
        raise ValueError(f"games lacks the columns {missing} (expected {GAME_COLUMNS}, one row per game)")
    if len(games) == 0:
        raise ValueError("games is empty: a tournament needs at least one game")
    if games.player_a.isna().any() or games.player_b.isna().any():
        raise ValueError("games.player_a and games.player_b must name a player in every row (found a missing value)")
    bad_score = ~games.score_a.isin([0.0, 0.5, 1.0])
    if bad_score.any():
        raise ValueError(f"games.score_a must be 0, 0.5 (a draw) or 1; rows {games.index[bad_score][:5].tolist()} "
                         f"have {games.score_a[bad_score][:5].tolist()}")
    self_play = (games.player_a == games.player_b).to_numpy()
    if self_play.any():
        raise ValueError(f"games: a player cannot play itself (rows {games.index[self_play][:5].tolist()}); "
                         "mirror games say nothing about strengths")


def win_draw_loss(games: pd.DataFrame, players: Sequence | None = None) -> WinDrawLoss:
    """Wins, draws and losses of every pair of players, from a long table of games.

    ``games`` has one row per game: ``player_a``, ``player_b`` (any hashable labels, e.g. ``(method, seed)``
    tuples) and ``score_a`` ∈ {0, 0.5, 1} (a loss, a draw, a win for ``player_a``). ``players`` orders the rows and
    columns (default: the sorted players of the table).
    """
    _check_games(games)
    if players is None:
        players = sorted(set(games.player_a) | set(games.player_b))
    index = pd.Index(list(players), tupleize_cols=False, name="player")
    if index.has_duplicates:
        raise ValueError(f"players lists {index[index.duplicated()].tolist()} more than once")
    a, b = index.get_indexer(games.player_a), index.get_indexer(games.player_b)
    unknown = (a < 0) | (b < 0)
    if unknown.any():
        names = sorted({str(p) for p in np.concatenate([games.player_a[a < 0], games.player_b[b < 0]])})
        raise ValueError(f"players does not list {names}, who play in games")
    score = games.score_a.to_numpy(dtype=float)
    wins, draws = np.zeros((len(index), len(index))), np.zeros((len(index), len(index)))
    np.add.at(wins, (a[score == 1.0], b[score == 1.0]), 1.0)
    np.add.at(wins, (b[score == 0.0], a[score == 0.0]), 1.0)
    np.add.at(draws, (a[score == 0.5], b[score == 0.5]), 1.0)
    draws = draws + draws.T

    def frame(matrix: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(matrix, index=index, columns=index.rename("opponent"))

    return WinDrawLoss(frame(wins), frame(draws), frame(wins.T))


def _check_comparable(points: np.ndarray, prior_draws: float, players: Sequence) -> None:
    """Strengths are comparable only within one connected comparison graph. Without a prior they are also finite
    only when the graph "i scored against j" is strongly connected: a group that never scored against the others
    (perfect separation) gets infinitely lower strengths (Zermelo 1929; Ford 1957)."""
    from scipy.sparse.csgraph import connected_components

    met = (points + points.T) > 0
    n_groups, group = connected_components(met, directed=False)
    if n_groups > 1:
        groups = [[players[i] for i in np.flatnonzero(group == g)] for g in range(n_groups)]
        raise ValueError(f"games: the players form {n_groups} groups that never meet, directly or through common "
                         f"opponents, so their ratings are not comparable: {groups}")
    if prior_draws > 0:
        return
    n_groups, group = connected_components(points > 0, directed=True, connection="strong")
    if n_groups > 1:
        groups = [[players[i] for i in np.flatnonzero(group == g)] for g in range(n_groups)]
        raise ValueError(f"games: perfect separation with prior_draws=0: some of the groups {groups} never scored "
                         "a point against another, so the maximum-likelihood strengths are infinite; use "
                         "prior_draws > 0")


def _checked_prior_draws(prior_draws: float) -> float:
    if isinstance(prior_draws, bool) or not isinstance(prior_draws, (int, float, np.number)) \
            or not 0 <= prior_draws < np.inf:
        raise ValueError(f"prior_draws must be a finite number ≥ 0, got {prior_draws!r}")
    return float(prior_draws)


def _fit_strengths(points: np.ndarray, prior_draws: float, players: Sequence,
                   start: np.ndarray | None = None) -> np.ndarray:
    """MAP Bradley–Terry strengths (mean 0) from the points matrix, by scipy's trust-region Newton method."""
    from scipy.optimize import minimize
    from scipy.special import expit, log_expit

    _check_comparable(points, prior_draws, players)
    n = len(points)
    met = points + points.T
    # the objective per game (real and virtual): better conditioned, same optimum
    scale = 1.0 / (points.sum() + n * prior_draws)

    def strengths(free: np.ndarray) -> np.ndarray:
        # gauge: s = (θ, −Σθ), so Σ_i s_i = 0
        return np.append(free, -free.sum())

    def to_free(grad_s: np.ndarray) -> np.ndarray:
        # ∂/∂θ_k = ∂/∂s_k − ∂/∂s_n  (ds/dθ = [I; −1ᵀ])
        return grad_s[:-1] - grad_s[-1]

    def objective(free: np.ndarray) -> tuple[float, np.ndarray]:
        s = strengths(free)
        d = s[:, None] - s[None, :]
        # log L = Σ_ij W_ij log σ(s_i − s_j)   (W_ij: points i scored against j)
        log_lik = np.sum(points * log_expit(d))
        # log prior = c Σ_i [½ log σ(s_i) + ½ log σ(−s_i)]: c virtual draws of each player against the mean player
        log_prior = prior_draws * 0.5 * np.sum(log_expit(s) + log_expit(-s))
        # ∂ log L/∂s_k = Σ_j M_kj − Σ_i M_ik,  M_ij = W_ij σ(s_j − s_i);  ∂ log prior/∂s_k = c (½ − σ(s_k))
        m = points * expit(-d)
        grad = m.sum(axis=1) - m.sum(axis=0) + prior_draws * (0.5 - expit(s))
        return -scale * (log_lik + log_prior), -scale * to_free(grad)

    def hessian(free: np.ndarray) -> np.ndarray:
        s = strengths(free)
        # −∂² log L = diag(C 1) − C,  C_ij = N_ij σ(s_i − s_j) σ(s_j − s_i)  (N_ij games between i and j);
        # −∂² log prior = c diag(σ(s) σ(−s))
        c = met * expit(s[:, None] - s[None, :]) * expit(s[None, :] - s[:, None])
        h = np.diag(c.sum(axis=1) + prior_draws * expit(s) * expit(-s)) - c
        # in θ: Bᵀ H B with B = ds/dθ = [I; −1ᵀ]
        h_free = h[:-1, :-1] - h[:-1, -1:] - h[-1:, :-1] + h[-1, -1]
        return scale * h_free

    x0 = np.zeros(n - 1) if start is None else start[:-1] - start.mean()
    result = minimize(objective, x0, jac=True, hess=hessian, method="trust-exact", options={"gtol": 1e-8})
    # trust-exact can stop with "a bad approximation caused failure to predict improvement" when it already sits at
    # the optimum and the predicted gain is round-off (a refit started from a nearby fit): the objective is strictly
    # convex, so a vanishing gradient there is the optimum, whatever the message
    gradient = np.max(np.abs(objective(result.x)[1]), initial=0.0)
    if not result.success and not gradient <= GRADIENT_TOLERANCE:
        raise FloatingPointError(f"bradley_terry: the fit did not converge ({result.message}; largest gradient "
                                 f"component {gradient:.3g})")
    return strengths(result.x)


def bradley_terry(games: pd.DataFrame, *, prior_draws: float = PRIOR_DRAWS) -> pd.Series:
    """Bradley–Terry (logistic) strengths s of the players of a tournament, in logits, with mean 0.

    Model: P(i beats j) = σ(s_i − s_j) (Bradley & Terry 1952; Elo's logistic form). A draw counts as half a win
    for each side: with y = ``score_a`` ∈ {0, ½, 1} the log-likelihood is

        log L = Σ_games [y log σ(s_a − s_b) + (1 − y) log σ(s_b − s_a)].

    Only differences are identified; the gauge is fixed by Σ_i s_i = 0.

    Fitted by maximum a posteriori with a small symmetric prior that keeps every strength finite under perfect
    separation (a player who wins, or loses, every game): each player also plays ``prior_draws`` virtual draws
    against the mean player (strength 0); virtual draws are also the prior of Coulom's BayesElo. ``prior_draws=0``
    is the plain maximum likelihood, which fails by name when the strengths would be infinite. The optimiser is
    scipy's trust-exact (Newton steps in a trust region, exact gradient and Hessian).
    """
    points = win_draw_loss(games).points
    strengths = _fit_strengths(points.to_numpy(), _checked_prior_draws(prior_draws), points.index)
    return pd.Series(strengths, index=points.index, name="strength")


def elo(strengths: pd.Series, *, anchor=None, base: float = 0.0) -> pd.Series:
    """Strengths (logits) on the Elo scale: R_i = base + (400/ln 10)·(s_i − s_ref), with s_ref the ``anchor``
    player's strength (its rating is ``base``, e.g. 0 or 1000) or, with no anchor, the mean strength."""
    if anchor is None:
        reference = float(strengths.mean())
    elif anchor in strengths.index:
        reference = float(strengths[anchor])
    else:
        raise ValueError(f"elo: anchor {anchor!r} is not one of the players {strengths.index.tolist()}")
    # R_i = base + (400 / ln 10)·(s_i − s_ref)
    return (base + ELO_PER_LOGIT * (strengths - reference)).rename("elo")


def win_probability(strengths: pd.Series) -> pd.DataFrame:
    """P(row beats column) = σ(s_i − s_j) from strengths in logits (with draws: the expected score, P(win) +
    ½ P(draw))."""
    from scipy.special import expit

    s = strengths.to_numpy(dtype=float)
    # P_ij = σ(s_i − s_j)
    p = expit(s[:, None] - s[None, :])
    return pd.DataFrame(p, index=strengths.index, columns=strengths.index.rename("opponent"))


def _method_members(players: pd.Index) -> dict[str, np.ndarray]:
    bad = [p for p in players if not (isinstance(p, tuple) and len(p) == 2)]
    if bad:
        raise ValueError(f"rating_bootstrap: players must be (method, seed) tuples, got {bad[:5]}")
    methods = np.array([p[0] for p in players], dtype=object)
    return {m: np.flatnonzero(methods == m) for m in sorted(set(methods))}


def _method_ratings(strengths: np.ndarray, blocks: dict[str, slice], aggregate: Callable[..., np.ndarray],
                    anchor_method: str | None, base: float) -> np.ndarray:
    """Aggregate Elo rating of each method (in ``blocks`` order), the anchor method's (or the mean player's) at
    ``base``."""
    ratings = ELO_PER_LOGIT * strengths
    per_method = np.array([float(aggregate(ratings[block])) for block in blocks.values()])
    # with no anchor the fit's gauge (Σ_i s_i = 0) already puts the mean player at 0
    reference = per_method[list(blocks).index(anchor_method)] if anchor_method is not None else 0.0
    return base + per_method - reference


def rating_bootstrap(games: pd.DataFrame, *, aggregate: str = "iqm", anchor_method: str | None = None,
                     base: float = 0.0, prior_draws: float = PRIOR_DRAWS, confidence: float = 0.95,
                     n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """Per-method Elo rating (IQM or mean over its seeds) with a percentile bootstrap CI over seeds.

    Players are ``(method, seed)`` tuples. The estimate aggregates the ratings of :func:`bradley_terry` (same
    ``prior_draws``) over each method's seeds. Each resample draws, for every method, as many of its seeds as it has
    with replacement (stratified by method), rebuilds the tournament among the drawn players (a seed drawn twice
    plays as two copies with its own games; copies of one seed have no game between them) and refits. Ratings are
    relative to ``anchor_method``'s aggregate (rated ``base``) or, with no anchor, to the mean player of the fit.
    Returns one row per method: the aggregate, ``ci_low``, ``ci_high`` and the number of ``seeds``. Each resample
    is a refit, started from the full fit (a few milliseconds for ten players).
    """
    if aggregate not in AGGREGATES:
        raise ValueError(f"rating_bootstrap: aggregate must be one of {sorted(AGGREGATES)}, got {aggregate!r}")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 1:
        raise ValueError(f"rating_bootstrap: n_resamples must be an integer ≥ 1, got {n_resamples!r}")
    prior_draws = _checked_prior_draws(prior_draws)
    table = win_draw_loss(games)
    players = table.points.index
    members = _method_members(players)
    if anchor_method is not None and anchor_method not in members:
        raise ValueError(f"rating_bootstrap: anchor_method {anchor_method!r} is not one of the methods {list(members)}")
    order = np.concatenate(list(members.values()))
    sizes = [len(m) for m in members.values()]
    blocks = {method: slice(end - size, end) for method, size, end in zip(members, sizes, np.cumsum(sizes))}
    stat = AGGREGATES[aggregate]
    points = table.points.to_numpy()
    fitted = _fit_strengths(points, prior_draws, players)
    estimate = _method_ratings(fitted[order], blocks, stat, anchor_method, base)
    rng = np.random.default_rng(seed)
    resampled = np.empty((n_resamples, len(members)))
    for r in range(n_resamples):
        drawn = np.concatenate([rng.choice(m, size=len(m), replace=True) for m in members.values()])
        labels = [players[i] for i in drawn]
        refit = _fit_strengths(points[np.ix_(drawn, drawn)], prior_draws, labels, start=fitted[drawn])
        resampled[r] = _method_ratings(refit, blocks, stat, anchor_method, base)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(resampled, [alpha, 1.0 - alpha], axis=0)
    return pd.DataFrame({aggregate: estimate, "ci_low": low, "ci_high": high, "seeds": sizes},
                        index=pd.Index(list(members), name="method"))
