"""Cold-start SFT of a tiny LM on the tool-use corpus (:mod:`hrlkit.tasks.tool_corpus`): Tool-Star's first training
stage at small scale (the paper fine-tunes Qwen2.5-3B-Instruct for 3 epochs on Tool-Star-SFT-54K).

Each SFT trajectory becomes one token sequence ``[bos] text [eos]`` (:class:`~hrlkit.tasks.tool_vocab.ToolVocab`).
The loss is the token-mean negative log-likelihood over the **response** tokens the model writes itself::

    L_SFT = − Σ_t m_t log π(y_t | y_<t) / Σ_t m_t,

with m_t = 0 on the prompt (everything up to and including the first ``</think>``: the question, and in a
hint-based trajectory the cut reasoning with its hint) and on every tool result ``<result> … </result>`` (the
environment wrote it; the authors' RL rollout masks it the same way), and m_t = 1 elsewhere, ``[eos]`` included.
Training: AdamW, linear warm-up then cosine decay of the step size, minibatches drawn with replacement from a seeded
generator; its length is a number of steps.

:func:`save_model` writes weights, sizes and the vocabulary byte-reproducibly; ``python -m hrlkit.tasks.tool_sft
<params section> --corpus <json> --out <file>`` trains and saves (a cached DVC stage).
"""

from __future__ import annotations

import argparse
import io
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from hrlkit.lm.tiny import TinyCausalLM, TinyLMConfig
from hrlkit.tasks.knowledge import tokenize
from hrlkit.tasks.tool_corpus import CorpusConfig
from hrlkit.tasks.tool_data import HINTS
from hrlkit.tasks.stage_config import config_from_dict, params_section
from hrlkit.tasks.tool_vocab import ToolVocab

__all__ = ["SFTConfig", "corpus_vocab", "sft_example", "train_sft", "save_model", "load_model", "main"]


@dataclass(frozen=True)
class SFTConfig:
    seed: int = 0
    d_model: int = 64
    n_layers: int = 3
    n_heads: int = 4
    steps: int = 3000
    batch: int = 32
    learning_rate: float = 2e-3
    warmup_steps: int = 50
    weight_decay: float = 0.01
    room: int = 16                   # positions beyond the longest SFT sequence (sampled responses may run longer)

    def __post_init__(self) -> None:
        for name in ("d_model", "n_layers", "n_heads", "steps", "batch"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"SFTConfig.{name} must be an int >= 1, got {value!r}")
        if not self.learning_rate > 0 or self.warmup_steps < 0 or self.weight_decay < 0 or self.room < 0:
            raise ValueError("SFTConfig: learning_rate must be > 0; warmup_steps, weight_decay and room >= 0")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SFTConfig":
        return config_from_dict(cls, d)


def corpus_vocab(corpus: dict[str, Any]) -> ToolVocab:
    """Every word the corpus's knowledge base, questions and hints use, plus what the tools may answer."""
    kb = CorpusConfig.from_dict(corpus["config"]).knowledge_base()
    texts = list(kb.passages) + list(HINTS.values()) + ["unknown error"]
    texts += [q["text"] for q in corpus["synthesis"]]
    texts += [q["text"] for pool in corpus["pools"].values() for q in pool]
    return ToolVocab({w for t in texts for w in tokenize(t) if w.isalpha()})


def sft_example(vocab: ToolVocab, text: str) -> tuple[list[int], list[float]]:
    """(ids, loss mask) of one trajectory: ``[bos] text [eos]``, the mask 0 on the prompt and on tool results."""
    ids = [vocab.bos] + vocab.encode(text) + [vocab.eos]
    prompt_end = ids.index(vocab.id("</think>"))
    mask, inside = [], False
    for position, token in enumerate(ids):
        if token == vocab.id("<result>"):
            inside = True
        mask.append(0.0 if position <= prompt_end or inside else 1.0)
        if token == vocab.id("</result>"):
            inside = False
    return ids, mask


def _step_size(config: SFTConfig, step: int) -> float:
    """Linear warm-up over ``warmup_steps``, then cosine decay to 0 at ``steps``."""
    warm = min(1.0, (step + 1) / config.warmup_steps) if config.warmup_steps else 1.0
    return config.learning_rate * warm * 0.5 * (1.0 + math.cos(math.pi * step / config.steps))


def train_sft(texts: Sequence[str], vocab: ToolVocab, config: SFTConfig) -> tuple[TinyCausalLM, dict[str, list]]:
    """The cold-start model trained on ``texts``, and a log of the loss every 100 steps."""
    if not texts:
        raise ValueError("train_sft needs at least one trajectory")
    torch.manual_seed(config.seed)
    examples = [sft_example(vocab, t) for t in texts]
    width = max(len(ids) for ids, _ in examples)
    model = TinyCausalLM(TinyLMConfig(vocab_size=len(vocab), d_model=config.d_model, n_layers=config.n_layers,
                                      n_heads=config.n_heads, max_len=width + config.room))
    ids = torch.full((len(examples), width), vocab.pad, dtype=torch.long)
    real, target = torch.zeros(len(examples), width), torch.zeros(len(examples), width)
    for i, (row, mask) in enumerate(examples):
        ids[i, :len(row)] = torch.as_tensor(row)
        real[i, :len(row)] = 1.0
        target[i, :len(mask)] = torch.as_tensor(mask)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    log: dict[str, list] = {"step": [], "loss": []}
    model.train()
    for step in range(config.steps):
        batch = torch.randint(0, len(examples), (config.batch,), generator=generator)
        logits, _ = model(model.embed_tokens(ids[batch, :-1]), real[batch, :-1])
        nll = F.cross_entropy(logits.reshape(-1, len(vocab)), ids[batch, 1:].reshape(-1), reduction="none")
        weight = target[batch, 1:].reshape(-1)
        # L_SFT = − Σ m_t log π(y_t | y_<t) / Σ m_t
        loss = (nll * weight).sum() / weight.sum().clamp_min(1.0)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"train_sft: the loss is {loss.item()} at step {step}")
        for group in optimiser.param_groups:
            group["lr"] = _step_size(config, step)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if step % 100 == 0 or step == config.steps - 1:
            log["step"].append(step)
            log["loss"].append(float(loss.detach()))
    model.eval()
    return model, log


def save_model(path: str | Path, model: TinyCausalLM, vocab: ToolVocab, config: SFTConfig, log: dict) -> None:
    """Weights, sizes, vocabulary, settings and log, byte-reproducible."""
    payload = {"config": asdict(config), "lm": asdict(model.cfg), "tokens": list(vocab.tokens), "log": log,
               "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(buffer.getvalue())


def load_model(path: str | Path) -> tuple[TinyCausalLM, ToolVocab, SFTConfig, dict]:
    payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    vocab = ToolVocab([t for t in payload["tokens"] if t.isalpha()])
    if list(vocab.tokens) != payload["tokens"]:
        raise ValueError(f"{path}: the stored vocabulary cannot be rebuilt")
    model = TinyCausalLM(TinyLMConfig(**payload["lm"]))
    model.load_state_dict(payload["state_dict"])
    return model.eval(), vocab, SFTConfig.from_dict(payload["config"]), payload["log"]


def main(argv: list[str] | None = None) -> int:
    from hrlkit.tasks.tool_corpus import read_corpus

    parser = argparse.ArgumentParser(prog="python -m hrlkit.tasks.tool_sft", description=__doc__.splitlines()[0])
    parser.add_argument("section", help="params.yaml section holding the SFTConfig fields")
    parser.add_argument("--corpus", required=True, help="the corpus JSON (python -m hrlkit.tasks.tool_corpus)")
    parser.add_argument("--out", required=True, help="checkpoint to write")
    args = parser.parse_args(argv)
    config = SFTConfig.from_dict(params_section(parser, args.section))
    corpus = read_corpus(args.corpus)
    vocab = corpus_vocab(corpus)
    torch.set_num_threads(1)
    model, log = train_sft([item["text"] for item in corpus["sft"]], vocab, config)
    save_model(args.out, model, vocab, config, log)
    print(f"tool SFT: final loss {log['loss'][-1]:.4f} after {config.steps} steps -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
