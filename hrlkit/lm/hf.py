"""A ``transformers`` causal LM behind the :class:`~hrlkit.lm.tiny.CausalLMPolicy` interface.

The LM notebooks default to the hand-written :class:`~hrlkit.lm.tiny.TinyCausalLM` (measured 1.2–1.4× faster on
CPU at the same size: sampling and forward + backward, d = 64, 3 layers, 1 thread); a notebook parameter switches
to this adapter (:func:`hrlkit.lm.vlm.build_policy`, ``backend="hf"``), so the same RL code drives a
``transformers`` model, and on a GPU with local weights a real one. Nothing here downloads anything: models are
built from a config (:meth:`HFCausalLM.from_config`) or loaded from a local folder with ``local_files_only=True``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from hrlkit.lm.tiny import CausalLMPolicy, attention_positions


class HFCausalLM(CausalLMPolicy):
    """Wraps any ``transformers`` ``*ForCausalLM``; positions follow the attention mask (left padding works)."""

    def __init__(self, model) -> None:
        super().__init__()
        self.model = model

    @classmethod
    def from_config(cls, vocab_size: int, d_model: int = 64, n_layers: int = 3, n_heads: int = 4,
                    d_ff: int | None = None, max_len: int = 256, seed: int = 0) -> "HFCausalLM":
        """A randomly initialised Llama of the same size as a TinyCausalLM (no download)."""
        from transformers import LlamaConfig, LlamaForCausalLM

        config = LlamaConfig(vocab_size=vocab_size, hidden_size=d_model, intermediate_size=d_ff or 4 * d_model,
                             num_hidden_layers=n_layers, num_attention_heads=n_heads, num_key_value_heads=n_heads,
                             max_position_embeddings=max_len, tie_word_embeddings=True)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = LlamaForCausalLM(config)
        return cls(model)

    @classmethod
    def from_local(cls, path: str | Path, **kwargs) -> "HFCausalLM":
        """Load weights from a local folder only (raises if they are not there; never reaches a hub)."""
        from transformers import AutoModelForCausalLM

        return cls(AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True, **kwargs))

    def embed_tokens(self, input_ids: Tensor) -> Tensor:
        return self.model.get_input_embeddings()(input_ids)

    def forward(self, inputs_embeds: Tensor, attention_mask: Tensor, past_key_values=None):
        """Same contract as :meth:`TinyCausalLM.forward`; the cache is the model's own (e.g. ``DynamicCache``)."""
        length = inputs_embeds.shape[1]
        out = self.model(inputs_embeds=inputs_embeds, attention_mask=attention_mask.long(),
                         position_ids=attention_positions(attention_mask, length),
                         cache=past_key_values, use_cache=True)   # transformers 5: `cache` (was past_key_values)
        return out.logits, out.cache
