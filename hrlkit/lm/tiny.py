"""A tiny hand-written causal transformer used as the language-model policy of the LM notebooks.

Share-GRPO, DeepRec, Tool-Star and FRANK train a small LM policy with RL on CPU. A
``transformers`` ``LlamaForCausalLM`` of the same size is 1.2-1.4x slower on CPU (measured:
sampling 128x40 tokens and forward + backward on 128x60, d = 64, 3 layers, 1 thread; framework
overhead dominates at this scale), so this module writes the few pieces it needs by hand:

* :class:`TinyLMConfig` -- sizes, validated on construction.
* :class:`TinyCausalLM` -- GPT-2-style pre-LayerNorm decoder with learned absolute positions
  and an output head tied to the token embedding::

      h_0 = E_tok[x] + E_pos[p]                 p_t = max(cumsum(mask)_t - 1, 0)
      h   = h + Attn(LN(h))                      (causal + key-padding mask)
      h   = h + W_2 GELU(W_1 LN(h))
      logits = LN_f(h_L) E_tok^T

  :meth:`TinyCausalLM.forward` takes embeddings (so callers can splice in non-text tokens),
  an attention mask (left padding supported) and an optional per-layer KV cache.
  :meth:`TinyCausalLM.token_logprobs` gives teacher-forced ``log pi(y_t | prompt, y_<t)``
  (the "new" log-probs of PPO / GRPO, with gradients); :meth:`TinyCausalLM.generate` samples
  with a KV cache and records the "old" log-probs.
* :class:`GenerationOutput`, :func:`count_parameters`.

Everything is pure torch, holds no global state, and sampling is reproducible given an
explicit ``torch.Generator``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "TinyLMConfig",
    "TinyCausalLM",
    "GenerationOutput",
    "KVCache",
    "LogitsProcessor",
    "attention_positions",
    "attention_bias_mask",
    "top_p_filter",
    "count_parameters",
]

#: Per-layer ``(k, v)`` tensors, each ``(B, H, S, d_head)``.
KVCache = list[tuple[Tensor, Tensor]]

#: ``logits_processor(step, generated_so_far (B, step) long, logits (B, V)) -> logits (B, V)``.
LogitsProcessor = Callable[[int, Tensor, Tensor], Tensor]


# --------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TinyLMConfig:
    """Sizes of a :class:`TinyCausalLM`.

    Attributes:
        vocab_size: number of token ids ``V``; ``>= 1``.
        d_model: residual width ``d``; ``>= 1`` and divisible by ``n_heads``.
        n_layers: number of transformer blocks; ``>= 1``.
        n_heads: attention heads ``H`` (``d_head = d / H``); ``>= 1``.
        d_ff: hidden width of the MLP; ``None`` means ``4 * d_model``; otherwise ``>= 1``.
        max_len: number of learned absolute positions; a sequence may hold at most ``max_len``
            real (mask 1) tokens; ``>= 1``.
    """

    vocab_size: int
    d_model: int = 64
    n_layers: int = 3
    n_heads: int = 4
    d_ff: int | None = None
    max_len: int = 256

    def __post_init__(self) -> None:
        def is_int(x: object) -> bool:
            return isinstance(x, int) and not isinstance(x, bool)

        for name in ("vocab_size", "d_model", "n_layers", "n_heads", "max_len"):
            value = getattr(self, name)
            if not (is_int(value) and value >= 1):
                raise ValueError(f"TinyLMConfig.{name} must be an int >= 1; got {value!r}")
        if self.d_ff is not None and not (is_int(self.d_ff) and self.d_ff >= 1):
            raise ValueError(f"TinyLMConfig.d_ff must be None or an int >= 1; got {self.d_ff!r}")
        if self.d_model % self.n_heads != 0:
            raise ValueError(
                f"TinyLMConfig.d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})"
            )

    @property
    def d_head(self) -> int:
        """Per-head width ``d / H``."""
        return self.d_model // self.n_heads

    @property
    def ff_dim(self) -> int:
        """Resolved MLP hidden width (``d_ff`` or ``4 * d_model``)."""
        return 4 * self.d_model if self.d_ff is None else self.d_ff


@dataclass
class GenerationOutput:
    """Result of :meth:`TinyCausalLM.generate` (``L`` = number of decoding steps actually run).

    Attributes:
        tokens: ``(B, L)`` long; sampled tokens, ``pad_token_id`` after a sequence stopped.
        response_mask: ``(B, L)`` float; 1 up to and including the stop token, 0 after.
        logprobs: ``(B, L)`` float; ``log_softmax(processed logits)[token]`` (temperature 1,
            no top-p) at real positions, 0 where masked -- the "old" log-probs of PPO.
    """

    tokens: Tensor
    response_mask: Tensor
    logprobs: Tensor


def count_parameters(model: nn.Module) -> int:
    """Number of distinct parameters of ``model`` (tied weights counted once)."""
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------------------
# Masks, positions, sampling helpers
# --------------------------------------------------------------------------------------


def attention_positions(attention_mask: Tensor, num_new: int) -> Tensor:
    """Position ids of the last ``num_new`` columns of ``attention_mask`` ``(B, S)``.

    ``p_t = max(sum_{s <= t} mask_s - 1, 0)``: real tokens are numbered 0, 1, ... ignoring
    padding, so a left-padded prompt gets the positions of the unpadded one.
    """
    pos = attention_mask.long().cumsum(dim=1) - 1
    return pos[:, -num_new:].clamp_min(0)


def attention_bias_mask(attention_mask: Tensor, num_new: int) -> Tensor:
    """Boolean ``(B, 1, T, S)`` mask (True = may attend) for the last ``T = num_new`` queries.

    Query ``i`` (absolute index ``S - T + i``) may attend key ``j`` iff ``j <= S - T + i``
    (causal) and ``mask_j = 1`` (key padding). Every query may also attend to itself, so a
    padding query (e.g. a left pad) never sees an all-masked row (no NaN); real queries are
    unaffected since their own key is real.
    """
    batch, total = attention_mask.shape
    past = total - num_new
    q_idx = torch.arange(past, total, device=attention_mask.device)[:, None]  # (T, 1)
    k_idx = torch.arange(total, device=attention_mask.device)[None, :]  # (1, S)
    causal = k_idx <= q_idx  # (T, S)
    is_self = k_idx == q_idx  # (T, S)
    keep = attention_mask.bool()[:, None, None, :]  # (B, 1, 1, S)
    return (keep & causal) | is_self  # (B, 1, T, S)


def top_p_filter(logits: Tensor, top_p: float) -> Tensor:
    """Nucleus filtering of ``(B, V)`` logits: keep the smallest set of most-probable tokens whose
    probability mass is ``>= top_p`` (always at least the top token); others become ``-inf``.

    Token ``k`` (in descending-probability order) is kept iff the mass strictly before it,
    ``sum_{j<k} p_j``, is ``< top_p``. ``top_p >= 1`` returns ``logits`` unchanged.
    """
    if top_p >= 1.0:
        return logits
    sorted_logits, sorted_idx = torch.sort(logits, dim=-1, descending=True)
    sorted_probs = sorted_logits.softmax(dim=-1)
    mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs
    remove_sorted = mass_before >= top_p
    remove_sorted[:, 0] = False
    remove = torch.zeros_like(remove_sorted).scatter(1, sorted_idx, remove_sorted)
    return logits.masked_fill(remove, float("-inf"))


# --------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------


class _Block(nn.Module):
    """Pre-LayerNorm transformer block: ``x + Attn(LN(x))``, then ``x + MLP(LN(x))``."""

    def __init__(self, cfg: TinyLMConfig) -> None:
        super().__init__()
        self.n_heads = cfg.n_heads
        self.d_head = cfg.d_head
        self.ln_1 = nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.ln_2 = nn.LayerNorm(cfg.d_model)
        self.fc = nn.Linear(cfg.d_model, cfg.ff_dim)
        self.fc_out = nn.Linear(cfg.ff_dim, cfg.d_model)

    def forward(
        self, x: Tensor, mask: Tensor, past: tuple[Tensor, Tensor] | None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        batch, length, d = x.shape
        # (B, T, 3d) -> 3 x (B, H, T, d_head)
        q, k, v = self.qkv(self.ln_1(x)).view(batch, length, 3, self.n_heads, self.d_head).permute(2, 0, 3, 1, 4)
        if past is not None:
            k = torch.cat((past[0], k), dim=2)
            v = torch.cat((past[1], v), dim=2)
        # softmax(q k^T / sqrt(d_head) + mask) v
        att = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        x = x + self.proj(att.transpose(1, 2).reshape(batch, length, d))
        x = x + self.fc_out(F.gelu(self.fc(self.ln_2(x))))
        return x, (k, v)


class CausalLMPolicy(nn.Module):
    """A causal LM used as an RL policy: teacher-forced log-probs and KV-cached batched sampling.

    Subclasses provide ``embed_tokens(ids) -> (B, T, d)`` and
    ``forward(inputs_embeds, attention_mask, past_key_values=None) -> (logits, cache)`` with left-padding-aware
    positions; everything below is written against those two methods only, so the same RL code drives
    :class:`TinyCausalLM` and a ``transformers`` model (:class:`hrlkit.lm.hf.HFCausalLM`).
    """

    def embed_tokens(self, input_ids: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    # ---------------------------------------------------------------------- log-probs

    def token_logprobs(
        self,
        prompt_embeds: Tensor,
        prompt_mask: Tensor,
        response_ids: Tensor,
        response_mask: Tensor,
        logits_processor: LogitsProcessor | None = None,
    ) -> Tensor:
        """Teacher-forced ``log pi(y_t | prompt, y_<t)`` of a response, in one forward pass.

        Runs :meth:`forward` on ``[prompt; E_tok[y]]`` with mask ``[prompt_mask; response_mask]``;
        the logits at column ``P - 1 + t`` predict ``y_t``. Prompts must be left-padded (the last
        prompt column is real for every row) and responses right-padded, as :meth:`generate`
        produces them.

        Args:
            prompt_embeds: ``(B, P, d)``; may require grad (e.g. a projector's output).
            prompt_mask: ``(B, P)``, 0/1.
            response_ids: ``(B, L)`` long.
            response_mask: ``(B, L)``, 0/1.
            logits_processor: optional; applied per step exactly as in :meth:`generate`
                (``step = t``, ``generated_so_far = response_ids[:, :t]``), so constrained
                decoding gives the same log-probs as recorded there. ``None``: unconstrained.

        Returns:
            ``(B, L)``: ``log_softmax(logits_t)[y_t]`` where ``response_mask == 1``, 0 elsewhere.
        """
        prompt_len = prompt_embeds.shape[1]
        _check_left_padded(prompt_mask)
        embeds = torch.cat((prompt_embeds, self.embed_tokens(response_ids)), dim=1)
        mask = torch.cat((prompt_mask.to(response_mask.dtype), response_mask), dim=1)
        logits, _ = self(embeds, mask)
        logits = logits[:, prompt_len - 1 : -1]  # (B, L, V): column P-1+t predicts y_t
        if logits_processor is not None:
            logits = torch.stack(
                [logits_processor(t, response_ids[:, :t], logits[:, t]) for t in range(response_ids.shape[1])],
                dim=1,
            )
        batch, length, vocab = logits.shape
        # log pi(y_t) = z_{y_t} - logsumexp(z)
        logp = -F.cross_entropy(logits.reshape(-1, vocab), response_ids.reshape(-1), reduction="none")
        logp = logp.view(batch, length)
        return torch.where(response_mask.bool(), logp, torch.zeros_like(logp))

    # ---------------------------------------------------------------------- sampling

    @torch.no_grad()
    def generate(
        self,
        prompt_embeds: Tensor,
        prompt_mask: Tensor,
        max_new_tokens: int,
        *,
        temperature: float = 1.0,
        top_p: float = 1.0,
        stop_token_ids: Sequence[int] = (),
        pad_token_id: int = 0,
        logits_processor: LogitsProcessor | None = None,
        generator: torch.Generator | None = None,
    ) -> GenerationOutput:
        """Batched sampling with a KV cache (prompt in one pass, then one token per step).

        At step ``t`` with processed logits ``z = logits_processor(t, y_<t, logits)``:

        * greedy (``temperature == 0``): ``y_t = argmax z``;
        * otherwise ``y_t ~ softmax(top_p_filter(z / temperature, top_p))`` via
          ``torch.multinomial(..., generator=generator)``;
        * recorded log-prob: ``log_softmax(z)[y_t]`` (temperature 1, before top-p).

        A sequence stops after emitting any of ``stop_token_ids``; later positions hold
        ``pad_token_id`` with mask and log-prob 0. The loop ends early once every sequence has
        stopped, so ``L <= max_new_tokens``. Prompts must be left-padded.
        """
        if max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be >= 0; got {max_new_tokens}")
        if not (math.isfinite(temperature) and temperature >= 0):
            raise ValueError(f"temperature must be a finite float >= 0; got {temperature!r}")
        if not (0.0 < top_p <= 1.0):
            raise ValueError(f"top_p must be in (0, 1]; got {top_p!r}")
        _check_left_padded(prompt_mask)
        batch = prompt_embeds.shape[0]
        device = prompt_embeds.device
        mask = prompt_mask.to(device=device, dtype=torch.float32)
        stop_ids = torch.tensor(list(stop_token_ids), dtype=torch.long, device=device)

        tokens = torch.full((batch, max_new_tokens), pad_token_id, dtype=torch.long, device=device)
        resp_mask = torch.zeros(batch, max_new_tokens, dtype=torch.float32, device=device)
        logprobs = torch.zeros(batch, max_new_tokens, dtype=torch.float32, device=device)
        alive = torch.ones(batch, dtype=torch.bool, device=device)
        if max_new_tokens == 0:
            return GenerationOutput(tokens, resp_mask, logprobs)

        logits, cache = self(prompt_embeds, mask)
        logits = logits[:, -1]
        steps = 0
        for t in range(max_new_tokens):
            if logits_processor is not None:
                logits = logits_processor(t, tokens[:, :t], logits)
            logits = logits.float()
            log_probs = logits.log_softmax(dim=-1)
            if temperature == 0:
                tok = logits.argmax(dim=-1)
            else:
                # finished rows are overwritten below; keep them samplable whatever the processor did
                sample_logits = torch.where(alive[:, None], logits, torch.zeros_like(logits))
                sample_logits = top_p_filter(sample_logits / temperature, top_p)
                probs = sample_logits.softmax(dim=-1)
                tok = torch.multinomial(probs, 1, generator=generator).squeeze(1)
            tok_logp = log_probs.gather(1, tok[:, None]).squeeze(1)
            tokens[:, t] = torch.where(alive, tok, torch.full_like(tok, pad_token_id))
            resp_mask[:, t] = alive.float()
            logprobs[:, t] = torch.where(alive, tok_logp, torch.zeros_like(tok_logp))
            steps = t + 1
            if stop_ids.numel() > 0:
                alive = alive & ~torch.isin(tok, stop_ids)
            if steps == max_new_tokens or not bool(alive.any()):
                break
            # feed y_t (mask 0 once a row has stopped: it is then never attended again)
            mask = torch.cat((mask, resp_mask[:, t : t + 1]), dim=1)
            logits, cache = self(self.embed_tokens(tokens[:, t : t + 1]), mask, cache)
            logits = logits[:, -1]
        return GenerationOutput(tokens[:, :steps], resp_mask[:, :steps], logprobs[:, :steps])


class TinyCausalLM(CausalLMPolicy):
    """GPT-2-style causal LM: learned absolute positions, pre-LN blocks, tied output head.

    Initialisation follows GPT-2: ``N(0, 0.02)`` for every linear and embedding weight, zero
    biases, LayerNorm ``(1, 0)``. No dropout (RL fine-tuning of a tiny policy).
    """

    def __init__(self, cfg: TinyLMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.max_len, cfg.d_model)
        self.blocks = nn.ModuleList(_Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    # ---------------------------------------------------------------------------- forward

    def embed_tokens(self, input_ids: Tensor) -> Tensor:
        """Token embeddings ``E_tok[x]`` ``(B, T, d)`` (no positions; :meth:`forward` adds them)."""
        return self.tok_emb(input_ids)

    def forward(
        self,
        inputs_embeds: Tensor,
        attention_mask: Tensor,
        past_key_values: KVCache | None = None,
    ) -> tuple[Tensor, KVCache]:
        """Logits of the new positions and the extended KV cache.

        Args:
            inputs_embeds: ``(B, T, d)`` embeddings of the new positions (e.g. :meth:`embed_tokens`
                output, possibly concatenated with projected non-text embeddings).
            attention_mask: ``(B, T_past + T)``; 1 for real tokens, 0 for padding (left padding
                works; so does padding anywhere, keys with mask 0 are never attended).
            past_key_values: per-layer ``(k, v)`` of the ``T_past`` earlier positions, or ``None``.

        Positions are ``max(cumsum(mask) - 1, 0)``; attention is causal and ignores keys with
        mask 0 (a padding query attends only to itself, so its output is finite but meaningless).

        Returns:
            ``(logits (B, T, V), cache)`` with ``cache[l] = (k, v)``, each ``(B, H, T_past + T, d_head)``.
        """
        batch, length, d = inputs_embeds.shape
        past_len = 0 if past_key_values is None else past_key_values[0][0].shape[2]
        if attention_mask.shape != (batch, past_len + length):
            raise ValueError(
                f"attention_mask must have shape (B, T_past + T) = ({batch}, {past_len + length}); "
                f"got {tuple(attention_mask.shape)}"
            )
        if past_key_values is not None and len(past_key_values) != len(self.blocks):
            raise ValueError(f"past_key_values must hold {len(self.blocks)} layers; got {len(past_key_values)}")
        pos = attention_positions(attention_mask, length)
        if length > 0 and int(pos.max()) >= self.cfg.max_len:
            raise ValueError(f"sequence holds more than max_len={self.cfg.max_len} real tokens")
        mask = attention_bias_mask(attention_mask, length)
        x = inputs_embeds + self.pos_emb(pos)
        cache: KVCache = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, mask, None if past_key_values is None else past_key_values[i])
            cache.append(kv)
        logits = F.linear(self.ln_f(x), self.tok_emb.weight)
        return logits, cache


def _check_left_padded(prompt_mask: Tensor) -> None:
    """Raise unless every prompt's last column is real (left padding; needed to read next-token logits)."""
    if prompt_mask.ndim != 2 or prompt_mask.shape[1] == 0:
        raise ValueError(f"prompt_mask must have shape (B, P) with P >= 1; got {tuple(prompt_mask.shape)}")
    if not bool((prompt_mask[:, -1] != 0).all()):
        raise ValueError("prompts must be left-padded: prompt_mask[:, -1] must be 1 for every row")
