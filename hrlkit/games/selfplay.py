"""Opponent pools for self-play and fictitious self-play (FSP), and per-game opponent assignment.

**Fictitious play** (Brown 1951): each player best-responds to the *average* of its opponent's past strategies; in
two-player zero-sum games the average strategies converge to a Nash equilibrium. **Fictitious self-play**
(Heinrich, Lanctot & Silver 2015, "Fictitious Self-Play in Extensive-Form Games", ICML) carries this to sequential
games with learned best responses (RL) and learned average policies. The deep-RL form used here: snapshot the
learner's policy every few updates into a pool, and train against opponents drawn from the pool. The learner then
best-responds to the mixture of its past policies.

Sampling rule of :class:`OpponentPool` (``latest_prob`` = p, K = snapshots in the pool)::

    P(opponent = latest snapshot) = p + (1 − p) / K
    P(opponent = any other one)   = (1 − p) / K

* p = 0: uniform over the whole history, FSP's average of past policies;
* p = 1: always the newest snapshot, plain self-play;
* 0 < p < 1: a mixture, "the newest with probability p, else uniform over the history".

**Draw per game, keep for the game.** A snapshot drawn at kickoff and kept until the game ends plays the uniform
mixture of past policies as a *mixed* strategy, which is realization-equivalent to FSP's average policy (Heinrich et
al. 2015). Drawing again at every step would average the actions state by state instead, which is a different
policy. :meth:`OpponentPool.sample` draws one opponent per game, vectorised, so a batched simulator can run a
different opponent in each game; redraw only for the games that restart (``assignment[done] =
pool.sample(int(done.sum()))``). :func:`games_by_opponent` groups the games by opponent so each opponent network runs
once per batch::

    for opponent_id, games in games_by_opponent(assignment).items():
        opponent.load_state_dict(pool[opponent_id].state_dict)
        actions[games] = opponent(observations[games])

**Snapshots** are state dicts copied to the CPU and detached (nested mappings are copied too, e.g. a policy together
with its observation normaliser), so later training cannot alter them. Each snapshot keeps the id that ``add``
returned (0, 1, 2, … in the order of the ``add`` calls), and :meth:`OpponentPool.sample` returns these ids. They stay
valid when older snapshots are evicted, so a game that began before an ``add`` keeps its opponent.

**Capacity** (optional; ``None`` keeps the whole history, which is exact FSP). With capacity k the pool keeps the
newest snapshot and a *reservoir* of at most k − 1 older ones, maintained by reservoir sampling (Vitter 1985,
"Random sampling with a reservoir", Algorithm R). When a snapshot stops being the newest, it is the m-th older
snapshot offered to the reservoir. While the reservoir has room, it enters. Once the reservoir is full, it enters with
probability (k − 1)/m and replaces a uniformly chosen resident; otherwise it is dropped. Each older snapshot is then in
the reservoir with the same probability (k − 1)/m: the reservoir is a uniform random subset of the history, so under
the uniform rule every past policy stays equally likely to be played, as in exact FSP (only the newest, always kept, is
drawn with probability 1/k instead of 1/(m + 1)). NFSP (Heinrich & Silver 2016, arXiv 1603.01121) keeps its
average-policy memory the same way. The alternatives bias the average. Evicting the oldest turns FSP into self-play
against a recent window, which can forget how to beat early strategies and cycle. Pinning the first (random) policy
gives it probability 1/k instead of 1/(m + 1), an over-weighting FSP's average does not call for. Eviction has its
own random stream, so it does not depend on how often the pool was sampled.

Everything is deterministic given ``seed`` and the sequence of calls.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from hrlkit.seeding import derive_seed

__all__ = ["Snapshot", "OpponentPool", "games_by_opponent"]


@dataclass(frozen=True)
class Snapshot:
    """One stored policy: its pool id (the number of the ``add`` call that stored it), a tag, its state dict."""

    id: int
    tag: str
    state_dict: dict[str, Any]


def _detached_cpu_copy(value: Any) -> Any:
    """A copy that shares no memory with ``value``: tensors detached and copied to the CPU, mappings copied entry by
    entry, anything else deep-copied."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, Mapping):
        return {key: _detached_cpu_copy(item) for key, item in value.items()}
    return copy.deepcopy(value)


def _check_probability(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"OpponentPool: {name} must be a probability in [0, 1], got {value!r}")
    return float(value)


def _check_count(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"OpponentPool: {name} must be an integer ≥ {minimum}, got {value!r}")
    return int(value)


class OpponentPool:
    """Past policy snapshots to play against, sampled by the module's rule (``latest_prob``; 0 is FSP).

    Args:
        capacity: at most this many snapshots (the newest plus a reservoir of older ones), or ``None`` for all.
        latest_prob: p in the sampling rule: 0 → uniform over the history (FSP), 1 → the newest (self-play).
        seed: seeds the pool's sampling stream and, separately, its eviction stream.
    """

    def __init__(self, capacity: int | None = None, *, latest_prob: float = 0.0, seed: int = 0) -> None:
        self.capacity = None if capacity is None else _check_count("capacity", capacity, 1)
        self.latest_prob = _check_probability("latest_prob", latest_prob)
        seed = _check_count("seed", seed, 0)
        self._sampling_rng = np.random.default_rng(derive_seed(seed, "opponent sampling"))
        self._eviction_rng = np.random.default_rng(derive_seed(seed, "opponent eviction"))
        self._snapshots: dict[int, Snapshot] = {}
        self._added = 0

    def __len__(self) -> int:
        return len(self._snapshots)

    def __getitem__(self, snapshot_id: int) -> Snapshot:
        if snapshot_id not in self._snapshots:
            state = "was evicted" if 0 <= snapshot_id < self._added else "was never added"
            raise KeyError(f"OpponentPool: snapshot id {snapshot_id} {state}; ids in the pool: {self.ids.tolist()}")
        return self._snapshots[snapshot_id]

    @property
    def ids(self) -> np.ndarray:
        """Ids of the snapshots in the pool, oldest first (the last one is the newest)."""
        return np.fromiter(self._snapshots, dtype=np.int64, count=len(self._snapshots))

    def add(self, state_dict: Mapping[str, Any], tag: str) -> int:
        """Store a detached CPU copy of ``state_dict`` as the newest snapshot (evicting one if full); return its id."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"OpponentPool.add: state_dict must be a mapping (a module's state_dict()), got "
                            f"{type(state_dict).__name__}")
        if not isinstance(tag, str):
            raise TypeError(f"OpponentPool.add: tag must be a string, got {type(tag).__name__}")
        if self.capacity is not None and self._added > 0:
            self._retire_newest()
        snapshot = Snapshot(self._added, tag, _detached_cpu_copy(state_dict))
        self._snapshots[snapshot.id] = snapshot
        self._added += 1
        return snapshot.id

    def _retire_newest(self) -> None:
        """Offer the current newest snapshot to the reservoir of older ones (Algorithm R; module docstring)."""
        reservoir = self.ids[:-1]
        reservoir_size = self.capacity - 1
        if len(reservoir) < reservoir_size:
            return
        newest = self._added - 1
        # it is the m-th snapshot offered to the reservoir, m = its id + 1 (every snapshot is offered once, in order)
        offered = newest + 1
        # j ~ U{0, …, m − 1}: the newcomer enters iff j < k − 1 (probability (k − 1)/m), replacing resident j
        slot = int(self._eviction_rng.integers(0, offered))
        evicted = reservoir[slot] if slot < reservoir_size else newest
        del self._snapshots[int(evicted)]

    def sample(self, n: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """Ids of ``n`` opponents (one per game), drawn independently by the sampling rule, as an int64 array.

        Uses the pool's own seeded stream unless ``rng`` is given.
        """
        n = _check_count("n", n, 0)
        if rng is None:
            rng = self._sampling_rng
        elif not isinstance(rng, np.random.Generator):
            raise TypeError(f"OpponentPool.sample: rng must be a numpy.random.Generator or None, got "
                            f"{type(rng).__name__}")
        if not self._snapshots:
            raise ValueError("OpponentPool.sample: the pool is empty; add() a snapshot first")
        ids = self.ids
        uniform_pick = ids[rng.integers(0, len(ids), size=n)]
        # the newest with probability p, else uniform over the pool (the newest included)
        take_newest = rng.random(n) < self.latest_prob
        return np.where(take_newest, ids[-1], uniform_pick)


def games_by_opponent(opponent_ids: np.ndarray) -> dict[int, np.ndarray]:
    """``{opponent id: indices of the games it plays}``, ids ascending and game indices ascending within each.

    ``opponent_ids`` is the per-game assignment (one id per game, e.g. from :meth:`OpponentPool.sample`). Running
    each opponent once on ``observations[games]`` replaces one forward pass per game by one per distinct opponent.
    """
    opponent_ids = np.asarray(opponent_ids)
    if opponent_ids.ndim != 1 or not np.issubdtype(opponent_ids.dtype, np.integer):
        raise ValueError(f"games_by_opponent: opponent_ids must be a 1-D integer array (one id per game), got shape "
                         f"{opponent_ids.shape} and dtype {opponent_ids.dtype}")
    order = np.argsort(opponent_ids, kind="stable")
    distinct, first = np.unique(opponent_ids[order], return_index=True)
    return {int(o): games for o, games in zip(distinct, np.split(order, first[1:]))}
