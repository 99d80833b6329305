"""A tiny "multimodal LM" for GridMath: fixed visual encoder → learnable projector → causal LM policy.

The MLLM analogue of the LM notebooks (Share-GRPO, FRANK): the image is turned into 16 visual tokens by
:class:`hrlkit.tasks.gridmath.VisualEncoder` (fixed, like a frozen ViT), mapped to the LM width by a learnable
linear projector (the MLLM projector), then followed by the question's word tokens. Prompts are left-padded::

    [<pad> … <pad>] [v_1 … v_16] [<bos> question words]

so that :meth:`CausalLMPolicy.generate` and :meth:`CausalLMPolicy.token_logprobs` apply unchanged. The LM is a
:class:`~hrlkit.lm.tiny.TinyCausalLM` or any other :class:`~hrlkit.lm.tiny.CausalLMPolicy` (e.g.
:class:`~hrlkit.lm.hf.HFCausalLM`), chosen by :func:`build_policy`'s ``backend``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor, nn

from hrlkit.lm.tiny import CausalLMPolicy, GenerationOutput, TinyCausalLM, TinyLMConfig
from hrlkit.tasks import gridmath as gm

__all__ = ["BACKENDS", "PolicyConfig", "GridMathPolicy", "build_policy", "Scores", "score_responses",
           "response_words"]

#: LM implementations :func:`build_policy` can build: the hand-written default, or a ``transformers`` Llama.
BACKENDS: tuple[str, ...] = ("tiny", "hf")


@dataclass(frozen=True)
class PolicyConfig:
    """Sizes of a :class:`GridMathPolicy` (stored in checkpoints, so a load can check it matches)."""

    backend: str = "tiny"
    d_model: int = 64
    n_layers: int = 3
    n_heads: int = 4
    d_vis: int = 32
    encoder_seed: int = 0

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {self.backend!r}")

    def to_dict(self) -> dict:
        return asdict(self)


class GridMathPolicy(nn.Module):
    """Visual encoder (fixed) + projector (trained) + causal LM (trained); see the module docstring."""

    def __init__(self, lm: CausalLMPolicy, d_model: int, encoder: gm.VisualEncoder) -> None:
        super().__init__()
        self.lm = lm
        self.encoder = encoder
        self.projector = nn.Linear(encoder.d_vis, d_model)

    @property
    def device(self) -> torch.device:
        return self.projector.weight.device

    def prompts(self, problems: Sequence[gm.Problem]) -> tuple[Tensor, Tensor]:
        """Left-padded prompt embeddings ``(B, P, d)`` and mask ``(B, P)`` for a list of problems."""
        vocab = gm.VOCAB
        visual = torch.from_numpy(self.encoder(gm.stack_grids(problems))).to(self.device)
        visual = self.projector(visual)                                   # (B, 16, d)
        ids = [vocab.encode(gm.prompt_words(p)) for p in problems]
        n_vis = visual.shape[1]
        width = n_vis + max(len(x) for x in ids)
        tok = torch.full((len(ids), width), vocab.pad_id, dtype=torch.long)
        mask = torch.zeros(len(ids), width)
        for row, x in enumerate(ids):
            tok[row, width - len(x):] = torch.tensor(x)
            mask[row, width - len(x) - n_vis:] = 1.0
        tok, mask = tok.to(self.device), mask.to(self.device)
        embeds = self.lm.embed_tokens(tok)
        # splice the visual tokens in just before each row's text
        start = (width - torch.tensor([len(x) for x in ids]) - n_vis).to(self.device)
        cols = start[:, None] + torch.arange(n_vis, device=self.device)[None, :]            # (B, 16)
        embeds = embeds.scatter(1, cols[..., None].expand(-1, -1, embeds.shape[-1]), visual)
        return embeds, mask

    def generate(self, problems: Sequence[gm.Problem], max_new_tokens: int, *, temperature: float = 1.0,
                 top_p: float = 1.0, generator: torch.Generator | None = None) -> GenerationOutput:
        """Sample (or, with ``temperature=0``, greedily decode) one response per problem; stops at ``<eos>``."""
        embeds, mask = self.prompts(problems)
        return self.lm.generate(embeds, mask, max_new_tokens, temperature=temperature, top_p=top_p,
                                stop_token_ids=(gm.VOCAB.eos_id,), pad_token_id=gm.VOCAB.pad_id,
                                generator=generator)

    def token_logprobs(self, problems: Sequence[gm.Problem], response_ids: Tensor, response_mask: Tensor) -> Tensor:
        """Teacher-forced ``log π(y_t | image, question, y_<t)`` ``(B, L)``; 0 where the mask is 0."""
        embeds, mask = self.prompts(problems)
        return self.lm.token_logprobs(embeds, mask, response_ids, response_mask)


def build_policy(config: PolicyConfig, seed: int = 0) -> GridMathPolicy:
    """A freshly initialised policy; all weights come from ``seed`` (the global torch stream is untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if config.backend == "tiny":
            lm: CausalLMPolicy = TinyCausalLM(TinyLMConfig(vocab_size=len(gm.VOCAB), d_model=config.d_model,
                                                           n_layers=config.n_layers, n_heads=config.n_heads))
        else:
            from hrlkit.lm.hf import HFCausalLM

            lm = HFCausalLM.from_config(len(gm.VOCAB), d_model=config.d_model, n_layers=config.n_layers,
                                        n_heads=config.n_heads, seed=seed)
        policy = GridMathPolicy(lm, config.d_model, gm.VisualEncoder(config.d_vis, seed=config.encoder_seed))
    return policy


def response_words(out: GenerationOutput) -> list[list[str]]:
    """Decoded words of each generated response (masked positions dropped)."""
    tokens = out.tokens.cpu().numpy()
    keep = out.response_mask.cpu().numpy() > 0
    return [gm.VOCAB.decode(row[k]) for row, k in zip(tokens, keep)]


@dataclass
class Scores:
    """Per-response reward (0.9·accuracy + 0.1·format), accuracy and format, as float64 arrays."""

    reward: np.ndarray
    accuracy: np.ndarray
    format: np.ndarray


def score_responses(out: GenerationOutput, answers: Sequence[int]) -> Scores:
    """Grade every response of ``out`` against its ground-truth answer with :func:`gridmath.reward`."""
    graded = np.array([gm.reward(words, a) for words, a in zip(response_words(out), answers)], dtype=np.float64)
    graded = graded.reshape(-1, 3)
    return Scores(reward=graded[:, 0], accuracy=graded[:, 1], format=graded[:, 2])
