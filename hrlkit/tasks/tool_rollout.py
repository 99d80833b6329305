"""Multi-turn tool-integrated generation with tool results masked from the loss, as Tool-Star's rollout does it
(``vllm_rollout.py``, transcribed in this collection's notes): generate until a tool call closes (``</search>``,
``</python>``) or the response ends; run the tool on the call's content; append ``<result> … </result>`` with the
tool's output; continue from the whole history; repeat up to ``max_calls`` calls.

The tokens the environment inserted (the result blocks) get ``loss_mask = 0``: they are context for the next
tokens but never a target of the policy loss. ``mask_results=False`` keeps them in the loss (the "without result
masking" ablation). Old log-probabilities are computed afterwards by one teacher-forced pass over the whole response
(as verl does), so results that are not masked have one too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import torch
from torch import Tensor

from hrlkit.lm.tiny import CausalLMPolicy
from hrlkit.tasks.tool_vocab import ToolVocab

__all__ = ["ToolCall", "ToolRollout", "left_pad", "tool_rollout"]

Tool = Callable[[str], tuple[bool, str]]      # call content -> (ok, output text)


@dataclass(frozen=True)
class ToolCall:
    tool: str
    content: str
    ok: bool


@dataclass
class ToolRollout:
    """Responses (right-padded) with the masks of the loss."""

    tokens: Tensor                      # (B, L) generated and inserted tokens, pad after the end
    mask: Tensor                        # (B, L) 1 on every real token
    loss_mask: Tensor                   # (B, L) 1 on the tokens the policy is trained on
    texts: list[str]
    calls: list[list[ToolCall]] = field(default_factory=list)
    truncated: list[bool] = field(default_factory=list)   # ran out of length before <eos>


def left_pad(rows: Sequence[Sequence[int]], pad: int) -> tuple[Tensor, Tensor]:
    """(ids, mask), each (B, max length), rows aligned to the right."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros(len(rows), width)
    for i, r in enumerate(rows):
        if r:
            ids[i, width - len(r):] = torch.as_tensor(list(r), dtype=torch.long)
            mask[i, width - len(r):] = 1.0
    return ids, mask


def _call_content(vocab: ToolVocab, response: list[int], close: int) -> str:
    """The text between the last opening tag of the call that ``close`` ends and ``close``."""
    opening = vocab.id(vocab.tokens[close].replace("</", "<"))
    start = max(i for i, t in enumerate(response) if t == opening) if opening in response else -1
    return vocab.decode(response[start + 1:-1])


@torch.no_grad()
def tool_rollout(policy: CausalLMPolicy, vocab: ToolVocab, prompts: Sequence[Sequence[int]],
                 tools: Mapping[str, Tool], *, max_calls: int, max_new_tokens: int, max_len: int,
                 temperature: float = 1.0, generator: torch.Generator | None = None,
                 mask_results: bool = True) -> ToolRollout:
    """Sample one tool-integrated response per prompt (prompt ids without padding). Each turn generates at most
    ``max_new_tokens``; prompt plus response stay within ``max_len`` tokens."""
    stops = {vocab.id(f"</{name}>"): name for name in tools}
    stop_ids = [*stops, vocab.eos]
    batch = len(prompts)
    response: list[list[int]] = [[] for _ in range(batch)]
    targets: list[list[float]] = [[] for _ in range(batch)]
    calls: list[list[ToolCall]] = [[] for _ in range(batch)]
    done, truncated = [False] * batch, [False] * batch
    while not all(done):
        rows = [i for i in range(batch) if not done[i]]
        room = min(max_new_tokens, max_len - max(len(prompts[i]) + len(response[i]) for i in rows))
        if room <= 0:
            for i in rows:
                done[i], truncated[i] = True, True
            break
        ids, mask = left_pad([list(prompts[i]) + response[i] for i in rows], vocab.pad)
        out = policy.generate(policy.embed_tokens(ids), mask, room, temperature=temperature,
                              stop_token_ids=stop_ids, pad_token_id=vocab.pad, generator=generator)
        for k, i in enumerate(rows):
            new = out.tokens[k][out.response_mask[k].bool()].tolist()
            response[i] += new
            targets[i] += [1.0] * len(new)
            last = new[-1] if new else None
            if last in stops and len(calls[i]) < max_calls:
                name = stops[last]
                content = _call_content(vocab, response[i], last)
                ok, output = tools[name](content)
                calls[i].append(ToolCall(name, content, ok))
                inserted = vocab.encode(f"<result> {output} </result>", strict=False)
                if len(prompts[i]) + len(response[i]) + len(inserted) > max_len:
                    # no room for the tool's answer: the response ends at its call (an invalid format, reward −1)
                    done[i], truncated[i] = True, True
                    continue
                response[i] += inserted
                targets[i] += [0.0 if mask_results else 1.0] * len(inserted)
            elif last == vocab.eos or last in stops:      # the end, or a call beyond the limit
                done[i] = True
            else:                                        # the turn ran out of tokens
                done[i] = True
                truncated[i] = True
    width = max(1, max(len(r) for r in response))
    tokens = torch.full((batch, width), vocab.pad, dtype=torch.long)
    real, loss_mask = torch.zeros(batch, width), torch.zeros(batch, width)
    for i, (r, t) in enumerate(zip(response, targets)):
        tokens[i, :len(r)] = torch.as_tensor(r, dtype=torch.long)
        real[i, :len(r)] = 1.0
        loss_mask[i, :len(t)] = torch.as_tensor(t)
    return ToolRollout(tokens=tokens, mask=real, loss_mask=loss_mask, texts=[vocab.decode(r) for r in response],
                       calls=calls, truncated=truncated)
