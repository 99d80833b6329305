"""λ-returns over imagined trajectories, and DreamerV3's return scale.

Conventions (Hafner et al. 2023, "Mastering diverse domains through world models", arXiv 2301.04104): an imagined
trajectory has states s_0 … s_H with values v_0 … v_H; the transition s_t → s_{t+1} has reward r_t and continue flag
c_t (0 when the episode ended in it). The λ-return is defined backwards from the bootstrap R_H = v_H:

    R_t = r_t + γ c_t ((1 − λ) v_{t+1} + λ R_{t+1}),    t = H − 1, …, 0.

λ = 0 gives one-step TD targets r_t + γ c_t v_{t+1}; λ = 1 the discounted return bootstrapped with v_H. It is GAE's
return A_t + v_t (:func:`hrlkit.rl.core.compute_gae`) with continues in place of episode starts.
"""

from __future__ import annotations

import torch

from hrlkit.rl.core import compute_gae

__all__ = ["lambda_returns", "ReturnScale"]


def lambda_returns(rewards: torch.Tensor, values: torch.Tensor, continues: torch.Tensor, gamma: float,
                   lam: float) -> torch.Tensor:
    """(H, ...) λ-returns R_0 … R_{H−1} from rewards and continues (H, ...) and values (H + 1, ...)."""
    if values.shape[0] != rewards.shape[0] + 1 or rewards.shape != continues.shape:
        raise ValueError(f"need rewards and continues (H, ...) and values (H + 1, ...), got {tuple(rewards.shape)}, "
                         f"{tuple(continues.shape)} and {tuple(values.shape)}")
    if not (0.0 <= gamma <= 1.0 and 0.0 <= lam <= 1.0):
        raise ValueError(f"gamma and lam must be in [0, 1], got {gamma!r} and {lam!r}")
    # the same recursion as GAE's returns A_t + V(s_t), with "s_{t+1} starts a new episode" = 1 − c_t
    starts = torch.cat([torch.zeros_like(continues[:1]), 1 - continues[:-1]])
    _, returns = compute_gae(rewards, values[:-1], starts, values[-1], 1 - continues[-1], gamma, lam)
    return returns


class ReturnScale:
    """DreamerV3's return normalisation: running percentiles L ← d·L + (1 − d)·P₅(R) and U ← d·U + (1 − d)·P₉₅(R)
    over each batch of λ-returns (the first batch sets them), S = U − L, and advantages are divided by max(1, S):
    large returns are scaled down, small ones are not scaled up."""

    def __init__(self, decay: float = 0.99, low: float = 0.05, high: float = 0.95) -> None:
        if not (0.0 <= decay < 1.0 and 0.0 <= low < high <= 1.0):
            raise ValueError(f"need 0 <= decay < 1 and 0 <= low < high <= 1, got {decay!r}, {low!r}, {high!r}")
        self.decay, self.low, self.high = decay, low, high
        self.lower: float | None = None
        self.upper: float | None = None

    def update(self, returns: torch.Tensor) -> float:
        """Fold one batch of returns into the running percentiles; returns the divisor max(1, U − L)."""
        flat = returns.detach().flatten().double()
        lower, upper = float(torch.quantile(flat, self.low)), float(torch.quantile(flat, self.high))
        if self.lower is None:
            self.lower, self.upper = lower, upper
        else:
            self.lower = self.decay * self.lower + (1 - self.decay) * lower
            self.upper = self.decay * self.upper + (1 - self.decay) * upper
        return self.divisor

    @property
    def divisor(self) -> float:
        return 1.0 if self.lower is None else max(1.0, self.upper - self.lower)
