"""Dreamer's actor–critic, learned in imagination, for discrete actions.

From posterior start states s_0 (detached: the world model is not trained by the behaviour losses), the actor
rolls the RSSM prior for H steps, a_t ~ π(·|s_t) (one-hot), s_{t+1} ~ p(·|s_t, a_t). The world model predicts the
reward r_t = r̂(s_{t+1}) and the continue probability c_t = ĉ(s_{t+1}) of each imagined transition, and a slow
copy of the critic v' (an exponential moving average of its weights, DreamerV3) gives the values that
bootstrap the λ-returns R_t (:func:`hrlkit.mbrl.returns.lambda_returns`). With the weights w_t = Π_{k<t} c_k (the
probability that the imagined episode is still running at t) and DreamerV3's return scale S
(:class:`hrlkit.mbrl.returns.ReturnScale`):

    actor   L_π = − E_t[ w_t ( sg((R_t − v(s_t)) / max(1, S)) · log π(a_t|s_t) + η H[π(·|s_t)] ) ]   (REINFORCE)
    critic  L_v =   E_t[ w_t ( v(s_t) − sg(R_t) )² ]

DreamerV3 predicts values with a two-hot symlog head; the rewards here are small (0/1), so a plain regression head
is used and the deviation is the notebook's to state.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn
from torch.distributions import Categorical
from torch.nn import functional as F

from hrlkit.mbrl.returns import ReturnScale, lambda_returns
from hrlkit.mbrl.rssm import RSSMState
from hrlkit.mbrl.world_model import elu_mlp

__all__ = ["Actor", "ValueHead", "ImaginationActorCritic", "imagination_weights"]


class Actor(nn.Module):
    """π(a | s) over ``n_actions`` discrete actions from the features [h, z]."""

    def __init__(self, feat_dim: int, n_actions: int, hidden: int = 64) -> None:
        super().__init__()
        self.n_actions = n_actions
        self.net = elu_mlp(feat_dim, hidden, n_actions)

    def forward(self, features: Tensor) -> Categorical:
        return Categorical(logits=self.net(features))

    def sample(self, features: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One-hot actions (..., n_actions) drawn from π(·|s)."""
        probs = self(features).probs
        index = torch.multinomial(probs.reshape(-1, self.n_actions), 1, generator=generator).reshape(probs.shape[:-1])
        return F.one_hot(index, self.n_actions).float()


class ValueHead(nn.Module):
    def __init__(self, feat_dim: int, hidden: int = 64) -> None:
        super().__init__()
        self.net = elu_mlp(feat_dim, hidden, 1)

    def forward(self, features: Tensor) -> Tensor:
        return self.net(features).squeeze(-1)


def imagination_weights(continues: Tensor) -> Tensor:
    """(H, ...) w_t = Π_{k<t} c_k from the continue probabilities c_0 … c_{H−1} (w_0 = 1)."""
    return torch.cumprod(torch.cat([torch.ones_like(continues[:1]), continues[:-1]]), 0)


class ImaginationActorCritic:
    """Actor, critic and slow critic with their optimisers; :meth:`train` does one update from start states."""

    def __init__(self, feat_dim: int, n_actions: int, *, hidden: int = 64, horizon: int = 15, gamma: float = 0.99,
                 lam: float = 0.95, entropy_coef: float = 3e-4, actor_lr: float = 3e-4, critic_lr: float = 3e-4,
                 slow_decay: float = 0.98, grad_clip: float = 100.0) -> None:
        for name, value in (("horizon", horizon), ("hidden", hidden), ("n_actions", n_actions)):
            if not (isinstance(value, int) and value >= 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not 0.0 <= slow_decay < 1.0:
            raise ValueError(f"slow_decay must be in [0, 1), got {slow_decay!r}")
        self.actor, self.critic = Actor(feat_dim, n_actions, hidden), ValueHead(feat_dim, hidden)
        self.slow_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=actor_lr, eps=1e-5)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=critic_lr, eps=1e-5)
        self.scale = ReturnScale()
        self.horizon, self.gamma, self.lam = horizon, gamma, lam
        self.entropy_coef, self.slow_decay, self.grad_clip = entropy_coef, slow_decay, grad_clip

    def imagine(self, world_model, start: RSSMState, generator: torch.Generator | None = None):
        """(states (H + 1, B, ·), one-hot actions (H, B, A), rewards (H, B), continues (H, B)), no gradients."""
        with torch.no_grad():
            states, actions = world_model.rssm.imagine(start, lambda f: self.actor.sample(f, generator),
                                                       self.horizon, generator)
            nxt = states.features[1:]
            return states, actions, world_model.predict_reward(nxt), world_model.predict_continue(nxt)

    def train(self, world_model, start: RSSMState, generator: torch.Generator | None = None) -> dict[str, float]:
        """One actor and one critic step on trajectories imagined from ``start`` (B, ·), detached."""
        start = start.map(Tensor.detach)
        states, actions, rewards, continues = self.imagine(world_model, start, generator)
        feat = states.features                                            # (H + 1, B, F), no gradient
        with torch.no_grad():
            returns = lambda_returns(rewards, self.slow_critic(feat), continues, self.gamma, self.lam)
            weights = imagination_weights(continues)
            divisor = self.scale.update(returns)
            advantages = (returns - self.critic(feat[:-1])) / divisor
        dist = self.actor(feat[:-1])
        log_prob = dist.log_prob(actions.argmax(-1))
        entropy = dist.entropy()
        actor_loss = -(weights * (advantages * log_prob + self.entropy_coef * entropy)).mean()
        critic_loss = (weights * (self.critic(feat[:-1]) - returns).pow(2)).mean()
        for loss, opt, module in ((actor_loss, self.actor_opt, self.actor), (critic_loss, self.critic_opt, self.critic)):
            if not torch.isfinite(loss):
                raise FloatingPointError(f"imagination actor-critic: loss is {loss.item()} (actor {actor_loss.item()}, "
                                         f"critic {critic_loss.item()})")
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(module.parameters(), self.grad_clip)
            opt.step()
        with torch.no_grad():        # v' ← d·v' + (1 − d)·v
            for slow, fast in zip(self.slow_critic.parameters(), self.critic.parameters()):
                slow.mul_(self.slow_decay).add_(fast, alpha=1 - self.slow_decay)
        return {"actor_loss": float(actor_loss.detach()), "critic_loss": float(critic_loss.detach()),
                "entropy": float(entropy.detach().mean()),
                "imagined_return": float(returns[0].mean()), "return_scale": divisor,
                "imagined_prior_entropy": float(states.prior_entropy[1:].mean())}
