"""Sequence replay for Dreamer-style training from vectorised environments.

Each environment has its own stream of rows. A row holds an observation x_t with what arrived *with* it (DreamerV3's
convention, the one :class:`hrlkit.mbrl.world_model.WorldModel` trains on):

    (x_t, a_{t−1}, r_{t−1}, c_{t−1}, first_t)

the action that led to x_t (zeros at an episode's first row), the reward and continue flag of that transition
(c = 0 when the episode *terminated* in it; a time-limit truncation keeps c = 1), and whether x_t starts an episode.
When an episode ends, the environment's last observation is stored as a row of its own (a vectorised environment
that resets in place returns it separately, e.g. ``info["final_obs"]``), then the next episode's first observation.
So a terminal row is never confused with the next episode's start.

:meth:`SequenceReplay.sample` draws windows of ``length`` consecutive rows of one environment's stream, uniformly over
all complete windows; a window may cross an episode boundary (its ``first`` flag restarts the model's state there),
and the first row of every window is marked ``first`` so the model starts from a blank state.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["SequenceReplay"]

FIELDS = ("obs", "action", "reward", "cont", "first")


class SequenceReplay:
    """Rows per environment stream, in preallocated arrays (``capacity`` rows per stream, oldest overwritten)."""

    def __init__(self, n_envs: int, capacity: int, obs_dim: int, action_dim: int) -> None:
        for name, value in (("n_envs", n_envs), ("capacity", capacity), ("obs_dim", obs_dim),
                            ("action_dim", action_dim)):
            if not (isinstance(value, (int, np.integer)) and value >= 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.n_envs, self.capacity = int(n_envs), int(capacity)
        self.action_dim = int(action_dim)
        shapes = {"obs": (obs_dim,), "action": (action_dim,), "reward": (), "cont": (), "first": ()}
        self.data = {k: np.zeros((self.n_envs, self.capacity) + shapes[k], dtype=np.float32) for k in FIELDS}
        self.count = np.zeros(self.n_envs, dtype=np.int64)         # rows ever written per stream

    def _write(self, mask: np.ndarray, obs, action, reward, cont, first) -> None:
        envs = np.flatnonzero(mask)
        slot = self.count[envs] % self.capacity
        for key, value in zip(FIELDS, (obs, action, reward, cont, first)):
            self.data[key][envs, slot] = np.asarray(value, dtype=np.float32)[envs]
        self.count[envs] += 1

    def start(self, obs: np.ndarray, mask: np.ndarray | None = None) -> None:
        """First observations (n, d) of new episodes in the environments of ``mask`` (all by default)."""
        mask = np.ones(self.n_envs, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        n = self.n_envs
        self._write(mask, obs, np.zeros((n, self.action_dim)), np.zeros(n), np.ones(n), np.ones(n))

    def step(self, actions: np.ndarray, rewards: np.ndarray, terminated: np.ndarray, truncated: np.ndarray,
             next_obs: np.ndarray, final_obs: np.ndarray | None = None) -> None:
        """One transition in every environment: ``actions`` (n,) indices or (n, A) one-hot. Where an episode ended,
        ``final_obs`` holds its last observation and ``next_obs`` the next episode's first one; elsewhere
        ``next_obs`` is simply the next observation."""
        actions = np.asarray(actions)
        one_hot = np.eye(self.action_dim, dtype=np.float32)[actions] if actions.ndim == 1 else actions
        terminated, truncated = np.asarray(terminated, dtype=bool), np.asarray(truncated, dtype=bool)
        done = terminated | truncated
        if done.any() and final_obs is None:
            raise ValueError("an episode ended: pass its last observation as final_obs")
        last = np.where(done[:, None], final_obs, next_obs) if done.any() else next_obs
        all_envs = np.ones(self.n_envs, dtype=bool)
        self._write(all_envs, last, one_hot, rewards, (~terminated).astype(np.float32), np.zeros(self.n_envs))
        if done.any():
            self.start(next_obs, done)

    def sample(self, batch: int, length: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """``batch`` windows of ``length`` rows, each from one stream, as (length, batch, ...) tensors."""
        stored = np.minimum(self.count, self.capacity)
        starts_per_env = np.maximum(stored - length + 1, 0)
        if starts_per_env.sum() == 0:
            raise ValueError(f"no stream holds {length} rows yet (rows per stream: {stored.tolist()})")
        # uniform over all (stream, start) pairs: pick a flat index into the concatenated start ranges
        flat = rng.integers(int(starts_per_env.sum()), size=batch)
        bounds = np.cumsum(starts_per_env)
        env = np.searchsorted(bounds, flat, side="right")
        offset = flat - (bounds[env] - starts_per_env[env])
        oldest = self.count[env] - stored[env]                      # index of the oldest stored row
        rows = (oldest[None, :] + offset[None, :] + np.arange(length)[:, None]) % self.capacity
        out = {k: torch.as_tensor(self.data[k][env[None, :], rows]) for k in FIELDS}
        out["first"][0] = 1.0
        return out
