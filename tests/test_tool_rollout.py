"""hrlkit.tasks.tool_rollout: a tiny LM that memorised one tool-using response calls the real tool, gets its output
inserted, and the inserted result block is exactly what the loss mask leaves out."""

import pytest
import torch

from hrlkit.lm.tiny import TinyCausalLM, TinyLMConfig
from hrlkit.tasks.tool_rollout import tool_rollout
from hrlkit.tasks.tool_vocab import ToolVocab

QUESTION = "<think> what is 12 * 3 ? </think>"
RESPONSE = "<python> 12 * 3 </python> <result> 36 </result> <answer> \\boxed{36} </answer>"


@pytest.fixture(scope="module")
def memorised():
    vocab = ToolVocab(["what", "is", "error"])
    torch.manual_seed(0)
    model = TinyCausalLM(TinyLMConfig(vocab_size=len(vocab), d_model=32, n_layers=2, n_heads=2, max_len=64))
    ids = torch.tensor([[vocab.bos, *vocab.encode(QUESTION), *vocab.encode(RESPONSE), vocab.eos]])
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(300):
        logits, _ = model(model.embed_tokens(ids[:, :-1]), torch.ones(1, ids.shape[1] - 1))
        loss = torch.nn.functional.cross_entropy(logits[0], ids[0, 1:])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert loss.item() < 0.05
    return vocab, model


def run(memorised, tool, mask_results=True):
    vocab, model = memorised
    calls = []

    def python(code):
        calls.append(code)
        return tool(code)

    prompt = [vocab.bos, *vocab.encode(QUESTION)]
    out = tool_rollout(model, vocab, [prompt, prompt], {"python": python, "search": lambda q: (True, "nothing")},
                       max_calls=2, max_new_tokens=20, max_len=64, temperature=0.0, mask_results=mask_results)
    return vocab, out, calls


def test_the_tool_is_called_and_its_result_is_masked(memorised):
    vocab, out, calls = run(memorised, lambda code: (True, "36"))
    assert calls == ["12 * 3", "12 * 3"]
    assert out.texts == [RESPONSE, RESPONSE] and out.truncated == [False, False]
    row = out.tokens[0][out.mask[0].bool()].tolist()
    masked = [vocab.tokens[t] for t, m in zip(row, out.loss_mask[0].tolist()) if m == 0]
    assert masked == ["<result>", "3", "6", "</result>"]
    assert out.calls[0][0].tool == "python" and out.calls[0][0].ok


def test_the_result_comes_from_the_tool_not_the_model(memorised):
    vocab, out, _ = run(memorised, lambda code: (True, "99"))
    assert "<result> 99 </result>" in out.texts[0]


def test_without_result_masking_every_real_token_is_a_target(memorised):
    _, out, _ = run(memorised, lambda code: (True, "36"), mask_results=False)
    assert torch.equal(out.loss_mask, out.mask)


def test_a_result_that_does_not_fit_ends_the_response_within_max_len(memorised):
    """A tool answer longer than the room left is never inserted: the row stays within max_len and is truncated."""
    vocab, model = memorised
    prompt = [vocab.bos, *vocab.encode(QUESTION)]
    long_answer = " ".join(["36"] * 40)
    out = tool_rollout(model, vocab, [prompt], {"python": lambda code: (True, long_answer),
                                                "search": lambda q: (True, "nothing")},
                       max_calls=2, max_new_tokens=20, max_len=40, temperature=0.0)
    assert out.truncated == [True]
    assert len(prompt) + int(out.mask[0].sum()) <= 40
    assert out.texts[0] == "<python> 12 * 3 </python>"
