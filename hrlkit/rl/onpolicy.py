"""On-policy rollouts of batched environments for PPO (continuous or discrete actions).

A *batched environment* here is any function ``env_step(actions) -> StepResult`` that advances ``N`` envs at once
and resets the ones that end, e.g. a closure over :class:`hrlkit.envs.ant.terrain.AntTerrainCore`. The collector
handles what is easy to get subtly wrong:

* **observation normalisation** with a running mean/variance (:class:`~hrlkit.rl.core.RunningMeanStd`), updated
  with every raw observation the policy sees, as in SB3's ``VecNormalize``;
* **time-limit truncation**: an episode cut by a time limit is not a terminal state, so its last reward is
  bootstrapped with the value of the observation it was cut at, r_t ← r_t + γ V(s_final) (SB3's convention;
  :func:`~hrlkit.rl.core.compute_gae` then treats the step as an episode end);
* **GAE** over the (T, N) rollout with episode starts, flattened to the batch :func:`~hrlkit.rl.core.ppo_update`
  takes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from hrlkit.rl.core import RunningMeanStd, compute_gae

__all__ = ["StepResult", "Rollout", "collect_rollout"]


@dataclass
class StepResult:
    """What a batched env step returns (all numpy, leading dim N).

    ``obs`` is the observation after the step, already the first observation of a new episode where the episode
    ended (``terminated | truncated``); ``final_obs`` holds, for the truncated envs, the observation the episode was
    cut at (other rows are ignored).
    """

    obs: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    final_obs: np.ndarray | None = None


@dataclass
class Rollout:
    """A collected rollout: ``batch`` for ``ppo_update`` plus what the next rollout starts from."""

    batch: dict[str, Tensor]
    next_obs: np.ndarray
    next_start: np.ndarray
    rewards: np.ndarray          # (T, N) rewards as returned by the env (before bootstrapping)
    dones: np.ndarray            # (T, N) episode ends (terminated | truncated)


def collect_rollout(model, env_step: Callable[[np.ndarray], StepResult], obs: np.ndarray, start: np.ndarray,
                    n_steps: int, generator: torch.Generator, gamma: float, gae_lambda: float,
                    obs_norm: RunningMeanStd | None = None, device: str | torch.device = "cpu",
                    action_fn: Callable[[np.ndarray], np.ndarray] | None = None) -> Rollout:
    """Run ``model`` (an :class:`~hrlkit.rl.core.ActorCritic`-like module with ``act`` and ``value``) for
    ``n_steps`` steps of the N envs, starting from ``obs`` (N, D) whose rows start an episode where ``start``.

    ``action_fn`` maps the sampled actions (N, A) to what ``env_step`` receives (e.g. clipping); the batch keeps
    the sampled actions, whose log-probabilities PPO needs.
    """
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")

    def normalise(x: np.ndarray) -> Tensor:
        z = obs_norm.normalize(x) if obs_norm is not None else x
        return torch.as_tensor(np.asarray(z, dtype=np.float32), device=device)

    n = obs.shape[0]
    store: dict[str, list] = {k: [] for k in ("obs", "actions", "logprobs", "values", "rewards", "starts")}
    raw_rewards, dones = [], []
    start = np.asarray(start, dtype=bool)
    for _ in range(n_steps):
        if obs_norm is not None:
            obs_norm.update(obs)
        o = normalise(obs)
        with torch.no_grad():
            action, logprob, value = model.act(o, generator)
        action_np = action.cpu().numpy()
        result = env_step(action_fn(action_np) if action_fn is not None else action_np)
        reward = np.asarray(result.reward, dtype=np.float64).copy()
        if not np.isfinite(reward).all():
            raise FloatingPointError("collect_rollout: the environment returned a non-finite reward")
        truncated = np.asarray(result.truncated, dtype=bool) & ~np.asarray(result.terminated, dtype=bool)
        raw_rewards.append(reward.copy())
        if truncated.any():
            # r_t <- r_t + γ V(s_final): a time limit is not a terminal state
            with torch.no_grad():
                final_value = model.value(normalise(result.final_obs[truncated])).cpu().numpy()
            reward[truncated] += gamma * final_value
        for key, item in (("obs", o), ("actions", action), ("logprobs", logprob), ("values", value),
                          ("rewards", torch.as_tensor(reward, dtype=torch.float32, device=device)),
                          ("starts", torch.as_tensor(start, dtype=torch.float32, device=device))):
            store[key].append(item)
        done = np.asarray(result.terminated, dtype=bool) | np.asarray(result.truncated, dtype=bool)
        dones.append(done)
        obs, start = result.obs, done
    with torch.no_grad():
        last_values = model.value(normalise(obs))
    stacked = {k: torch.stack(v) for k, v in store.items()}
    advantages, returns = compute_gae(stacked["rewards"], stacked["values"], stacked["starts"], last_values,
                                      torch.as_tensor(start, dtype=torch.float32, device=device), gamma, gae_lambda)
    batch = {"obs": stacked["obs"].reshape(n_steps * n, -1), "actions": stacked["actions"].flatten(0, 1),
             "logprobs": stacked["logprobs"].reshape(-1), "values": stacked["values"].reshape(-1),
             "advantages": advantages.reshape(-1), "returns": returns.reshape(-1)}
    return Rollout(batch=batch, next_obs=obs, next_start=start, rewards=np.stack(raw_rewards), dones=np.stack(dones))
