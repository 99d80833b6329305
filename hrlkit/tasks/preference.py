"""Preference optimisation losses: DPO (Rafailov et al. 2023, arXiv 2305.18290), as Tool-Star's self-critic phase
uses it (LlamaFactory's ``pref_loss: sigmoid``, β = 0.1).

For a prompt x with a chosen response y_w and a rejected one y_l, the policy π_θ and a frozen reference π_ref,

    L_DPO = −log σ( β [ (log π_θ(y_w|x) − log π_ref(y_w|x)) − (log π_θ(y_l|x) − log π_ref(y_l|x)) ] ),

averaged over the pairs; β (log π_θ − log π_ref) is the implicit reward of a response. The log-probabilities are
sums over each response's own tokens (the caller masks prompts, padding and tool results). Written here rather than
taken from TRL: TRL's trainer wraps the loss in its own training loop and model classes, while this collection's
tiny LMs need only the formula; a unit test checks it against the closed form.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["DPOResult", "dpo_loss"]


@dataclass
class DPOResult:
    loss: torch.Tensor               # mean over pairs, differentiable
    chosen_reward: torch.Tensor      # β (log π_θ(y_w) − log π_ref(y_w)) per pair, detached
    rejected_reward: torch.Tensor    # β (log π_θ(y_l) − log π_ref(y_l)) per pair, detached

    @property
    def accuracy(self) -> float:
        """Share of pairs whose implicit reward ranks the chosen response above the rejected one."""
        return float((self.chosen_reward > self.rejected_reward).float().mean())


def dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, reference_chosen: torch.Tensor,
             reference_rejected: torch.Tensor, beta: float = 0.1) -> DPOResult:
    """The sigmoid DPO loss over a batch of pairs (each argument: one summed log-probability per pair)."""
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    shapes = {t.shape for t in (policy_chosen, policy_rejected, reference_chosen, reference_rejected)}
    if len(shapes) != 1:
        raise ValueError(f"the four log-probability tensors must have one shape, got {sorted(map(tuple, shapes))}")
    chosen = policy_chosen - reference_chosen.detach()
    rejected = policy_rejected - reference_rejected.detach()
    # L = −log σ(β [(log π_θ(y_w) − log π_ref(y_w)) − (log π_θ(y_l) − log π_ref(y_l))])
    loss = -F.logsigmoid(beta * (chosen - rejected)).mean()
    return DPOResult(loss=loss, chosen_reward=(beta * chosen).detach(), rejected_reward=(beta * rejected).detach())
