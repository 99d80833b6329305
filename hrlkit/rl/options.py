"""Options as two augmented MDPs: the Double Actor-Critic (DAC) composition (Zhang & Whiteson, NeurIPS 2019).

An options policy is (μ, β, π_o): a policy over options μ(o | S), a termination β_o(S) per option and an intra-option
policy π_o(a | S). DAC writes it as two MDPs with the same return:

* high MDP M^H: state (o_{t−1}, S_t), action o_t, policy
  ``π^H(o | o_prev, S) = (1 − β_{o_prev}(S))·1[o = o_prev] + β_{o_prev}(S)·μ(o | S)``;
* low MDP M^L: state (S_t, o_t), action a_t, policy ``π^L(a | S, o) = π_o(a | S)``.

One critic ``q(S, o)`` serves both: ``v^H(o_prev, S) = Σ_o π^H(o | o_prev, S) q(S, o)`` and ``v^L(S, o) = q(S, o)``;
any policy-gradient method (here PPO) then optimises each MDP with its own value. In a multi-agent setting each agent
i has its own option o_i, termination and q-row ``q_i(S, ·)``: every function below works on arbitrary leading
(batch, agent, ...) dimensions with the options on the last one.

Options with several factors (e.g. a charger choice × a trip choice) are one categorical over the product space:
:func:`factorised_log_probs` builds its log-probabilities from one logit head per factor.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["high_policy_probs", "high_log_prob", "high_entropy", "sample_high", "dac_values",
           "factorised_log_probs", "option_index", "option_factors"]


def _check(beta: Tensor, mu: Tensor, prev_option: Tensor) -> None:
    if beta.shape != mu.shape[:-1] or prev_option.shape != mu.shape[:-1]:
        raise ValueError(f"beta {tuple(beta.shape)} and prev_option {tuple(prev_option.shape)} must have the shape of "
                         f"mu without its last (option) dimension, {tuple(mu.shape[:-1])}")


def high_policy_probs(beta: Tensor, mu: Tensor, prev_option: Tensor) -> Tensor:
    """π^H(· | o_prev, S) = (1 − β)·onehot(o_prev) + β·μ(· | S).

    Args:
        beta: ``(...)`` termination probability of the previous option, β_{o_prev}(S).
        mu: ``(..., O)`` policy over options μ(· | S) (probabilities).
        prev_option: ``(...)`` long, the previous option.
    """
    _check(beta, mu, prev_option)
    keep = torch.nn.functional.one_hot(prev_option, mu.shape[-1]).to(mu.dtype)
    return (1.0 - beta)[..., None] * keep + beta[..., None] * mu


def high_log_prob(beta: Tensor, mu_log_probs: Tensor, prev_option: Tensor, option: Tensor) -> Tensor:
    """log π^H(o | o_prev, S), computed stably from log μ and β.

    ``o ≠ o_prev``: log β + log μ(o);  ``o = o_prev``: log((1 − β) + β μ(o)).
    """
    _check(beta, mu_log_probs, prev_option)
    log_mu = mu_log_probs.gather(-1, option[..., None]).squeeze(-1)
    beta = beta.clamp(1e-8, 1.0)
    switched = torch.log(beta) + log_mu
    kept = torch.log((1.0 - beta) + beta * log_mu.exp())
    return torch.where(option == prev_option, kept, switched)


def high_entropy(beta: Tensor, mu: Tensor, prev_option: Tensor) -> Tensor:
    """Entropy of π^H(· | o_prev, S) (nats), ``(...)``."""
    p = high_policy_probs(beta, mu, prev_option)
    return -(p * torch.log(p.clamp_min(1e-12))).sum(-1)


def sample_high(beta: Tensor, mu: Tensor, prev_option: Tensor,
                generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Sample o ~ π^H the way options execute: terminate with probability β, then draw o ~ μ; else keep o_prev.

    Returns ``(option, terminated)``; the option's distribution is exactly :func:`high_policy_probs`.
    """
    _check(beta, mu, prev_option)
    u = torch.rand(beta.shape, generator=generator, device=beta.device)
    terminated = u < beta
    flat = mu.reshape(-1, mu.shape[-1])
    drawn = torch.multinomial(flat, 1, generator=generator).reshape(beta.shape)
    return torch.where(terminated, drawn, prev_option), terminated


def dac_values(q: Tensor, high_probs: Tensor, option: Tensor) -> tuple[Tensor, Tensor]:
    """The DAC critics from one q: ``v^H = Σ_o π^H(o | o_prev, S) q(S, o)`` and ``v^L = q(S, o_t)``.

    Args:
        q: ``(..., O)`` option values q(S, ·).
        high_probs: ``(..., O)`` π^H(· | o_prev, S).
        option: ``(...)`` long, the option o_t taken.
    """
    if q.shape != high_probs.shape or option.shape != q.shape[:-1]:
        raise ValueError(f"q {tuple(q.shape)}, high_probs {tuple(high_probs.shape)} and option "
                         f"{tuple(option.shape)} disagree")
    v_high = (high_probs * q).sum(-1)
    v_low = q.gather(-1, option[..., None]).squeeze(-1)
    return v_high, v_low


def factorised_log_probs(logits: Sequence[Tensor]) -> Tensor:
    """Log-probabilities over the product of several categorical factors, ``(..., Π_f n_f)``.

    With one logit head per factor, ``log μ(o) = Σ_f log softmax(z_f)[o_f]`` where the joint index is row-major:
    ``o = ((o_1·n_2 + o_2)·n_3 + o_3)…`` (see :func:`option_index`).
    """
    if not logits:
        raise ValueError("factorised_log_probs needs at least one factor")
    joint = torch.log_softmax(logits[0], dim=-1)
    for z in logits[1:]:
        lp = torch.log_softmax(z, dim=-1)
        joint = (joint[..., :, None] + lp[..., None, :]).flatten(-2)
    return joint


def option_index(factors: Sequence[Tensor], sizes: Sequence[int]) -> Tensor:
    """Row-major joint index of per-factor choices (the inverse of :func:`option_factors`)."""
    if len(factors) != len(sizes):
        raise ValueError("option_index: one size per factor")
    index = torch.zeros_like(factors[0])
    for f, n in zip(factors, sizes):
        index = index * n + f
    return index


def option_factors(option: Tensor, sizes: Sequence[int]) -> list[Tensor]:
    """Per-factor choices of a row-major joint option index."""
    out = []
    for n in reversed(list(sizes)):
        out.append(option % n)
        option = torch.div(option, n, rounding_mode="floor")
    return out[::-1]
