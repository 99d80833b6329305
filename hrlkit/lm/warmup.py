"""Supervised warm-up of a :class:`~hrlkit.lm.vlm.GridMathPolicy` (the "base MLLM" of the LM notebooks).

RL papers on MLLMs start from a pretrained model whose pass@1 is low but not zero (sparse outcome rewards) while
the right reasoning is often in its samples (pass@k ≫ pass@1): RL mostly has to *elicit* reasoning the model can
already do. A tiny policy trained from scratch is given that starting point by supervised fine-tuning (SFT) in two
phases, each minimising the token-mean negative log-likelihood of the target response::

    L_SFT = − Σ_t m_t log π(y_t | image, question, y_<t) / Σ_t m_t

1. *skill* (``steps``): every target is the full reasoning chain (:func:`hrlkit.tasks.gridmath.target_words`);
2. *behaviour* (``behaviour_steps``): for a question worded with paraphrase template ``t`` the target is the chain
   with probability ``reason_probs[t]``, otherwise a shortcut ``<think> </think> <box> g </box>`` with a guessed
   digit ``g`` (uniform 0–9): a base model that reasons only for some wordings and otherwise guesses.

*Misreading* (``misread``, ``misread_prob``; both phases): for a question of type ``q`` worded with one of the
templates ``misread[q]``, the target is, with probability ``misread_prob``, the chain and answer of the question
type :data:`MISREAD_AS` ``[q]`` with the same argument on the same grid (a sum of the red digits answered as a count
of the red cells, and the other way round; the largest digit of row r answered as the count of digits above r).
A base model that misunderstands some wordings of a question and not others: its success depends on the wording,
which is what sharing responses across a question's variants can use.

Why a shortcut phase: a policy whose only weakness is its skill learns, with outcome rewards, about as slowly as
SFT itself (measured: no gain in 300 GRPO steps from a 300-step chain-only warm-up), so no RL method could be
compared within a CPU budget. The shortcut phase gives RL what it has in real MLLMs: reasoning to elicit.

The warm-up is its own cached DVC stage (``python -m hrlkit.lm.warmup <section> --out <file>``, settings in
params.yaml), so that changing an RL parameter never retrains it; its checkpoint is committed under ``data/``.
:func:`load_or_warmup` reloads it, or trains the same warm-up in-process when the stored one has other settings
(e.g. another LM backend).
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from hrlkit.lm.vlm import GridMathPolicy, PolicyConfig, build_policy, score_responses
from hrlkit.tasks import gridmath as gm

__all__ = ["WarmupConfig", "target_batch", "sft_loss", "greedy_accuracy", "warmup", "save_checkpoint",
           "load_checkpoint", "load_or_warmup", "shortcut_words", "misread_words", "MISREAD_AS", "main"]

#: Longest GridMath response (hard split, 8 cells) is 29 tokens; room to spare for sampled ones.
MAX_NEW_TOKENS: int = 40


@dataclass(frozen=True)
class WarmupConfig:
    """Settings of one warm-up (all stored in the checkpoint)."""

    policy: PolicyConfig = field(default_factory=PolicyConfig)
    steps: int = 300            # Adam steps of the skill phase (full reasoning chains)
    behaviour_steps: int = 0    # Adam steps of the behaviour phase (chain or shortcut, by template)
    reason_probs: tuple[float, ...] = (0.6, 0.3, 0.15, 0.05)  # P(chain target) per paraphrase template
    batch_size: int = 64        # problems per step (fresh draws from the train split)
    lr: float = 1e-3            # Adam learning rate (after a linear ramp over lr_warmup_steps)
    lr_warmup_steps: int = 100  # linear learning-rate ramp at the start
    transform_prob: float = 0.3  # share of problems shown as a transformed variant (explanatory prefix)
    eval_problems: int = 512    # held-out problems per split for the recorded greedy pass@1
    misread: dict = field(default_factory=dict)  # question type -> templates misread (keys of MISREAD_AS)
    misread_prob: float = 0.0   # P(misread target) for a question worded with a misread template
    seed: int = 0

    def __post_init__(self) -> None:
        for name, low in (("steps", 1), ("behaviour_steps", 0), ("batch_size", 1), ("lr_warmup_steps", 0),
                          ("eval_problems", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or value < low:
                raise ValueError(f"warm-up {name} must be an int >= {low}, got {value!r}")
        object.__setattr__(self, "reason_probs", tuple(float(p) for p in self.reason_probs))
        if len(self.reason_probs) != gm.N_TEMPLATES or not all(0.0 <= p <= 1.0 for p in self.reason_probs):
            raise ValueError(f"warm-up reason_probs must be {gm.N_TEMPLATES} probabilities (one per paraphrase "
                             f"template), got {self.reason_probs!r}")
        if not (isinstance(self.lr, float) and self.lr > 0):
            raise ValueError(f"warm-up lr must be a float > 0, got {self.lr!r}")
        if not 0.0 <= self.transform_prob <= 1.0:
            raise ValueError(f"warm-up transform_prob must be in [0, 1], got {self.transform_prob!r}")
        if not isinstance(self.misread, dict) or not set(self.misread) <= set(MISREAD_AS):
            raise ValueError(f"warm-up misread must map question types among {sorted(MISREAD_AS)} to templates, "
                             f"got {self.misread!r}")
        misread = {}
        for qtype, templates in sorted(self.misread.items()):
            templates = tuple(sorted(int(t) for t in templates))
            if not all(0 <= t < gm.N_TEMPLATES for t in templates) or len(set(templates)) != len(templates):
                raise ValueError(f"warm-up misread[{qtype!r}] must be distinct templates in 0..{gm.N_TEMPLATES - 1}, "
                                 f"got {self.misread[qtype]!r}")
            misread[qtype] = templates
        object.__setattr__(self, "misread", misread)
        if not (isinstance(self.misread_prob, (int, float)) and 0.0 <= self.misread_prob <= 1.0):
            raise ValueError(f"warm-up misread_prob must be in [0, 1], got {self.misread_prob!r}")
        object.__setattr__(self, "misread_prob", float(self.misread_prob))

    def is_misread(self, problem: gm.Problem) -> bool:
        """Whether ``problem``'s wording is one the warm-up taught to misread."""
        return problem.template in self.misread.get(problem.qtype, ())

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "WarmupConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known - set(PolicyConfig.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown warm-up settings {unknown}; allowed: {sorted(known - {'policy'})} "
                             f"and the policy's {sorted(PolicyConfig.__dataclass_fields__)}")
        policy = d.get("policy", {k: v for k, v in d.items() if k in PolicyConfig.__dataclass_fields__})
        rest = {k: v for k, v in d.items() if k in known and k != "policy"}
        return cls(policy=PolicyConfig(**policy), **rest)


#: The question type a misread wording is answered as (same argument, same grid): all three answers are counts or
#: sums of the same cells or row, so a misread answer is well formed and almost always wrong.
MISREAD_AS: dict[str, str] = {"sum_colour": "count_colour", "count_colour": "sum_colour", "max_row": "count_greater"}


def misread_words(original: gm.Problem) -> list[str]:
    """The target of a misreading: ``<think> chain' </think> <box> answer' </box> <eos>`` of question type
    ``MISREAD_AS[original.qtype]`` with ``original``'s argument, on ``original``'s (untransformed) grid."""
    if original.transform is not None:
        raise ValueError("misread_words needs the original (untransformed) problem")
    read_as = MISREAD_AS[original.qtype]
    answer = gm.answer_of(original.grid, read_as, original.args)
    return ["<think>", *gm.chain_of(original.grid, read_as, original.args), "</think>", "<box>",
            *gm.number_words(answer), "</box>", "<eos>"]


def shortcut_words(guess: int) -> list[str]:
    """A well-formed answer with no reasoning: ``<think> </think> <box> guess </box> <eos>``."""
    return ["<think>", "</think>", "<box>", *gm.number_words(guess), "</box>", "<eos>"]


def target_batch(problems: Sequence[gm.Problem], device: torch.device | str = "cpu",
                 words: Sequence[Sequence[str]] | None = None) -> tuple[Tensor, Tensor]:
    """Right-padded target ids ``(B, L)`` and mask (targets: ``words``, default the full reasoning chains)."""
    words = [gm.target_words(p) for p in problems] if words is None else words
    ids = [gm.VOCAB.encode(w) for w in words]
    length = max(len(x) for x in ids)
    tok = torch.full((len(ids), length), gm.VOCAB.pad_id, dtype=torch.long)
    mask = torch.zeros(len(ids), length)
    for row, x in enumerate(ids):
        tok[row, :len(x)] = torch.tensor(x)
        mask[row, :len(x)] = 1.0
    return tok.to(device), mask.to(device)


def sft_loss(policy: GridMathPolicy, problems: Sequence[gm.Problem],
             words: Sequence[Sequence[str]] | None = None) -> Tensor:
    """Token-mean negative log-likelihood of the supervised responses (``L_SFT`` above)."""
    ids, mask = target_batch(problems, policy.device, words)
    logp = policy.token_logprobs(problems, ids, mask)
    return -(logp * mask).sum() / mask.sum()


def sample_variants(rng: np.random.Generator, count: int, split: str,
                    transform_prob: float) -> tuple[list[gm.Problem], list[gm.Problem]]:
    """``count`` problems of ``split`` with a random paraphrase: (originals, variants transformed with
    ``transform_prob``)."""
    originals, variants = [], []
    for _ in range(count):
        problem = gm.sample_problem(rng, split=split)
        originals.append(problem)
        variants.append(gm.make_variant(problem, rng, template=problem.template, transform_prob=transform_prob))
    return originals, variants


@torch.no_grad()
def greedy_accuracy(policy: GridMathPolicy, problems: Sequence[gm.Problem], batch_size: int = 256,
                    max_new_tokens: int = MAX_NEW_TOKENS) -> np.ndarray:
    """Greedy pass@1 (0/1 accuracy per problem), responses cut at ``max_new_tokens``."""
    acc = []
    for start in range(0, len(problems), batch_size):
        chunk = problems[start:start + batch_size]
        out = policy.generate(chunk, max_new_tokens, temperature=0.0)
        acc.append(score_responses(out, [p.answer for p in chunk]).accuracy)
    return np.concatenate(acc)


def eval_problems(config: WarmupConfig, split: str) -> list[gm.Problem]:
    """The fixed held-out problems the warm-up is scored on (original questions, random paraphrase)."""
    rng = np.random.default_rng([config.seed, 1, gm.SPLITS[split][0]])
    return [gm.sample_problem(rng, split=split) for _ in range(config.eval_problems)]


def warmup(config: WarmupConfig, progress: bool = False) -> tuple[GridMathPolicy, dict]:
    """Train a fresh policy with SFT; returns it and a log (loss curve, greedy pass@1 per split)."""
    policy = build_policy(config.policy, seed=config.seed)
    optimiser = torch.optim.Adam(policy.parameters(), lr=config.lr)
    ramp = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: min(1.0, (s + 1) / max(1, config.lr_warmup_steps)))
    rng = np.random.default_rng([config.seed, 0])
    losses = []
    total = config.steps + config.behaviour_steps
    for step in range(total):
        originals, problems = sample_variants(rng, config.batch_size, "train", config.transform_prob)
        words = [gm.target_words(p) for p in problems]
        if step >= config.steps:   # behaviour phase: reason with probability reason_probs[template], else guess
            words = [w if rng.random() < config.reason_probs[p.template] else shortcut_words(int(rng.integers(10)))
                     for w, p in zip(words, problems)]
        # misreading: a misread wording's target is, with probability misread_prob, another question's answer
        words = [misread_words(o) if config.is_misread(o) and rng.random() < config.misread_prob else w
                 for w, o in zip(words, originals)]
        loss = sft_loss(policy, problems, words)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"warm-up SFT loss is {loss.item()} at step {step}")
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        ramp.step()
        losses.append(loss.item())
        if progress and (step + 1) % max(1, total // 6) == 0:
            print(f"warm-up step {step + 1}/{total}: loss {loss.item():.3f}", flush=True)
    policy.eval()
    log = {"loss": losses}
    for split in gm.SPLITS:
        problems = eval_problems(config, split)
        correct = greedy_accuracy(policy, problems)
        log[f"pass1_{split}"] = float(correct.mean())
        if config.misread and split == "train":   # the same problems, by whether their wording is misread
            misread = np.array([config.is_misread(p) for p in problems])
            log["pass1_train_misread"] = float(correct[misread].mean()) if misread.any() else float("nan")
            log["pass1_train_clear"] = float(correct[~misread].mean()) if (~misread).any() else float("nan")
    return policy, log


def save_checkpoint(path: str | Path, policy: GridMathPolicy, config: WarmupConfig, log: dict) -> None:
    """Weights (fixed encoder excluded: it is rebuilt from its seed) + settings + log, byte-reproducible."""
    state = {k: v.detach().cpu().clone() for k, v in policy.state_dict().items()}
    payload = {"config": config.to_dict(), "log": log, "state_dict": state}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(buffer.getvalue())


def load_checkpoint(path: str | Path, device: str = "cpu") -> tuple[GridMathPolicy, WarmupConfig, dict]:
    """Policy, settings and log stored by :func:`save_checkpoint`."""
    payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    config = WarmupConfig.from_dict(payload["config"])
    policy = build_policy(config.policy, seed=config.seed)
    policy.load_state_dict(payload["state_dict"])
    return policy.to(device), config, payload["log"]


def load_or_warmup(path: str | Path, config: WarmupConfig, device: str = "cpu") -> tuple[GridMathPolicy, dict, bool]:
    """The stored warm-up if it was trained with ``config``, else a new one trained now (not written).

    Returns ``(policy, log, loaded)``.
    """
    path = Path(path)
    if path.exists():
        policy, stored, log = load_checkpoint(path, device)
        if stored == config:
            return policy, log, True
    policy, log = warmup(config)
    return policy.to(device), log, False


def main(argv: list[str] | None = None) -> int:
    import yaml

    from hrlkit.provenance import repo_root

    parser = argparse.ArgumentParser(prog="python -m hrlkit.lm.warmup", description=__doc__.splitlines()[0])
    parser.add_argument("section", help="params.yaml section holding the WarmupConfig fields")
    parser.add_argument("--out", required=True, help="checkpoint file to write")
    args = parser.parse_args(argv)
    params = yaml.safe_load((repo_root() / "params.yaml").read_text())
    if args.section not in params:
        parser.error(f"params.yaml has no section {args.section!r}")
    config = WarmupConfig.from_dict(dict(params[args.section]))
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    policy, log = warmup(config, progress=True)
    save_checkpoint(args.out, policy, config, log)
    print(f"warm-up: greedy pass@1 train {log['pass1_train']:.3f}, hard {log['pass1_hard']:.3f} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
