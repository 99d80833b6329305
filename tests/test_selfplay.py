"""hrlkit.games.selfplay: the opponent pool's sampling rule, snapshot isolation, reservoir eviction, per-game grouping."""

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from hrlkit.games.selfplay import OpponentPool, games_by_opponent


def pool_of(k: int, **kw) -> OpponentPool:
    pool = OpponentPool(**kw)
    for i in range(k):
        pool.add({"step": i}, f"update-{i}")
    return pool


def test_add_returns_consecutive_ids_and_keeps_tags():
    pool = OpponentPool()
    assert [pool.add({}, tag) for tag in ("a", "b", "c")] == [0, 1, 2]
    assert pool.ids.tolist() == [0, 1, 2] and len(pool) == 3
    assert pool[1].tag == "b" and pool[1].id == 1


def test_uniform_rule_matches_fictitious_play_frequencies():
    """latest_prob = 0 (FSP): every snapshot with probability 1/K."""
    draws = pool_of(5, seed=3).sample(50_000)
    counts = np.bincount(draws, minlength=5)
    assert counts.sum() == 50_000
    assert chisquare(counts).pvalue > 0.01


def test_latest_rule_is_plain_self_play():
    pool = pool_of(4, latest_prob=1.0)
    assert (pool.sample(1000) == 3).all()


def test_mixture_rule_frequencies():
    """P(newest) = p + (1 − p)/K, P(other) = (1 − p)/K; p = 0.4, K = 4 → 0.55 and 0.15 each."""
    counts = np.bincount(pool_of(4, latest_prob=0.4, seed=1).sample(40_000), minlength=4)
    expected = 40_000 * np.array([0.15, 0.15, 0.15, 0.55])
    assert chisquare(counts, expected).pvalue > 0.01


def test_sampling_is_deterministic_given_the_seed():
    a, b, other = pool_of(6, seed=7), pool_of(6, seed=7), pool_of(6, seed=8)
    first = a.sample(100)
    assert np.array_equal(first, b.sample(100))
    assert not np.array_equal(first, other.sample(100))
    assert not np.array_equal(first, a.sample(100))           # the pool's stream moves on
    given = [pool_of(6).sample(50, np.random.default_rng(11)) for _ in range(2)]
    assert np.array_equal(*given) and given[0].dtype == np.int64
    assert pool_of(2).sample(0).shape == (0,)


def test_snapshots_are_isolated_from_later_training():
    net = torch.nn.Linear(3, 2)
    obs_mean = np.zeros(3)
    pool = OpponentPool()
    pool.add({"policy": net.state_dict(), "obs_mean": obs_mean}, "update-0")
    before = {k: v.clone() for k, v in net.state_dict().items()}
    opt = torch.optim.SGD(net.parameters(), lr=1.0)
    net(torch.ones(1, 3)).sum().backward()
    opt.step()                                                  # later training changes the live parameters
    obs_mean += 5.0
    stored = pool[0].state_dict
    assert not torch.equal(net.weight, before["weight"])
    for key, value in stored["policy"].items():
        assert torch.equal(value, before[key]) and value.device.type == "cpu" and not value.requires_grad
        assert value.data_ptr() != net.state_dict()[key].data_ptr()
    assert np.array_equal(stored["obs_mean"], np.zeros(3))


def test_parameters_passed_directly_are_detached():
    pool = OpponentPool()
    pool.add({"w": torch.nn.Parameter(torch.ones(2))}, "raw")
    assert not pool[0].state_dict["w"].requires_grad


def test_capacity_keeps_the_newest_and_bounds_the_pool():
    pool = pool_of(10, capacity=3, latest_prob=1.0)
    assert len(pool) == 3 and pool.ids[-1] == 9
    assert (pool.sample(50) == 9).all()
    assert pool_of(5, capacity=1).ids.tolist() == [4]
    assert pool_of(3, capacity=5).ids.tolist() == [0, 1, 2]     # not full: nothing evicted


def test_capacity_keeps_a_uniform_random_subset_of_the_history():
    """Reservoir sampling: after 10 snapshots with capacity 4, each of the 9 older ones is kept with probability
    3/9, the first (random) policy included, so uniform sampling from the pool still averages the whole history."""
    trials = 3000
    kept = np.zeros(9)
    for seed in range(trials):
        ids = pool_of(10, capacity=4, seed=seed).ids
        assert len(ids) == 4 and ids[-1] == 9
        kept[ids[:-1]] += 1
    assert kept.sum() == 3 * trials
    assert chisquare(kept).pvalue > 0.01


def test_eviction_is_deterministic_and_independent_of_sampling():
    quiet, busy = OpponentPool(capacity=3, seed=5), OpponentPool(capacity=3, seed=5)
    for i in range(12):
        quiet.add({}, str(i))
        busy.add({}, str(i))
        busy.sample(7)
    assert np.array_equal(quiet.ids, busy.ids)
    assert not all(np.array_equal(quiet.ids, pool_of(12, capacity=3, seed=s).ids) for s in range(6, 10))


def test_unknown_ids_say_whether_evicted():
    pool = pool_of(6, capacity=2)
    gone = next(i for i in range(6) if i not in pool.ids)
    with pytest.raises(KeyError, match=f"snapshot id {gone} was evicted"):
        pool[gone]
    with pytest.raises(KeyError, match="99 was never added"):
        pool[99]


def test_games_by_opponent_groups_every_game_once():
    assignment = np.array([4, 1, 4, 4, 0, 1, 7])
    groups = games_by_opponent(assignment)
    assert list(groups) == [0, 1, 4, 7]
    assert {k: v.tolist() for k, v in groups.items()} == {0: [4], 1: [1, 5], 4: [0, 2, 3], 7: [6]}
    observations = np.arange(7.0)
    actions = np.empty(7)
    for opponent, games in groups.items():                     # one batched "forward pass" per opponent
        actions[games] = opponent * observations[games]
    assert np.array_equal(actions, assignment * observations)
    assert games_by_opponent(np.array([], dtype=np.int64)) == {}


def test_per_game_assignment_with_redraws_at_restart():
    pool = pool_of(5, seed=2)
    assignment = pool.sample(64)
    done = np.zeros(64, dtype=bool)
    done[::4] = True
    kept = assignment[~done].copy()
    assignment[done] = pool.sample(int(done.sum()))
    assert np.array_equal(assignment[~done], kept)
    assert sum(len(g) for g in games_by_opponent(assignment).values()) == 64


@pytest.mark.parametrize("kwargs, name", [
    ({"capacity": 0}, "capacity"), ({"capacity": 2.5}, "capacity"), ({"latest_prob": 1.5}, "latest_prob"),
    ({"latest_prob": float("nan")}, "latest_prob"), ({"latest_prob": -0.1}, "latest_prob"), ({"seed": -1}, "seed"),
    ({"seed": 1.0}, "seed"),
])
def test_bad_constructor_arguments_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        OpponentPool(**kwargs)


def test_bad_call_arguments_are_named():
    pool = OpponentPool()
    with pytest.raises(ValueError, match="empty"):
        pool.sample(3)
    with pytest.raises(TypeError, match="state_dict"):
        pool.add([torch.ones(1)], "x")
    with pytest.raises(TypeError, match="tag"):
        pool.add({}, 3)
    pool.add({}, "x")
    with pytest.raises(ValueError, match="n must be"):
        pool.sample(-1)
    with pytest.raises(TypeError, match="rng"):
        pool.sample(2, torch.Generator())
    with pytest.raises(ValueError, match="opponent_ids"):
        games_by_opponent(np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="opponent_ids"):
        games_by_opponent(np.array([0.0, 1.0]))
