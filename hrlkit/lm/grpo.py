"""Group-relative policy optimisation for language-model policies: advantages, token-level clipped loss, KL.

Conventions follow verl / EasyR1 (the code base of several of the collection's LM papers):

* a *response* is a row of tokens with a 0/1 ``response_mask`` (1 on generated tokens, including the stop token);
* an *outcome* reward is one scalar per response; its advantage is broadcast over the response's tokens;
* losses are masked means over all response tokens of the batch ("token-mean" aggregation).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

EPS = 1e-6


def masked_mean(x: Tensor, mask: Tensor, dim: int | None = None) -> Tensor:
    """Σ x·mask / Σ mask (over ``dim``, or over everything)."""
    mask = mask.to(x.dtype)
    if dim is None:
        return (x * mask).sum() / mask.sum().clamp_min(1.0)
    return (x * mask).sum(dim) / mask.sum(dim).clamp_min(1.0)


def _group_index(group_ids: Sequence | Tensor) -> tuple[Tensor, int]:
    """Dense 0..G-1 index of each element's group, in order of first appearance."""
    index: dict = {}
    ids = group_ids.tolist() if isinstance(group_ids, Tensor) else list(group_ids)
    dense = [index.setdefault(g if not isinstance(g, list) else tuple(g), len(index)) for g in ids]
    return torch.tensor(dense, dtype=torch.long), len(index)


def group_stats(scores: Tensor, group_ids: Sequence | Tensor) -> tuple[Tensor, Tensor]:
    """Per-element mean and unbiased standard deviation of its group (``torch.std`` convention).

    A group of one has mean 0 and std 1, as in verl's ``compute_grpo_outcome_advantage``.
    """
    scores = scores.to(torch.float64)
    idx, n_groups = _group_index(group_ids)
    count = torch.zeros(n_groups, dtype=torch.float64).index_add_(0, idx, torch.ones_like(scores))
    total = torch.zeros(n_groups, dtype=torch.float64).index_add_(0, idx, scores)
    mean = total / count
    sq = torch.zeros(n_groups, dtype=torch.float64).index_add_(0, idx, (scores - mean[idx]) ** 2)
    # unbiased: Σ (s − μ)² / (n − 1)
    std = torch.sqrt(sq / (count - 1).clamp_min(1.0))
    single = count == 1
    mean = torch.where(single, torch.zeros_like(mean), mean)
    std = torch.where(single, torch.ones_like(std), std)
    return mean[idx], std[idx]


def group_advantages(scores: Tensor, group_ids: Sequence | Tensor, eps: float = EPS) -> Tensor:
    """GRPO outcome advantage (Shao et al. 2024, DeepSeekMath Eq. 4 in verl's form): Â = (s − μ_g)/(σ_g + ε)."""
    mean, std = group_stats(scores, group_ids)
    return ((scores.to(torch.float64) - mean) / (std + eps)).to(scores.dtype)


def vanished_groups(scores: Tensor, group_ids: Sequence | Tensor) -> float:
    """Fraction of groups whose rewards are all equal, so every advantage in them is 0 ("advantage vanishing")."""
    idx, n_groups = _group_index(group_ids)
    scores = scores.to(torch.float64)
    lo = torch.full((n_groups,), float("inf"), dtype=torch.float64).scatter_reduce(0, idx, scores, "amin")
    hi = torch.full((n_groups,), float("-inf"), dtype=torch.float64).scatter_reduce(0, idx, scores, "amax")
    return float((hi - lo == 0).to(torch.float64).mean())


def token_clip_loss(logprobs: Tensor, old_logprobs: Tensor, advantages: Tensor, response_mask: Tensor,
                    clip: float = 0.2, clip_high: float | None = None,
                    dual_clip: float | None = None) -> tuple[Tensor, dict[str, float]]:
    """Token-level PPO-clip objective (Schulman et al. 2017), masked token-mean, as a loss to minimise.

    ρ_t = exp(log π_θ − log π_old);  L = −mean_t min(ρ_t Â, clip(ρ_t, 1 − ε, 1 + ε_high) Â).
    With ``dual_clip = c`` (Ye et al. 2020, verl's default c = 3), the loss of tokens with Â < 0 is also capped
    at −c·Â. ``advantages`` is per response (B,) — broadcast over tokens — or per token (B, L).
    """
    if advantages.dim() == 1:
        advantages = advantages[:, None].expand_as(logprobs)
    high = clip if clip_high is None else clip_high
    log_ratio = logprobs - old_logprobs
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip, 1.0 + high)
    per_token = torch.maximum(unclipped, clipped)
    if dual_clip is not None:
        if dual_clip <= 1.0:
            raise ValueError(f"dual_clip must be > 1, got {dual_clip}")
        per_token = torch.where(advantages < 0, torch.minimum(per_token, -dual_clip * advantages), per_token)
    loss = masked_mean(per_token, response_mask)
    with torch.no_grad():
        stats = {
            "clipfrac": float(masked_mean((clipped > unclipped).to(logprobs.dtype), response_mask)),
            "approx_kl": float(masked_mean((ratio - 1.0) - log_ratio, response_mask)),
        }
    return loss, stats


def kl_k3(logprobs: Tensor, ref_logprobs: Tensor) -> Tensor:
    """Per-token KL(π_θ ‖ π_ref) estimator k3 (Schulman 2020), used by GRPO: e^{r} − r − 1 with r = log π_ref − log π_θ.

    Unbiased for the KL when tokens are sampled from π_θ, and never negative.
    """
    r = ref_logprobs - logprobs
    return torch.exp(r) - r - 1.0
