"""The recurrent state-space model (RSSM) of PlaNet/Dreamer with a diagonal-Gaussian stochastic state.

Per step (Hafner et al. 2019, arXiv 1811.04551; DreamerV3, arXiv 2301.04104):

* deterministic state  h_t = GRU(h_{t−1}, MLP([z_{t−1}, a_{t−1}]))
* prior                p(z_t | h_t)       = 𝒩(μ_p(h_t), diag σ_p(h_t)²)
* posterior            q(z_t | h_t, e_t)  = 𝒩(μ_q([h_t, e_t]), diag σ_q([h_t, e_t])²),  e_t the observation's embedding

σ = softplus(·) + ``min_std``. The prior's differential entropy, the quantity an entropy-seeking planner scores, is
H(p) = ½ Σ_i log(2πe σ_i²). The representation is trained with KL balancing and free bits (DreamerV3):

    L_KL = β_dyn · max(F, KL(sg(q) ‖ p)) + β_rep · max(F, KL(q ‖ sg(p))),   β_dyn = 0.5, β_rep = 0.1, F = 1 nat,

where sg stops the gradient and each KL is summed over latent dimensions before the free-bits clip, averaged after.
A sequence restarts (h, z ← 0) where ``is_first`` is set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["RSSM", "RSSMState", "gaussian_kl", "gaussian_entropy", "kl_balance"]


def gaussian_kl(mean_q: Tensor, std_q: Tensor, mean_p: Tensor, std_p: Tensor) -> Tensor:
    """KL(𝒩(μ_q, σ_q²) ‖ 𝒩(μ_p, σ_p²)) of diagonal Gaussians, summed over the last axis:
    Σ_i [log(σ_p/σ_q) + (σ_q² + (μ_q − μ_p)²)/(2σ_p²) − ½]."""
    var_q, var_p = std_q.pow(2), std_p.pow(2)
    return (torch.log(std_p / std_q) + (var_q + (mean_q - mean_p).pow(2)) / (2 * var_p) - 0.5).sum(-1)


def gaussian_entropy(std: Tensor) -> Tensor:
    """Differential entropy of a diagonal Gaussian, summed over the last axis: ½ Σ_i log(2πe σ_i²)."""
    return (0.5 * math.log(2 * math.pi * math.e) + torch.log(std)).sum(-1)


def kl_balance(post_mean: Tensor, post_std: Tensor, prior_mean: Tensor, prior_std: Tensor, *,
               free_bits: float = 1.0, dyn_scale: float = 0.5, rep_scale: float = 0.1) -> tuple[Tensor, Tensor]:
    """(loss, KL(q ‖ p) per step): DreamerV3's balanced KL with free bits (module docstring)."""
    dyn = gaussian_kl(post_mean.detach(), post_std.detach(), prior_mean, prior_std)
    rep = gaussian_kl(post_mean, post_std, prior_mean.detach(), prior_std.detach())
    loss = dyn_scale * dyn.clamp(min=free_bits).mean() + rep_scale * rep.clamp(min=free_bits).mean()
    return loss, rep.detach()


@dataclass
class RSSMState:
    """Latent states (..., dim) with the prior's (and, when observed, the posterior's) mean and std."""

    deter: Tensor
    stoch: Tensor
    prior_mean: Tensor
    prior_std: Tensor
    post_mean: Tensor | None = None
    post_std: Tensor | None = None

    @property
    def features(self) -> Tensor:
        """[h, z], the input of the decoder, the reward and continue heads, the actor and the critic."""
        return torch.cat([self.deter, self.stoch], -1)

    @property
    def prior_entropy(self) -> Tensor:
        return gaussian_entropy(self.prior_std)

    def map(self, fn) -> "RSSMState":
        """The latent state (h, z and the prior) with ``fn`` applied to each tensor, the posterior fields dropped:
        rows ``state.map(lambda t: t[i])``, a flat batch ``state.map(lambda t: t.reshape(-1, t.shape[-1]))``, a
        detached copy ``state.map(Tensor.detach)``."""
        return RSSMState(fn(self.deter), fn(self.stoch), fn(self.prior_mean), fn(self.prior_std))


def _stack(states: list[RSSMState]) -> RSSMState:
    fields = {}
    for name in ("deter", "stoch", "prior_mean", "prior_std", "post_mean", "post_std"):
        values = [getattr(s, name) for s in states]
        fields[name] = None if values[0] is None else torch.stack(values)
    return RSSMState(**fields)


class RSSM(nn.Module):
    """h_t = GRU(h_{t−1}, MLP([z_{t−1}, a_{t−1}])), prior from h_t, posterior from [h_t, e_t] (module docstring)."""

    def __init__(self, action_dim: int, embed_dim: int, deter: int = 64, stoch: int = 16, hidden: int = 64,
                 min_std: float = 0.1) -> None:
        super().__init__()
        for name, value in (("action_dim", action_dim), ("embed_dim", embed_dim), ("deter", deter),
                            ("stoch", stoch), ("hidden", hidden)):
            if not (isinstance(value, int) and value >= 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not min_std > 0:
            raise ValueError(f"min_std must be > 0, got {min_std!r}")
        self.action_dim, self.deter_dim, self.stoch_dim, self.min_std = action_dim, deter, stoch, min_std
        self.inp = nn.Sequential(nn.Linear(stoch + action_dim, hidden), nn.ELU())
        self.gru = nn.GRUCell(hidden, deter)
        self.prior_head = nn.Sequential(nn.Linear(deter, hidden), nn.ELU(), nn.Linear(hidden, 2 * stoch))
        self.post_head = nn.Sequential(nn.Linear(deter + embed_dim, hidden), nn.ELU(), nn.Linear(hidden, 2 * stoch))

    def initial(self, batch: int) -> RSSMState:
        zeros_d, zeros_s = torch.zeros(batch, self.deter_dim), torch.zeros(batch, self.stoch_dim)
        return RSSMState(zeros_d, zeros_s, zeros_s, torch.ones(batch, self.stoch_dim))

    def _stats(self, raw: Tensor) -> tuple[Tensor, Tensor]:
        mean, std = raw.chunk(2, -1)
        return mean, F.softplus(std) + self.min_std

    def img_step(self, state: RSSMState, action: Tensor, generator: torch.Generator | None = None,
                 sample: bool = True) -> RSSMState:
        """One step in the prior: h' from (h, z, a), z' ~ p(z' | h') (its mean when ``sample`` is False)."""
        deter = self.gru(self.inp(torch.cat([state.stoch, action], -1)), state.deter)
        mean, std = self._stats(self.prior_head(deter))
        stoch = mean + std * torch.randn(mean.shape, generator=generator) if sample else mean
        return RSSMState(deter, stoch, mean, std)

    def obs_step(self, state: RSSMState, action: Tensor, embed: Tensor,
                 generator: torch.Generator | None = None) -> RSSMState:
        """One filtering step: the prior from (h, z, a), then z' ~ q(z' | h', e) (reparameterised)."""
        prior = self.img_step(state, action, generator, sample=False)
        mean, std = self._stats(self.post_head(torch.cat([prior.deter, embed], -1)))
        stoch = mean + std * torch.randn(mean.shape, generator=generator)
        return RSSMState(prior.deter, stoch, prior.prior_mean, prior.prior_std, mean, std)

    def filter_step(self, state: RSSMState, action: Tensor, embed: Tensor, is_first: Tensor,
                    generator: torch.Generator | None = None) -> RSSMState:
        """:meth:`obs_step` after restarting, where ``is_first`` (B,), from zero h, z and a zero action."""
        keep = (~is_first.bool()).float()[:, None]
        state = RSSMState(state.deter * keep, state.stoch * keep, state.prior_mean, state.prior_std)
        return self.obs_step(state, action * keep, embed, generator)

    def observe(self, embeds: Tensor, actions: Tensor, is_first: Tensor, state: RSSMState | None = None,
                generator: torch.Generator | None = None) -> RSSMState:
        """Filter (T, B, E) embeddings; ``actions`` (T, B, A) are the actions taken *before* each observation (a zero
        action where ``is_first``), ``is_first`` (T, B) restarts the state. Returns states stacked to (T, B, ·)."""
        steps, batch = embeds.shape[:2]
        if actions.shape[:2] != (steps, batch) or is_first.shape != (steps, batch):
            raise ValueError(f"embeds {tuple(embeds.shape)}, actions {tuple(actions.shape)} and is_first "
                             f"{tuple(is_first.shape)} must share (T, B)")
        state = self.initial(batch) if state is None else state
        out = []
        for t in range(steps):
            state = self.filter_step(state, actions[t], embeds[t], is_first[t], generator)
            out.append(state)
        return _stack(out)

    def imagine(self, start: RSSMState, policy, horizon: int,
                generator: torch.Generator | None = None) -> tuple[RSSMState, Tensor]:
        """Roll ``horizon`` steps in the prior from ``start`` (B, ·) with actions a_t = policy(features_t).
        Returns the states s_0 … s_H stacked to (H + 1, B, ·) (s_0 = start) and the actions (H, B, A)."""
        state = start.map(lambda t: t)
        states, actions = [state], []
        for _ in range(horizon):
            action = policy(state.features)
            state = self.img_step(state, action, generator)
            states.append(state)
            actions.append(action)
        return _stack(states), torch.stack(actions)
