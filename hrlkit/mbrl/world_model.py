"""A small Dreamer world model for vector observations: encoder, RSSM, decoder, reward and continue heads.

Loss over a batch of sequences (T, B) (DreamerV3, arXiv 2301.04104, with MSE heads for vector inputs):

    L = ‖x̂_t − x_t‖² / d_x  +  (r̂_t − r_t)²  +  BCE(ĉ_t, c_t)  +  L_KL

averaged over (t, b), where x̂, r̂, ĉ are read from the posterior features [h_t, z_t] and L_KL is
:func:`hrlkit.mbrl.rssm.kl_balance`. Here r_t and c_t are the reward and continue flag *observed with* x_t (of the
transition that led to it), so in imagination the heads at s_{t+1} give the reward and continue of s_t → s_{t+1}.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from hrlkit.mbrl.rssm import RSSM, RSSMState, kl_balance

__all__ = ["WorldModel", "elu_mlp"]


def elu_mlp(inp: int, hidden: int, out: int) -> nn.Sequential:
    """inp → hidden → hidden → out with ELU between layers (every head and the encoder; the actor and critic too)."""
    return nn.Sequential(nn.Linear(inp, hidden), nn.ELU(), nn.Linear(hidden, hidden), nn.ELU(), nn.Linear(hidden, out))


class WorldModel(nn.Module):
    """Encoder → RSSM → heads; ``loss`` trains them jointly (module docstring)."""

    def __init__(self, obs_dim: int, action_dim: int, embed: int = 64, deter: int = 64, stoch: int = 16,
                 hidden: int = 64, free_bits: float = 1.0, dyn_scale: float = 0.5, rep_scale: float = 0.1) -> None:
        super().__init__()
        if not (isinstance(obs_dim, int) and obs_dim >= 1):
            raise ValueError(f"obs_dim must be a positive integer, got {obs_dim!r}")
        self.obs_dim = obs_dim
        self.encoder = elu_mlp(obs_dim, hidden, embed)
        self.rssm = RSSM(action_dim, embed, deter=deter, stoch=stoch, hidden=hidden)
        feat = deter + stoch
        self.decoder = elu_mlp(feat, hidden, obs_dim)
        self.reward = elu_mlp(feat, hidden, 1)
        self.cont = elu_mlp(feat, hidden, 1)
        self.kl_options = dict(free_bits=free_bits, dyn_scale=dyn_scale, rep_scale=rep_scale)

    def observe(self, obs: Tensor, actions: Tensor, is_first: Tensor,
                generator: torch.Generator | None = None) -> RSSMState:
        """Posterior states (T, B, ·) of observations (T, B, d_x) (see :meth:`RSSM.observe` for the actions)."""
        return self.rssm.observe(self.encoder(obs), actions, is_first, generator=generator)

    def predict_reward(self, features: Tensor) -> Tensor:
        return self.reward(features).squeeze(-1)

    def predict_continue(self, features: Tensor) -> Tensor:
        """Probability that the episode goes on."""
        return torch.sigmoid(self.cont(features).squeeze(-1))

    def loss(self, obs: Tensor, actions: Tensor, rewards: Tensor, continues: Tensor, is_first: Tensor,
             generator: torch.Generator | None = None) -> tuple[Tensor, dict[str, float], RSSMState]:
        """(total loss, its parts as floats, the posterior states) of a batch of sequences (T, B, ·)."""
        states = self.observe(obs, actions, is_first, generator)
        feat = states.features
        reconstruction = (self.decoder(feat) - obs).pow(2).mean(-1).mean()
        reward = (self.predict_reward(feat) - rewards).pow(2).mean()
        cont = F.binary_cross_entropy_with_logits(self.cont(feat).squeeze(-1), continues.float())
        kl_loss, kl = kl_balance(states.post_mean, states.post_std, states.prior_mean, states.prior_std,
                                 **self.kl_options)
        total = reconstruction + reward + cont + kl_loss
        if not torch.isfinite(total):
            raise FloatingPointError(f"world-model loss is {total.item()} (reconstruction {reconstruction.item()}, "
                                     f"reward {reward.item()}, continue {cont.item()}, KL {kl_loss.item()})")
        parts = {name: float(value.detach()) for name, value in (
            ("reconstruction", reconstruction), ("reward", reward), ("continue", cont), ("kl", kl.mean()),
            ("prior_entropy", states.prior_entropy.mean()))}
        return total, parts, states
