"""RL of a tool-using tiny LM: GRPO on multi-turn tool rollouts and Tool-Star's self-critic DPO phase
(arXiv 2505.16410, §3.3, after the authors' verl rollout and LlamaFactory DPO settings).

* :func:`grpo_step`: ``prompts_per_step`` questions × ``samples`` rollouts each
  (:func:`hrlkit.tasks.tool_rollout.tool_rollout`, tool results inserted and, unless ``mask_results`` is off, left
  out of the loss); outcome reward per rollout; group-relative advantage Â = (r − μ_g)/(σ_g + ε)
  (:func:`hrlkit.lm.grpo.group_advantages`); the token-level clipped loss
  (:func:`hrlkit.lm.grpo.token_clip_loss`) over ``minibatches`` minibatches; no KL term (the authors' KL coef is 0).
* :func:`preference_pairs`: the self-critic pairs of one question's rollouts: the best rollout with reward ≥ 1 as
  chosen against a rollout with reward < 1 as rejected (the lowest-reward one); none when either is missing.
* :func:`dpo_phase`: rollouts of the current policy, their pairs, and ``dpo_steps`` steps of the sigmoid DPO loss
  (:func:`hrlkit.tasks.preference.dpo_loss`) against a frozen copy of the policy taken at the phase's start.
* :func:`evaluate_responses` / :func:`evaluate_greedy`: one sampled or greedy tool-integrated answer per question with
  per-question correctness and tool statistics.

Rewards are a function ``reward(question, response) -> float`` of the full response (the prompt's think block
included), e.g. :func:`hrlkit.tasks.tool_protocol.hierarchical_reward` of ``response`` and the question's answer.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import torch

from hrlkit.lm.grpo import group_advantages, token_clip_loss, vanished_groups
from hrlkit.lm.tiny import CausalLMPolicy
from hrlkit.tasks.preference import dpo_loss
from hrlkit.tasks.tool_protocol import validate_format
from hrlkit.tasks.tool_rollout import Tool, ToolRollout, left_pad, tool_rollout
from hrlkit.tasks.tool_sampling import is_correct
from hrlkit.tasks.tool_tasks import Question
from hrlkit.tasks.tool_vocab import ToolVocab

__all__ = ["RLConfig", "prompt_text", "grpo_step", "preference_pairs", "dpo_phase", "evaluate_responses",
           "evaluate_greedy"]

Reward = Callable[[Question, str], float]


@dataclass(frozen=True)
class RLConfig:
    prompts_per_step: int = 16
    samples: int = 8                  # rollouts per question (GRPO's group size)
    minibatches: int = 4              # policy-loss minibatches per step
    clip: float = 0.2                 # PPO clip ε
    max_calls: int = 4                # tool calls per rollout
    max_new_tokens: int = 60          # tokens per generation turn
    temperature: float = 1.0
    mask_results: bool = True         # leave tool results out of the loss (the authors' result_mask)
    dpo_beta: float = 0.1             # DPO β (the authors' LlamaFactory setting)
    dpo_steps: int = 8                # DPO gradient steps per self-critic phase

    def __post_init__(self) -> None:
        for name in ("prompts_per_step", "samples", "minibatches", "max_calls", "max_new_tokens", "dpo_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"RLConfig.{name} must be an int >= 1, got {value!r}")
        if self.samples < 2:
            raise ValueError("RLConfig.samples must be >= 2: a group of one has no relative advantage")
        if not (0 < self.clip < 1 and self.temperature > 0 and self.dpo_beta > 0):
            raise ValueError("RLConfig: clip must lie in (0, 1); temperature and dpo_beta must be > 0")


def prompt_text(question: Question) -> str:
    return f"<think> {question.text} </think>"


def _prompt_ids(vocab: ToolVocab, question: Question) -> list[int]:
    return [vocab.bos] + vocab.encode(prompt_text(question))


def _rollouts(model: CausalLMPolicy, vocab: ToolVocab, questions: Sequence[Question], samples: int,
              tools: Mapping[str, Tool], config: RLConfig, generator: torch.Generator,
              temperature: float) -> tuple[list[list[int]], ToolRollout]:
    prompts = [_prompt_ids(vocab, q) for q in questions for _ in range(samples)]
    model.eval()
    out = tool_rollout(model, vocab, prompts, tools, max_calls=config.max_calls,
                       max_new_tokens=config.max_new_tokens, max_len=model.cfg.max_len, temperature=temperature,
                       generator=generator, mask_results=config.mask_results)
    return prompts, out


def _sequence_logprobs(model: CausalLMPolicy, prompts: list[list[int]], out: ToolRollout, pad: int,
                       rows: torch.Tensor | slice = slice(None)) -> torch.Tensor:
    """(B, L) token log-probs of the rollouts' responses (0 on padding)."""
    ids, mask = left_pad(prompts, pad)
    return model.token_logprobs(model.embed_tokens(ids[rows]), mask[rows], out.tokens[rows], out.mask[rows])


def grpo_step(model: CausalLMPolicy, optimiser: torch.optim.Optimizer, vocab: ToolVocab,
              questions: Sequence[Question], tools: Mapping[str, Tool], reward: Reward, config: RLConfig,
              generator: torch.Generator) -> dict[str, float]:
    """One GRPO step on ``questions`` (``config.samples`` rollouts each); returns the step's statistics."""
    prompts, out = _rollouts(model, vocab, questions, config.samples, tools, config, generator, config.temperature)
    owner = [i // config.samples for i in range(len(prompts))]
    responses = [f"{prompt_text(questions[o])} {text}" for o, text in zip(owner, out.texts)]
    rewards = torch.tensor([reward(questions[o], r) for o, r in zip(owner, responses)], dtype=torch.float32)
    # Â = (r − μ_group) / (σ_group + ε), broadcast over the rollout's tokens
    advantages = group_advantages(rewards, owner)
    targets = out.loss_mask * out.mask
    model.train()
    with torch.no_grad():
        old = _sequence_logprobs(model, prompts, out, vocab.pad)
    order = torch.randperm(len(prompts), generator=generator)
    clipfrac = []
    for rows in order.chunk(config.minibatches):
        logprobs = _sequence_logprobs(model, prompts, out, vocab.pad, rows)
        loss, stats = token_clip_loss(logprobs, old[rows], advantages[rows], targets[rows], clip=config.clip)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"grpo_step: the policy loss is {loss.item()}")
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        clipfrac.append(stats["clipfrac"])
    model.eval()
    return {"reward": float(rewards.mean()), "vanished_groups": vanished_groups(rewards, owner),
            "both_tools": float(np.mean([len({c.tool for c in calls}) == 2 for calls in out.calls])),
            "format_ok": float(np.mean([validate_format(r)[0] for r in responses])),
            "truncated": float(np.mean(out.truncated)), "clipfrac": float(np.mean(clipfrac))}


def preference_pairs(rewards: Sequence[float]) -> tuple[int, int] | None:
    """(chosen, rejected) indices among one question's rollouts: the highest reward if it is ≥ 1 against the lowest
    if it is < 1; None when no rollout reaches 1 or none falls below it."""
    best, worst = int(np.argmax(rewards)), int(np.argmin(rewards))
    if rewards[best] >= 1.0 and rewards[worst] < 1.0:
        return best, worst
    return None


def dpo_phase(model: CausalLMPolicy, optimiser: torch.optim.Optimizer, vocab: ToolVocab,
              questions: Sequence[Question], tools: Mapping[str, Tool], reward: Reward, config: RLConfig,
              generator: torch.Generator) -> dict[str, float]:
    """Tool-Star's self-critic phase: sample, pair by the rule reward, ``dpo_steps`` DPO steps against the policy as
    it was at the phase's start. Returns the number of pairs and the last step's loss and pair accuracy."""
    prompts, out = _rollouts(model, vocab, questions, config.samples, tools, config, generator, config.temperature)
    owner = [i // config.samples for i in range(len(prompts))]
    rewards = [reward(questions[o], f"{prompt_text(questions[o])} {t}") for o, t in zip(owner, out.texts)]
    pairs = []
    for q in range(len(questions)):
        found = preference_pairs(rewards[q * config.samples:(q + 1) * config.samples])
        if found is not None:
            pairs.append((q * config.samples + found[0], q * config.samples + found[1]))
    if not pairs:
        return {"pairs": 0.0, "loss": float("nan"), "accuracy": float("nan")}
    chosen = torch.tensor([c for c, _ in pairs])
    rejected = torch.tensor([r for _, r in pairs])
    targets = out.loss_mask * out.mask
    reference = copy.deepcopy(model).eval()
    with torch.no_grad():
        ref = (_sequence_logprobs(reference, prompts, out, vocab.pad) * targets).sum(1)
    model.train()
    for _ in range(config.dpo_steps):
        logprobs = (_sequence_logprobs(model, prompts, out, vocab.pad) * targets).sum(1)
        # L = −log σ(β [(log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l))])
        result = dpo_loss(logprobs[chosen], logprobs[rejected], ref[chosen], ref[rejected], beta=config.dpo_beta)
        if not torch.isfinite(result.loss):
            raise FloatingPointError(f"dpo_phase: the DPO loss is {result.loss.item()}")
        optimiser.zero_grad()
        result.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
    model.eval()
    return {"pairs": float(len(pairs)), "loss": float(result.loss.detach()), "accuracy": result.accuracy}


def evaluate_responses(model: CausalLMPolicy, vocab: ToolVocab, questions: Sequence[Question],
                       tools: Mapping[str, Tool], config: RLConfig, *, temperature: float = 0.0,
                       generator: torch.Generator | None = None) -> list[dict]:
    """Per question: one response (greedy at ``temperature`` 0, else sampled from ``generator``), correctness,
    format, tool calls (which tools, how many, how many failed)."""
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    _, out = _rollouts(model, vocab, questions, 1, tools, config, generator, temperature=temperature)
    rows = []
    for q, text, calls in zip(questions, out.texts, out.calls):
        response = f"{prompt_text(q)} {text}"
        rows.append({"split": q.split, "level": q.level, "correct": is_correct(response, q),
                     "format_ok": validate_format(response)[0], "calls": len(calls),
                     "search": sum(c.tool == "search" for c in calls), "python": sum(c.tool == "python" for c in calls),
                     "failed_calls": sum(not c.ok for c in calls), "text": text})
    return rows


def evaluate_greedy(model: CausalLMPolicy, vocab: ToolVocab, questions: Sequence[Question],
                    tools: Mapping[str, Tool], config: RLConfig) -> list[dict]:
    """Greedy tool-integrated answers (:func:`evaluate_responses` at temperature 0)."""
    return evaluate_responses(model, vocab, questions, tools, config)
