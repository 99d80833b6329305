"""hrlkit.rl.onpolicy: the rollout collector against a hand-built batched env and compute_gae."""

import numpy as np
import pytest
import torch

from hrlkit.rl.core import ActorCritic, RunningMeanStd, compute_gae
from hrlkit.rl.onpolicy import StepResult, collect_rollout


class CountingEnvs:
    """N envs; obs = [t / 10]; reward = 1 per step; env i ends after lengths[i] steps, by termination or (if
    truncate) by a time limit."""

    def __init__(self, lengths, truncate):
        self.lengths, self.truncate = np.array(lengths), truncate
        self.t = np.zeros(len(lengths))

    def obs(self):
        return (self.t / 10)[:, None]

    def step(self, actions):
        assert actions.shape == (len(self.lengths), 1)
        self.t += 1
        ended = self.t >= self.lengths
        final = self.obs().copy()
        self.t[ended] = 0
        return StepResult(obs=self.obs(), reward=np.ones(len(self.lengths)),
                          terminated=ended & (not self.truncate), truncated=ended & self.truncate, final_obs=final)


@pytest.mark.parametrize("truncate", [False, True])
def test_rollout_matches_compute_gae_with_truncation_bootstrap(truncate):
    torch.manual_seed(0)
    model = ActorCritic(1, "gaussian", 1, hidden=(8,))
    envs = CountingEnvs([3, 5], truncate)
    gamma, lam = 0.9, 0.8
    out = collect_rollout(model, envs.step, envs.obs(), np.ones(2, dtype=bool), 7, torch.Generator().manual_seed(1),
                          gamma, lam)
    # rebuild by hand: obs_t = t_in_episode / 10, episode ends after 3 and 5 steps
    t_in = np.array([[s % 3, s % 5] for s in range(8)], dtype=float)
    obs = torch.as_tensor(t_in[:, :, None] / 10, dtype=torch.float32)
    with torch.no_grad():
        values = model.value(obs.reshape(-1, 1)).reshape(8, 2)
    rewards = torch.ones(7, 2)
    ends = torch.as_tensor(np.array([[(s + 1) % 3 == 0, (s + 1) % 5 == 0] for s in range(7)]))
    if truncate:   # r_t + γ V(final obs), final obs = length / 10
        with torch.no_grad():
            final_v = model.value(torch.tensor([[0.3], [0.5]])).reshape(1, 2)
        rewards = rewards + gamma * final_v * ends
    starts = torch.zeros(7, 2)
    starts[0] = 1
    starts[1:] = ends[:-1].float()
    adv, ret = compute_gae(rewards, values[:7], starts, values[7], ends[-1].float(), gamma, lam)
    torch.testing.assert_close(out.batch["obs"], obs[:7].reshape(-1, 1))
    torch.testing.assert_close(out.batch["values"], values[:7].reshape(-1))
    torch.testing.assert_close(out.batch["advantages"], adv.reshape(-1))
    torch.testing.assert_close(out.batch["returns"], ret.reshape(-1))
    np.testing.assert_array_equal(out.rewards, np.ones((7, 2)))            # raw rewards, before bootstrapping
    np.testing.assert_array_equal(out.dones, ends.numpy())
    # the log-probs are those of the stored actions under the policy
    with torch.no_grad():
        logp, _, _ = model.evaluate(out.batch["obs"], out.batch["actions"])
    torch.testing.assert_close(out.batch["logprobs"], logp)


def test_rollout_normalises_observations_and_is_reproducible():
    model = ActorCritic(1, "gaussian", 1, hidden=(8,))
    outs = []
    for _ in range(2):
        envs, norm = CountingEnvs([4, 4], False), RunningMeanStd(shape=(1,))
        outs.append((collect_rollout(model, envs.step, envs.obs(), np.ones(2, dtype=bool), 6,
                                     torch.Generator().manual_seed(3), 0.99, 0.95, obs_norm=norm), norm))
    (a, norm), (b, _) = outs
    torch.testing.assert_close(a.batch["actions"], b.batch["actions"])
    assert norm.count == pytest.approx(1e-4 + 12)                      # 6 steps × 2 envs folded in
    assert a.batch["obs"].abs().max() <= 10.0                          # clipped normalised observations


def test_rollout_rejects_non_finite_rewards():
    model = ActorCritic(1, "gaussian", 1, hidden=(8,))

    def bad_step(actions):
        return StepResult(obs=np.zeros((1, 1)), reward=np.array([np.nan]), terminated=np.zeros(1, bool),
                          truncated=np.zeros(1, bool))

    with pytest.raises(FloatingPointError, match="non-finite reward"):
        collect_rollout(model, bad_step, np.zeros((1, 1)), np.ones(1, dtype=bool), 2, torch.Generator(), 0.99, 0.95)
