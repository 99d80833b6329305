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
    """Per-token KL(π_θ ‖ π_ref) estimator k3 (Schulman 2020), used by GRPO: e^{r} − r − 1, r = log π_ref − log π_θ.

    Unbiased for the KL when tokens are sampled from π_θ, and never negative.
    """
    r = ref_logprobs - logprobs
    return torch.exp(r) - r - 1.0


# --------------------------------------------------------------------------------------
# Share-GRPO (R1-ShareVL, Yao et al. 2025, arXiv 2505.16673): re-paired batch and hierarchical advantage
# --------------------------------------------------------------------------------------


def share_grpo_layout(num_questions: int, m: int, n: int, cross: bool = True) -> dict[str, Tensor]:
    """Index arrays of the (prompt, response) pairs of a Share-GRPO batch, in the authors' slot order.

    For question ``b`` with ``m`` variants ``Q_0 .. Q_{m-1}`` and ``n`` responses ``R[j][i] ~ π_old(· | Q_j)`` per
    variant, slot ``s`` of the ``m·m·n`` slots of ``b`` (R1-ShareVL ``vllm_rollout_spmd.py::group_and_repeat``) is::

        k = s // (n·m)      prompt variant the response is scored under
        j = (s // n) % m    variant that generated the response
        i = s % n           sample index;   inter_bool = (k == j)

    Returns ``question`` (b), ``prompt_variant`` (k), ``response_variant`` (j), ``sample`` (i), ``inter_bool``,
    ``response_index`` (row of the response in a generation batch laid out as ``(b, j, i)``, i.e.
    ``b·m·n + j·n + i``) and ``prompt_index`` (``b·m + k``). With ``cross=False`` only the ``j == k`` slots are
    kept (the "without cross-variant pairing" ablation). All are 1-D long tensors.
    """
    for name, value in (("num_questions", num_questions), ("m", m), ("n", n)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    s = torch.arange(m * m * n)
    k, j, i = s // (n * m), (s // n) % m, s % n
    b = torch.arange(num_questions).repeat_interleave(m * m * n)
    k, j, i = k.repeat(num_questions), j.repeat(num_questions), i.repeat(num_questions)
    inter = (k == j).long()
    keep = torch.ones_like(inter, dtype=torch.bool) if cross else inter.bool()
    out = {"question": b, "prompt_variant": k, "response_variant": j, "sample": i, "inter_bool": inter,
           "response_index": b * m * n + j * n + i, "prompt_index": b * m + k}
    return {key: value[keep] for key, value in out.items()}


def share_grpo_advantages(scores: Tensor, uid: Tensor, inter_uid: Tensor, inter_bool: Tensor, *,
                          local: bool = True, eps: float = EPS) -> Tensor:
    """Share-GRPO hierarchical advantage (R1-ShareVL ``core_algos.compute_grpo_outcome_advantage``).

    Global group ``uid`` = every pair of one original question (each response counted once per prompt it is
    paired with, exactly as the code does); local group ``inter_uid`` = the pairs with ``inter_bool == 1``
    of one prompt variant (the ``n`` responses generated from that variant)::

        Â = (s − μ_uid)/(σ_uid + ε) + 1[inter_bool]·(s − μ_inter_uid)/(σ_inter_uid + ε)

    with unbiased σ (``torch.std``) and ε = 1e-6. ``local=False`` drops the second term (the global-only
    ablation). ``uid`` and ``inter_uid`` are 1-D integer tensors of group ids.
    """
    scores64 = scores.to(torch.float64)
    adv = group_advantages(scores64, uid, eps)
    if local:
        on = inter_bool.bool()
        if bool(on.any()):
            adv[on] = adv[on] + group_advantages(scores64[on], inter_uid[on], eps)
    return adv.to(scores.dtype)
