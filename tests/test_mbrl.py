"""hrlkit.mbrl: λ-returns (hand-computed), the return scale, Gaussian KL/entropy (torch.distributions as reference),
KL balancing with free bits, the RSSM's filtering and imagination, and a world model that learns a fixed dataset."""

import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from hrlkit.mbrl.behavior import Actor, ImaginationActorCritic, imagination_weights
from hrlkit.mbrl.returns import ReturnScale, lambda_returns
from hrlkit.mbrl.rssm import RSSM, RSSMState, gaussian_entropy, gaussian_kl, kl_balance
from hrlkit.mbrl.world_model import WorldModel


def test_lambda_returns_hand_computed():
    rewards = torch.tensor([[1.0], [2.0]])
    values = torch.tensor([[0.0], [10.0], [20.0]])
    # R_2 = 20; R_1 = 2 + 0.5·(0.5·20 + 0.5·20) = 12; R_0 = 1 + 0.5·(0.5·10 + 0.5·12) = 6.5
    out = lambda_returns(rewards, values, torch.ones(2, 1), gamma=0.5, lam=0.5)
    assert out[:, 0].tolist() == [6.5, 12.0]
    # the episode ends in the second transition: R_1 = 2, R_0 = 1 + 0.5·(0.5·10 + 0.5·2) = 4
    ended = lambda_returns(rewards, values, torch.tensor([[1.0], [0.0]]), gamma=0.5, lam=0.5)
    assert ended[:, 0].tolist() == [4.0, 2.0]


def test_lambda_returns_limits():
    g = torch.Generator().manual_seed(0)
    rewards, values = torch.randn(5, 3, generator=g), torch.randn(6, 3, generator=g)
    cont = torch.ones(5, 3)
    td = lambda_returns(rewards, values, cont, gamma=0.9, lam=0.0)
    torch.testing.assert_close(td, rewards + 0.9 * values[1:])
    mc = lambda_returns(rewards, values, cont, gamma=0.9, lam=1.0)
    discounts = 0.9 ** torch.arange(5.0)
    expected0 = (discounts[:, None] * rewards).sum(0) + 0.9 ** 5 * values[-1]
    torch.testing.assert_close(mc[0], expected0)
    with pytest.raises(ValueError, match="values"):
        lambda_returns(rewards, values[:-1], cont, 0.9, 0.9)
    with pytest.raises(ValueError, match="gamma"):
        lambda_returns(rewards, values, cont, 1.5, 0.9)


def test_return_scale_follows_percentiles_and_never_scales_up():
    scale = ReturnScale(decay=0.5)
    assert scale.divisor == 1.0
    returns = torch.arange(101.0)           # P5 = 5, P95 = 95: S = 90
    assert scale.update(returns) == pytest.approx(90.0)
    # a batch with range 10 (P5 = 0.5, P95 = 9.5): L = 0.5·5 + 0.5·0.5 = 2.75, U = 0.5·95 + 0.5·9.5 = 52.25
    assert scale.update(torch.linspace(0, 10, 101)) == pytest.approx(49.5)
    small = ReturnScale()
    assert small.update(torch.linspace(0, 0.1, 11)) == 1.0
    with pytest.raises(ValueError, match="decay"):
        ReturnScale(decay=1.0)


def test_gaussian_kl_and_entropy_match_torch_distributions():
    g = torch.Generator().manual_seed(1)
    mq, mp = torch.randn(4, 6, generator=g), torch.randn(4, 6, generator=g)
    sq, sp = torch.rand(4, 6, generator=g) + 0.1, torch.rand(4, 6, generator=g) + 0.1
    torch.testing.assert_close(gaussian_kl(mq, sq, mp, sp), kl_divergence(Normal(mq, sq), Normal(mp, sp)).sum(-1))
    torch.testing.assert_close(gaussian_entropy(sq), Normal(mq, sq).entropy().sum(-1))
    # one dimension by hand: σ = 1 → ½ log(2πe)
    assert float(gaussian_entropy(torch.ones(1, 1))) == pytest.approx(0.5 * math.log(2 * math.pi * math.e))


def test_kl_balance_weights_and_free_bits():
    mean_q, std_q = torch.tensor([[2.0]], requires_grad=True), torch.ones(1, 1)
    mean_p, std_p = torch.tensor([[0.0]], requires_grad=True), torch.ones(1, 1)
    # KL = (2 − 0)²/2 = 2 nats > 1 free nat: loss = 0.5·2 + 0.1·2 = 1.2
    loss, kl = kl_balance(mean_q, std_q, mean_p, std_p)
    assert float(loss.detach()) == pytest.approx(1.2) and float(kl) == pytest.approx(2.0)
    loss.backward()
    # d/dμ_q of 0.1·(μ_q − μ_p)²/2 = 0.1·2 = 0.2 (the dynamics term stops μ_q's gradient); μ_p gets 0.5·(−2)
    assert float(mean_q.grad) == pytest.approx(0.2) and float(mean_p.grad) == pytest.approx(-1.0)
    # below the free bits the loss is the constant 0.6 and nothing moves
    near = torch.tensor([[0.5]], requires_grad=True)
    loss, _ = kl_balance(near, std_q, torch.zeros(1, 1), std_p)
    assert float(loss.detach()) == pytest.approx(0.6)
    loss.backward()
    assert float(near.grad) == 0.0


def test_rssm_restarts_at_is_first_and_imagines_deterministically():
    torch.manual_seed(0)
    rssm = RSSM(action_dim=2, embed_dim=5, deter=8, stoch=3, hidden=8)
    embeds, actions = torch.randn(4, 2, 5), torch.randn(4, 2, 2)
    first = torch.zeros(4, 2)
    first[0] = 1
    first[2, 1] = 1                            # sequence 1 restarts at t = 2
    states = rssm.observe(embeds, actions, first, generator=torch.Generator().manual_seed(3))
    assert states.deter.shape == (4, 2, 8) and states.post_std.min() > 0.1 - 1e-6
    # at t = 2 sequence 1 forgets its past: its state equals a fresh filter's first step (before any noise enters)
    alone = rssm.observe(embeds[2:, 1:], actions[2:, 1:], torch.tensor([[1.0], [0.0]]))
    torch.testing.assert_close(states.deter[2, 1], alone.deter[0, 0])
    torch.testing.assert_close(states.post_mean[2, 1], alone.post_mean[0, 0])
    assert not torch.allclose(states.deter[2, 0], alone.deter[0, 0])     # sequence 0 did not restart
    start = states.post_mean[-1]
    last = type(states)(states.deter[-1], states.stoch[-1], states.prior_mean[-1], states.prior_std[-1])

    def policy(features):
        return torch.tanh(features[:, :2])

    a, acts_a = rssm.imagine(last, policy, 5, generator=torch.Generator().manual_seed(7))
    b, _ = rssm.imagine(last, policy, 5, generator=torch.Generator().manual_seed(7))
    assert a.deter.shape == (6, 2, 8) and acts_a.shape == (5, 2, 2) and start.shape == (2, 3)
    torch.testing.assert_close(a.stoch, b.stoch)
    assert torch.isfinite(a.prior_entropy).all()
    with pytest.raises(ValueError, match="share"):
        rssm.observe(embeds, actions[:3], first)


def _dataset(n_seq=16, steps=12, seed=0):
    """A noiseless linear system x' = A x + B a with reward x₀ and episodes that never end."""
    rng = np.random.default_rng(seed)
    a_mat = np.array([[0.9, 0.2, 0.0], [-0.2, 0.9, 0.0], [0.0, 0.0, 0.8]])
    b_mat = np.array([[0.5], [0.0], [0.3]])
    x = rng.normal(size=(n_seq, 3))
    obs, acts, rews = [], [], []
    prev = np.zeros((n_seq, 1))
    for _ in range(steps):
        obs.append(x)
        acts.append(prev)
        rews.append(x[:, 0])
        prev = rng.uniform(-1, 1, size=(n_seq, 1))
        x = x @ a_mat.T + prev @ b_mat.T
    as_t = lambda v: torch.tensor(np.stack(v), dtype=torch.float32)  # noqa: E731
    first = torch.zeros(steps, n_seq)
    first[0] = 1
    return as_t(obs), as_t(acts), as_t(rews), torch.ones(steps, n_seq), first


def test_world_model_prediction_error_falls_on_a_fixed_dataset():
    torch.manual_seed(0)
    obs, acts, rews, cont, first = _dataset()
    model = WorldModel(obs_dim=3, action_dim=1, embed=32, deter=32, stoch=4, hidden=32)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    history = []
    for _ in range(150):
        loss, parts, _ = model.loss(obs, acts, rews, cont, first, generator)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        history.append(parts["reconstruction"] + parts["reward"])
    assert history[-1] < 0.2 * history[0], history[::25]
    assert set(parts) == {"reconstruction", "reward", "continue", "kl", "prior_entropy"}


def test_imagination_weights_hand_computed():
    c = torch.tensor([[0.5], [1.0], [0.0], [1.0]])
    assert imagination_weights(c).squeeze(-1).tolist() == [1.0, 0.5, 0.5, 0.0]


def test_actor_samples_one_hot_actions_at_the_policy_probabilities():
    actor = Actor(4, 3)
    with torch.no_grad():
        for p in actor.net.parameters():
            p.zero_()
        actor.net[-1].bias.copy_(torch.log(torch.tensor([0.6, 0.3, 0.1])))
    actions = actor.sample(torch.zeros(20000, 4), torch.Generator().manual_seed(0))
    assert ((actions == 0) | (actions == 1)).all() and (actions.sum(-1) == 1).all()
    assert actions.mean(0).tolist() == pytest.approx([0.6, 0.3, 0.1], abs=0.015)


class _ActionEchoRSSM:
    """A stand-in prior whose stochastic state is the last action taken (one-hot): s_{t+1} = a_t."""

    def imagine(self, start, policy, horizon, generator=None):
        states, actions, state = [start], [], start
        for _ in range(horizon):
            action = policy(state.features)
            state = RSSMState(state.deter, action, state.prior_mean, state.prior_std)
            states.append(state)
            actions.append(action)
        fields = {k: torch.stack([getattr(s, k) for s in states]) for k in ("deter", "stoch", "prior_mean",
                                                                            "prior_std")}
        return RSSMState(**fields), torch.stack(actions)


class _ActionEchoModel:
    """Reward 1 for the transition that took action 0, else 0; episodes never end."""

    rssm = _ActionEchoRSSM()

    def predict_reward(self, features):
        return features[..., 1]            # features = [deter (1), stoch = one-hot action (3)]

    def predict_continue(self, features):
        return torch.ones(features.shape[:-1])


def test_actor_critic_learns_the_rewarded_action_and_its_value_in_imagination():
    torch.manual_seed(0)
    gamma, horizon = 0.9, 10
    learner = ImaginationActorCritic(4, 3, horizon=horizon, gamma=gamma, lam=0.95, actor_lr=3e-3, critic_lr=3e-3)
    start = RSSMState(torch.zeros(64, 1), torch.zeros(64, 3), torch.zeros(64, 3), torch.ones(64, 3))
    generator = torch.Generator().manual_seed(1)
    for _ in range(300):
        info = learner.train(_ActionEchoModel(), start, generator)
    probs = learner.actor(torch.tensor([[0.0, 1.0, 0.0, 0.0]])).probs[0]
    assert probs[0] > 0.9
    # always taking action 0 earns 1 per step: the λ-return from s_0 over 10 steps with a bootstrapped value is close
    # to Σ_t γ^t = 1 / (1 − γ) = 10 once the critic has learned; a lower bound that a failed critic would not reach
    assert info["imagined_return"] > 0.6 * (1 - gamma ** horizon) / (1 - gamma)
    assert math.isfinite(info["critic_loss"]) and info["return_scale"] >= 1.0


def test_state_map_drops_the_posterior_and_filter_step_restarts_where_first():
    torch.manual_seed(0)
    rssm = RSSM(3, 5, deter=4, stoch=2, hidden=4)
    g = torch.Generator().manual_seed(1)
    embed, action = torch.randn(2, 5, generator=g), torch.eye(3)[[0, 2]]
    state = rssm.obs_step(rssm.initial(2), action, embed, torch.Generator().manual_seed(2))
    rows = state.map(lambda t: t[[1]])
    assert rows.post_mean is None and torch.equal(rows.deter, state.deter[[1]])
    # env 1 starts an episode: from zero h, z and a zero action, whatever the state and action it is given
    stepped = rssm.filter_step(state, action, embed, torch.tensor([False, True]), torch.Generator().manual_seed(3))
    fresh = rssm.obs_step(rssm.initial(2), torch.zeros(2, 3), embed, torch.Generator().manual_seed(3))
    torch.testing.assert_close(stepped.deter[1], fresh.deter[1])
    assert not torch.allclose(stepped.deter[0], fresh.deter[0])
