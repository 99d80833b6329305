"""hrlkit.mbrl.agent: the latent tracker restarts episodes, the update schedule is one per ``train_every`` steps
after the prefill, the prefill acts uniformly, a run is deterministic given its seed, and bad sizes fail clearly."""

import numpy as np
import pytest
import torch

from hrlkit.envs.porous_maze import PorousMazeConfig, PorousMazeCore
from hrlkit.mbrl.agent import DreamerConfig, LatentTracker, MiniDreamer, flatten_states, select_states
from hrlkit.mbrl.world_model import WorldModel

SMALL = DreamerConfig(embed=8, deter=8, stoch=4, hidden=8, seq_len=4, batch=2, imagine_starts=4, horizon=3,
                      train_every=4, prefill=8)


def test_tracker_restarts_an_episode_from_a_blank_state():
    torch.manual_seed(0)
    model = WorldModel(5, 3, embed=8, deter=8, stoch=4, hidden=8)
    obs = torch.rand(3, 2, 5, generator=torch.Generator().manual_seed(1)).numpy()
    tracker = LatentTracker(model, 2, torch.Generator().manual_seed(2))
    tracker.filter(obs[0])
    tracker.advance(np.array([2, 1]), np.array([False, True]))     # env 1's episode ended after this step
    second = tracker.filter(obs[1])
    fresh = LatentTracker(model, 2, torch.Generator().manual_seed(3))
    fresh_first = fresh.filter(obs[1])
    # env 1 restarted: its deterministic state is the one a blank tracker computes from the same observation
    torch.testing.assert_close(second.deter[1], fresh_first.deter[1])
    assert not torch.allclose(second.deter[0], fresh_first.deter[0])   # env 0 carried its history
    # the action that led to x_1 is one-hot in env 0 and zero in the restarted env 1
    assert tracker.prev_action.tolist() == [[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]


def test_updates_follow_the_prefill_and_the_schedule():
    cfg = PorousMazeConfig(cells=2, max_steps=10, min_goal_distance=1)
    core = PorousMazeCore(cfg, 2, seed=0)
    torch.manual_seed(0)
    agent = MiniDreamer(cfg.obs_dim, 3, 2, capacity=64, config=SMALL, seed=0)
    obs = core.observations()
    agent.begin(obs)
    counts = []
    for _ in range(10):                                     # 20 environment steps, 2 per loop
        state = agent.filter(obs)
        actions = agent.act(state)
        obs, r, term, trunc, info = core.step(actions)
        agent.record(actions, r, term, trunc, obs, info.get("final_obs"))
        counts.append(len(agent.train_due()))
    # prefill 8 steps (loops 1-4 owe nothing); then 2 steps per loop and one update per 4 steps
    assert agent.env_steps == 20 and agent.updates == 3 and sum(counts) == 3
    assert counts[:4] == [0, 0, 0, 0]


def test_prefill_acts_uniformly_and_the_actor_acts_after_it():
    torch.manual_seed(0)
    agent = MiniDreamer(4, 3, 3000, capacity=8, config=SMALL, seed=1)
    state = agent.filter(np.zeros((3000, 4), dtype=np.float32))
    counts = np.bincount(agent.act(state), minlength=3) / 3000
    assert np.allclose(counts, 1 / 3, atol=0.03)
    with torch.no_grad():                                    # an actor that always picks action 1
        agent.actor.net[-1].weight.zero_()
        agent.actor.net[-1].bias.copy_(torch.tensor([-20.0, 20.0, -20.0]))
    agent.env_steps = SMALL.prefill
    assert (agent.act(state) == 1).all()


def _short_run(seed: int) -> tuple[list[float], torch.Tensor]:
    cfg = PorousMazeConfig(cells=2, max_steps=6, min_goal_distance=1)
    core = PorousMazeCore(cfg, 2, seed=seed)
    torch.manual_seed(seed)
    agent = MiniDreamer(cfg.obs_dim, 3, 2, capacity=64, config=SMALL, seed=seed)
    obs = core.observations()
    agent.begin(obs)
    losses = []
    for _ in range(16):
        actions = agent.act(agent.filter(obs))
        obs, r, term, trunc, info = core.step(actions)
        agent.record(actions, r, term, trunc, obs, info.get("final_obs"))
        losses += [log["reconstruction"] for log in agent.train_due()]
    return losses, agent.actor.net[0].weight.detach().clone()


def test_a_run_is_deterministic_given_its_seed():
    a, wa = _short_run(3)
    b, wb = _short_run(3)
    assert len(a) == 6 and a == b and torch.equal(wa, wb)
    c, _ = _short_run(4)
    assert c != a


def test_state_helpers_and_bad_sizes():
    torch.manual_seed(0)
    model = WorldModel(5, 3, embed=8, deter=8, stoch=4, hidden=8)
    states = model.observe(torch.rand(3, 2, 5), torch.zeros(3, 2, 3), torch.zeros(3, 2))
    flat = flatten_states(states)
    assert flat.deter.shape == (6, 8) and torch.equal(flat.deter[3], states.deter[1, 1])
    assert torch.equal(select_states(flat, torch.tensor([3])).stoch[0], states.stoch[1, 1])
    with pytest.raises(ValueError, match="seq_len"):
        DreamerConfig(seq_len=0)
    with pytest.raises(ValueError, match="model_lr"):
        DreamerConfig(model_lr=float("nan"))
    with pytest.raises(ValueError, match="capacity"):
        MiniDreamer(5, 3, 2, capacity=2, config=SMALL, seed=0)


def test_subclass_hooks_see_every_update_and_change_the_imagined_reward():
    class Counting(MiniDreamer):
        seen = 0
        rewards = []

        def after_model_step(self, batch, posterior):
            self.seen += 1
            assert posterior.deter.shape[:2] == batch["obs"].shape[:2]
            return {"extra": 1.0}

        def imagination_model(self):
            outer = self

            class Bonus:                       # the world model with a reward of 5 everywhere
                rssm = outer.world_model.rssm
                predict_continue = outer.world_model.predict_continue

                @staticmethod
                def predict_reward(features):
                    outer.rewards.append(features.shape)
                    return torch.full(features.shape[:-1], 5.0)
            return Bonus()

    torch.manual_seed(0)
    agent = Counting(5, 3, 2, capacity=16, config=SMALL, seed=0)
    agent.begin(np.zeros((2, 5), dtype=np.float32))
    for _ in range(SMALL.seq_len):
        agent.record(np.array([0, 1]), np.zeros(2), np.zeros(2, bool), np.zeros(2, bool),
                     np.zeros((2, 5), dtype=np.float32))
    log = agent.train_step()
    assert agent.seen == 1 and log["extra"] == 1.0
    assert len(agent.rewards) == 1 and log["imagined_return"] > 4.0     # the imagined return saw the bonus
