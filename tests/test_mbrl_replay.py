"""hrlkit.mbrl.replay.SequenceReplay: rows as the world model expects them, terminal rows kept, windows of one
stream in time order, sampled uniformly over all windows."""

import numpy as np
import pytest

from hrlkit.mbrl.replay import SequenceReplay


def obs_of(values):
    return np.asarray(values, dtype=np.float32)[:, None]          # a 1-D observation that names the step


def test_rows_hand_case_with_termination_and_truncation():
    replay = SequenceReplay(n_envs=2, capacity=10, obs_dim=1, action_dim=3)
    replay.start(obs_of([0, 100]))
    replay.step(np.array([2, 1]), np.array([0.0, 0.0]), np.array([False, False]), np.array([False, False]),
                obs_of([1, 101]))
    # env 0 terminates (reward 1), env 1 is truncated by the time limit; both restart at 10 / 110
    replay.step(np.array([0, 2]), np.array([1.0, 0.0]), np.array([True, False]), np.array([False, True]),
                obs_of([10, 110]), final_obs=obs_of([2, 102]))
    d = replay.data
    assert replay.count.tolist() == [4, 4]
    assert d["obs"][0, :4, 0].tolist() == [0, 1, 2, 10] and d["obs"][1, :4, 0].tolist() == [100, 101, 102, 110]
    assert d["action"][0, :4].argmax(-1).tolist() == [0, 2, 0, 0] and d["action"][0, 0].sum() == 0
    assert d["action"][0, 3].sum() == 0                                  # a first row has no previous action
    assert d["reward"][0, :4].tolist() == [0, 0, 1, 0]
    assert d["cont"][0, :4].tolist() == [1, 1, 0, 1]                     # terminated: 0
    assert d["cont"][1, :4].tolist() == [1, 1, 1, 1]                     # truncated: the episode could go on
    assert d["first"][0, :4].tolist() == [1, 0, 0, 1] and d["first"][1, :4].tolist() == [1, 0, 0, 1]


def test_an_ended_episode_needs_its_last_observation():
    replay = SequenceReplay(1, 5, 1, 2)
    replay.start(obs_of([0]))
    with pytest.raises(ValueError, match="final_obs"):
        replay.step(np.array([0]), np.array([1.0]), np.array([True]), np.array([False]), obs_of([5]))


def fill(replay, steps_per_env):
    """Stream e gets observations e*1000 + t for t = 0 … steps_per_env[e] − 1 (no episode ends)."""
    n = replay.n_envs
    replay.start(obs_of([e * 1000 for e in range(n)]))
    for t in range(1, max(steps_per_env)):
        live = np.array([t < s for s in steps_per_env])
        rows = obs_of([e * 1000 + t for e in range(n)])
        replay._write(live, rows, np.zeros((n, 2)), np.zeros(n), np.ones(n), np.zeros(n))   # only the live streams


def test_windows_are_consecutive_rows_of_one_stream_and_start_blank():
    replay = SequenceReplay(3, 50, 1, 2)
    fill(replay, [20, 30, 12])
    batch = replay.sample(256, 8, np.random.default_rng(0))
    obs = batch["obs"][..., 0].numpy()
    assert obs.shape == (8, 256)
    stream = obs // 1000
    assert (stream == stream[0]).all()                                      # one stream per window
    assert (np.diff(obs, axis=0) == 1).all()                                # consecutive, in time order
    assert (batch["first"][0] == 1).all()
    assert (obs % 1000 <= np.array([19, 29, 11])[stream.astype(int)]).all()  # only written rows


def test_sampling_is_uniform_over_all_windows():
    replay = SequenceReplay(2, 100, 1, 2)
    fill(replay, [13, 43])                                  # 13 − 4 + 1 = 10 and 43 − 4 + 1 = 40 windows of 4
    obs = replay.sample(20000, 4, np.random.default_rng(1))["obs"][0, :, 0].numpy()
    share = np.mean(obs >= 1000)
    assert share == pytest.approx(40 / 50, abs=0.01)
    starts = obs[obs >= 1000] - 1000
    assert starts.min() == 0 and starts.max() == 39


def test_capacity_overwrites_the_oldest_rows_and_keeps_time_order():
    replay = SequenceReplay(1, 5, 1, 2)
    fill(replay, [8])                                       # rows 0 … 7; rows 0 … 2 overwritten
    obs = replay.sample(200, 3, np.random.default_rng(2))["obs"][..., 0].numpy()
    assert set(obs[0].tolist()) == {3.0, 4.0, 5.0}
    assert (np.diff(obs, axis=0) == 1).all()


def test_too_few_rows_and_bad_sizes_fail_clearly():
    replay = SequenceReplay(2, 10, 1, 2)
    replay.start(obs_of([0, 0]))
    with pytest.raises(ValueError, match="no stream holds 4 rows"):
        replay.sample(2, 4, np.random.default_rng(0))
    with pytest.raises(ValueError, match="capacity"):
        SequenceReplay(2, 0, 1, 2)
