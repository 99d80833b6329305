"""Tests for hrlkit.rl (PPO / actor-critic core)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.distributions import Beta, Normal

from hrlkit.rl import (
    ActorCritic,
    BetaHead,
    CategoricalHead,
    GaussianHead,
    PPOConfig,
    RunningMeanStd,
    compute_gae,
    explained_variance,
    log_prob_and_entropy,
    minibatch_indices,
    ppo_loss,
    ppo_update,
)

# ---------------------------------------------------------------------------------------
# GAE
# ---------------------------------------------------------------------------------------


def test_gae_matches_stable_baselines3() -> None:
    pytest.importorskip("stable_baselines3")
    from gymnasium import spaces
    from stable_baselines3.common.buffers import RolloutBuffer

    T, N, gamma, lam = 16, 3, 0.97, 0.9
    rng = np.random.default_rng(0)
    rewards = rng.normal(size=(T, N)).astype(np.float32)
    values = rng.normal(size=(T, N)).astype(np.float32)
    starts = (rng.random((T, N)) < 0.2).astype(np.float32)
    starts[0] = 1.0
    starts[5, 1] = 1.0  # make sure every env has a boundary in the middle
    starts[9, 0] = starts[12, 2] = 1.0
    last_values = rng.normal(size=N).astype(np.float32)
    last_starts = np.array([0.0, 1.0, 0.0], dtype=np.float32)

    buf = RolloutBuffer(
        buffer_size=T,
        observation_space=spaces.Box(-1.0, 1.0, (2,), dtype=np.float32),
        action_space=spaces.Box(-1.0, 1.0, (1,), dtype=np.float32),
        device="cpu",
        gae_lambda=lam,
        gamma=gamma,
        n_envs=N,
    )
    for t in range(T):
        buf.add(
            np.zeros((N, 2), np.float32),
            np.zeros((N, 1), np.float32),
            rewards[t],
            starts[t],
            torch.as_tensor(values[t]),
            torch.zeros(N),
        )
    # SB3's `dones` here = "the next observation starts a new episode" = our last_episode_starts
    buf.compute_returns_and_advantage(last_values=torch.as_tensor(last_values), dones=last_starts.astype(bool))

    adv, ret = compute_gae(
        torch.as_tensor(rewards),
        torch.as_tensor(values),
        torch.as_tensor(starts),
        torch.as_tensor(last_values),
        torch.as_tensor(last_starts),
        gamma,
        lam,
    )
    assert adv.shape == ret.shape == (T, N)
    np.testing.assert_allclose(adv.numpy(), buf.advantages, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ret.numpy(), buf.returns, rtol=1e-5, atol=1e-6)


def test_gae_hand_computed() -> None:
    gamma, lam = 0.9, 0.8
    rewards = torch.tensor([[1.0], [2.0]], dtype=torch.float64)
    values = torch.tensor([[0.5], [1.0]], dtype=torch.float64)
    last_values = torch.tensor([2.0], dtype=torch.float64)

    # No episode boundary:
    #   delta_1 = 2 + 0.9*2.0 - 1.0 = 2.8                 A_1 = 2.8
    #   delta_0 = 1 + 0.9*1.0 - 0.5 = 1.4                 A_0 = 1.4 + 0.9*0.8*2.8 = 3.416
    #   returns = A + V = [3.916, 3.8]
    adv, ret = compute_gae(
        rewards, values, torch.zeros(2, 1, dtype=torch.float64), last_values, torch.zeros(1), gamma, lam
    )
    torch.testing.assert_close(adv, torch.tensor([[3.416], [2.8]], dtype=torch.float64))
    torch.testing.assert_close(ret, torch.tensor([[3.916], [3.8]], dtype=torch.float64))

    # Observation 1 starts a new episode (step 0 was terminal) and so does the one after step 1:
    #   delta_1 = 2 - 1.0 = 1.0                            A_1 = 1.0
    #   delta_0 = 1 - 0.5 = 0.5                            A_0 = 0.5 (no propagation across the boundary)
    #   returns = [1.0, 2.0]
    adv, ret = compute_gae(
        rewards, values, torch.tensor([[0.0], [1.0]], dtype=torch.float64), last_values, torch.ones(1), gamma, lam
    )
    torch.testing.assert_close(adv, torch.tensor([[0.5], [1.0]], dtype=torch.float64))
    torch.testing.assert_close(ret, torch.tensor([[1.0], [2.0]], dtype=torch.float64))


def test_gae_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError):
        compute_gae(torch.zeros(3, 2), torch.zeros(3, 2), torch.zeros(3, 2), torch.zeros(3), torch.zeros(3), 0.9, 0.9)


# ---------------------------------------------------------------------------------------
# PPO loss
# ---------------------------------------------------------------------------------------


def _hand_case() -> dict[str, torch.Tensor]:
    f64 = torch.float64
    return dict(
        new_logprob=torch.tensor([math.log(1.5), math.log(0.5)], dtype=f64),  # ratio = [1.5, 0.5]
        old_logprob=torch.zeros(2, dtype=f64),
        advantages=torch.tensor([2.0, 1.0], dtype=f64),
        new_values=torch.tensor([1.0, 0.0], dtype=f64),
        old_values=torch.tensor([0.5, 0.1], dtype=f64),
        returns=torch.tensor([2.0, -1.0], dtype=f64),
        entropy=torch.tensor([0.6, 0.4], dtype=f64),
    )


def test_ppo_loss_hand_computed() -> None:
    # eps = 0.2, norm_adv off, ent_coef = 0.01, vf_coef = 0.5.
    # Policy: ratio = [1.5, 0.5], A = [2, 1]
    #   sample 0: max(-2*1.5, -2*clip(1.5)=-2*1.2) = max(-3.0, -2.4) = -2.4
    #   sample 1: max(-1*0.5, -1*clip(0.5)=-1*0.8) = max(-0.5, -0.8) = -0.5
    #   L_pi = (-2.4 - 0.5) / 2 = -1.45
    # Value: V = [1, 0], V_old = [0.5, 0.1], R = [2, -1]
    #   unclipped (V-R)^2 = [1, 1]
    #   V_clip = V_old + clip(V - V_old, -0.2, 0.2) = [0.5+0.2, 0.1-0.1] = [0.7, 0.0]
    #   clipped (V_clip-R)^2 = [1.69, 1.0];  max = [1.69, 1.0]
    #   L_v (clipped)   = 0.5 * (1.69 + 1.0)/2 = 0.6725
    #   L_v (unclipped) = 0.5 * (1 + 1)/2      = 0.5
    # Entropy mean = 0.5
    #   loss (clipped)   = -1.45 - 0.01*0.5 + 0.5*0.6725 = -1.11875
    #   loss (unclipped) = -1.45 - 0.01*0.5 + 0.5*0.5    = -1.205
    # approx_kl = mean((r-1) - log r) = ((0.5 - ln 1.5) + (-0.5 - ln 0.5)) / 2
    # clipfrac: |r-1| = [0.5, 0.5] > 0.2 for both -> 1.0
    case = _hand_case()
    cfg = PPOConfig(clip_coef=0.2, norm_adv=False, ent_coef=0.01, vf_coef=0.5, clip_vloss=True)
    loss, stats = ppo_loss(**case, cfg=cfg)
    assert loss.item() == pytest.approx(-1.11875, abs=1e-12)
    assert stats["policy_loss"] == pytest.approx(-1.45, abs=1e-12)
    assert stats["value_loss"] == pytest.approx(0.6725, abs=1e-12)
    assert stats["entropy"] == pytest.approx(0.5, abs=1e-12)
    expected_kl = ((0.5 - math.log(1.5)) + (-0.5 - math.log(0.5))) / 2
    assert stats["approx_kl"] == pytest.approx(expected_kl, abs=1e-12)
    assert stats["clipfrac"] == pytest.approx(1.0)

    cfg_noclip = PPOConfig(clip_coef=0.2, norm_adv=False, ent_coef=0.01, vf_coef=0.5, clip_vloss=False)
    loss, stats = ppo_loss(**case, cfg=cfg_noclip)
    assert loss.item() == pytest.approx(-1.205, abs=1e-12)
    assert stats["value_loss"] == pytest.approx(0.5, abs=1e-12)


def test_ppo_loss_normalises_advantages_with_unbiased_std() -> None:
    # With norm_adv, A = [2, 1] -> mean 1.5, unbiased std = sqrt(0.5) -> A_n = [+-0.5/sqrt(0.5)] = [0.7071, -0.7071]
    #   sample 0 (ratio 1.5, A>0): max(-0.7071*1.5, -0.7071*1.2) = -0.7071*1.2
    #   sample 1 (ratio 0.5, A<0): max(+0.7071*0.5, +0.7071*0.8) = +0.7071*0.8
    #   L_pi = 0.7071 * (-1.2 + 0.8) / 2 = -0.2 * 0.7071
    case = _hand_case()
    a = 0.5 / (math.sqrt(0.5) + 1e-8)
    _, stats = ppo_loss(**case, cfg=PPOConfig(norm_adv=True))
    assert stats["policy_loss"] == pytest.approx(-0.2 * a, abs=1e-12)


def test_clipped_ratio_has_zero_policy_gradient() -> None:
    cfg = PPOConfig(clip_coef=0.2, norm_adv=False, vf_coef=0.0)

    def grad_for(ratio: float) -> float:
        new_logprob = torch.tensor([math.log(ratio)], dtype=torch.float64, requires_grad=True)
        loss, _ = ppo_loss(
            new_logprob,
            torch.zeros(1, dtype=torch.float64),
            torch.tensor([1.0], dtype=torch.float64),  # A > 0
            torch.zeros(1, dtype=torch.float64),
            torch.zeros(1, dtype=torch.float64),
            torch.zeros(1, dtype=torch.float64),
            torch.zeros(1, dtype=torch.float64),
            cfg,
        )
        loss.backward()
        assert new_logprob.grad is not None
        return new_logprob.grad.item()

    assert grad_for(1.5) == 0.0  # ratio > 1 + eps and A > 0: clipped, no gradient
    # inside the trust region the gradient is d(-A*ratio)/d logprob = -ratio
    assert grad_for(1.1) == pytest.approx(-1.1)


# ---------------------------------------------------------------------------------------
# Minibatches and config
# ---------------------------------------------------------------------------------------


def test_minibatch_indices_cover_and_reproducible() -> None:
    chunks = minibatch_indices(10, 3, torch.Generator().manual_seed(123))
    assert [len(c) for c in chunks] == [3, 3, 4]
    assert sorted(torch.cat(chunks).tolist()) == list(range(10))
    again = minibatch_indices(10, 3, torch.Generator().manual_seed(123))
    assert all(torch.equal(a, b) for a, b in zip(chunks, again))
    other = minibatch_indices(10, 3, torch.Generator().manual_seed(124))
    assert not all(torch.equal(a, b) for a, b in zip(chunks, other))
    with pytest.raises(ValueError):
        minibatch_indices(4, 5, torch.Generator())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("clip_coef", -1),
        ("clip_coef", 0.0),
        ("update_epochs", 0),
        ("num_minibatches", 0),
        ("max_grad_norm", 0.0),
        ("ent_coef", -0.1),
        ("vf_coef", float("nan")),
        ("target_kl", 0.0),
    ],
)
def test_ppo_config_validation(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        PPOConfig(**{field: value})


def test_ppo_config_defaults_and_frozen() -> None:
    cfg = PPOConfig()
    assert (cfg.clip_coef, cfg.update_epochs, cfg.num_minibatches, cfg.target_kl) == (0.2, 4, 4, None)
    with pytest.raises(AttributeError):
        cfg.clip_coef = 0.3  # type: ignore[misc]


# ---------------------------------------------------------------------------------------
# Heads and ActorCritic
# ---------------------------------------------------------------------------------------


def test_beta_head_actions_in_unit_interval_and_log_prob_matches_torch() -> None:
    torch.manual_seed(0)
    head = BetaHead(4, 3)
    with torch.no_grad():
        head.params.weight.normal_(0.0, 1.0)  # move away from the near-uniform init
    feats = torch.randn(256, 4)
    dist = head.distribution(feats)
    actions = dist.sample()
    assert actions.shape == (256, 3)
    assert bool(((actions > 0) & (actions < 1)).all())

    z = head.params(feats)
    alpha = 1.0 + torch.nn.functional.softplus(z[:, :3])
    beta = 1.0 + torch.nn.functional.softplus(z[:, 3:])
    assert bool((alpha > 1).all() and (beta > 1).all())
    ref = Beta(alpha, beta)
    logprob, entropy = log_prob_and_entropy(dist, actions)
    torch.testing.assert_close(logprob, ref.log_prob(actions).sum(-1))
    torch.testing.assert_close(entropy, ref.entropy().sum(-1))

    # boundary actions are clamped to [1e-6, 1 - 1e-6] -> finite log-probabilities
    edge = torch.tensor([[0.0, 1.0, 0.5]]).expand(256, 3)
    lp_edge, _ = log_prob_and_entropy(dist, edge)
    assert bool(torch.isfinite(lp_edge).all())


def test_gaussian_head_log_prob_is_sum_over_dims() -> None:
    torch.manual_seed(1)
    head = GaussianHead(5, 3, init_log_std=-0.5)
    with torch.no_grad():
        head.log_std.copy_(torch.tensor([-0.5, 0.0, 0.3]))
    feats = torch.randn(8, 5)
    dist = head.distribution(feats)
    actions = torch.randn(8, 3)
    logprob, entropy = log_prob_and_entropy(dist, actions)
    mean = head.mean(feats)
    per_dim = sum(
        Normal(mean[:, i], head.log_std[i].exp()).log_prob(actions[:, i]) for i in range(3)
    )
    torch.testing.assert_close(logprob, per_dim)
    per_dim_h = sum(Normal(mean[:, i], head.log_std[i].exp()).entropy() for i in range(3))
    torch.testing.assert_close(entropy, per_dim_h)


def test_categorical_head_log_prob_not_summed() -> None:
    head = CategoricalHead(3, 4)
    dist = head.distribution(torch.randn(6, 3))
    actions = torch.tensor([0, 1, 2, 3, 0, 1])
    logprob, entropy = log_prob_and_entropy(dist, actions)
    assert logprob.shape == entropy.shape == (6,)
    torch.testing.assert_close(logprob, dist.log_prob(actions))


@pytest.mark.parametrize(("head", "act"), [("categorical", 4), ("gaussian", 2), ("beta", 2)])
def test_actor_critic_act_evaluate_and_determinism(head: str, act: int) -> None:
    torch.manual_seed(2)
    model = ActorCritic(6, head, act, hidden=(16, 16))
    obs = torch.randn(5, 6)
    with torch.no_grad():
        # move the policy output away from its 0.01-gain init so that mode != sample is meaningful
        for p in model.head.parameters():
            if p.ndim == 2:
                p.normal_(0.0, 1.0)
        action, logprob, value = model.act(obs)
        assert value.shape == logprob.shape == (5,)
        assert action.shape == ((5,) if head == "categorical" else (5, act))
        lp2, ent, v2 = model.evaluate(obs, action)
        torch.testing.assert_close(lp2, logprob)
        torch.testing.assert_close(v2, value)
        assert ent.shape == (5,)
        torch.testing.assert_close(model.value(obs), value)

        # deterministic: mode / mean
        dist = model.distribution(obs)
        det, _, _ = model.act(obs, deterministic=True)
        if head == "categorical":
            expected = dist.logits.argmax(-1)
        elif head == "gaussian":
            expected = dist.mean
        else:
            expected = dist.concentration1 / (dist.concentration1 + dist.concentration0)
        torch.testing.assert_close(det, expected)

        # sampling with an explicit generator is reproducible and leaves the global RNG alone
        state = torch.get_rng_state()
        a1, _, _ = model.act(obs, generator=torch.Generator().manual_seed(7))
        a2, _, _ = model.act(obs, generator=torch.Generator().manual_seed(7))
        assert torch.equal(state, torch.get_rng_state())
        torch.testing.assert_close(a1, a2)
        if head == "beta":
            assert bool(((a1 > 0) & (a1 < 1)).all())

        # global-RNG sampling is reproducible under torch.manual_seed
        torch.manual_seed(11)
        b1, _, _ = model.act(obs)
        torch.manual_seed(11)
        b2, _, _ = model.act(obs)
        torch.testing.assert_close(b1, b2)


def test_actor_critic_init_and_unknown_head() -> None:
    torch.manual_seed(3)
    model = ActorCritic(4, "categorical", 3, hidden=(8, 8))
    # orthogonal init with gain g: W W^T = g^2 I (rows <= cols)
    w = model.head.logits.weight
    torch.testing.assert_close(w @ w.T, 0.01**2 * torch.eye(3), atol=1e-7, rtol=1e-4)
    w = model.critic_out.weight
    torch.testing.assert_close(w @ w.T, torch.eye(1))
    assert model.actor_body[0] is not model.critic_body[0]
    with pytest.raises(ValueError, match="head") as excinfo:
        ActorCritic(4, "dirichlet", 3)
    assert "categorical" in str(excinfo.value) and "beta" in str(excinfo.value)


# ---------------------------------------------------------------------------------------
# PPO update
# ---------------------------------------------------------------------------------------


def _bandit_batch(model: ActorCritic, n: int = 64) -> dict[str, torch.Tensor]:
    """1-step bandit: action 1 has advantage +1, action 0 has -1."""
    obs = torch.ones(n, 2)
    actions = torch.arange(n) % 2
    with torch.no_grad():
        logprobs, _, values = model.evaluate(obs, actions)
    advantages = actions.float() * 2.0 - 1.0
    return {
        "obs": obs,
        "actions": actions,
        "logprobs": logprobs,
        "advantages": advantages,
        "returns": values + advantages,
        "values": values,
    }


def _p1(model: ActorCritic) -> float:
    with torch.no_grad():
        return model.distribution(torch.ones(1, 2)).probs[0, 1].item()


def _run_bandit(seed: int) -> tuple[float, float, float, float, dict[str, float]]:
    torch.manual_seed(seed)
    model = ActorCritic(2, "categorical", 2, hidden=(16, 16))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    cfg = PPOConfig(update_epochs=4, num_minibatches=4)
    gen = torch.Generator().manual_seed(seed)
    batch = _bandit_batch(model)

    def full_loss() -> float:
        with torch.no_grad():
            lp, ent, v = model.evaluate(batch["obs"], batch["actions"])
            loss, _ = ppo_loss(
                lp, batch["logprobs"], batch["advantages"], v, batch["values"], batch["returns"], ent, cfg
            )
        return loss.item()

    p_before, loss_before = _p1(model), full_loss()
    stats = ppo_update(model, opt, batch, cfg, gen)
    loss_after = full_loss()
    for _ in range(3):  # a few more rollout/update rounds
        stats = ppo_update(model, opt, _bandit_batch(model), cfg, gen)
    return p_before, _p1(model), loss_before, loss_after, stats


def test_ppo_update_improves_bandit_and_is_deterministic() -> None:
    p_before, p_after, loss_before, loss_after, stats = _run_bandit(0)
    assert loss_after < loss_before
    assert p_after > p_before + 0.05
    for key in ("policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac", "explained_variance"):
        assert key in stats and isinstance(stats[key], float)
    assert stats["epochs_run"] == 4.0
    assert _run_bandit(0) == (p_before, p_after, loss_before, loss_after, stats)


def test_ppo_update_target_kl_early_stop() -> None:
    torch.manual_seed(0)
    model = ActorCritic(2, "categorical", 2, hidden=(16, 16))
    opt = torch.optim.SGD(model.parameters(), lr=5.0)
    cfg = PPOConfig(update_epochs=10, num_minibatches=2, target_kl=1e-6)
    stats = ppo_update(model, opt, _bandit_batch(model), cfg, torch.Generator().manual_seed(0))
    assert stats["early_stopped"] == 1.0
    assert stats["epochs_run"] < 10


def test_ppo_update_nan_guard() -> None:
    torch.manual_seed(0)
    model = ActorCritic(2, "categorical", 2, hidden=(8,))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    batch = _bandit_batch(model, n=8)
    batch["advantages"] = batch["advantages"].clone()
    batch["advantages"][3] = float("nan")
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(FloatingPointError, match=r"non-finite loss at epoch 0 minibatch 0"):
        ppo_update(model, opt, batch, PPOConfig(num_minibatches=1), torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


# ---------------------------------------------------------------------------------------
# RunningMeanStd, explained variance
# ---------------------------------------------------------------------------------------


def test_running_mean_std_matches_concatenation() -> None:
    rng = np.random.default_rng(0)
    chunks = [rng.normal(3.0, 2.0, size=(n, 3)) for n in (5, 7, 11)]
    data = np.concatenate(chunks)

    rms = RunningMeanStd(shape=(3,))
    for c in chunks:
        rms.update(c)
    # Closed form including the prior pseudo-batch (mean 0, var 1, count eps = 1e-4):
    #   mean = n*m / (n + eps);  var = (eps*1 + n*v + m^2 * eps*n/(n+eps)) / (n + eps)
    eps, n = 1e-4, len(data)
    m, v = data.mean(0), data.var(0)
    np.testing.assert_allclose(rms.mean, n * m / (n + eps), rtol=1e-12)
    np.testing.assert_allclose(rms.var, (eps + n * v + m**2 * eps * n / (n + eps)) / (n + eps), rtol=1e-12)
    assert rms.count == pytest.approx(n + eps)
    # and the eps effect is O(eps / n) relative, i.e. well within 1e-4 of np.mean / np.var here
    np.testing.assert_allclose(rms.mean, m, rtol=1e-4)
    np.testing.assert_allclose(rms.var, v, rtol=1e-4)

    # without the prior count the result is exactly the concatenation's mean / (biased) var
    exact = RunningMeanStd(shape=(3,), epsilon=0.0)
    for c in chunks:
        exact.update(c)
    np.testing.assert_allclose(exact.mean, m, atol=1e-6)
    np.testing.assert_allclose(exact.var, v, atol=1e-6)


def test_running_mean_std_normalize_and_state_dict() -> None:
    rng = np.random.default_rng(1)
    rms = RunningMeanStd(shape=(2,))
    rms.update(rng.normal(size=(50, 2)) * 4 + 1)
    x = np.array([[1.0, 1.0], [1e6, -1e6]], dtype=np.float32)
    z = rms.normalize(x, clip=5.0)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z[0], (x[0] - rms.mean) / np.sqrt(rms.var + 1e-8), rtol=1e-5)
    np.testing.assert_array_equal(z[1], [5.0, -5.0])

    other = RunningMeanStd(shape=(2,))
    other.load_state_dict(rms.state_dict())
    np.testing.assert_array_equal(other.mean, rms.mean)
    np.testing.assert_array_equal(other.var, rms.var)
    assert other.count == rms.count
    with pytest.raises(ValueError):
        RunningMeanStd(shape=(3,)).load_state_dict(rms.state_dict())


def test_explained_variance() -> None:
    y = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert explained_variance(y, y) == pytest.approx(1.0)
    assert explained_variance(torch.full((4,), 2.5), y) == pytest.approx(0.0)
    # Var[y - y_pred] = Var[[0.5,-0.5,0.5,-0.5]] = 0.25, Var[y] = 1.25 -> 1 - 0.2 = 0.8
    assert explained_variance(y + torch.tensor([-0.5, 0.5, -0.5, 0.5]), y) == pytest.approx(0.8)
    assert math.isnan(explained_variance(np.zeros(3), np.ones(3)))
